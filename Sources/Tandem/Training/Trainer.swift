import Foundation

/// The result of a training run, as rank 0 reports it.
public struct TrainingSummary {
    /// Steps completed over the whole run, those before a resume included.
    public var steps: Int
    /// Epochs begun, a partial last epoch counted whole.
    public var epochs: Int
    /// Final mean loss per target on the test set (NaN when it was never evaluated).
    public var testLoss: Double
    /// Final fraction of test targets predicted correctly, in [0, 1].
    public var testAccuracy: Double
    /// Wall-clock seconds this job spent in `run()` (start-up not included).
    public var seconds: Double
    /// Steps this job skipped because their gradient was not finite.
    public var skippedSteps: Int
    /// The directory holding the metrics and checkpoints (nil on ranks other than 0).
    public var runDirectory: String?
    /// Why the run counts as diverged, or nil: its final test loss is not finite, or most of
    /// the steps it ran were skipped as non-finite. (The command line then exits non-zero.)
    public var divergence: String?
}

/// Runs a whole training job on one rank; every rank of the job runs one, in lockstep.
public final class Trainer {
    /// The configuration this trainer runs, the same on every rank.
    public let config: TrainingConfig
    /// This rank's link to the other ranks of the job.
    public let communicator: Communicator
    /// The model being trained; its weights are the same on every rank after every step.
    public let model: Model
    /// The training, validation and test data, loaded and checked on every rank.
    public let data: TrainingData
    /// The update rule `config.optimizer` chose, holding its per-parameter state.
    public let optimizer: Optimizer
    /// The objective `config.loss` names.
    public let loss: Loss
    /// Runs one data-parallel step; `run()` calls it once per step.
    public let step: TrainingStep
    /// Orders each epoch's samples and cuts them into global batches.
    public let sampler: BatchSampler
    /// Steps the whole run plans: `epochs` times the steps per epoch, capped by `maxSteps`.
    public let totalSteps: Int
    /// The learning-rate schedule, its step counts worked out for this run's length.
    public let schedule: LearningRateSchedule
    /// The directory holding metrics.jsonl and the checkpoints (set on rank 0 only).
    public private(set) var runDirectory: String?
    /// Called on every rank after every step (tests and tools watch training through it).
    public var onStep: ((Int, StepOutcome) -> Void)?
    private var metrics: MetricsLog?
    private var checkpoints: CheckpointDirectory?
    /// Rank 0's hold on the run directory, for as long as this trainer lives.
    private var runDirectoryLock: RunDirectoryLock?
    /// The step to start from: 0, or the position of the checkpoint resumed from.
    public private(set) var startStep = 0
    /// The checkpoint this run continues, if any (known on rank 0).
    public private(set) var resumedFrom: String?
    private let progress: Progress
    private let evaluator: Evaluator
    /// Said by rank 0 when the run starts.
    private var startupWarnings: [String] = []
    /// Whether the model came from a spec (a checkpoint can rebuild it) or from Swift code.
    private let modelSource: TrainingCheckpoint.ModelSource

    /// Trains the model that `config.model` names (a preset or a spec) on the data that
    /// `config.dataset` names, or on `data`. Collective: every rank calls it.
    public convenience init(config: TrainingConfig, communicator: Communicator, data: TrainingData? = nil) throws {
        let loaded = try Trainer.loadData(config: config, communicator: communicator, given: data)
        var built: Model? = nil
        // Every rank meets the same spec error; agreeing on it lets one rank say it.
        try StartupFailure.agree(communicator: communicator) {
            built = try ModelSpec(config.model, activation: config.activation, convolution: config.convolution)
                .build(inputShape: loaded.train.sampleShape)
        }
        let model = built!
        try self.init(model: model, data: loaded, config: config, communicator: communicator, source: .spec)
    }

