import ArgumentParser
import Foundation
import Tandem

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput: median samples/s over timed steps, split into phases.")

    @OptionGroup var options: TrainingOptions
    @Option(help: "Timed steps.") var steps = 100
    @Option(help: "Untimed warm-up steps.") var warmupSteps = 20
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        var config = TrainingConfig()
        options.apply(to: &config)
        config.epochs = 1_000_000
        config.maxSteps = warmupSteps + steps
        config.progress = false
        config.runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-bench-\(getpid())").path
        let (steps, warmup, json) = (self.steps, warmupSteps, self.json)
        Job.run(simulatedRanks: options.simulateRanks) { communicator in
            let trainer = try Trainer(config: config, communicator: communicator)
            let report = try Benchmark.measure(trainer, warmup: warmup, steps: steps)
            if communicator.isRoot {
                try? FileManager.default.removeItem(atPath: config.runDirectory!)
                print(json ? report.json : report.text)
            }
        }
    }
}
