import ArgumentParser
import Foundation
import Tandem

@main
struct TandemCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem",
        abstract: "Data-parallel neural-network training on MPI.",
        discussion: """
        Run under `mpirun -np N` for N ranks, plainly for one process, or with --simulate-ranks N \
        for N ranks as threads of one process.
        """,
        subcommands: [Train.self, Launch.self, Eval.self, Export.self, Bench.self, GradCheck.self, Plot.self, Predict.self, Generate.self],
        defaultSubcommand: Train.self)

    /// Like ArgumentParser's own entry point, except that a mistyped command line ends in one
    /// line, `tandem: error: …`, as every other error does (help and version print as usual).
    static func main() {
        BLASCore.useTunedKernels()
        guard ProductLibrary.requested != nil else {
            let names = ProductLibrary.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write("tandem: error: \(ProductLibrary.environmentVariable) must be one of \(names), not '\(ProcessInfo.processInfo.environment[ProductLibrary.environmentVariable] ?? "")'\n".data(using: .utf8)!)
            Foundation.exit(1)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            var message = self.message(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            let line = message.split(separator: "\n").map(String.init).first ?? "\(error)"
            FileHandle.standardError.write("tandem: error: \(line)\n".data(using: .utf8)!)
            Foundation.exit(1)
        }
    }
}
