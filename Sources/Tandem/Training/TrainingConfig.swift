/// Everything that defines a training run. Every field has a default, so an empty command line
/// trains the default model on Fashion-MNIST.
public struct TrainingConfig: Equatable {
    /// A model spec (preset or layer list, see `ModelSpec`); a model built in Swift and handed
    /// to `Trainer(model:data:config:communicator:)` is described by its own name here.
    public var model = "mlp:784-256-128-10"
    /// The activation between the layers of an `mlp:` spec (`--activation`); checkpoints record it.
    public var activation = ActivationFunction.relu
    /// Forces a convolution method (nil: each layer picks; see `Conv2D.Algorithm`); numerics
    /// only, not in the fingerprint.
    public var convolution: Conv2D.Algorithm? = nil
    /// The training objective (`--loss`): softmax cross-entropy over classes, or mean squared error.
    public var loss = LossKind.crossEntropy
    /// Passes over the training set; the run's length, unless `maxSteps` ends it sooner.
    public var epochs = 10
    /// Caps the run at this many steps in all (nil: `epochs` decides); the schedule spans the capped run.
    public var maxSteps: Int? = nil
    /// End this job after step N as if interrupted (a checkpoint is written), without changing
    /// the planned run: the schedule still spans the full run, so a resume continues it exactly.
    public var stopAfter: Int? = nil
    /// Samples per step, summed over all ranks (each rank trains on its shard).
    public var globalBatch = 128
    /// The update rule and its settings: kind, momentum, Nesterov, weight decay and Adam's betas.
    public var optimizer = OptimizerConfig()
    /// Base learning rate (`--lr`), which `schedule` scales step by step.
    public var learningRate: Float = 1e-3
    /// How the learning rate moves over the run: constant, step decay, or cosine with linear warm-up.
    public var schedule = ScheduleKind.cosine
    /// Linear warm-up steps of the cosine schedule, capped at a tenth of the run.
    public var warmupSteps = 200
    /// Epochs between decays of the step schedule.
    public var stepEvery = 5      // epochs between decays of the step schedule
    /// Factor the step schedule multiplies the learning rate by at each decay (`--gamma`), in (0, 1].
    public var stepGamma: Float = 0.1
    /// Clip gradients to this global L2 norm, as rank 0 decides (nil: no clipping; the norm is still measured).
    public var clipNorm: Float? = nil
    /// Seeds the initial weights, the shuffles, dropout and augmentation: the same seed gives the same run.
    public var seed: UInt64 = 42
    /// Shuffle the training set every epoch (the order derives from the seed and the epoch, so a resume repeats it).
    public var shuffle = true
    /// The data set the command line loads; ignored when a program passes its own `TrainingData`.
    public var dataset = DatasetKind.fashionMNIST
    /// Directory of the Fashion-MNIST IDX files (`--data-dir`).
    public var dataDirectory = FashionMNIST.defaultDirectory
    /// Training file of `--dataset csv`: one sample per row, the class label first, then the features.
    public var csvTrain: String? = nil
    /// Test file of `--dataset csv`, with as many features per sample as the training file.
    public var csvTest: String? = nil
    /// The arrays of `--dataset npy` (see `NumPyDataset`): "x.npy", or "data.npz:x"; a bare
    /// "data.npz" as `trainX` (or `testX`) brings its `y` with it.
    public var trainX: String? = nil
    /// Class labels for `trainX`: "y.npy" (integers, one per sample) or "data.npz:y".
    public var trainY: String? = nil
    /// Test inputs of `--dataset npy`, named as `trainX` is.
    public var testX: String? = nil
    /// Test class labels of `--dataset npy`, named as `trainY` is.
    public var testY: String? = nil
    /// The folders of `--dataset folder` (see `ImageFolder`).
    public var trainDirectory: String? = nil
    /// Test images of `--dataset folder`, in the training folder's layout and classes.
    public var testDirectory: String? = nil
    /// The files of `--dataset text`, read as bytes and concatenated in this order.
    public var textFiles: [String] = []
    /// Evaluate on the validation data every N steps (as well as at each epoch's end).
    public var evalEvery: Int? = nil
    /// Train on the first N training samples only (nil: all); must be at least `globalBatch`.
    public var trainSubset: Int? = nil
    /// How training varies its samples (`--augment`); nil: the data set's default (noise and
    /// shifts, tempo and warp for spoken digits, nothing for the others), empty: nothing.
    public var augment: [AugmentationKind]? = nil
    /// Fraction of the training set held out for validation, in [0, 1) (0: no validation set).
    public var validationSplit: Double = 0
    /// Directory for metrics.jsonl and the checkpoints (nil: a new folder under runs/, named by the UTC time).
    public var runDirectory: String? = nil
    /// Write a checkpoint every N steps (and always at the end).
    public var checkpointEvery: Int? = nil
    /// Checkpoints kept in the run directory, newest first.
    public var keepCheckpoints = 3
    /// Where the run continues from: the run directory's latest checkpoint, a checkpoint file, or nil for a fresh start.
    public var resume: ResumePoint? = nil
    /// Record step metrics (and each layer's gradient health) every N steps.
    public var logEvery = 50
    /// Warn when a layer's gradient norm falls below this (vanishing gradients)...
    public var vanishingThreshold = 1e-3
    /// ...or when the global norm rises above this (exploding gradients).
    public var explodingThreshold = 1e3
    /// Stop when validation loss has not improved for this many epochs (needs a validation split).
    public var earlyStopping: Int? = nil
    /// Compare parameter checksums across ranks every N steps (and at the end), so diverged weights stop the run.
    public var consistencyEvery = 200
    /// Overlap the gradient allreduce with backward, reducing each bucket as soon as its
    /// gradients are done: `auto` where ranks span hosts.
    public var overlap = OverlapChoice.auto
    /// Size of the allreduce's gradient buckets, in MiB.
    public var bucketMegabytes: Double = 1
    /// How gradients are summed: shared memory (ranks on one host share one copy of the model;
    /// see `SharedArena`), MPI (bucketed allreduce overlapped with backward), hierarchical (shared
    /// memory within each host, each rank's share across hosts), or auto: shared memory when every
    /// rank is on one host, hierarchical when ranks span hosts and share them, MPI otherwise.
    public var reduce = ReductionChoice.auto
    /// BLAS threads per rank (nil: this host's cores divided by the ranks on it).
    public var threads: Int? = nil
    /// Seconds any collective may wait for the other ranks before the watchdog ends the job
    /// (see `CollectiveWatchdog`); 0 waits forever. Passed to `Job.run`.
    public var collectiveTimeout: Double = 300
    /// Evaluate on the test set at every epoch's end (false: only after the last step).
    public var evaluateEveryEpoch = true
    /// Print progress lines and epoch summaries (rank 0 only); false, as with `--quiet`, leaves only warnings and errors.
    public var progress = true
    /// Test hooks (hidden on the command line): poison one rank's gradient, or one rank's weights.
    public var injectNaN: (rank: Int, step: Int)? = nil
    /// Test hook: add 1 to one rank's first weight at a step, which the consistency check must then catch.
    public var injectDivergence: (rank: Int, step: Int)? = nil
    /// ... or make one rank hang at a step, alive (as in slow I/O), for the watchdog's tests.
    public var injectStall: (rank: Int, step: Int)? = nil
    /// ... or make every step take this many seconds longer (a slow machine, for tests that
    /// must interrupt a run; the mathematics is unchanged).
    public var injectStepDelay: Double = 0

