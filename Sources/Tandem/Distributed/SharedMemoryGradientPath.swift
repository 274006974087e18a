/// The gradient path for ranks on one host: one shared copy of the model (`SharedArena`), each
/// rank summing and updating its own part of it, dense layers' weight gradients formed over the
/// global batch (`RowSplitDense`). No gradient bytes travel as messages.
public final class SharedMemoryGradientPath: GradientPath {
    /// The shared copy of weights, optimizer state and global gradient, and this rank's part of it.
    public let shared: SharedArena
    /// Per-channel sums as small double-precision allreduces over the shared arena's communicator.
    public let collectives: LayerCollectives
    /// This step's time accounting, reset by `beginStep`.
    public private(set) var timings = GradientPathTimings()

    /// A path over `shared`, whose communicator also carries the layers' collectives.
    public init(shared: SharedArena) {
        self.shared = shared
        collectives = CommunicatorCollectives(shared.communicator)
    }

    /// "shared-memory".
    public var name: String { "shared-memory" }
    /// False: the ranks sum straight from shared memory once backward is done.
    public var overlapsBackward: Bool { false }
    /// This rank's part of the shared arena: the ranges whose global gradient it forms.
    public var ownedRanges: [Range<Int>] { shared.ownedRanges }

    /// Resets the step's timings.
    public func beginStep() { timings = GradientPathTimings() }

    /// A split dense layer exchanged rows with the other ranks inside forward: communication
    /// and waiting, not forward computation.
    public func afterForward() throws {
        let exchange = shared.takeForwardExchange()
        timings.inForward = exchange.seconds
        timings.waiting = exchange.waiting
    }

    /// Nothing to do: the gradients are summed after backward, straight from shared memory.
    public func unitDone(_ index: Int) throws {}

    /// Stages the dense layers' rows, waits for every rank, forms this rank's dense weight gradients and
    /// sums its share of the rest; returns this rank's part of the squared global norm.
    public func reduce(shardOffset: Int, globalBatch: Int) throws -> Double {
        var clock = Stopwatch()
        shared.stage(shardOffset: shardOffset)
        _ = clock.lap()
        try shared.waitForAllGradients()
        timings.waiting += clock.lap()
        var squares = shared.formDenseWeightGradients(samples: globalBatch)
        timings.backwardWork = clock.lap()
        squares += shared.sumShare()
        return squares
    }

    /// Waits until every rank has updated its ranges, so the next forward sees the whole model.
    public func finishUpdate() throws {
        var clock = Stopwatch()
        // Waiting for the other ranks' parts is part of the same-host gradient path, not hidden.
        try shared.finishUpdate()
        timings.waiting += clock.lap()
    }

    /// Nothing to copy: all ranks share one copy, so a barrier makes rank 0's values everyone's.
    public func adoptRankZeroState(model: Model, optimizer: Optimizer) throws {
        // One copy for all: what rank 0 wrote is what every rank reads.
        try shared.memory.synchronize()
    }
}
