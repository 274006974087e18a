import Foundation

/// The data sets a run uses, loaded the same way on every rank.
public struct TrainingData {
    /// The data the model learns from, sharded across the ranks at every step.
    public var train: DataSource
    /// Held-out data evaluated during training (nil: none); it picks the best checkpoint and drives early stopping.
    public var validation: DataSource?
    /// The data the final evaluation reports on.
    public var test: DataSource

    /// Data sets a program loaded itself (any `DataSource`s); a validation set is optional.
    public init(train: DataSource, validation: DataSource? = nil, test: DataSource) {
        self.train = train; self.validation = validation; self.test = test
    }

    /// A digest of every data set, each counted once (text's validation windows are its test
    /// set too), in order: ranks compare it to confirm they hold the same data.
    public var fingerprint: UInt64 {
        var h = FNV1a()
        h.mix(train.fingerprint)
        h.mix(test.fingerprint)
        if let validation, validation !== test { h.mix(validation.fingerprint) }
        return h.value
    }

    /// Loads the data sets `config.dataset` names and applies `config`'s training subset, validation split and
    /// augmentation. Every rank calls it and must get the same data (see `fingerprint`).
    public static func load(_ config: TrainingConfig) throws -> TrainingData {
        var train: Dataset, test: Dataset, testPath: String
        switch config.dataset {
        case .text, .shakespeare:
            return try loadText(config)
        case .spokenDigits:
            return try loadSpeech(config)
        case .fashionMNIST:
            train = try FashionMNIST.load(.train, directory: config.dataDirectory)
            test = try FashionMNIST.load(.test, directory: config.dataDirectory)
            testPath = FashionMNIST.path(.test, images: true, directory: config.dataDirectory)
            guard test.sampleShape == train.sampleShape else {
                throw DataError(testPath,
                                "holds images of shape \(test.sampleShape) but the training images have shape \(train.sampleShape)")
            }
        case .csv:
            guard let trainPath = config.csvTrain, let csvTestPath = config.csvTest else {
                throw TrainingConfig.Invalid(description: "--dataset csv needs --csv-train and --csv-test")
            }
            train = try CSVDataset.load(path: trainPath)
            testPath = csvTestPath
            test = try CSVDataset.load(path: testPath, classCount: train.classCount)
            guard test.featuresPerSample == train.featuresPerSample else {
                throw DataError(testPath, "has \(test.featuresPerSample) features per sample but \(trainPath) has \(train.featuresPerSample)")
            }
        case .npy:
            guard let trainX = config.trainX, let testX = config.testX else {
                throw TrainingConfig.Invalid(description: "--dataset npy needs --train-x and --test-x (with --train-y and --test-y, unless they are .npz archives holding x and y)")
            }
            train = try NumPyDataset.load(x: trainX, y: NumPyDataset.labels(for: trainX, given: config.trainY, option: "--train-y"))
            testPath = testX
            test = try NumPyDataset.load(x: testX, y: NumPyDataset.labels(for: testX, given: config.testY, option: "--test-y"),
                                         classCount: train.classCount)
            guard test.sampleShape == train.sampleShape else {
                throw DataError(testPath, "holds samples of shape \(test.sampleShape) but \(trainX) holds \(train.sampleShape)")
            }
        case .folder:
            guard let trainDirectory = config.trainDirectory, let testDirectory = config.testDirectory else {
                throw TrainingConfig.Invalid(description: "--dataset folder needs --train-dir and --test-dir")
            }
            train = try ImageFolder.load(trainDirectory)
            testPath = testDirectory
            test = try ImageFolder.load(testDirectory, classNames: train.classNames, sampleShape: train.sampleShape)
        }
        guard test.count > 0 else { throw DataError(testPath, "holds no samples") }
        if let n = config.trainSubset, n < train.count { train = train.subset(Array(0..<n), name: train.name + "/subset") }
        var validation: Dataset? = nil
        if config.validationSplit > 0 {
            let parts = train.split(validationFraction: config.validationSplit, seed: config.seed)
            train = parts.train; validation = parts.validation
        }
        if let augmentation = config.imageAugmentation {
            guard train.sampleShape.count == 3 else {
                throw TrainingConfig.Invalid(description: "--augment \(config.augmentationText) crops and flips images, but this data set's samples have shape \(train.sampleShape), not [channels, height, width]")
            }
            train.augmentation = augmentation   // the training set's alone
        }
        return TrainingData(train: train, validation: validation, test: test)
    }

    /// The spoken-digit clips, their features cached next to them; the training set varies its
    /// clips with noise, shifts, tempo and warp, as `--augment` says (all four by default).
    private static func loadSpeech(_ config: TrainingConfig) throws -> TrainingData {
        let parts = try SpokenDigits.load(directory: SpokenDigits.defaultDirectory,
                                          augmentation: config.speechAugmentation) { message in
            FileHandle.standardError.write(Data(("tandem: " + message + "\n").utf8))
        }
        var train = parts.train
        let augmentation = train.augmentation
        if let n = config.trainSubset, n < train.count {
            train = train.subset(Array(0..<n), name: train.name + "/subset", augmentation: augmentation)
        }
        var validation: SpokenDigitSet? = nil
        if config.validationSplit > 0 {
            var rng = SplitMix64(seed: config.seed, stream: 0x5A11D)
            let order = rng.permutation(train.count)
            let held = Int((Double(train.count) * config.validationSplit).rounded())
            validation = train.subset(Array(order[(train.count - held)...]).sorted(), name: train.name + "/validation", augmentation: nil)
            train = train.subset(Array(order[..<(train.count - held)]).sorted(), name: train.name, augmentation: augmentation)
        }
        return TrainingData(train: train, validation: validation, test: parts.test)
    }

    /// Byte windows for a sequence model: the first 90 % of the text trains, a fixed sample of
    /// windows from the last 10 % validates (and is what the final evaluation reports).
    private static func loadText(_ config: TrainingConfig) throws -> TrainingData {
        guard let context = try ModelSpec(config.model).sequenceLength else {
            throw TrainingConfig.Invalid(description: "--dataset \(config.dataset.rawValue) trains a sequence model on byte windows: "
                                         + "give --model gpt (or gpt:layers=…,context=…), not '\(config.model)'")
        }
        if config.trainSubset != nil { throw TrainingConfig.Invalid(description: "--train-subset applies to data sets of samples, not to text") }
        if config.validationSplit > 0 {
            throw TrainingConfig.Invalid(description: "--validation-split does not apply to text: its last 10 % is the validation set")
        }
        let parts = try TextDataset.load(config.dataset, textFiles: config.textFiles, context: context)
        return TrainingData(train: parts.train, validation: parts.validation, test: parts.validation)
    }
}