    /// Trains a model built in Swift (any tree of layers, your own `Layer` types included) on
    /// any `DataSource`s. `config.model` names it in metrics and checkpoints; a resume restores
    /// the checkpoint into this model. Collective: every rank calls it, with its own copy of an
    /// identical model.
    public convenience init(model: Model, data: TrainingData, config: TrainingConfig, communicator: Communicator) throws {
        let loaded = try Trainer.loadData(config: config, communicator: communicator, given: data)
        try self.init(model: model, data: loaded, config: config, communicator: communicator, source: .swift)
    }

    /// Start-up checks and loading that every rank does alone, then one collective that tells
    /// every rank whether all of them succeeded (so no rank waits for a failed one).
    private static func loadData(config: TrainingConfig, communicator: Communicator, given: TrainingData?) throws -> TrainingData {
        var loaded: TrainingData? = nil
        try StartupFailure.agree(communicator: communicator) {
            try config.validate(worldSize: communicator.size)
            loaded = try given ?? TrainingData.load(config)
            if loaded!.train.count < config.globalBatch {
                throw TrainingConfig.Invalid(description: "the training set has \(loaded!.train.count) samples, fewer than --global-batch \(config.globalBatch)")
            }
        }
        return loaded!
    }

    private init(model: Model, data: TrainingData, config: TrainingConfig, communicator: Communicator,
                 source: TrainingCheckpoint.ModelSource) throws {
        self.config = config
        self.communicator = communicator
        self.model = model
        self.data = data
        modelSource = source
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threads = config.threads ?? max(1, cores / max(1, communicator.ranksOnThisHost))
        Kernels.blasThreads = threads
        if let asked = config.threads, asked > 1, asked * communicator.ranksOnThisHost > cores {
            startupWarnings.append("--threads \(asked) with \(communicator.ranksOnThisHost) rank(s) on this host asks for "
                                   + "\(asked * communicator.ranksOnThisHost) threads but it has \(cores) core(s): they will compete, "
                                   + "and every step will be slower")
        }
        let train = data.train
        try Trainer.agree(on: config.agreementFields, dataFingerprint: data.fingerprint, communicator: communicator)
        try StartupFailure.agree(communicator: communicator) {
            guard model.inputShape.reduce(1, *) == train.featuresPerSample else {
                throw ModelSpecError("model '\(config.model)' takes inputs of shape \(model.inputShape) but the data's samples have shape \(train.sampleShape)")
            }
            let outputs = model.outputShape.reduce(1, *), wanted = train.targetKind.outputsPerSample
            guard outputs == wanted else {
                throw ModelSpecError("model '\(config.model)' outputs \(outputs) values per sample but the data's targets need \(wanted)")
            }
        }
        optimizer = makeOptimizer(config.optimizer, parameterCount: model.parameterCount)
        loss = config.loss.make()
        // Which path sums the gradients (collective: every rank reaches the same choice).
        let path = try config.reduce.makePath(communicator: communicator, model: model, optimizer: optimizer,
                                               globalBatch: config.globalBatch,
                                               bucketBytes: Int(config.bucketMegabytes * 1_048_576), overlap: config.overlap,
                                               warnings: &startupWarnings)
        step = TrainingStep(communicator: communicator, model: model, loss: loss, optimizer: optimizer, path: path,
                            authority: RankZeroAuthority(communicator: communicator, maxNorm: config.clipNorm),
                            seed: config.seed)
        step.injectNaN = config.injectNaN
        sampler = BatchSampler(datasetSize: train.count, globalBatch: config.globalBatch, shuffle: config.shuffle, seed: config.seed)
        totalSteps = min(config.epochs * sampler.stepsPerEpoch, config.maxSteps ?? Int.max)
        switch config.schedule {
        case .constant: schedule = .constant
        case .step: schedule = .step(every: config.stepEvery * sampler.stepsPerEpoch, gamma: config.stepGamma)
        case .cosine: schedule = .cosine(warmup: min(config.warmupSteps, totalSteps / 10), total: totalSteps)
        }
        progress = Progress(enabled: config.progress, speaks: communicator.isRoot)
        evaluator = Evaluator(communicator: communicator)

        // Rank 0 prepares the run directory and, when resuming, reads and validates the whole
        // checkpoint before anything changes; every rank learns whether that worked.
        var resumeFrom: (file: CheckpointFile, path: String, position: TrainingPosition)? = nil
        var directory: CheckpointDirectory? = nil
        let (model, optimizer) = (self.model, self.optimizer)
        try StartupFailure.agree(communicator: communicator) {
            guard communicator.isRoot else { return }
            directory = try self.openRunDirectory()
            if let (path, file) = try self.resumeFile(directory!) {
                let position = try TrainingCheckpoint.validate(file, path: path, config: config, model: model, optimizer: optimizer)
                resumeFrom = (file, path, position)
            }
        }
        checkpoints = directory

        // Rank 0 draws the initial weights, or restores them, and every rank starts from its copy.
        var position = [0.0, 0.0]
        if communicator.isRoot {
            model.initializeParameters(seed: config.seed)
            if let resumeFrom {
                TrainingCheckpoint.restore(resumeFrom.file, model: model, optimizer: optimizer)
                position = [Double(resumeFrom.position.step), Double(optimizer.stepCount)]
                progress.line("resuming from \(resumeFrom.path) at step \(resumeFrom.position.step)")
                resumedFrom = resumeFrom.path
            }
        }
        try communicator.broadcast(&position, root: 0)
        startStep = Int(position[0])
        optimizer.stepCount = Int(position[1])
        try path.adoptRankZeroState(model: model, optimizer: optimizer)
        // Buffers (running statistics) are every rank's own; they start as rank 0's.
        try communicator.broadcast(UnsafeMutableRawBufferPointer(model.buffers.valueBuffer), root: 0)
    }

