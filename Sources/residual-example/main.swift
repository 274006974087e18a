import ArgumentParser
import Foundation
import Tandem

/// A model written in Swift, trained data-parallel through Tandem's library API: residual blocks
/// made of `Sequential`s, a weight used by two layers, a layer of its own (`MeanCentering`)
/// that talks to the other ranks. Runs under `mpirun`, alone, or with `--simulate-ranks N`.
struct ResidualExample: ParsableCommand {
    @Option(help: "Training steps.") var steps = 40
    @Option(help: "Samples per step, over all ranks.") var globalBatch = 64
    @Option(help: "Run N simulated ranks as threads of this process.") var simulateRanks: Int?
    @Option(help: "Directory for metrics.jsonl and checkpoints.") var runDir: String?
    @Option(help: "How gradients are summed: auto, mpi or shared-memory.") var reduce = "auto"
    @Option(help: "End after step N with a checkpoint (resume later with --resume).") var stopAfter: Int?
    @Flag(help: "Continue from the run directory's latest checkpoint.") var resume = false
    @Flag(help: "Check the model's gradients against finite differences instead of training.") var gradcheck = false

    /// The network: 784 → 64, centred over the global batch, then two residual blocks
    /// whose first layers share one weight matrix, then 10 classes.
    static func makeModel() throws -> Model {
        let shared = Linear(64, 64)
        let tied = Linear(64, 64, weightTiedTo: ParameterTie(owner: shared, name: "weight"))
        return try Model(Sequential(
            Flatten(), Linear(784, 64), Activation(.tanh), MeanCentering(features: 64),
            Residual(Sequential(shared, Activation(.tanh), Dropout(0.1), Linear(64, 64))),
            Residual(Sequential(tied, Activation(.relu), Dropout(0.1)), shortcut: Linear(64, 64)),
            Linear(64, 10)), inputShape: [1, 28, 28])
    }

    func run() throws {
        if gradcheck {
            // A step of 3e-3: at the default 1e-2 a ReLU kink falls inside some differences.
            let result = GradientCheck.check(model: try Self.makeModel(), batch: 4, name: "residual example", step: 3e-3)
            print(result)
            if !result.passed { throw ExitCode.failure }
            return
        }
        guard let reduction = ReductionChoice(rawValue: reduce) else {
            throw ValidationError("unknown --reduce '\(reduce)' (expected auto, mpi or shared-memory)")
        }
        var config = TrainingConfig()
        config.model = "residual-example"
        config.maxSteps = steps; config.stopAfter = stopAfter
        config.globalBatch = globalBatch
        config.trainSubset = 6_000
        config.seed = 5
        config.logEvery = 1
        config.threads = 1
        config.warmupSteps = 0
        config.evaluateEveryEpoch = false
        config.progress = false
        config.reduce = reduction
        config.runDirectory = runDir
        config.resume = resume ? .latest : nil
        Job.run(simulatedRanks: simulateRanks) { communicator in
            let data = try TrainingData.load(config)
            let trainer = try Trainer(model: try Self.makeModel(), data: data, config: config, communicator: communicator)
            let summary = try trainer.run()
            if communicator.isRoot {
                print(String(format: "residual-example: %d steps on %d rank(s) (%@), test accuracy %.4f",
                             summary.steps, communicator.size, trainer.step.reductionPath, summary.testAccuracy))
            }
        }
    }
}

ResidualExample.main()
