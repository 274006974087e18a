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

    /// `tandem export`s the checkpoint to RUN/weights.safetensors and writes `tandem eval --json`
    /// of the exported file to RUN/eval.json, for a NumPy check to compare with; returns the file.
    func exportAndEvaluate(_ checkpoint: String, into run: String) throws -> String {
        let exported = run + "/weights.safetensors"
        let export = try TandemBinary.run(["export", "--checkpoint", checkpoint, "--out", exported], timeout: 60)
        XCTAssertEqual(export.status, 0, export.summary)
        let evaluation = try TandemBinary.run(["eval", "--checkpoint", exported, "--json"], timeout: 120)
        XCTAssertEqual(evaluation.status, 0, evaluation.summary)
        try evaluation.stdout.write(toFile: run + "/eval.json", atomically: true, encoding: .utf8)
        return exported
    }

    /// A convolutional network with batch normalisation and residual blocks (one with an
    /// identity shortcut on Winograd's path, one strided with a projection) exports as
    /// nn.Conv2d / nn.BatchNorm2d / torchvision BasicBlock / nn.Linear state: a NumPy forward
    /// pass that reads every tensor by those names, normalising with the running statistics,
    /// reproduces `tandem eval`'s accuracy.
    func testAResidualNetworkWithBatchNormExportsAsTorchModules() throws {
        let run = TandemBinary.temporaryDirectory(self, "export-resnet")
        let spec = "conv:8x3p1,bn,relu,resblock:8,maxpool:2,resblock:16s2,gap,linear:10"
        let trained = try TandemBinary.run(["train", "--model", spec, "--max-steps", "60", "--warmup", "0", "--threads", "1",
                                            "--run-dir", run, "--quiet"], timeout: 300)
        XCTAssertEqual(trained.status, 0, trained.summary)
        let exported = try exportAndEvaluate(try XCTUnwrap(CheckpointDirectory(path: run).latestPath()), into: run)
        let script = TandemBinary.packageRoot.appendingPathComponent("Tests/python/check_resnet.py").path
        let check = try TandemBinary.launch(executable: "/usr/bin/env",
                                            arguments: ["python3", script, exported, run + "/eval.json", FashionMNIST.defaultDirectory],
                                            timeout: 300)
        XCTAssertEqual(check.status, 0, check.stderr + check.stdout)
        XCTAssertTrue(check.stdout.contains("read as PyTorch's modules"), check.stdout)
    }

    /// A GPT's exported weights carry nanoGPT's names and PyTorch's layouts: a NumPy forward
    /// pass written as nanoGPT's model.py reproduces `tandem eval`'s validation loss.
    func testAGPTExportsAsNanoGPTsStateDict() throws {
        let checkpoint = try TandemBinary.trainedSmallGPT(self)
        let run = TandemBinary.temporaryDirectory(self, "export-gpt")
        let exported = try exportAndEvaluate(checkpoint, into: run)
        let script = TandemBinary.packageRoot.appendingPathComponent("Tests/python/check_gpt.py").path
        let check = try TandemBinary.launch(executable: "/usr/bin/env",
                                            arguments: ["python3", script, exported, ShakespeareCorpus.defaultPath, run + "/eval.json"],
                                            timeout: 300)
        XCTAssertEqual(check.status, 0, check.stderr + check.stdout)
        XCTAssertTrue(check.stdout.contains("nanoGPT layout agrees"), check.stdout)
    }
}
