import Foundation

/// The gradient path for ranks on several hosts (and for one rank alone): every rank holds the
/// whole model, the gradient arena is summed by the bucketed allreduce layer while backward runs
/// (`GradientAllreduce`), and every rank applies rank 0's decision to its full copy.
public final class MPIGradientPath: GradientPath {
    public let communicator: Communicator
    public let model: Model
    public let allreduce: GradientAllreduce
    public let collectives: LayerCollectives
    public let ownedRanges: [Range<Int>]
    public private(set) var timings = GradientPathTimings()

    public init(communicator: Communicator, model: Model, bucketBytes: Int, overlap: Bool) {
        self.communicator = communicator; self.model = model
        allreduce = GradientAllreduce(communicator: communicator, arena: model.arena, layerRanges: model.units.map(\.range),
                                      bucketBytes: bucketBytes, overlap: overlap)
        collectives = CommunicatorCollectives(communicator)
        ownedRanges = [0..<model.arena.count]
    }

    public var name: String { communicator.size == 1 ? "none" : "mpi" }

    public func beginStep() {
        allreduce.resetTiming()
        timings = GradientPathTimings()
    }

    public func afterForward() throws {}

    public func unitDone(_ index: Int) throws { try allreduce.layerDone(index) }

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

    public func finishUpdate() throws {}

    public func adoptRankZeroState(model: Model, optimizer: Optimizer) throws {
        try communicator.broadcast(UnsafeMutableRawBufferPointer(model.arena.valueBuffer), root: 0)
        for state in optimizer.stateNames {
            try communicator.broadcast(UnsafeMutableRawBufferPointer(optimizer.state(named: state)), root: 0)
        }
    }
}
