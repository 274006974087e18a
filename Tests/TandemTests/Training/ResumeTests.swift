import Foundation
import Tandem
import XCTest

/// Checkpoints as a user relies on them: a run stopped and resumed ends exactly where the
/// uninterrupted run ends, at the same or at another world size.
final class ResumeTests: XCTestCase {
    /// 3 epochs of 50 steps (3,200 samples, batch 64), shuffled.
    let common = ["train", "--epochs", "3", "--train-subset", "3200", "--global-batch", "64", "--seed", "11",
                  "--threads", "1", "--quiet", "--keep", "100"]

    func relative(_ a: [TensorRecord], _ b: [TensorRecord]) -> Double {
        var d = 0.0, n = 0.0
        for (x, y) in zip(a, b) where !x.name.hasPrefix("optim.") {
            for i in x.values.indices { d += pow(Double(x.values[i]) - Double(y.values[i]), 2); n += pow(Double(y.values[i]), 2) }
        }
        return (d / n).squareRoot()
    }

    func mpirun(_ ranks: Int, _ args: [String]) throws {
        let result = try TandemBinary.mpirun(ranks, args, timeout: 240)
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testStoppedAndResumedRunIsBitwiseIdentical() throws {
        let whole = TandemBinary.temporaryDirectory(self, "whole"), split = TandemBinary.temporaryDirectory(self, "split")
        try mpirun(2, common + ["--run-dir", whole])
        // Stop after step 73: in the middle of epoch 2 (steps 51...100).
        try mpirun(2, common + ["--run-dir", split, "--stop-after", "73"])
        XCTAssertEqual(try CheckpointDirectory(path: split, keep: 100).latestPath().map { URL(fileURLWithPath: $0).lastPathComponent },
                       "ckpt-00000073.safetensors")
        try mpirun(2, common + ["--run-dir", split, "--resume", "auto"])
        let a = try finalTensors(whole)
        XCTAssertTrue(a.contains { $0.name == "optim.exp_avg.0.weight" }, "optimizer state is checkpointed")
        try assertSameFinalTensors(split, whole, "after resume")
        // And the comparison can fail: a run with another seed differs.
        let other = TandemBinary.temporaryDirectory(self, "other")
        try mpirun(2, common.map { $0 == "11" ? "12" : $0 } + ["--run-dir", other])
        XCTAssertGreaterThan(relative(try finalTensors(other), a), 1e-3)
    }

    func testCheckpointFromTwoRanksResumesOnThreeAndOne() throws {
        let whole = TandemBinary.temporaryDirectory(self, "whole"), first = TandemBinary.temporaryDirectory(self, "first")
        try mpirun(2, common + ["--run-dir", whole])
        try mpirun(2, common + ["--run-dir", first, "--stop-after", "73"])
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: first, keep: 100).latestPath())
        XCTAssertEqual(try CheckpointFile.read(path: checkpoint).metadata["world_size"], "2")
        for ranks in [3, 1] {
            let resumed = TandemBinary.temporaryDirectory(self, "resumed\(ranks)")
            try mpirun(ranks, common + ["--run-dir", resumed, "--resume", checkpoint])
            let tensors = try finalTensors(resumed)
            XCTAssertEqual(tensors.count, try finalTensors(whole).count)
            XCTAssertLessThan(relative(tensors, try finalTensors(whole)), 1e-4, "resumed on \(ranks) ranks")
            let metrics = try readMetrics(resumed)
            XCTAssertEqual(metrics.last?["step"] as? Int, 150, "the resumed run continues to the planned end")
        }
    }

    func testResumeWithAnotherModelOrOptimizerIsRefused() throws {
        let run = TandemBinary.temporaryDirectory(self)
        try mpirun(1, common + ["--run-dir", run, "--stop-after", "5"])
        let model = try TandemBinary.run(common + ["--run-dir", run, "--resume", "auto", "--model", "mlp:784-64-10"], timeout: 60)
        XCTAssertNotEqual(model.status, 0)
        XCTAssertEqual(model.tandemErrorLines.count, 1, model.stderr)
        XCTAssertTrue(model.stderr.contains("written with model 'mlp:784-256-128-10' but this run uses 'mlp:784-64-10'"), model.stderr)
        let optimizer = try TandemBinary.run(common + ["--run-dir", run, "--resume", "auto", "--optimizer", "sgd"], timeout: 60)
        XCTAssertNotEqual(optimizer.status, 0)
        XCTAssertTrue(optimizer.stderr.contains("written with optimizer 'adamw' but this run uses 'sgd'"), optimizer.stderr)
        let decay = try TandemBinary.run(common + ["--run-dir", run, "--resume", "auto", "--weight-decay", "0.1"], timeout: 60)
        XCTAssertNotEqual(decay.status, 0)
        XCTAssertTrue(decay.stderr.contains("optimizer weight_decay"), decay.stderr)
    }
}
