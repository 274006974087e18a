import Foundation
import Tandem
import XCTest

/// `tandem plot` and `tandem predict` as a user runs them, on a real (tiny) training run.
final class PlotPredictTests: XCTestCase {
    static let testImages = FashionMNIST.path(.test, images: true, directory: FashionMNIST.defaultDirectory)

    /// One 60-step run shared by the tests that only read it (training is the slow part).
    private static var sharedRun: String?
    private static var sharedRunFailure: String?

    override class func tearDown() {
        if let sharedRun { try? FileManager.default.removeItem(atPath: sharedRun) }
        super.tearDown()
    }

    func trainedRun() throws -> String {
        if let run = Self.sharedRun { return run }
        if let failure = Self.sharedRunFailure { throw XCTSkip("training failed earlier: \(failure)") }
        let run = NSTemporaryDirectory() + "tandem-plot-run-\(UUID().uuidString)"
        let result = try TandemBinary.run(["train", "--max-steps", "60", "--log-every", "10", "--validation-split", "0.1",
                                           "--run-dir", run, "--quiet"], timeout: 300)
        guard result.status == 0 else {
            Self.sharedRunFailure = "exit \(result.status): \(result.stderr)"
            XCTFail("training failed: \(result.stderr)")
            throw XCTSkip("training failed")
        }
        Self.sharedRun = run
        return run
    }

    /// A valid PNG: the signature, then an IHDR chunk with a non-zero width and height.
    func assertValidPNG(_ path: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let data = FileManager.default.contents(atPath: path) else { return XCTFail("\(path) missing", file: file, line: line) }
        let bytes = [UInt8](data)
        XCTAssertGreaterThan(bytes.count, 33, path, file: file, line: line)
        guard bytes.count > 33 else { return }
        XCTAssertEqual(Array(bytes[0..<8]), PNGWriter.signature, "\(path): PNG signature", file: file, line: line)
        XCTAssertEqual(String(decoding: bytes[12..<16], as: UTF8.self), "IHDR", path, file: file, line: line)
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertGreaterThan(width, 0, path, file: file, line: line)
        XCTAssertGreaterThan(height, 0, path, file: file, line: line)
        // And our own reader can decode it completely (CRCs, zlib stream, filters).
        XCTAssertNoThrow(try ImageFile.read(path: path), path, file: file, line: line)
    }

