import Foundation

/// Where one step's time went, in seconds.
public struct StepTimings {
    /// Filling the batch, forward, backward, the exposed allreduce, rank 0's clipping decision, the optimizer's update.
    public var data = 0.0, forward = 0.0, backward = 0.0, allreduce = 0.0, clip = 0.0, optimizer = 0.0
    /// Layers' own exchanges with the other ranks inside forward and backward (a batch
    /// normalisation's sums over the global batch), taken out of `forward` and `backward`.
    public var layerCollectives = 0.0
    /// The allreduce's whole span (overlapping backward); not part of `total`.
    public var allreduceSpan = 0.0
    /// Of `allreduce`, the time this rank waited at the shared path's barriers for slower ranks
    /// (load imbalance, not communication); 0 on the MPI path, where the two cannot be told apart.
    public var waiting = 0.0
    /// The step's wall time: the sum of its parts (`waiting` lies inside `allreduce`; `allreduceSpan` overlaps the rest).
    public var total: Double { data + forward + backward + layerCollectives + allreduce + clip + optimizer }
}

/// What one step produced, identical on every rank.
public struct StepOutcome {
    /// Mean loss over the global batch.
    public var loss: Double
    /// Targets predicted correctly, summed over all ranks.
    public var correct: Int
    /// Rank 0's clipping decision for this step's gradient.
    public var decision: ClipDecision
    /// Where this rank's time went during the step.
    public var timings: StepTimings
    /// Per-layer norms, when the step was asked to measure them.
    public var health: GradientHealth?
    /// Some rank was asked to stop (a signal; see `GracefulStop`): every rank stops after this step.
    public var stopRequested: Bool
    /// Whether the update was skipped because the gradient was not finite.
    public var skipped: Bool { decision.skip }
}

/// One data-parallel training step, the whole protocol in one place:
///
/// 1. fill this rank's shard of the global batch;
/// 2. forward, and the loss summed over the shard and divided by the *global* batch's targets;
/// 3. backward, handing each finished unit to the gradient path (which may start reducing it);
/// 4. the gradient path completes the global gradient, and the loss statistics and the squared
///    norm's parts are summed alongside;
/// 5. rank 0 decides clipping (or skipping a non-finite step) and every rank applies it;
/// 6. the optimizer updates the ranges this rank owns, and the path makes the update whole.
///
/// What differs between ranks on one host and ranks on several lies behind `GradientPath`.
public final class TrainingStep {
    /// This rank's link to the other ranks.
    public let communicator: Communicator
    /// The model the step trains.
    public let model: Model
    /// The objective the step minimises.
    public let loss: Loss
    /// Updates the weights from the global gradient.
    public let optimizer: Optimizer
    /// How the ranks' gradients are summed (shared memory, MPI, or nothing for one rank) and the update made whole.
    public let path: GradientPath
    /// Makes rank 0's clipping and skipping decisions.
    public let authority: RankZeroAuthority
    /// The run's seed; with the step and the sample it fixes dropout masks and augmentation draws.
    public let seed: UInt64
    /// Test hook: make this rank's gradient NaN at this step.
    public var injectNaN: (rank: Int, step: Int)? = nil
    /// Benchmarks: records each step's forward and backward and when each unit finished.
    public var layerTimeRecorder: LayerTimeRecorder? = nil
    /// Benchmarks across emulated hosts: steps 1–3 wait as long as recorded compute took, the
    /// rest of the step is real.
    public var computeEmulation: ComputeEmulation? = nil

    private let probe = GradientHealthProbe()
    private let batchBuffer = BatchBuffer()
    /// The path's layer collectives, timed for the step split.
    private let collectives: TimedCollectives
    /// Loss, correct predictions, squared gradient norm and stop requests, summed across ranks.
    private var statistics = [Double](repeating: 0, count: 4)

    /// A step over these parts; `seed` makes dropout and augmentation reproducible.
    public init(communicator: Communicator, model: Model, loss: Loss, optimizer: Optimizer,
                path: GradientPath, authority: RankZeroAuthority, seed: UInt64) {
        self.communicator = communicator; self.model = model; self.loss = loss; self.optimizer = optimizer
        self.path = path; self.authority = authority; self.seed = seed
        collectives = TimedCollectives(path.collectives)
    }

    /// How this step sums gradients: "shared-memory", "mpi", or "none" for a single rank.
    public var reductionPath: String { path.name }