    /// The checkpoint to resume from, if any, read and checked: `--resume auto` takes the run
    /// directory's newest valid checkpoint (saying which newer ones were unusable, and starting
    /// afresh when there is none yet), `--resume PATH` takes that file.
    private func resumeFile(_ directory: CheckpointDirectory) throws -> (String, CheckpointFile)? {
        switch config.resume {
        case nil:
            return nil
        case .latest:
            guard let latest = try directory.loadLatest() else { return nil }
            for problem in latest.skipped { progress.warning("skipping unusable checkpoint: \(problem)") }
            return (latest.path, latest.file)
        case .file(let resume):
            return try checkpointFile(at: resume)
        }
    }

    private func checkpointFile(at resume: String) throws -> (String, CheckpointFile) {
        guard FileManager.default.fileExists(atPath: resume) else {
            throw TrainingCheckpoint.Mismatch(description: "\(resume): no such checkpoint")
        }
        return (resume, try CheckpointFile.read(path: resume))
    }

    /// Rank 0 writes a checkpoint of the current state (atomically; see CheckpointDirectory).
    @discardableResult
    func writeCheckpoint(step: Int) throws -> String? {
        guard let checkpoints else { return nil }
        communicator.note(step: step, phase: .checkpointing)
        let started = Date.timeIntervalSinceReferenceDate
        let perEpoch = sampler.stepsPerEpoch
        let file = TrainingCheckpoint.make(config: config, model: model, source: modelSource, optimizer: optimizer,
                                           position: TrainingPosition(step: step, epoch: step / perEpoch, batchInEpoch: step % perEpoch),
                                           worldSize: communicator.size)
        let path = try checkpoints.save(file, step: step)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        try metrics?.write("checkpoint", ["step": step, "path": path, "bytes": bytes,
                                      "seconds": Date.timeIntervalSinceReferenceDate - started])
        return path
    }

