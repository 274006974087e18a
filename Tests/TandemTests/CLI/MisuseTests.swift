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
}