    /// The defaults: the default MLP on Fashion-MNIST, trained with AdamW and a cosine schedule for 10 epochs.
    public init() {}

    /// What the spoken-digit training set does to its clips under `augment`.
    public var speechAugmentation: SpeechAugmentation {
        guard let augment else { return SpeechAugmentation() }
        var a = SpeechAugmentation()
        if !augment.contains(.noise) { a.noiseProbability = 0 }
        if !augment.contains(.shift) { a.maxShiftFrames = 0 }
        if !augment.contains(.tempo) { a.tempo = 1...1 }
        if !augment.contains(.warp) { a.warp = 1...1 }
        return a
    }

    /// What training does to images under `augment` (nil: nothing, the default for images).
    public var imageAugmentation: ImageAugmentation? {
        guard let augment, augment.contains(.crop) || augment.contains(.flip) else { return nil }
        return ImageAugmentation(padding: augment.contains(.crop) ? 4 : 0, flip: augment.contains(.flip))
    }

    /// `augment` as the command line spells it.
    public var augmentationText: String {
        guard let augment else { return "default" }
        return augment.isEmpty ? "none" : augment.map(\.rawValue).joined(separator: ",")
    }

    /// Configurations are equal when their `fingerprintText`s are: when they train the same mathematics.
    public static func == (a: TrainingConfig, b: TrainingConfig) -> Bool { a.fingerprintText == b.fingerprintText }

    /// A configuration problem, reported before any work starts.
    public struct Invalid: Error, CustomStringConvertible {
        /// The problem, phrased for the command line (it names the option).
        public var description: String
        /// A problem described by `description`.
        public init(description: String) { self.description = description }
    }

