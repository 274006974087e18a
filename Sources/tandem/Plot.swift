import ArgumentParser
import Foundation
import Tandem

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a run's learning curves, gradient health and test-set confusion matrix as PNGs (with gnuplot).",
        discussion: """
        Reads RUN_DIR/metrics.jsonl and writes loss.png, accuracy.png, gradients.png and update_ratio.png, \
        and confusion.png from the run's latest checkpoint over the test set (Fashion-MNIST's, or the spoken digits' held-out voices). Each PNG comes \
        with the gnuplot script (.gp) and data (.dat) that drew it, to edit and re-run by hand. Plots the \
        metrics cannot support yet (no layers records, no checkpoint) are skipped with a note.
        """)

    @Argument(help: "Run directory (holds metrics.jsonl and the checkpoints).") var runDir: String
    @Option(help: "Directory for the PNGs, scripts and data (default: RUN_DIR/plots).") var out: String?
    @Option(help: "Directory of the Fashion-MNIST IDX files (for the confusion matrix).") var dataDir = FashionMNIST.defaultDirectory
    @Option(help: "gnuplot to run: a name looked up on PATH, or a path.") var gnuplot = "gnuplot"
    @Flag(inversion: .prefixedNo, help: "Draw the confusion matrix of the latest checkpoint on the test set.")
    var confusion = true

    func run() throws {
        do {
            try draw()
        } catch {
            Job.fail(error, rank: nil, size: 1)
        }
    }

    func draw() throws {
        let runDirectory = runDir.count > 1 && runDir.hasSuffix("/") ? String(runDir.dropLast()) : runDir
        let metricsPath = runDirectory + "/metrics.jsonl"
        let metrics = try RunMetrics.read(path: metricsPath)
        guard !metrics.isEmpty else {
            throw DataError(metricsPath, "nothing to plot yet: no epoch, step or layers records")
        }
        let plotter = try Gnuplot(command: gnuplot)
        let outDirectory = out ?? runDirectory + "/plots"
        try Gnuplot.makeDirectory(outDirectory)

        let runName = URL(fileURLWithPath: runDirectory).standardizedFileURL.lastPathComponent
        let (plots, skipped) = TrainingPlots.make(from: metrics, runName: runName, source: metricsPath)
        for plot in plots {
            let warnings = try plotter.draw(name: plot.name, script: plot.script, data: plot.data, in: outDirectory)
            report(outDirectory + "/" + plot.pngName, warnings: warnings)
        }
        for note in skipped { print("skipped \(note.file): \(note.reason)") }
        if confusion { try drawConfusion(runDirectory: runDirectory, runName: runName, outDirectory: outDirectory, plotter: plotter) }
    }

    /// The latest checkpoint's predictions over the test set. A run without a checkpoint yet,
    /// or a model that does not classify Fashion-MNIST, is a note; unreadable data is an error.
    func drawConfusion(runDirectory: String, runName: String, outDirectory: String, plotter: Gnuplot) throws {
        guard let latest = try CheckpointDirectory(path: runDirectory).loadLatest() else {
            print("skipped confusion.png: no checkpoint in \(runDirectory)")
            return
        }
        for passedOver in latest.skipped { print("note: passed over \(passedOver)") }
        let model = try TrainingCheckpoint.model(from: latest.file, path: latest.path)
        let inputs = model.inputShape.reduce(1, *), outputs = model.outputShape.reduce(1, *)
        let test: DataSource, items: String
        if latest.file.metadata["config"]?.split(separator: " ").contains("dataset=spoken-digits") ?? false {
            test = try SpokenDigits.load().test   // the words, over the held-out voices
            items = "clips"
        } else {
            guard inputs == 28 * 28, outputs == FashionMNIST.classNames.count else {
                print("skipped confusion.png: the model (\(inputs) inputs, \(outputs) outputs) is not a Fashion-MNIST or spoken-digit classifier")
                return
            }
            test = try FashionMNIST.load(.test, directory: dataDir)
            items = "images"
        }
        let matrix = try ConfusionMatrix.evaluate(model, on: test)
        let step = latest.file.metadata["step"].map { ", step \($0)" } ?? ""
        let title = "Confusion matrix, test set — \(runName)\(step) "
            + String(format: "(%d \(items), accuracy %.1f%%)", matrix.total, matrix.accuracy * 100)
        let warnings = try plotter.draw(name: "confusion", script: matrix.script(title: title, source: latest.path),
                                        data: matrix.data, in: outDirectory)
        report(outDirectory + "/confusion.png", warnings: warnings)
    }

    /// Says what was written; gnuplot's warnings (it prints them even when it succeeds) follow
    /// on stderr, so a plot that looks wrong comes with a clue.
    func report(_ path: String, warnings: [String]) {
        print("wrote \(path)")
        for warning in warnings {
            FileHandle.standardError.write("tandem: warning: gnuplot: \(warning)\n".data(using: .utf8) ?? Data())
        }
    }
}