    /// Runs step `step` (counted from 0 over the whole run) on this rank's shard of `batch`,
    /// the global batch's sample indices.
    public func run(data: DataSource, batch: ArraySlice<Int>, step: Int, epoch: Int = 0, learningRate: Float,
                    measureHealth: Bool = false) throws -> StepOutcome {
        var t = StepTimings()
        var clock = Stopwatch()
        let globalBatch = batch.count
        let indices = BatchSampler.shard(of: batch, rank: communicator.rank, worldSize: communicator.size)
        let shardOffset = indices.startIndex - batch.startIndex
        path.beginStep()
        collectives.reset()

        if let emulation = computeEmulation {
            // 1–3 emulated: no data, no loss, zero gradients, the recorded time.
            emulation.forward(samples: indices.count)
            t.forward = clock.lap()
            try emulation.backward(samples: indices.count, model: model, path: path)
            t.backward = clock.lap()
            return try finish(timings: t, clock: clock, shardOffset: shardOffset, globalBatch: globalBatch,
                              shardLoss: LossResult(sum: 0, correct: 0), scored: Double(globalBatch * data.targetKind.scoredPerSample),
                              measureHealth: measureHealth, learningRate: learningRate)
        }

        // 1. This rank's shard (the targets are read inside, where they are valid).
        let draw = TrainingDraw(seed: seed, step: step, epoch: epoch, firstPosition: shardOffset)
        let shardLoss: LossResult = try batchBuffer.fill(from: data, indices: indices, draw: draw) { x, targets in
            t.data = clock.lap()

            // 2. Forward and loss.
            let context = ForwardContext(training: true, seed: seed, step: step, globalSampleOffset: shardOffset,
                                         collectives: collectives)
            let output = try model.forward(x, context: context)
            return loss.forward(output, targets: targets)
        }
        try path.afterForward()
        t.forward = clock.lap()
        let collectivesInForward = collectives.seconds

        // 3. Backward; finished units go to the gradient path at once.
        let gradOutput = loss.backward(normalizer: globalBatch * data.targetKind.scoredPerSample)
        if let hook = injectNaN, hook.rank == communicator.rank, hook.step == step {
            gradOutput[flat: 0] = .nan   // as if the loss had overflowed on this rank alone
        }
        if let recorder = layerTimeRecorder {
            recorder.beginBackward()
            try model.backward(gradOutput, collectives: collectives) { unit in
                recorder.unitDone(unit)
                try path.unitDone(unit)
            }
        } else {
            try model.backward(gradOutput, collectives: collectives, unitDone: path.unitDone)
        }
        t.backward = clock.lap()
        t.layerCollectives = collectives.seconds
        t.forward -= collectivesInForward
        t.backward -= collectives.seconds - collectivesInForward
        return try finish(timings: t, clock: clock, shardOffset: shardOffset, globalBatch: globalBatch,
                          shardLoss: shardLoss, scored: Double(globalBatch * data.targetKind.scoredPerSample),
                          measureHealth: measureHealth, learningRate: learningRate)
    }

    /// Steps 4–6, after backward: the global gradient, rank 0's decision, the update.
    private func finish(timings: StepTimings, clock: Stopwatch, shardOffset: Int, globalBatch: Int,
                        shardLoss: LossResult, scored: Double, measureHealth: Bool, learningRate: Float) throws -> StepOutcome {
        var t = timings, clock = clock

        // 4. The global gradient, and the statistics (loss, correct, squared norm, and whether
        //    this rank was asked to stop) summed alongside.
        statistics[2] = try path.reduce(shardOffset: shardOffset, globalBatch: globalBatch)
        statistics[0] = shardLoss.sum; statistics[1] = Double(shardLoss.correct)
        statistics[3] = GracefulStop.signal == nil ? 0 : 1
        try communicator.allreduceSum(&statistics)
        t.allreduce = clock.lap()

        // 5. Rank zero's decision: clip by a common factor, or skip the step everywhere.
        let gradientNorms = measureHealth ? probe.beforeUpdate(model) : []
        let decision = try authority.decide(sumOfSquares: statistics[2])
        t.clip = clock.lap()

        // 6. The update of what this rank owns, clipping as it goes; then the whole model.
        if let emulation = computeEmulation {
            emulation.optimizer(elements: path.ownedRanges.reduce(0) { $0 + $1.count }, of: model.arena.count)
        } else if !decision.skip {
            optimizer.step(model.arena, learningRate: learningRate, ranges: path.ownedRanges,
                           gradientScale: decision.gradientScale)
        }
        t.optimizer = clock.lap()
        layerTimeRecorder?.endStep(forward: t.forward, backward: t.backward, optimizer: t.optimizer)
        try path.finishUpdate()
        t.allreduce += clock.lap()

        // The path's communication inside forward and backward counts as the allreduce's, its
        // work inside the reduction as backward's and clipping's.
        let p = path.timings
        t.forward -= p.inForward
        t.backward += p.backwardWork - p.inBackward
        t.clip += p.clipWork
        t.allreduce += p.inForward + p.inBackward - p.backwardWork - p.clipWork
        t.waiting = p.waiting
        t.allreduceSpan = p.span ?? t.allreduce

        let health = measureHealth ? probe.afterUpdate(model, gradientNorms: gradientNorms, decision: decision) : nil
        return StepOutcome(loss: statistics[0] / scored, correct: Int(statistics[1]),
                           decision: decision, timings: t, health: health, stopRequested: statistics[3] > 0)
    }
}
