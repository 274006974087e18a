import Foundation
import Tandem
import XCTest

/// Misuses a new user makes, refused loudly: options that would be silently ignored, a run
/// that diverged reported as a success, warnings hidden by `--quiet`.
final class MisuseTests: XCTestCase {
    func testCSVFilesWithoutTheCSVDatasetAreRefused() throws {
        for option in ["--csv-train", "--csv-test"] {
            let result = try TandemBinary.run(["train", option, "/no/such/file.csv", "--max-steps", "3",
                                               "--run-dir", TandemBinary.temporaryDirectory(self)], timeout: 60)
            XCTAssertNotEqual(result.status, 0, result.summary)
            XCTAssertEqual(result.stderrLines.count, 1, result.summary)
            XCTAssertTrue(result.stderr.hasPrefix("tandem: error: \(option) /no/such/file.csv is read only with --dataset csv"),
                          result.stderr)
        }
    }

    func testADivergedRunEndsNonZeroWithOneLineAndKeepsItsCheckpoint() throws {
        let run = TandemBinary.temporaryDirectory(self, "diverged")
        let result = try TandemBinary.run(["train", "--lr", "1e30", "--max-steps", "20", "--train-subset", "2000",
                                           "--quiet", "--run-dir", run], timeout: 60)
        XCTAssertNotEqual(result.status, 0, result.summary)
        let errors = result.stderrLines.filter { $0.hasPrefix("tandem: error:") }
        XCTAssertEqual(errors.count, 1, result.summary)
        XCTAssertTrue(errors.first?.contains("the run diverged: 19 of its 20 steps were skipped") ?? false, result.stderr)
        XCTAssertEqual(try CheckpointDirectory(path: run, keep: 3).latestPath().map { ($0 as NSString).lastPathComponent },
                       CheckpointDirectory.fileName(step: 20), "the final checkpoint is still written")
    }

    func testWarningsGoToStandardErrorEvenUnderQuiet() throws {
        let result = try TandemBinary.run(["train", "--lr", "1e30", "--max-steps", "3", "--train-subset", "2000",
                                           "--quiet", "--run-dir", TandemBinary.temporaryDirectory(self)], timeout: 60)
        XCTAssertEqual(result.stdout, "", "--quiet prints nothing on stdout")
        XCTAssertTrue(result.stderrLines.contains("tandem: warning: step 2 skipped: non-finite gradient"), result.stderr)
    }

    /// One line naming the option, for values out of range, negative numbers included (which
    /// the parser took for options before), not-a-number, and contradictions.
    func testNonsensicalValuesAreRefusedNamingTheOption() throws {
        let cases: [([String], String)] = [
            (["--lr", "-1"], "--lr must be a positive number (got -1.0)"),
            (["--warmup", "-5"], "--warmup must be at least 0 steps (got -5)"),
            (["--step-every", "0", "--schedule", "step"], "--step-every must be at least 1 epoch (got 0)"),
            (["--momentum", "nan"], "--momentum must be in [0, 1) (got nan)"),
            (["--gamma", "2"], "--gamma must be in (0, 1] (got 2.0)"),
            (["--weight-decay", "-0.1"], "--weight-decay must be a non-negative number (got -0.1)"),
            (["--clip-norm", "inf"], "--clip-norm must be a positive number (got inf)"),
            (["--simulate-ranks", "0"], "--simulate-ranks must be at least 1 (got 0)"),
            (["--lr", "--epochs", "3"], "The value '--epochs' is invalid for '--lr <lr>'"),
        ]
        for (arguments, message) in cases {
            let result = try TandemBinary.run(["train", "--max-steps", "2", "--run-dir", TandemBinary.temporaryDirectory(self)] + arguments,
                                              timeout: 60)
            XCTAssertNotEqual(result.status, 0, "\(arguments): \(result.summary)")
            XCTAssertEqual(result.stderrLines, ["tandem: error: " + message], "\(arguments)")
        }
    }