    /// Checks every value's range and that the options fit together (`--csv-train` only with `--dataset csv`,
    /// `--early-stopping` only with a validation split, ...) for `worldSize` ranks; throws `Invalid` on the first problem.
    public func validate(worldSize: Int) throws {
        func fail(_ s: String) throws -> Never { throw Invalid(description: s) }
        if globalBatch < 1 { try fail("--global-batch must be at least 1 (got \(globalBatch))") }
        if globalBatch < worldSize {
            try fail("--global-batch \(globalBatch) is smaller than the world size \(worldSize): every rank needs at least one sample per step")
        }
        if epochs < 1 { try fail("--epochs must be at least 1 (got \(epochs))") }
        if let maxSteps, maxSteps < 1 { try fail("--max-steps must be at least 1 (got \(maxSteps))") }
        if !(learningRate > 0) || !learningRate.isFinite { try fail("--lr must be a positive number (got \(learningRate))") }
        if let clipNorm, !(clipNorm > 0) || !clipNorm.isFinite { try fail("--clip-norm must be a positive number (got \(clipNorm))") }
        let momentum = optimizer.momentum, decay = optimizer.weightDecay
        if !(0..<1).contains(momentum) { try fail("--momentum must be in [0, 1) (got \(momentum))") }
        if !(decay >= 0) || !decay.isFinite { try fail("--weight-decay must be a non-negative number (got \(decay))") }
        if warmupSteps < 0 { try fail("--warmup must be at least 0 steps (got \(warmupSteps))") }
        if stepEvery < 1 { try fail("--step-every must be at least 1 epoch (got \(stepEvery))") }
        if !(stepGamma > 0 && stepGamma <= 1) { try fail("--gamma must be in (0, 1] (got \(stepGamma))") }
        if let maxSteps = stopAfter, maxSteps < 1 { try fail("--stop-after must be at least 1 (got \(maxSteps))") }
        if let trainSubset, trainSubset < 1 { try fail("--train-subset must be at least 1 (got \(trainSubset))") }
        if !(vanishingThreshold >= 0) || !vanishingThreshold.isFinite {
            try fail("--vanishing-threshold must be a non-negative number (got \(vanishingThreshold))")
        }
        if !(explodingThreshold > 0) { try fail("--exploding-threshold must be positive (got \(explodingThreshold))") }
        if !(0..<1).contains(validationSplit) { try fail("--validation-split must be in [0, 1) (got \(validationSplit))") }
        if logEvery < 1 { try fail("--log-every must be at least 1") }
        if let earlyStopping {
            if earlyStopping < 1 { try fail("--early-stopping must be at least 1 epoch") }
            if validationSplit <= 0 { try fail("--early-stopping needs --validation-split (it watches the validation loss)") }
        }
        if consistencyEvery < 1 { try fail("--consistency-every must be at least 1") }
        if !(bucketMegabytes > 0) || !bucketMegabytes.isFinite { try fail("--bucket-mb must be a positive number (got \(bucketMegabytes))") }
        if let threads, threads < 1 { try fail("--threads must be at least 1") }
        if !(collectiveTimeout >= 0) || !collectiveTimeout.isFinite {
            try fail("--collective-timeout must be a non-negative number of seconds, 0 to wait forever (got \(collectiveTimeout))")
        }
        if dataset != .csv, let given = csvTrain.map({ ("--csv-train", $0) }) ?? csvTest.map({ ("--csv-test", $0) }) {
            try fail("\(given.0) \(given.1) is read only with --dataset csv (this run trains on --dataset \(dataset.rawValue))")
        }
        if let checkpointEvery, checkpointEvery < 1 { try fail("--checkpoint-every must be at least 1") }
        if let evalEvery, evalEvery < 1 { try fail("--eval-every must be at least 1 step (got \(evalEvery))") }
        let arrays = [("--train-x", trainX), ("--train-y", trainY), ("--test-x", testX), ("--test-y", testY)]
        if dataset != .npy, let given = arrays.first(where: { $0.1 != nil }) {
            try fail("\(given.0) \(given.1!) is read only with --dataset npy (this run trains on --dataset \(dataset.rawValue))")
        }
        if dataset != .folder, let given = [("--train-dir", trainDirectory), ("--test-dir", testDirectory)].first(where: { $0.1 != nil }) {
            try fail("\(given.0) \(given.1!) is read only with --dataset folder (this run trains on --dataset \(dataset.rawValue))")
        }
        if dataset != .text, let file = textFiles.first {
            try fail("--text-file \(file) is read only with --dataset text (this run trains on --dataset \(dataset.rawValue))")
        }
        if keepCheckpoints < 1 { try fail("--keep must be at least 1") }
        if resume == .latest && runDirectory == nil { try fail("--resume auto needs --run-dir (the directory to resume from)") }
        if let augment {
            let list = augment.map(\.rawValue).joined(separator: ",")
            if dataset == .spokenDigits, augment.contains(where: \.isForImages) {
                try fail("--augment \(list): crop and flip are for images; spoken digits take noise, shift, tempo and warp")
            }
            if dataset != .spokenDigits, augment.contains(where: { !$0.isForImages }) {
                try fail("--augment \(list): noise, shift, tempo and warp apply to --dataset spoken-digits only")
            }
            if ![.fashionMNIST, .spokenDigits, .npy, .folder].contains(dataset) && !augment.isEmpty {
                try fail("--augment \(list): crop and flip apply to images (--dataset fashion-mnist, npy or folder)")
            }
        }
        if let trainSubset, trainSubset < globalBatch { try fail("--train-subset \(trainSubset) is smaller than --global-batch \(globalBatch)") }
    }

