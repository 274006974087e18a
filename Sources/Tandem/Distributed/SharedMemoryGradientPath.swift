/// The gradient path for ranks on one host: one shared copy of the model (`SharedArena`), each
/// rank summing and updating its own part of it, dense layers' weight gradients formed over the
/// global batch (`RowSplitDense`). No gradient bytes travel as messages.
public final class SharedMemoryGradientPath: GradientPath {
    public let shared: SharedArena
    public let collectives: LayerCollectives
    public private(set) var timings = GradientPathTimings()

    public init(shared: SharedArena) {
        self.shared = shared
        collectives = CommunicatorCollectives(shared.communicator)
    }

    public var name: String { "shared-memory" }
    public var ownedRanges: [Range<Int>] { shared.ownedRanges }

    public func beginStep() { timings = GradientPathTimings() }

    /// A split dense layer exchanged rows with the other ranks inside forward: communication
    /// and waiting, not forward computation.
    public func afterForward() throws {
        let exchange = shared.takeForwardExchange()
        timings.inForward = exchange.seconds
        timings.waiting = exchange.waiting
    }

    public func unitDone(_ index: Int) throws {}

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

    public func finishUpdate() throws {
        var clock = Stopwatch()
        // Waiting for the other ranks' parts is part of the same-host gradient path, not hidden.
        try shared.finishUpdate()
        timings.waiting += clock.lap()
    }

    public func adoptRankZeroState(model: Model, optimizer: Optimizer) throws {
        // One copy for all: what rank 0 wrote is what every rank reads.
        try shared.memory.synchronize()
    }
}
