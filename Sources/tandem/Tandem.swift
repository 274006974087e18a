import ArgumentParser

@main
struct TandemCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem",
        abstract: "Data-parallel neural-network training on MPI.",
        discussion: """
        Run under `mpirun -np N` for N ranks, plainly for one process, or with --simulate-ranks N \
        for N ranks as threads of one process.
        """,
        subcommands: [Train.self, Eval.self, Export.self, Bench.self, GradCheck.self, Plot.self, Predict.self],
        defaultSubcommand: Train.self)
}
