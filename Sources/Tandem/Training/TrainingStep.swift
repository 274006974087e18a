import Foundation

/// Where one step's time went, in seconds.
public struct StepTimings {
    public var data = 0.0, forward = 0.0, backward = 0.0, allreduce = 0.0, clip = 0.0, optimizer = 0.0
    /// The allreduce's whole span (overlapping backward); not part of `total`.
    public var allreduceSpan = 0.0
    /// Of `allreduce`, the time this rank waited at the shared path's barriers for slower ranks
    /// (load imbalance, not communication); 0 on the MPI path, where the two cannot be told apart.
    public var waiting = 0.0
    public var total: Double { data + forward + backward + allreduce + clip + optimizer }
}

/// What one step produced, identical on every rank.
public struct StepOutcome {
    /// Mean loss over the global batch.
    public var loss: Double
    public var correct: Int
    public var decision: ClipDecision
    public var timings: StepTimings
    /// Per-layer norms, when the step was asked to measure them.
    public var health: GradientHealth?
    public var skipped: Bool { decision.skip }
}

/// One data-parallel training step, the whole protocol in one place:
///
/// 1. fill this rank's shard of the global batch;
/// 2. forward, and the loss summed over the shard and divided by the *global* batch size;
/// 3. backward, starting each gradient bucket's allreduce as soon as its layers are done;
/// 4. finish the allreduce: every rank now holds the gradient of the global mean loss;
/// 5. rank 0 decides clipping (or skipping a non-finite step) and every rank applies it;
/// 6. the optimizer updates the arena, identically on every rank.
///
/// When every rank shares one host (`SharedArena`), steps 2-6 take their same-host form: in
/// step 2 a first dense layer's forward product is split by rows over the global batch
/// (`RowSplitLinear`); no messages during backward; in step 4 each rank sums its share of all ranks' gradients from shared
/// memory (and forms its rows of the dense layers' weight gradients, over the global batch);
/// in step 6 each rank updates its part of the one shared copy of the model (the parts whose
/// global gradient it formed).
public final class TrainingStep {
    public let communicator: Communicator
    public let model: Sequential
    public let loss: Loss
    public let optimizer: Optimizer
    public let allreduce: GradientAllreduce
    public let authority: RankZeroAuthority
    /// The same-host path: set when every rank shares one host and the arena lives in shared memory.
    public let shared: SharedArena?
    public let seed: UInt64
    /// Test hook: make this rank's gradient NaN at this step.
    public var injectNaN: (rank: Int, step: Int)? = nil

    private let probe = GradientHealthProbe()
    private let input = FloatBuffer()
    private var labels: [Int32] = []
    private var statistics = [Double](repeating: 0, count: 3)

    public init(communicator: Communicator, model: Sequential, loss: Loss, optimizer: Optimizer,
                allreduce: GradientAllreduce, shared: SharedArena? = nil, authority: RankZeroAuthority, seed: UInt64) {
        self.communicator = communicator; self.model = model; self.loss = loss; self.optimizer = optimizer
        self.allreduce = allreduce; self.shared = shared; self.authority = authority; self.seed = seed
    }

    /// How this step sums gradients: "shared-memory", "mpi", or "none" for a single rank.
    public var reductionPath: String { communicator.size == 1 ? "none" : shared == nil ? "mpi" : "shared-memory" }

