import Foundation

/// The gradient path for ranks on several hosts (and for one rank alone): every rank holds the
/// whole model, the gradient arena is summed by the bucketed allreduce layer while backward runs
/// (`GradientAllreduce`), and every rank applies rank 0's decision to its full copy.
public final class MPIGradientPath: GradientPath {
    /// The group the gradients are summed over.
    public let communicator: Communicator
    /// The model whose arena is reduced; every rank holds all of it.
    public let model: Model
    /// The bucketed allreduce of the gradient arena, overlapped with backward when asked.
    public let allreduce: GradientAllreduce
    /// Per-channel sums as small double-precision allreduces over `communicator`.
    public let collectives: LayerCollectives
    /// The whole arena: every rank updates its full copy.
    public let ownedRanges: [Range<Int>]
    /// This step's time accounting, reset by `beginStep`.
    public private(set) var timings = GradientPathTimings()

    /// A path for `model` whose allreduce cuts the arena into buckets of about `bucketBytes`,
    /// started during backward when `overlap` is set.
    public init(communicator: Communicator, model: Model, bucketBytes: Int, overlap: Bool) {
        self.communicator = communicator; self.model = model
        allreduce = GradientAllreduce(communicator: communicator, arena: model.arena, layerRanges: model.units.map(\.range),
                                      bucketBytes: bucketBytes, overlap: overlap)
        collectives = CommunicatorCollectives(communicator)
        ownedRanges = [0..<model.arena.count]
    }

    /// "none" for a single rank, "mpi" otherwise.
    public var name: String { communicator.size == 1 ? "none" : "mpi" }
    /// Whether buckets are reduced while backward runs (never with a single rank).
    public var overlapsBackward: Bool { allreduce.overlap && communicator.size > 1 }

    /// Polls the reductions in flight.
    public func progress() throws { try allreduce.poll() }

    /// Resets the allreduce's and the path's timings for a new step.
    public func beginStep() {
        allreduce.resetTiming()
        timings = GradientPathTimings()
    }

    /// Nothing to do: layers exchanged nothing but their own collectives in forward.
    public func afterForward() throws {}

    /// Starts any bucket that unit `index` completes and polls the reductions in flight.
    public func unitDone(_ index: Int) throws { try allreduce.layerDone(index) }

    /// Finishes the allreduce; on rank 0, returns the squared norm of the summed gradient (0 elsewhere).
    public func reduce(shardOffset: Int, globalBatch: Int) throws -> Double {
        let duringBackward = allreduce.exposedSeconds
        try allreduce.finish()
        timings.inBackward = duringBackward
        timings.span = allreduce.totalSeconds
        // Every rank holds the whole sum; rank 0's arithmetic alone decides (the others add 0).
        guard communicator.isRoot else { return 0 }
        var clock = Stopwatch()
        // Squares of Float values summed in Double cannot overflow, so the sum is finite exactly
        // when every gradient value is: one pass answers both of rank 0's questions.
        let squares = Kernels.sumOfSquares(model.arena.globalGradients, count: model.arena.count)
        timings.clipWork = clock.lap()
        return squares
    }

    /// Nothing to do: every rank already updated its full copy.
    public func finishUpdate() throws {}

    /// Broadcasts rank 0's parameter values and every optimizer state from rank 0 to all ranks.
    public func adoptRankZeroState(model: Model, optimizer: Optimizer) throws {
        try communicator.broadcast(UnsafeMutableRawBufferPointer(model.arena.valueBuffer), root: 0)
        for state in optimizer.stateNames {
            try communicator.broadcast(UnsafeMutableRawBufferPointer(optimizer.state(named: state)), root: 0)
        }
    }
}