    /// Ranks compare hashes of their configuration and data before doing anything together.
    /// One collective compares everything; only when something differs does a second find the
    /// first option that does, so the message can name it.
    static func agree(on fields: [(option: String, value: String)], dataFingerprint: UInt64, communicator: Communicator) throws {
        // Every rank sees the same gathered hashes and so raises the same error; rank 0 reports it.
        func refuse(_ text: String) -> StartupFailure {
            StartupFailure(underlying: TrainingConfig.Invalid(description: text), shouldReport: communicator.isRoot, failingRank: 0)
        }
        let all = fields.map { $0.option + "=" + $0.value }.joined(separator: "\n")
        let configs = try communicator.allgather(FNV1a.hash(all))
        if let other = configs.firstIndex(where: { $0 != configs[0] }) {
            for field in fields {
                let hashes = try communicator.allgather(FNV1a.hash(field.value))
                if hashes[other] != hashes[0] {
                    throw refuse("rank \(other) was started with a different \(field.option) than rank 0 "
                                 + "(every rank must be given the same \(field.option))")
                }
            }
            throw refuse("rank \(other) was started with a different configuration than rank 0")
        }
        let datas = try communicator.allgather(dataFingerprint)
        if let other = datas.firstIndex(where: { $0 != datas[0] }) {
            throw refuse("rank \(other) loaded different data than rank 0")
        }
    }

