import Foundation
import Tandem
import XCTest

/// An exported file is readable by NumPy alone, with PyTorch's names and layouts.
final class ExportPythonTests: XCTestCase {
    func testNumPyReadsExportedWeightsAndReproducesAccuracy() throws {
        let run = TandemBinary.temporaryDirectory(self, "export")
        let trained = try TandemBinary.run(["train", "--max-steps", "60", "--run-dir", run, "--quiet"], timeout: 120)
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let exported = run + "/weights.safetensors"
        let export = try TandemBinary.run(["export", "--checkpoint", checkpoint, "--out", exported, "--json"], timeout: 60)
        XCTAssertEqual(export.status, 0, export.stderr)
        let evaluation = try TandemBinary.run(["eval", "--checkpoint", exported, "--json"], timeout: 60)
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        try export.stdout.write(toFile: run + "/export.json", atomically: true, encoding: .utf8)
        try evaluation.stdout.write(toFile: run + "/eval.json", atomically: true, encoding: .utf8)
        let script = TandemBinary.packageRoot.appendingPathComponent("Tests/python/check_export.py").path
        let check = try TandemBinary.launch(executable: "/usr/bin/env",
                                            arguments: ["python3", script, exported, run + "/export.json", run + "/eval.json",
                                                        FashionMNIST.defaultDirectory], timeout: 120)
        XCTAssertEqual(check.status, 0, check.stderr + check.stdout)
        XCTAssertTrue(check.stdout.contains("tensors agree"), check.stdout)
    }
}
