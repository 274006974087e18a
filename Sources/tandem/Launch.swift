import ArgumentParser
import Foundation
import Tandem

struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a training job under mpirun, and restart it from its latest checkpoint when it fails.",
        discussion: """
        Everything after -- is given to `tandem train` (add --checkpoint-every so a restart loses \
        little). SIGTERM or Ctrl-C stops the job at the next step with a checkpoint (exit 75); \
        running the same command again carries on.
        """)

    @Option(name: .customLong("np", withSingleDash: true), parsing: .unconditional, help: ArgumentHelp("Ranks (-np N).", valueName: "ranks"))
    var np: Int = 2
    @Option(help: "Open MPI hostfile (host slots=N per line).") var hostfile: String?
    @Option(parsing: .unconditional, help: "Restarts after failures before giving up.") var maxRestarts = 3
    @Option(parsing: .unconditional, help: "With --hostfile: restart on fewer ranks when a host stays unreachable, never fewer than this.")
    var minRanks: Int?
    @Option(parsing: .unconditional, help: "Seconds to wait before the first restart (doubled for each further one).") var backoff = 5.0
    @Option(parsing: .unconditionalSingleValue, help: ArgumentHelp("An extra option for mpirun (repeatable), e.g. --mpirun-option=--oversubscribe.", valueName: "option"))
    var mpirunOption: [String] = []
    @Argument(parsing: .postTerminator, help: "tandem train options.") var trainOptions: [String] = []

    func run() throws {
        var options = JobSupervisor.Options(ranks: np, trainArguments: trainOptions)
        options.hostfile = hostfile; options.maxRestarts = maxRestarts; options.minRanks = minRanks
        options.backoff = backoff; options.mpirunOptions = mpirunOption
        if let first = trainOptions.first, first == "train" { options.trainArguments.removeFirst() }
        options.trainArguments.insert("train", at: 0)
        let supervisor = try JobSupervisor(options: options, program: CommandLine.executablePath)
        Foundation.exit(supervisor.run())
    }
}

extension CommandLine {
    /// This program's own path, for starting it again as the ranks.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}