    /// Runs step `step` (counted from 0 over the whole run) on this rank's shard of `batch`,
    /// the global batch's sample indices.
    public func run(dataset: Dataset, batch: ArraySlice<Int>, step: Int, learningRate: Float,
                    measureHealth: Bool = false) throws -> StepOutcome {
        var t = StepTimings()
        var clock = Stopwatch()
        let globalBatch = batch.count
        let shard = BatchSampler.shard(globalBatch: globalBatch, rank: communicator.rank, worldSize: communicator.size)
        let shardOffset = shard.lowerBound
        let indices = batch[(batch.startIndex + shard.lowerBound)..<(batch.startIndex + shard.upperBound)]

        // 1. This rank's shard.
        let x = input.tensor([indices.count] + dataset.sampleShape)
        if labels.count != indices.count { labels = [Int32](repeating: 0, count: indices.count) }
        labels.withUnsafeMutableBufferPointer { dataset.fill(indices: indices, into: x.pointer, labels: $0.baseAddress!) }
        t.data = clock.lap()

        // 2. Forward and loss.
        let context = ForwardContext(training: true, seed: seed, step: step, globalSampleOffset: shardOffset)
        let output = model.forward(x, context: context)
        // Row-split dense layers exchange rows with the other ranks inside forward: that time
        // is the gradient path's (communication and waiting), not forward computation.
        let exchange = try shared?.finishForward() ?? (seconds: 0, waiting: 0)
        let shardLoss = labels.withUnsafeBufferPointer { loss.forward(output, labels: $0) }
        t.forward = clock.lap() - exchange.seconds

        // 3. Backward. On the MPI path, finished layers go to the allreduce layer at once.
        allreduce.resetTiming()
        let gradOutput = loss.backward(normalizer: globalBatch)
        if let hook = injectNaN, hook.rank == communicator.rank, hook.step == step {
            gradOutput[flat: 0] = .nan   // as if the loss had overflowed on this rank alone
        }
        try model.backward(gradOutput, layerDone: shared == nil ? allreduce.layerDone : { _ in })
        let backwardAndStarts = clock.lap()

        // 4. Complete the gradient sum, and sum the loss statistics alongside. On the shared
        //    arena each rank sums its share (and forms its rows of the dense layers' weight
        //    gradients over the global batch), and the statistics carry its share of the norm.
        statistics[0] = shardLoss.sum; statistics[1] = Double(shardLoss.correct); statistics[2] = 0
        if let shared {
            shared.stage(shardOffset: shardOffset)
            let staging = clock.lap()
            try shared.waitForAllGradients()
            t.waiting = clock.lap()
            statistics[2] = shared.formDenseWeightGradients(samples: globalBatch)
            t.backward = backwardAndStarts + clock.lap()   // backward's products, only moved here
            statistics[2] += shared.sumShare()
            try communicator.allreduceSum(&statistics)
            t.allreduce = staging + t.waiting + clock.lap() + exchange.seconds
            t.waiting += exchange.waiting
        } else {
            try allreduce.finish()
            try communicator.allreduceSum(&statistics)
            t.allreduce = allreduce.exposedSeconds
            t.allreduceSpan = allreduce.totalSeconds
            t.backward = backwardAndStarts + clock.lap() - t.allreduce
        }

        // 5. Rank zero's decision: clip by a common factor, or skip the step everywhere.
        let gradientNorms = measureHealth ? probe.beforeUpdate(model) : []
        let decision = shared == nil ? try authority.decide(model.arena) : try authority.decide(sumOfSquares: statistics[2])
        t.clip = clock.lap()

        // 6. The update (of this rank's part, on the shared arena), clipping as it goes.
        if !decision.skip {
            optimizer.step(model.arena, learningRate: learningRate, ranges: shared?.ownedRanges ?? [0..<model.arena.count],
                           gradientScale: decision.gradientScale)
        }
        t.optimizer = clock.lap()
        if let shared {
            // Waiting for the other ranks' parts is part of the same-host gradient path, not hidden.
            try shared.finishUpdate()
            let wait = clock.lap()
            t.waiting += wait
            t.allreduce += wait
            t.allreduceSpan = t.allreduce
        }

        let health = measureHealth ? probe.afterUpdate(model, gradientNorms: gradientNorms, decision: decision) : nil
        return StepOutcome(loss: statistics[0] / Double(globalBatch), correct: Int(statistics[1]),
                           decision: decision, timings: t, health: health)
    }
}
