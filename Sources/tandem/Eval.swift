import ArgumentParser
import Foundation
import Tandem

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test loss and accuracy of a checkpoint (a GPT's: validation loss on its text's last 10 %).")

    @Option(help: "Checkpoint or exported weights file.") var checkpoint: String
    @Option(help: "Directory of the Fashion-MNIST IDX files.") var dataDir = FashionMNIST.defaultDirectory
    @Option(help: "Loss to report: cross-entropy or mse (default: the checkpoint's).") var loss: LossKind?
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Run N simulated ranks as threads of this process.") var simulateRanks: Int?
    @Option(help: "The test data: for a GPT shakespeare (default) or text (with --text-file); npy (with --test-x, --test-y) or folder (with --test-dir) for a model trained on those (default: the data set the checkpoint was trained on).") var dataset: DatasetKind?
    @Option(help: "For a GPT with --dataset text: the text files (repeat for several).") var textFile: [String] = []
    @Option(help: "With --dataset npy: the test inputs (x.npy, data.npz:x, or a bare data.npz with its x and y).") var testX: String?
    @Option(help: "With --dataset npy: the test class labels (y.npy or data.npz:y).") var testY: String?
    @Option(help: "With --dataset folder: the test images (DIR/<class>/*.png|*.pgm).") var testDir: String?
    @Option(help: "With --dataset folder: the training folder, whose sorted class names give the class indices (default: the test folder's own).") var trainDir: String?

    func run() throws {
        let (path, dataDir, lossName, json) = (checkpoint, self.dataDir, loss, self.json)
        let (dataset, textFiles) = (self.dataset, textFile)
        let (testX, testY, testDir, trainDir) = (self.testX, self.testY, self.testDir, self.trainDir)
        Job.run(simulatedRanks: simulateRanks) { communicator in
            var model: Model? = nil, test: DataSource? = nil, objective: Loss? = nil
            try StartupFailure.agree(communicator: communicator) {
                let file = try CheckpointFile.read(path: path)
                model = try TrainingCheckpoint.model(from: file, path: path)
                let saved = file.metadata["loss"] ?? LossKind.crossEntropy.rawValue
                guard let kind = lossName ?? LossKind(rawValue: saved) else { throw ValidationError("\(path): unknown loss '\(saved)'") }
                objective = kind.make()
                if let context = try ModelSpec(file.metadata["model"] ?? "").sequenceLength {
                    // A language model: the fixed validation windows of its text, as training reports them.
                    let kind = dataset ?? .shakespeare
                    guard kind == .shakespeare || kind == .text else {
                        throw ValidationError("\(path) holds a language model: evaluate it on --dataset shakespeare or text")
                    }
                    test = try TextDataset.load(kind, textFiles: textFiles, context: context).validation
                    return
                }
                let trainedOn = file.metadata["config"]?.split(separator: " ").first { $0.hasPrefix("dataset=") }.map { String($0.dropFirst(8)) }
                let outputs = model!.outputShape.reduce(1, *)
                switch dataset ?? trainedOn.flatMap(DatasetKind.init(rawValue:)) {
                case .npy:
                    guard let testX else { throw ValidationError("\(path) was trained on --dataset npy: give its test set with --test-x (and --test-y)") }
                    test = try NumPyDataset.load(x: testX, y: NumPyDataset.labels(for: testX, given: testY, option: "--test-y"),
                                                 classCount: outputs)
                case .folder:
                    guard let testDir else { throw ValidationError("\(path) was trained on --dataset folder: give its test images with --test-dir") }
                    let classes = try trainDir.map { try ImageFolder.classNames(in: $0) }
                    let folder = try ImageFolder.load(testDir, classNames: classes)
                    guard folder.classCount == outputs else {
                        throw ValidationError("\(testDir) has \(folder.classCount) classes but the model outputs \(outputs); give --train-dir to take the training folder's classes")
                    }
                    test = folder
                case .csv:
                    throw ValidationError("\(path) was trained on CSV features (--dataset csv); tandem eval reads Fashion-MNIST, NumPy arrays and image folders")
                case .spokenDigits:
                    test = try SpokenDigits.load().test   // the held-out voices
                default:
                    test = try FashionMNIST.load(.test, directory: dataDir)
                }
                guard test!.sampleShape.reduce(1, *) == model!.inputShape.reduce(1, *) else {
                    throw ValidationError("\(path): the model takes \(model!.inputShape) inputs, the test set has \(test!.sampleShape)")
                }
            }
            let result = try Evaluator(communicator: communicator).evaluate(model!, loss: objective!, on: test!)
            guard communicator.isRoot else { return }
            if let token = test!.tokenName {
                if json {
                    let fields: [String: Any] = ["checkpoint": path, "validation_loss": result.loss, "validation_bits_per_\(token)": result.bitsPerToken,
                                                 "validation_accuracy": result.accuracy, "windows": test!.count, "tokens": result.count]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
                } else {
                    print(result.perTokenSummary(token) + "  (\(test!.count) windows)")
                }
                return
            }
            // Spoken digits: how well each voice never heard in training is recognised.
            var voices: [(voice: String, correct: Int, total: Int)] = []
            if let speech = test as? SpokenDigitSet {
                voices = speech.accuracyPerVoice(try ConfusionMatrix.predictions(of: model!, on: speech).map(\.predicted))
            }
            let worst = voices.min { Double($0.correct) / Double($0.total) < Double($1.correct) / Double($1.total) }
            if json {
                var fields: [String: Any] = ["checkpoint": path, "test_loss": result.loss, "test_accuracy": result.accuracy,
                                             "samples": result.count]
                if let worst {
                    fields["accuracy_per_voice"] = Dictionary(uniqueKeysWithValues: voices.map { ($0.voice, Double($0.correct) / Double($0.total)) })
                    fields["worst_voice"] = worst.voice
                }
                print(String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                print(String(format: "test loss %.4f  test accuracy %.4f  (%d samples)", result.loss, result.accuracy, result.count))
                if worst != nil {
                    print("accuracy per held-out voice (\(voices.count) voices, worst first):")
                    let ranked = voices.sorted { (Double($0.correct) / Double($0.total), $0.voice) < (Double($1.correct) / Double($1.total), $1.voice) }
                    let width = voices.map(\.voice.count).max() ?? 0
                    for v in ranked {
                        print("  " + v.voice.padding(toLength: width, withPad: " ", startingAt: 0)
                              + String(format: "  %.4f  (%d/%d)", Double(v.correct) / Double(v.total), v.correct, v.total))
                    }
                }
            }
        }
    }
}