    func testSimulatedRanksUnderMpirunAreRefused() throws {
        let result = try TandemBinary.mpirun(2, ["train", "--simulate-ranks", "2", "--max-steps", "2",
                                                 "--run-dir", TandemBinary.temporaryDirectory(self)], timeout: 60)
        XCTAssertNotEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.tandemErrorLines, ["tandem: error: --simulate-ranks 2 under mpirun: each process is already a rank; use one or the other"],
                       result.summary)
    }

    func testExportOntoItsOwnInputIsRefusedAndTheInputKept() throws {
        let directory = TandemBinary.temporaryDirectory(self, "export")
        let fixture = TandemBinary.packageRoot.appendingPathComponent("Tests/Fixtures/release-0.0/mlp-4-6-3-step10.safetensors").path
        let input = directory + "/model.safetensors"
        try FileManager.default.copyItem(atPath: fixture, toPath: input)
        try FileManager.default.createSymbolicLink(atPath: directory + "/alias.safetensors", withDestinationPath: input)
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        for out in [input, directory + "/./model.safetensors", directory + "/alias.safetensors"] {
            let result = try TandemBinary.run(["export", "--checkpoint", input, "--out", out], timeout: 60)
            XCTAssertNotEqual(result.status, 0, result.summary)
            XCTAssertEqual(result.stderrLines, ["tandem: error: --out \(out) is the checkpoint being read; give another file"])
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: input)), before, "the input is untouched")
        let other = try TandemBinary.run(["export", "--checkpoint", input, "--out", directory + "/weights.safetensors"], timeout: 60)
        XCTAssertEqual(other.status, 0, other.summary)
    }

    func testResumingAFinishedRunReportsItsModelNotNaN() throws {
        let run = TandemBinary.temporaryDirectory(self, "finished")
        let common = ["train", "--max-steps", "5", "--train-subset", "2000", "--run-dir", run]
        let first = try TandemBinary.run(common, timeout: 60)
        XCTAssertEqual(first.status, 0, first.summary)
        let again = try TandemBinary.run(common + ["--resume", "auto"], timeout: 60)
        XCTAssertEqual(again.status, 0, again.summary)
        XCTAssertTrue(again.stdout.contains("the run is already complete (step 5 of 5)"), again.stdout)
        XCTAssertFalse(again.stdout.lowercased().contains("nan"), again.stdout)
        // "test accuracy A  test loss L  (steps, seconds)": the same model gives the same A and L.
        let accuracy = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("test accuracy") }?.split(separator: "(").first }
        XCTAssertEqual(accuracy(again.stdout), accuracy(first.stdout), "the same model, evaluated again")
    }

    func testAFreshRunInADirectoryHoldingARunIsRefusedAndNothingIsLost() throws {
        let run = TandemBinary.temporaryDirectory(self, "held")
        let first = try TandemBinary.run(["train", "--max-steps", "4", "--train-subset", "2000", "--checkpoint-every", "1",
                                          "--run-dir", run, "--quiet"], timeout: 60)
        XCTAssertEqual(first.status, 0, first.summary)
        let before = try FileManager.default.contentsOfDirectory(atPath: run).sorted()
        let metrics = try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl"))
        let second = try TandemBinary.run(["train", "--max-steps", "2", "--train-subset", "2000", "--run-dir", run], timeout: 60)
        XCTAssertNotEqual(second.status, 0, second.summary)
        XCTAssertEqual(second.stderrLines, ["tandem: error: run directory \(run) already holds a run (checkpoints up to step 4); "
                                            + "continue it with --resume auto, or give another --run-dir"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run).sorted(), before, "no checkpoint deleted")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")), metrics, "metrics untouched")
    }

    func testResumingWithAnotherSeedBatchOrScheduleIsRefusedNamingIt() throws {
        let run = TandemBinary.temporaryDirectory(self, "continuity")
        let common = ["train", "--train-subset", "2000", "--epochs", "2", "--quiet", "--run-dir", run]
        let first = try TandemBinary.run(common + ["--stop-after", "3"], timeout: 60)
        XCTAssertEqual(first.status, 0, first.summary)
        for (option, value, saved) in [("--seed", "43", "42"), ("--global-batch", "64", "128"), ("--schedule", "constant", "cosine")] {
            let result = try TandemBinary.run(common + ["--resume", "auto", option, value], timeout: 60)
            XCTAssertNotEqual(result.status, 0, result.summary)
            XCTAssertEqual(result.stderrLines.count, 1, result.summary)
            XCTAssertTrue(result.stderr.contains("was written with \(option) \(saved) but this run asks for \(option) \(value): "
                                                 + "resume with the same \(option)"), result.summary)
        }
        let same = try TandemBinary.run(common + ["--resume", "auto", "--max-steps", "5"], timeout: 60)
        XCTAssertEqual(same.status, 0, same.summary)
    }

    func testMoreThreadsThanCoresAreWarnedAbout() throws {
        let result = try TandemBinary.run(["train", "--threads", "1000", "--max-steps", "1", "--train-subset", "2000", "--quiet",
                                           "--run-dir", TandemBinary.temporaryDirectory(self)], timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderrLines.contains { $0.hasPrefix("tandem: warning: --threads 1000 with 1 rank(s) on this host asks for 1000 threads but it has ") },
                      result.summary)
    }

    func testDegenerateBenchmarkSettingsAreRefused() throws {
        for (arguments, message) in [(["--steps", "0"], "--steps must be at least 1 (got 0)"),
                                     (["--steps", "-5"], "--steps must be at least 1 (got -5)"),
                                     (["--warmup-steps", "-1"], "--warmup-steps must be at least 0 (got -1)")] {
            let result = try TandemBinary.run(["bench"] + arguments, timeout: 60)
            XCTAssertEqual(result.status, 1, result.summary)
            XCTAssertEqual(result.stderr, "tandem: error: \(message)\n", result.summary)
        }
    }

    /// A disk that fills while the run writes: one line, and the checkpoints already written
    /// stay readable (a small tmpfs stands in for the disk).
    func testAFullDiskEndsTheRunInOneLineAndKeepsTheCheckpoints() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        let disk = TandemBinary.temporaryDirectory(self, "fulldisk")
        let mounted = try TandemBinary.launch(executable: "/bin/mount", arguments: ["-t", "tmpfs", "-o", "size=400k", "tmpfs", disk], timeout: 30)
        guard mounted.status == 0 else { throw XCTSkip("cannot mount a tmpfs here: \(mounted.stderr)") }
        addTeardownBlock { _ = try? TandemBinary.launch(executable: "/bin/umount", arguments: ["-l", disk], timeout: 30) }
        // A 32 KB model (a checkpoint every 20 steps, two kept) and a metrics record every step:
        // the metrics fill the disk first.
        let result = try TandemBinary.run(["train", "--model", "mlp:784-8-10", "--train-subset", "2000", "--epochs", "200",
                                           "--log-every", "1", "--checkpoint-every", "20", "--keep", "2", "--quiet",
                                           "--run-dir", disk + "/run"], timeout: 120)
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertFalse(result.looksLikeCrash, result.summary)
        XCTAssertEqual(result.stderrLines.count, 1, result.summary)
        XCTAssertTrue(result.stderr.hasPrefix("tandem: error: ") && result.stderr.contains("No space left on device"), result.summary)
        let latest = try XCTUnwrap(try CheckpointDirectory(path: disk + "/run", keep: 2).latestPath(), "a checkpoint was written")
        XCTAssertNoThrow(try CheckpointFile.read(path: latest), "the latest checkpoint is intact")
    }
}
