import ArgumentParser
import Foundation
import Tandem

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model (the default command).")

    @OptionGroup var options: TrainingOptions
    @Option(parsing: .unconditional, help: "Epochs to train.") var epochs = 10
    @Option(parsing: .unconditional, help: "Stop after this many steps in all.") var maxSteps: Int?
    @Option(help: "Directory for metrics.jsonl and checkpoints (default: a new folder under runs/).") var runDir: String?
    @Option(parsing: .unconditional, help: "Record step metrics every N steps.") var logEvery = 50
    @Option(parsing: .unconditional, help: "Warn when a layer's gradient norm falls below this.") var vanishingThreshold = 1e-3
    @Option(parsing: .unconditional, help: "Warn when the global gradient norm exceeds this.") var explodingThreshold = 1e3
    @Option(parsing: .unconditional, help: "Stop when validation loss has not improved for N epochs (keeps best.safetensors).") var earlyStopping: Int?
    @Option(parsing: .unconditional, help: "Compare parameter checksums across ranks every N steps.") var consistencyEvery = 200
    @Option(parsing: .unconditional, help: "End this job after step N (with a checkpoint) without changing the planned run; resume later.") var stopAfter: Int?
    @Option(parsing: .unconditional, help: "Write a checkpoint every N steps (one is always written at the end).") var checkpointEvery: Int?
    @Option(parsing: .unconditional, help: "How many checkpoints to keep in the run directory.") var keep = 3
    @Option(help: "Resume from 'auto' (the run directory's latest checkpoint, if any) or a checkpoint file.") var resume: String?
    @Flag(help: "Print nothing but errors.") var quiet = false
    @Option(help: .hidden) var injectNan: RankStep?
    @Option(help: .hidden) var injectDivergence: RankStep?
    @Option(help: .hidden) var injectStall: RankStep?
    @Option(help: .hidden) var injectStepDelay: Double = 0

    func run() throws {
        var config = TrainingConfig()
        options.apply(to: &config)
        config.epochs = epochs; config.maxSteps = maxSteps; config.stopAfter = stopAfter; config.runDirectory = runDir
        config.checkpointEvery = checkpointEvery; config.keepCheckpoints = keep; config.resume = resume.map(ResumePoint.init)
        config.vanishingThreshold = vanishingThreshold; config.explodingThreshold = explodingThreshold
        config.earlyStopping = earlyStopping
        config.logEvery = logEvery; config.consistencyEvery = consistencyEvery; config.progress = !quiet
        config.injectNaN = injectNan.map { ($0.rank, $0.step) }
        config.injectDivergence = injectDivergence.map { ($0.rank, $0.step) }
        config.injectStall = injectStall.map { ($0.rank, $0.step) }
        config.injectStepDelay = injectStepDelay
        // At once, not when training begins: a scheduler's signal during start-up (loading data,
        // a checkpoint) must stop the job after its first step, not kill it.
        GracefulStop.install()
        Job.run(simulatedRanks: options.simulateRanks, collectiveTimeout: config.collectiveTimeout) { communicator in
            let trainer = try Trainer(config: config, communicator: communicator)
            let summary = try trainer.run()
            if communicator.isRoot && !quiet {
                if let token = trainer.data.test.tokenName {
                    let evaluation = Evaluation(loss: summary.testLoss, accuracy: summary.testAccuracy, count: 0)
                    print(evaluation.perTokenSummary(token) + String(format: "  (%d steps, %.1f s)", summary.steps, summary.seconds))
                } else {
                    print(String(format: "test accuracy %.4f  test loss %.4f  (%d steps, %.1f s)", summary.testAccuracy,
                                 summary.testLoss, summary.steps, summary.seconds))
                }
                if let dir = summary.runDirectory { print("run directory \(dir)") }
            }
            if let divergence = summary.divergence {
                // Every rank holds the same summary, so every rank ends alike; rank 0 says why.
                let problem = TrainingConfig.Invalid(description: "the run diverged: \(divergence) (try a lower --lr, or --clip-norm)")
                throw StartupFailure(underlying: problem, shouldReport: communicator.isRoot, failingRank: 0)
            }
        }
    }
}
