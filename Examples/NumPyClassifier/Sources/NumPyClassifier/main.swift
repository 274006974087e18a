import Foundation
import Tandem

// Trains a model of our own on NumPy arrays, data-parallel:
//     mpirun -np 2 NumPyClassifier train.npz test.npz [steps] [run-directory]
// (train.npz and test.npz as numpy.savez(file, x=images, y=labels) writes them).

/// Our model: two dense layers with our Swish between them, and a residual block.
func makeModel(inputShape: [Int], classes: Int) throws -> Model {
    let features = inputShape.reduce(1, *)
    return try Model(Sequential(
        Flatten(), Linear(features, 128), Swish(features: 128),
        Residual(Sequential(Linear(128, 128), Swish(features: 128))),
        Linear(128, classes)), inputShape: inputShape)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: NumPyClassifier train.npz test.npz [steps] [run-directory]\n".utf8))
    exit(2)
}
var config = TrainingConfig()
config.model = "numpy-classifier-swish"   // names the model in metrics and checkpoints
config.maxSteps = arguments.count > 3 ? Int(arguments[3]) ?? 60 : 60
config.runDirectory = arguments.count > 4 ? arguments[4] : nil
config.globalBatch = 64
config.learningRate = 3e-3
config.warmupSteps = 0
config.logEvery = 10
config.threads = 1
config.seed = 7

Job.run(simulatedRanks: nil) { communicator in
    // Every rank maps the same files; the trainer checks that they agree.
    let train = try NumPyDataset.load(x: arguments[1], y: arguments[1])
    let test = try NumPyDataset.load(x: arguments[2], y: arguments[2], classCount: train.classCount)
    let model = try makeModel(inputShape: train.sampleShape, classes: train.classCount)
    let trainer = try Trainer(model: model, data: TrainingData(train: train, test: test), config: config, communicator: communicator)
    let summary = try trainer.run()
    if communicator.isRoot, let run = config.runDirectory {
        // The weights alone, with PyTorch's names (1.weight, 3.body.0.weight, …), for load_state_dict.
        try model.exportWeights(to: run + "/weights.safetensors", name: config.model)
    }
    if communicator.isRoot {
        print(String(format: "NumPyClassifier: %d steps on %d rank(s), test accuracy %.4f", summary.steps, communicator.size, summary.testAccuracy))
    }
}
