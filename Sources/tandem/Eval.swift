import ArgumentParser
import Foundation
import Tandem

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Test loss and accuracy of a checkpoint.")

    @Option(help: "Checkpoint or exported weights file.") var checkpoint: String
    @Option(help: "Directory of the Fashion-MNIST IDX files.") var dataDir = FashionMNIST.defaultDirectory
    @Option(help: "Loss to report: cross-entropy or mse (default: the checkpoint's).") var loss: LossKind?
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Run N simulated ranks as threads of this process.") var simulateRanks: Int?

    func run() throws {
        let (path, dataDir, lossName, json) = (checkpoint, self.dataDir, loss, self.json)
        Job.run(simulatedRanks: simulateRanks) { communicator in
            var model: Model? = nil, test: Dataset? = nil, objective: Loss? = nil
            try StartupFailure.agree(communicator: communicator) {
                let file = try CheckpointFile.read(path: path)
                model = try TrainingCheckpoint.model(from: file, path: path)
                let saved = file.metadata["loss"] ?? LossKind.crossEntropy.rawValue
                guard let kind = lossName ?? LossKind(rawValue: saved) else { throw ValidationError("\(path): unknown loss '\(saved)'") }
                objective = kind.make()
                test = try FashionMNIST.load(.test, directory: dataDir)
                guard test!.sampleShape.reduce(1, *) == model!.inputShape.reduce(1, *) else {
                    throw ValidationError("\(path): the model takes \(model!.inputShape) inputs, the test set has \(test!.sampleShape)")
                }
            }
            let result = try Evaluator(communicator: communicator).evaluate(model!, loss: objective!, on: test!)
            guard communicator.isRoot else { return }
            if json {
                let fields: [String: Any] = ["checkpoint": path, "test_loss": result.loss, "test_accuracy": result.accuracy,
                                             "samples": result.count]
                print(String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                print(String(format: "test loss %.4f  test accuracy %.4f  (%d samples)", result.loss, result.accuracy, result.count))
            }
        }
    }
}
