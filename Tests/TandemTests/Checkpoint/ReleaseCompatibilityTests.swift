import Foundation
import Tandem
import XCTest

/// Checkpoints written by the release before the model-structure change (Tests/Fixtures/release-0.0)
/// still load, and a run resumed from one continues exactly as that release continued it.
final class ReleaseCompatibilityTests: XCTestCase {
    static let fixtures = TandemBinary.packageRoot.appendingPathComponent("Tests/Fixtures/release-0.0").path

    func testAnOldCheckpointResumesToTheSameLossesAsTheOldRelease() throws {
        let run = TandemBinary.temporaryDirectory(self, "old-release")
        let csv = Self.fixtures + "/tiny.csv"
        let result = try TandemBinary.run(["train", "--dataset", "csv", "--csv-train", csv, "--csv-test", csv,
                                           "--model", "mlp:4-6-3", "--global-batch", "16", "--max-steps", "20",
                                           "--warmup", "0", "--log-every", "1", "--run-dir", run, "--quiet",
                                           "--resume", Self.fixtures + "/mlp-4-6-3-step10.safetensors"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        let records = try readMetrics(run)
        let start = try XCTUnwrap(records.first { $0["event"] as? String == "start" })
        XCTAssertEqual(start["start_step"] as? Int, 10, "resumes at the checkpoint's step")
        let last = try XCTUnwrap(records.last { $0["event"] as? String == "step" })
        XCTAssertEqual(last["step"] as? Int, 20)
        // The old release's own resume logged these (see the fixture's README).
        XCTAssertEqual(try XCTUnwrap(last["loss"] as? Double), 1.374279923737049, accuracy: 1e-6)
        let end = try XCTUnwrap(records.last { $0["event"] as? String == "end" })
        XCTAssertEqual(try XCTUnwrap(end["test_loss"] as? Double), 1.634002367965877, accuracy: 1e-6)
    }

    func testAnOldCheckpointLoadsForEvaluationAndExport() throws {
        let file = try CheckpointFile.read(path: Self.fixtures + "/mlp-4-6-3-step10.safetensors")
        let model = try TrainingCheckpoint.model(from: file, path: "fixture")
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias"])
        let weight = try XCTUnwrap(file.tensor(named: "2.weight"))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.arena.values + model.arena.slots[2].offset, count: 18)),
                       weight.values)
    }
}