    private func openRunDirectory() throws -> CheckpointDirectory {
        let directory = config.runDirectory ?? Trainer.freshRunDirectory()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TrainingConfig.Invalid(description: "cannot create run directory \(directory): \(error.localizedDescription)")
        }
        // Before anything in it is read, written or removed: one job per run directory.
        runDirectoryLock = try RunDirectoryLock(directory: directory)
        if config.resume == nil, let held = Trainer.runHeld(in: directory) {
            // A fresh run here would delete that run's checkpoints (keeping only its own) and
            // interleave its metrics with theirs.
            throw TrainingConfig.Invalid(description: "run directory \(directory) already holds a run (\(held)); "
                                         + "continue it with --resume auto, or give another --run-dir")
        }
        runDirectory = directory
        metrics = try MetricsLog(path: directory + "/metrics.jsonl")
        let checkpoints = CheckpointDirectory(path: directory, keep: config.keepCheckpoints)
        try checkpoints.checkWritable()
        _ = checkpoints.removeStaleTempFiles()
        return checkpoints
    }

    /// What shows that `directory` holds a run already: its checkpoints, or its metrics.
    static func runHeld(in directory: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        if let newest = names.compactMap(CheckpointDirectory.step(fromFileName:)).max() {
            return "checkpoints up to step \(newest)"
        }
        if names.contains(CheckpointDirectory.bestName) { return CheckpointDirectory.bestName }
        let metrics = directory + "/metrics.jsonl"
        if let size = (try? FileManager.default.attributesOfItem(atPath: metrics))?[.size] as? Int, size > 0 {
            return "its metrics.jsonl"
        }
        return nil
    }

    static func freshRunDirectory() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let base = "runs/" + formatter.string(from: Date())
        var candidate = base, n = 1
        while FileManager.default.fileExists(atPath: candidate) { n += 1; candidate = "\(base)-\(n)" }
        return candidate
    }

    /// Trains to the end and reports the final evaluation.
    public func run() throws -> TrainingSummary {
        let size = communicator.size
        let B = config.globalBatch
        let perEpoch = sampler.stepsPerEpoch
        let started = Date.timeIntervalSinceReferenceDate
        progress.line("tandem: \(config.model), \(model.parameterCount) parameters, \(size) rank\(size == 1 ? "" : "s"), "
                      + "global batch \(B), \(totalSteps) steps (\(perEpoch) per epoch), \(config.optimizer.kind.rawValue) lr \(config.learningRate) \(schedule)")
        for warning in startupWarnings {
            progress.warning(warning)
            try metrics?.write("warning", ["kind": "startup", "message": warning])
        }
        try metrics?.write("start", ["model": config.model, "parameters": model.parameterCount, "world_size": size,
                                 "global_batch": B, "total_steps": totalSteps, "steps_per_epoch": perEpoch,
                                 "config": config.fingerprintText, "start_step": startStep, "reduce": step.reductionPath,
                                 "resumed_from": resumedFrom ?? NSNull()])

        var order: [Int] = [], orderEpoch = -1
        var epochLoss = 0.0, epochSteps = 0, epochStart = started, skipped = 0
        var lastEvaluation = Evaluation(loss: .nan, accuracy: .nan, count: 0)
        var bestValidationLoss = Double.infinity, epochsWithoutImprovement = 0
        var stepIndex = startStep
        let tokensPerSample = data.train.tokenName == nil ? 1 : data.train.targetKind.scoredPerSample
        var stopRequested = false
        GracefulStop.install()
        let lastStep = min(totalSteps, config.stopAfter ?? Int.max)
        if startStep >= totalSteps {
            // Resumed from the run's last checkpoint: nothing to train, but the summary should
            // report the model, not NaN.
            progress.line("the run is already complete (step \(startStep) of \(totalSteps)); evaluating its final model")
            lastEvaluation = try evaluator.evaluate(model, loss: loss, on: data.test)
        }
        while stepIndex < lastStep {
            let epoch = stepIndex / perEpoch, batch = stepIndex % perEpoch
            if epoch != orderEpoch { order = sampler.order(epoch: epoch); orderEpoch = epoch }
            let lr = schedule.learningRate(base: config.learningRate, step: stepIndex)
            communicator.note(step: stepIndex, phase: .training)
            if let stall = config.injectStall, stall.rank == communicator.rank, stall.step == stepIndex {
                // As if this rank's disk had stopped answering: alive, but not coming back.
                communicator.note(step: stepIndex, phase: .checkpointing)
                Thread.sleep(forTimeInterval: 3600)
            }
            if config.injectStepDelay > 0 { Thread.sleep(forTimeInterval: config.injectStepDelay) }
            let logged = (stepIndex + 1) % config.logEvery == 0
            let outcome = try step.run(data: data.train,
                                       batch: sampler.globalBatch(order: order, batch: batch),
                                       step: stepIndex, epoch: epoch, learningRate: lr,
                                       measureHealth: logged && communicator.isRoot)
            stepIndex += 1
            if let health = outcome.health { try report(health, step: stepIndex) }
            onStep?(stepIndex, outcome)
            if outcome.skipped {
                skipped += 1
                progress.warning("step \(stepIndex) skipped: non-finite gradient")
                try metrics?.write("skip", ["step": stepIndex, "epoch": epoch])
            } else {
                epochLoss += outcome.loss; epochSteps += 1
            }
            if stepIndex % config.logEvery == 0 || outcome.skipped {
                var record: [String: Any] = ["step": stepIndex, "epoch": epoch, "loss": outcome.loss, "lr": Double(lr),
                                             "grad_norm": outcome.decision.norm, "clip_coefficient": Double(outcome.decision.coefficient),
                                             "clipped": outcome.decision.clipped, "skipped": outcome.skipped]
                if tokensPerSample > 1 {
                    let elapsed = Date.timeIntervalSinceReferenceDate - started
                    record["tokens_per_second"] = Double((stepIndex - startStep) * B * tokensPerSample) / elapsed
                }
                try metrics?.write("step", record)
            }
            if stepIndex % config.consistencyEvery == 0 {
                try checkConsistency(step: stepIndex)
            }
            if let every = config.checkpointEvery, stepIndex % every == 0, stepIndex < lastStep, !outcome.stopRequested,
               communicator.isRoot {
                try writeCheckpoint(step: stepIndex)
            }
            let elapsed = Date.timeIntervalSinceReferenceDate - started
            progress.step(stepIndex, of: totalSteps, epoch: epoch, loss: outcome.loss,
                          samplesPerSecond: Double((stepIndex - startStep) * B) / elapsed,
                          secondsLeft: elapsed / Double(stepIndex - startStep) * Double(totalSteps - stepIndex),
                          tokensPerSample: tokensPerSample)

            let endsEpoch = stepIndex % perEpoch == 0 || stepIndex == totalSteps
            if let every = config.evalEvery, stepIndex % every == 0, !endsEpoch, let validation = data.validation {
                communicator.note(step: stepIndex, phase: .evaluating)
                let v = try evaluator.evaluate(model, loss: loss, on: validation)
                var record: [String: Any] = ["step": stepIndex, "epoch": epoch]
                progress.line("step \(stepIndex)  " + describe(v, into: &record))
                try metrics?.write("eval", record)
                if v.loss < bestValidationLoss, communicator.isRoot { try writeBest(step: stepIndex, validationLoss: v.loss) }
                bestValidationLoss = min(bestValidationLoss, v.loss)
            }
            if endsEpoch {
                communicator.note(step: stepIndex, phase: .evaluating)
                let seconds = Date.timeIntervalSinceReferenceDate - epochStart
                var record: [String: Any] = ["epoch": epoch + 1, "step": stepIndex,
                                             "train_loss": epochLoss / Double(max(epochSteps, 1)),
                                             "samples_per_second": Double(epochSteps * B) / seconds, "seconds": seconds,
                                             "skipped_steps": skipped]
                var line = String(format: "epoch %d  train loss %.4f", epoch + 1, epochLoss / Double(max(epochSteps, 1)))
                var stopEarly = false
                var validationResult: Evaluation? = nil
                if let validation = data.validation {
                    let v = try evaluator.evaluate(model, loss: loss, on: validation)
                    validationResult = v
                    line += "  " + describe(v, into: &record)
                    // The validation loss is the same number on every rank (one allreduce), so
                    // every rank reaches the same decision without another message.
                    if v.loss < bestValidationLoss {
                        bestValidationLoss = v.loss; epochsWithoutImprovement = 0
                        if communicator.isRoot { try writeBest(step: stepIndex, validationLoss: v.loss) }
                    } else {
                        epochsWithoutImprovement += 1
                        stopEarly = config.earlyStopping.map { epochsWithoutImprovement >= $0 } ?? false
                    }
                }
                if let validationResult, data.test === data.validation {
                    // The validation windows are the test set too (text): reported once.
                    lastEvaluation = validationResult
                } else if config.evaluateEveryEpoch || stepIndex == totalSteps {
                    lastEvaluation = try evaluator.evaluate(model, loss: loss, on: data.test)
                    record["test_loss"] = lastEvaluation.loss; record["test_accuracy"] = lastEvaluation.accuracy
                    line += String(format: "  test loss %.4f accuracy %.4f", lastEvaluation.loss, lastEvaluation.accuracy)
                }
                line += String(format: "  %.0f samples/s  %.1f s", Double(epochSteps * B) / seconds, seconds)
                try metrics?.write("epoch", record)
                progress.line(line)
                epochLoss = 0; epochSteps = 0; epochStart = Date.timeIntervalSinceReferenceDate
                if stopEarly {
                    if lastEvaluation.count == 0 { lastEvaluation = try evaluator.evaluate(model, loss: loss, on: data.test) }
                    progress.line("early stopping: validation loss has not improved for \(epochsWithoutImprovement) epochs "
                                  + String(format: "(best %.4f)", bestValidationLoss))
                    try metrics?.write("early_stop", ["epoch": epoch + 1, "step": stepIndex, "best_validation_loss": bestValidationLoss])
                    break
                }
            }
            // Every rank learned of a stop request in the same step's statistics.
            if outcome.stopRequested { stopRequested = true; break }
        }
        try checkConsistency(step: stepIndex)
        let checkpoint = communicator.isRoot ? try writeCheckpoint(step: stepIndex) : nil
        if stopRequested {
            let signal = GracefulStop.signal
            try metrics?.write("stopped", ["step": stepIndex, "total_steps": totalSteps,
                                       "signal": signal.map(GracefulStop.name) ?? NSNull(), "checkpoint": checkpoint ?? NSNull()])
            throw TrainingStopped(step: stepIndex, totalSteps: totalSteps, signal: signal, checkpoint: checkpoint,
                                  runDirectory: runDirectory)
        }
        let seconds = Date.timeIntervalSinceReferenceDate - started
        try metrics?.write("end", ["step": stepIndex, "epochs": Double(stepIndex) / Double(perEpoch),
                               "test_loss": lastEvaluation.loss, "test_accuracy": lastEvaluation.accuracy,
                               "seconds": seconds, "skipped_steps": skipped])
        let ran = stepIndex - startStep
        var divergence: String? = nil
        if ran > 0 && skipped * 2 > ran {
            divergence = "\(skipped) of its \(ran) steps were skipped for non-finite gradients"
        } else if lastEvaluation.count > 0 && !lastEvaluation.loss.isFinite {
            divergence = "its final test loss is \(lastEvaluation.loss)"
        }
        return TrainingSummary(steps: stepIndex, epochs: (stepIndex + perEpoch - 1) / perEpoch,
                               testLoss: lastEvaluation.loss, testAccuracy: lastEvaluation.accuracy,
                               seconds: seconds, skippedSteps: skipped, runDirectory: runDirectory, divergence: divergence)
    }

    /// The validation result as the progress line says it and the metrics record it: loss and
    /// accuracy per target, and bits per token for text (nats / ln 2).
    private func describe(_ v: Evaluation, into record: inout [String: Any]) -> String {
        record["validation_loss"] = v.loss; record["validation_accuracy"] = v.accuracy
        var line = String(format: "validation loss %.4f accuracy %.4f", v.loss, v.accuracy)
        if let token = data.validation?.tokenName {
            record["validation_bits_per_\(token)"] = v.bitsPerToken
            line += String(format: " (%.3f bits/%@)", v.bitsPerToken, token)
        }
        return line
    }

    /// Rank 0 records a logged step's layer health and warns about vanishing or exploding gradients.
    func report(_ health: GradientHealth, step: Int) throws {
        var record = health.record
        record["step"] = step
        try metrics?.write("layers", record)
        for layer in health.layers where layer.gradientNorm < config.vanishingThreshold {
            progress.warning(String(format: "step %d: vanishing gradient in layer %@ (gradient norm %.2e < %.0e)",
                                    step, layer.name, layer.gradientNorm, config.vanishingThreshold))
            try metrics?.write("warning", ["step": step, "kind": "vanishing", "layer": layer.index, "grad_norm": layer.gradientNorm])
        }
        if health.globalNorm > config.explodingThreshold || !health.globalNorm.isFinite {
            progress.warning(String(format: "step %d: exploding gradient (global norm %.3e > %.0e)",
                                    step, health.globalNorm, config.explodingThreshold))
            try metrics?.write("warning", ["step": step, "kind": "exploding", "global_norm": health.globalNorm])
        }
    }

    /// Rank 0 keeps the model with the lowest validation loss so far as `best.safetensors`.
    func writeBest(step: Int, validationLoss: Double) throws {
        guard let checkpoints else { return }
        let perEpoch = sampler.stepsPerEpoch
        var file = TrainingCheckpoint.make(config: config, model: model, source: modelSource, optimizer: optimizer,
                                           position: TrainingPosition(step: step, epoch: step / perEpoch, batchInEpoch: step % perEpoch),
                                           worldSize: communicator.size)
        file.metadata["validation_loss"] = "\(validationLoss)"
        let path = try checkpoints.saveBest(file)
        try metrics?.write("best", ["step": step, "path": path, "validation_loss": validationLoss])
    }

    /// All ranks compare a checksum of their weights; any difference is a bug or a hardware
    /// fault, and training on would silently waste the run. (On the shared arena there is one
    /// copy of the weights, so the check can only pass; it guards the MPI path.)
    func checkConsistency(step: Int) throws {
        if let hook = config.injectDivergence, hook.rank == communicator.rank, hook.step == step {
            model.arena.values[0] += 1
        }
        let sums = try communicator.allgather(Trainer.checksum(model))
        let differing = sums.indices.filter { sums[$0] != sums[0] }
        if !differing.isEmpty {
            throw CommunicationError("parameters diverged at step \(step): rank\(differing.count == 1 ? "" : "s") "
                                     + "\(differing.map(String.init).joined(separator: ", ")) differ\(differing.count == 1 ? "s" : "") from rank 0")
        }
    }

    /// A digest of every parameter and buffer value.
    public static func checksum(_ model: Model) -> UInt64 {
        var h = FNV1a()
        for store in [model.arena, model.buffers] {
            for i in 0..<store.count { h.mix(UInt64(store.values[i].bitPattern)) }
        }
        return h.value
    }
}
