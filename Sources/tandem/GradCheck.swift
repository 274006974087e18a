import ArgumentParser
import Tandem

struct GradCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Compare every layer's and loss's backward pass with finite differences.")

    func run() throws {
        let results = GradientCheckSuite.all()
        for result in results { print(result) }
        let failed = results.filter { !$0.passed }
        if !failed.isEmpty {
            throw ValidationError("\(failed.count) gradient check\(failed.count == 1 ? "" : "s") failed")
        }
        print("all \(results.count) gradient checks passed")
    }
}