    /// Every option that must be the same on every rank, by its command-line name: those that
    /// change the mathematics (`fingerprintText`) and those that steer what the ranks do
    /// together (which gradient path, the buckets of the allreduce, when to stop, evaluate or
    /// stop early). Ranks compare them at start-up; one that differs is named.
    public var agreementFields: [(option: String, value: String)] {
        func text<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "-" }
        return [
            ("--model", model), ("--activation", activation.argument), ("--loss", loss.rawValue), ("--epochs", "\(epochs)"),
            ("--max-steps", text(maxSteps)), ("--global-batch", "\(globalBatch)"), ("--optimizer", optimizer.kind.rawValue),
            ("--momentum", "\(optimizer.momentum)"), ("--nesterov", "\(optimizer.nesterov)"),
            ("--weight-decay", "\(optimizer.weightDecay)"), ("--lr", "\(learningRate)"), ("--schedule", schedule.rawValue),
            ("--warmup", "\(warmupSteps)"), ("--step-every", "\(stepEvery)"), ("--gamma", "\(stepGamma)"),
            ("--clip-norm", text(clipNorm)), ("--seed", "\(seed)"), ("--shuffle", "\(shuffle)"), ("--dataset", dataset.rawValue),
            ("--train-subset", text(trainSubset)), ("--augment", augmentationText), ("--validation-split", "\(validationSplit)"),
            ("--consistency-every", "\(consistencyEvery)"), ("--reduce", reduce.rawValue), ("--overlap", overlap.rawValue),
            ("--bucket-mb", "\(bucketMegabytes)"), ("--stop-after", text(stopAfter)), ("--early-stopping", text(earlyStopping)),
            ("--log-every", "\(logEvery)"), ("--checkpoint-every", text(checkpointEvery)), ("--keep", "\(keepCheckpoints)"),
            ("--convolution", convolution?.rawValue ?? "auto"), ("--eval-every", text(evalEvery)), ("TrainingConfig.evaluateEveryEpoch", "\(evaluateEveryEpoch)"),
        ]
    }

    /// The fields that change the mathematics of the run, as text. Ranks compare a hash of it
    /// at start-up; checkpoints record it.
    public var fingerprintText: String {
        var parts = ["model=\(model)", "activation=\(activation.argument)", "loss=\(loss.rawValue)", "epochs=\(epochs)",
                     "max_steps=\(maxSteps.map(String.init) ?? "-")", "global_batch=\(globalBatch)",
                     "optimizer=\(optimizer.kind.rawValue)", "momentum=\(optimizer.momentum)", "nesterov=\(optimizer.nesterov)",
                     "weight_decay=\(optimizer.weightDecay)", "lr=\(learningRate)", "schedule=\(schedule.rawValue)",
                     "warmup=\(warmupSteps)", "step_every=\(stepEvery)", "gamma=\(stepGamma)",
                     "clip=\(clipNorm.map { "\($0)" } ?? "-")", "seed=\(seed)", "shuffle=\(shuffle)",
                     "dataset=\(dataset.rawValue)", "train_subset=\(trainSubset.map(String.init) ?? "-")",
                     "validation_split=\(validationSplit)"]
        parts.append("consistency_every=\(consistencyEvery)")
        // Only data sets that vary their samples name it, so older checkpoints keep their fingerprints.
        if dataset == .spokenDigits || augment.map({ !$0.isEmpty }) == true { parts.append("augment=\(augmentationText)") }
        return parts.joined(separator: " ")
    }
}