    func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// One line on stderr, `tandem: error: ...`, non-zero exit, no crash.
    func assertCleanFailure(_ result: JobResult, mentions fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, result.stdout + result.stderr, file: file, line: line)
        XCTAssertFalse(result.looksLikeCrash, result.stderr, file: file, line: line)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 1, "one line: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("tandem: error: ") ?? false, result.stderr, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.stderr.contains(fragment), "'\(fragment)' missing from: \(result.stderr)", file: file, line: line)
        }
    }

    // MARK: plot

    /// Needs only the epoch records and the checkpoint of a real run.
    func testPlotOfARealRun() throws {
        let run = try trainedRun()
        let out = TandemBinary.temporaryDirectory(self, "plots")
        let result = try TandemBinary.run(["plot", run, "--out", out], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "", "gnuplot printed no warnings")
        for name in ["loss", "accuracy", "confusion"] {
            XCTAssertTrue(result.stdout.contains("wrote \(out)/\(name).png"), result.stdout)
            assertValidPNG("\(out)/\(name).png")
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(name).dat"), name)
        }
        let loss = try text("\(out)/loss.gp")
        // 60 steps end inside the first epoch: the curves are drawn against steps.
        for expected in ["set xlabel 'step'", "set ylabel 'loss'", "set title 'Loss — ", "title 'test loss'",
                         "title 'validation loss'", "title 'training loss (logged steps)'"] {
            XCTAssertTrue(loss.contains(expected), "\(expected) in loss.gp:\n\(loss)")
        }
        let accuracy = try text("\(out)/accuracy.gp")
        XCTAssertTrue(accuracy.contains("set ylabel 'accuracy (%)'"), accuracy)
        XCTAssertTrue(accuracy.contains("title 'test accuracy'"), accuracy)
        let confusion = try text("\(out)/confusion.gp")
        for name in FashionMNIST.classNames { XCTAssertTrue(confusion.contains("'\(name)'"), "\(name) in confusion.gp") }
        XCTAssertTrue(confusion.contains("set ylabel 'true class'"), confusion)
        XCTAssertTrue(confusion.contains("set xlabel 'predicted class'"), confusion)
        // The matrix counts the whole test set.
        let counts = try text("\(out)/confusion.dat").split(separator: "\n").filter { !$0.hasPrefix("#") }
            .flatMap { $0.split(separator: " ").compactMap { Int($0) } }
        XCTAssertEqual(counts.count, 100)
        XCTAssertEqual(counts.reduce(0, +), 10_000)

        // Gradient plots when the run logged layer health (every --log-every steps).
        let hasLayers = try readMetrics(run).contains { $0["event"] as? String == "layers" }
        if hasLayers {
            assertValidPNG("\(out)/gradients.png")
            let gradients = try text("\(out)/gradients.gp")
            XCTAssertTrue(gradients.contains("set logscale y"), gradients)
            XCTAssertTrue(gradients.contains("0: Linear(784 → 256)"), gradients)
            assertValidPNG("\(out)/update_ratio.png")
        } else {
            XCTAssertTrue(result.stdout.contains("skipped gradients.png"), result.stdout)
        }
    }

    func testPlotDefaultsToRunDirPlots() throws {
        let run = TandemBinary.temporaryDirectory(self, "synthetic")
        try Data(RunMetricsTests.sample.utf8).write(to: URL(fileURLWithPath: run + "/metrics.jsonl"))
        let result = try TandemBinary.run(["plot", run + "/"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        for name in ["loss", "accuracy", "gradients", "update_ratio"] { assertValidPNG("\(run)/plots/\(name).png") }
        XCTAssertTrue(result.stdout.contains("skipped confusion.png: no checkpoint"), result.stdout)
        let gradients = try text("\(run)/plots/gradients.gp")
        XCTAssertTrue(gradients.contains("set logscale y"), gradients)
        XCTAssertTrue(gradients.contains("title '0: Linear(784 → 256)'"), gradients)
        XCTAssertTrue(gradients.contains("title '2: Linear(256 → 10)'"), gradients)
        XCTAssertTrue(gradients.contains("set ylabel 'gradient L2 norm (log scale)'"), gradients)
    }

    /// A run whose records lack validation, test and layer data still plots what it has.
    func testPlotWithOnlyTrainingLoss() throws {
        let run = TandemBinary.temporaryDirectory(self, "sparse")
        let metrics = """
            {"event":"start","steps_per_epoch":100}
            {"event":"step","step":50,"epoch":0,"loss":1.2}
            {"event":"epoch","epoch":1,"step":100,"train_loss":1.0}

            """
        try Data(metrics.utf8).write(to: URL(fileURLWithPath: run + "/metrics.jsonl"))
        let result = try TandemBinary.run(["plot", run], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        assertValidPNG("\(run)/plots/loss.png")
        for skipped in ["accuracy.png", "gradients.png", "update_ratio.png", "confusion.png"] {
            XCTAssertTrue(result.stdout.contains("skipped \(skipped)"), result.stdout)
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(run)/plots/\(skipped)"), skipped)
        }
    }

    func testPlotErrors() throws {
        let dir = TandemBinary.temporaryDirectory(self, "bad")
        assertCleanFailure(try TandemBinary.run(["plot", dir + "/nothing"]), mentions: ["\(dir)/nothing/metrics.jsonl", "no such file"])
        try Data("{\"event\":\"start\"}\n{\"event\": oops}\n{\"event\":\"end\"}\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/metrics.jsonl"))
        assertCleanFailure(try TandemBinary.run(["plot", dir]), mentions: ["\(dir)/metrics.jsonl", "line 2"])
        try Data("{\"event\":\"start\"}\n".utf8).write(to: URL(fileURLWithPath: dir + "/metrics.jsonl"))
        assertCleanFailure(try TandemBinary.run(["plot", dir]), mentions: ["nothing to plot"])
        try Data(RunMetricsTests.sample.utf8).write(to: URL(fileURLWithPath: dir + "/metrics.jsonl"))
        assertCleanFailure(try TandemBinary.run(["plot", dir, "--gnuplot", "/nonexistent/gnuplot"]), mentions: ["gnuplot not found"])
        try Data().write(to: URL(fileURLWithPath: dir + "/file"))
        assertCleanFailure(try TandemBinary.run(["plot", dir, "--out", dir + "/file"]), mentions: ["it is a file"])
    }

    // MARK: predict

    struct Prediction: Equatable {
        var classIndex: Int
        var name: String
        var probability: Double
    }

    /// Runs `predict --json` and returns each input's ranked classes.
    func predict(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [[Prediction]] {
        let result = try TandemBinary.run(["predict", "--json"] + arguments, timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], file: file, line: line)
        let predictions = try XCTUnwrap(object["predictions"] as? [[String: Any]], file: file, line: line)
        return try predictions.map { entry in
            try XCTUnwrap(entry["top"] as? [[String: Any]], file: file, line: line).map {
                Prediction(classIndex: $0["class"] as? Int ?? -1, name: $0["name"] as? String ?? "",
                           probability: $0["probability"] as? Double ?? -1)
            }
        }
    }

    /// Test image 0 written as a PGM (and as a filtered PNG) gets the same answer as the same
    /// image taken from the IDX file, and that answer is the model's own argmax.
    func testPredictAgreesWithTheIDXImageAndTheModel() throws {
        let run = try trainedRun()
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let idx = try IDXFile(path: Self.testImages)
        let pixels = Array(idx.bytes.prefix(28 * 28))
        let dir = TandemBinary.temporaryDirectory(self, "images")
        try Data(Array("P5\n28 28\n255\n".utf8) + pixels).write(to: URL(fileURLWithPath: dir + "/test0.pgm"))
        let rows = (0..<28).map { Array(pixels[($0 * 28)..<(($0 + 1) * 28)]) }
        try Data(PNGWriter.file(width: 28, height: 28, colourType: 0, rows: rows, filters: [0, 1, 2, 3, 4]))
            .write(to: URL(fileURLWithPath: dir + "/test0.png"))

        // One image per call, as from the IDX file: a batch's size may change which library
        // multiplies (`ProductLibrary`), and with it the last bits of the probabilities.
        let fromFiles = try predict(["--checkpoint", checkpoint, "--top", "3", dir + "/test0.pgm"])
            + predict(["--checkpoint", checkpoint, "--top", "3", dir + "/test0.png"])
        let fromIDX = try predict(["--checkpoint", checkpoint, "--idx", Self.testImages, "--index", "0", "--top", "3"])
        XCTAssertEqual(fromFiles.count, 2)
        XCTAssertEqual(fromIDX.count, 1)
        XCTAssertEqual(fromFiles[0].count, 3)
        XCTAssertEqual(fromFiles[0], fromIDX[0], "PGM and IDX")
        XCTAssertEqual(fromFiles[1], fromIDX[0], "PNG and IDX")

        // The model itself, in this process.
        let model = try TrainingCheckpoint.model(from: try CheckpointFile.read(path: checkpoint), path: checkpoint)
        let output = try model.forward(Tensor(shape: [1] + model.inputShape, values: pixels.map { Float($0) * (1 / Float(255)) }), context: .evaluation)
        let argmax = ConfusionMatrix.argmax(output.pointer, count: 10)
        XCTAssertEqual(fromIDX[0][0].classIndex, argmax)
        XCTAssertEqual(fromIDX[0][0].name, FashionMNIST.classNames[argmax])
        let probabilities = fromIDX[0].map(\.probability)
        XCTAssertEqual(probabilities, probabilities.sorted(by: >), "ranked")
        XCTAssertTrue(probabilities.allSatisfy { $0 > 0 && $0 <= 1 }, "\(probabilities)")

        // The plain text form names the class too.
        let plain = try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/test0.pgm"], timeout: 60)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.contains("1. \(FashionMNIST.classNames[argmax])"), plain.stdout)
    }

    func testPredictResizesOtherSizesByNearestNeighbour() throws {
        let run = try trainedRun()
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let idx = try IDXFile(path: Self.testImages)
        let pixels = Array(idx.bytes.prefix(28 * 28))
        // Every pixel doubled: nearest neighbour brings back exactly the original.
        let rows = (0..<56).map { r in (0..<56).map { c in pixels[(r / 2) * 28 + c / 2] } }
        let dir = TandemBinary.temporaryDirectory(self, "images")
        try Data(PNGWriter.file(width: 56, height: 56, colourType: 0, rows: rows, filters: [4])).write(to: URL(fileURLWithPath: dir + "/big.png"))
        let big = try predict(["--checkpoint", checkpoint, dir + "/big.png"])
        let original = try predict(["--checkpoint", checkpoint, "--idx", Self.testImages, "--index", "0"])
        XCTAssertEqual(big, original)
        let plain = try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/big.png"], timeout: 60)
        XCTAssertTrue(plain.stdout.contains("resized from 56×56"), plain.stdout)
    }

    func testPredictRefusesBrokenInput() throws {
        let run = try trainedRun()
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let dir = TandemBinary.temporaryDirectory(self, "broken")
        let good = PNGWriter.file(width: 28, height: 28, colourType: 0, rows: Array(repeating: Array(repeating: 9, count: 28), count: 28))
        try Data(good.prefix(60)).write(to: URL(fileURLWithPath: dir + "/cut.png"))
        try Data(Array("P5\n28 28\n255\n".utf8) + [1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/short.pgm"))
        try Data("GIF89a".utf8).write(to: URL(fileURLWithPath: dir + "/x.gif"))

        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/cut.png"]),
                           mentions: ["\(dir)/cut.png", "truncated PNG"])
        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/short.pgm"]),
                           mentions: ["\(dir)/short.pgm", "truncated"])
        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/x.gif"]),
                           mentions: ["\(dir)/x.gif", "not a PGM or PNG"])
        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/none.pgm"]),
                           mentions: ["\(dir)/none.pgm", "no such file"])
        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", checkpoint, "--idx", Self.testImages, "--index", "10000"]),
                           mentions: ["has no image 10000"])
        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", checkpoint]), mentions: ["nothing to classify"])
        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", dir + "/x.gif", dir + "/x.gif"]), mentions: ["\(dir)/x.gif"])
    }

    func testPredictClassifiesEveryReadableFileOfAListAndNamesEachBadOne() throws {
        let run = try trainedRun()
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let dir = TandemBinary.temporaryDirectory(self, "list")
        let pixels = [UInt8](repeating: 40, count: 28 * 28)
        try Data(Array("P5\n28 28\n255\n".utf8) + pixels).write(to: URL(fileURLWithPath: dir + "/a.pgm"))
        try Data(Array("P5\n28 28\n255\n".utf8) + pixels).write(to: URL(fileURLWithPath: dir + "/c.pgm"))
        try Data("GIF89a".utf8).write(to: URL(fileURLWithPath: dir + "/b.gif"))
        let result = try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/a.pgm", dir + "/b.gif",
                                           dir + "/none.pgm", dir + "/c.pgm"])
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertEqual(result.stderrLines.count, 2, result.summary)
        XCTAssertTrue(result.stderrLines[0].contains("\(dir)/b.gif") && result.stderrLines[1].contains("\(dir)/none.pgm"), result.summary)
        XCTAssertTrue(result.stdout.contains(dir + "/a.pgm\n") && result.stdout.contains(dir + "/c.pgm\n"),
                      "the readable files are still classified: \(result.summary)")
        XCTAssertFalse(result.looksLikeCrash)
    }

    func testPredictRefusesAModelTrainedOnCSVFeatures() throws {
        let dir = TandemBinary.temporaryDirectory(self, "csvmodel")
        let rows = (0..<64).map { i in "\(i % 2),\(Double(i % 2)),0.5,\(Double(i) / 64),1" }.joined(separator: "\n")
        try rows.write(toFile: dir + "/t.csv", atomically: true, encoding: .utf8)
        let run = dir + "/run"
        let trained = try TandemBinary.run(["train", "--dataset", "csv", "--csv-train", dir + "/t.csv", "--csv-test", dir + "/t.csv",
                                            "--model", "mlp:4-8-2", "--global-batch", "16", "--max-steps", "4", "--quiet",
                                            "--run-dir", run])
        XCTAssertEqual(trained.status, 0, trained.summary)
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        try Data(Array("P5\n28 28\n255\n".utf8) + [UInt8](repeating: 7, count: 784)).write(to: URL(fileURLWithPath: dir + "/x.pgm"))
        assertCleanFailure(try TandemBinary.run(["predict", "--checkpoint", checkpoint, dir + "/x.pgm"]),
                           mentions: ["trained on CSV features (--dataset csv), not on images"])
    }
}
