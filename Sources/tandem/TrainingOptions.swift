import ArgumentParser
import Tandem

/// "RANK:STEP", for the hidden fault-injection hooks used by the tests.
struct RankStep: ExpressibleByArgument {
    var rank: Int, step: Int
    init?(argument: String) {
        let parts = argument.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2 else { return nil }
        rank = parts[0]; step = parts[1]
    }
}

extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}
extension ReductionChoice: ExpressibleByArgument {}
extension OverlapChoice: ExpressibleByArgument {}

extension ActivationFunction: ExpressibleByArgument {
    public init?(argument: String) {
        guard let function = ActivationFunction.named(argument) else { return nil }
        self = function
    }
    public var defaultValueDescription: String { argument }
    public static var allValueStrings: [String] { ["relu", "leakyrelu", "sigmoid", "tanh", "gelu"] }
}

/// `--convolution`: a forced method, or auto.
enum ConvolutionChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, im2col, winograd
    var algorithm: Conv2D.Algorithm? { Conv2D.Algorithm(rawValue: rawValue) }
}

/// The options shared by `train` and `bench`: the model, the data and the optimiser.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Model spec: a preset (mlp, cnn, cnn-small, speech, gpt), mlp:784-256-128-10, a layer list like linear:256,relu,linear:10, or gpt:layers=4,heads=4,dim=128,context=128.")
    var model = "mlp:784-256-128-10"
    @Option(help: "Activation between the layers of an mlp: spec (relu, leakyrelu, sigmoid, tanh, gelu).")
    var activation = ActivationFunction.relu
    @Option(help: "How convolutions are computed: auto (Winograd F(4×4, 5×5) and F(4×4, 3×3) for stride-1 5×5 and 3×3 convolutions over 8 or more channels, im2col for the rest), im2col (for results that agree across world sizes to float rounding) or winograd (wherever the kernel is 5×5 or 3×3 at stride 1).")
    var convolution = ConvolutionChoice.auto
    @Option(help: "Loss: cross-entropy or mse.") var loss = LossKind.crossEntropy
    @Option(parsing: .unconditional, help: "Samples per step, summed over all ranks.") var globalBatch = 128
    @Option(help: "sgd, adam or adamw.") var optimizer = OptimizerKind.adamw
    @Option(parsing: .unconditional, help: "Base learning rate.") var lr: Float = 1e-3
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum: Float = 0.9
    @Flag(help: "Nesterov momentum for SGD.") var nesterov = false
    @Option(parsing: .unconditional, help: "Weight decay (L2 for sgd/adam, decoupled for adamw).") var weightDecay: Float = 0
    @Option(help: "Learning-rate schedule: constant, step or cosine (with linear warm-up).") var schedule = ScheduleKind.cosine
    @Option(parsing: .unconditional, help: "Warm-up steps of the cosine schedule (at most a tenth of the run).") var warmup = 200
    @Option(parsing: .unconditional, help: "Epochs between decays of the step schedule.") var stepEvery = 5
    @Option(parsing: .unconditional, help: "Decay factor of the step schedule.") var gamma: Float = 0.1
    @Option(parsing: .unconditional, help: "Clip gradients to this global L2 norm (rank 0 decides).") var clipNorm: Float?
    @Option(parsing: .unconditional, help: "Seed for initial weights, shuffling and dropout.") var seed: UInt64 = 42
    @Option(help: "Shuffle the training set every epoch (true/false).") var shuffle = true
    @Option(help: "fashion-mnist, csv (with --csv-train and --csv-test), npy (NumPy arrays: --train-x, --train-y, --test-x, --test-y), folder (image folders: --train-dir, --test-dir), text (with --text-file), shakespeare (fetched by scripts/setup) or spoken-digits (made by scripts/make-spoken-digits); text data needs a gpt model. Default: shakespeare for a gpt model, spoken-digits for the speech model, else fashion-mnist.") var dataset: DatasetKind?
    @Option(help: "A text file for --dataset text, read as bytes (repeat for several, concatenated in order): the first 90 % trains, the last 10 % validates.")
    var textFile: [String] = []
    @Option(parsing: .unconditional, help: "Evaluate on the validation data every N steps (and at the end).") var evalEvery: Int?
    @Option(help: "Directory of the Fashion-MNIST IDX files.") var dataDir = FashionMNIST.defaultDirectory
    @Option(help: "CSV training file (label, features...).") var csvTrain: String?
    @Option(help: "CSV test file.") var csvTest: String?
    @Option(help: "Training inputs for --dataset npy: x.npy (one sample per row), or data.npz:x; a bare data.npz brings its y too.") var trainX: String?
    @Option(help: "Training class labels for --dataset npy: y.npy (integers, one per sample), or data.npz:y.") var trainY: String?
    @Option(help: "Test inputs for --dataset npy (as --train-x).") var testX: String?
    @Option(help: "Test class labels for --dataset npy (as --train-y).") var testY: String?
    @Option(help: "Training images for --dataset folder: DIR/<class>/*.png|*.pgm, classes sorted by name.") var trainDir: String?
    @Option(help: "Test images for --dataset folder, in the same layout and classes.") var testDir: String?
    @Option(parsing: .unconditional, help: "Train on the first N training samples only.") var trainSubset: Int?
    @Option(help: "How training varies its samples: for --dataset spoken-digits a comma-separated list of noise, shift, tempo and warp (default: all four), or none; for images crop and flip (default: none).")
    var augment: String?
    @Option(parsing: .unconditional, help: "Fraction of the training set held out for validation.") var validationSplit: Double = 0
    @Option(parsing: .unconditional, help: "BLAS threads per rank (default: cores on this host / ranks on this host).") var threads: Int?
    @Option(help: "Overlap the gradient allreduce with backward: true, false, or auto (true when ranks span hosts, false on one host, where both cores compute and overlap slows the step).")
    var overlap = OverlapChoice.auto
    @Option(parsing: .unconditional, help: "Gradient bucket size for the allreduce, in MiB.") var bucketMb: Double = 1
    @Option(help: "How gradients are summed: shared-memory (ranks on one host share one copy of the model), mpi (bucketed MPI allreduce of the whole gradient), hierarchical (shared memory within each host, each rank's share of the gradient across hosts), or auto (shared-memory on one host, hierarchical across hosts with several ranks each, else mpi).")
    var reduce = ReductionChoice.auto
    @Option(parsing: .unconditional, help: "Seconds a collective may wait for the other ranks before the job ends, naming the ranks that did not arrive (0: wait forever).")
    var collectiveTimeout: Double = 300
    @Option(parsing: .unconditional, help: "Run N simulated ranks as threads of this process (no mpirun).") var simulateRanks: Int?

    /// The data a model is for: Shakespeare for a GPT, the spoken digits for the speech
    /// preset, Fashion-MNIST otherwise.
    static func defaultDataset(model: String) -> DatasetKind {
        if (try? ModelSpec(model).sequenceLength) != nil { return .shakespeare }
        return model == "speech" ? .spokenDigits : .fashionMNIST
    }

    func validate() throws {
        if let augment, AugmentationKind.list(augment) == nil {
            throw ValidationError("--augment '\(augment)': give none, or a comma-separated list of noise, shift, tempo and warp (spoken digits) or crop and flip (images)")
        }
    }

    func apply(to config: inout TrainingConfig) {
        config.model = model; config.activation = activation; config.loss = loss; config.convolution = convolution.algorithm
        config.globalBatch = globalBatch
        config.optimizer.kind = optimizer; config.optimizer.momentum = momentum
        config.optimizer.nesterov = nesterov; config.optimizer.weightDecay = weightDecay
        config.learningRate = lr; config.schedule = schedule; config.warmupSteps = warmup
        config.stepEvery = stepEvery; config.stepGamma = gamma; config.clipNorm = clipNorm
        config.seed = seed; config.shuffle = shuffle; config.dataset = dataset ?? TrainingOptions.defaultDataset(model: model); config.dataDirectory = dataDir
        config.csvTrain = csvTrain; config.csvTest = csvTest
        config.trainX = trainX; config.trainY = trainY; config.testX = testX; config.testY = testY
        config.trainDirectory = trainDir; config.testDirectory = testDir
        config.textFiles = textFile; config.evalEvery = evalEvery; config.trainSubset = trainSubset
        config.augment = augment.flatMap(AugmentationKind.list)
        config.validationSplit = validationSplit; config.threads = threads
        config.overlap = overlap; config.bucketMegabytes = bucketMb; config.reduce = reduce
        config.collectiveTimeout = collectiveTimeout
    }
}
