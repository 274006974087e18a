import Foundation
import Tandem
import XCTest

/// The classic troubles made visible: vanishing gradients in a deep sigmoid net, and
/// over-fitting caught by early stopping.
final class GradientHealthTests: XCTestCase {
    let deep = "mlp:784-128-128-128-128-128-128-10"

    func layerRecords(_ run: String) throws -> [[String: Any]] {
        try readMetrics(run).filter { $0["event"] as? String == "layers" }
    }

    func firstLayerNorms(_ run: String) throws -> [Double] {
        try layerRecords(run).compactMap { ($0["layers"] as? [[String: Any]])?.first?["grad_norm"] as? Double }
    }

    func train(_ activation: String) throws -> (run: String, result: JobResult) {
        let run = TandemBinary.temporaryDirectory(self, activation)
        let result = try TandemBinary.run(["train", "--model", deep, "--activation", activation, "--max-steps", "120",
                                           "--log-every", "30", "--optimizer", "sgd", "--lr", "0.05", "--run-dir", run,
                                           "--train-subset", "8000"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        return (run, result)
    }

    func testDeepSigmoidGradientsVanishAndTheWarningFires() throws {
        let sigmoid = try train("sigmoid"), relu = try train("relu")
        let s = try firstLayerNorms(sigmoid.run), r = try firstLayerNorms(relu.run)
        XCTAssertEqual(s.count, 4); XCTAssertEqual(r.count, 4)
        for (a, b) in zip(s, r) { XCTAssertLessThan(a * 100, b, "first-layer gradient norm: sigmoid \(a), relu \(b)") }
        // Every layer is recorded with weight norms and update ratios.
        let layers = try XCTUnwrap(try layerRecords(relu.run).last?["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 7)
        XCTAssertTrue(layers.allSatisfy { ($0["weight_norm"] as? Double ?? 0) > 0 && ($0["update_ratio"] as? Double ?? 0) > 0 })
        // Warnings go to standard error.
        XCTAssertTrue(sigmoid.result.stderr.contains("tandem: warning: step 30: vanishing gradient in layer 0:"), sigmoid.result.stderr)
        XCTAssertFalse(relu.result.stderr.contains("vanishing gradient"), relu.result.stderr)
        XCTAssertFalse(try readMetrics(sigmoid.run).filter { $0["event"] as? String == "warning" }.isEmpty)
        XCTAssertTrue(try readMetrics(relu.run).filter { $0["event"] as? String == "warning" }.isEmpty)
    }

    func testExplodingGradientWarning() throws {
        let run = TandemBinary.temporaryDirectory(self, "explode")
        let result = try TandemBinary.run(["train", "--max-steps", "20", "--log-every", "5", "--exploding-threshold", "1e-3",
                                           "--run-dir", run, "--train-subset", "4000"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("tandem: warning: step 5: exploding gradient"), result.stderr)
    }

    func testEarlyStoppingKeepsTheBestCheckpoint() throws {
        // 400 training samples and a wide net: validation loss soon rises again.
        let run = TandemBinary.temporaryDirectory(self, "overfit")
        let result = try TandemBinary.run(["train", "--model", "mlp:784-512-512-10", "--train-subset", "800",
                                           "--validation-split", "0.5", "--global-batch", "50", "--epochs", "60",
                                           "--lr", "0.003", "--schedule", "constant", "--early-stopping", "3",
                                           "--run-dir", run, "--quiet"], timeout: 240)
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try readMetrics(run)
        let epochs = records.filter { $0["event"] as? String == "epoch" }
        let stop = try XCTUnwrap(records.first { $0["event"] as? String == "early_stop" }, "training should stop early")
        XCTAssertLessThan(epochs.count, 60)
        XCTAssertEqual(stop["epoch"] as? Int, epochs.count)
        let losses = epochs.compactMap { $0["validation_loss"] as? Double }
        XCTAssertEqual(losses.count, epochs.count)
        let best = try CheckpointFile.read(path: run + "/best.safetensors")
        let bestLoss = try XCTUnwrap(Double(best.metadata["validation_loss"] ?? ""))
        XCTAssertEqual(bestLoss, losses.min()!, accuracy: 1e-12, "best.safetensors holds the lowest validation loss of the run")
        let bestEpoch = losses.firstIndex(of: losses.min()!)! + 1
        XCTAssertEqual(best.metadata["step"], "\(epochs[bestEpoch - 1]["step"] as! Int)")
        // The last three epochs did not improve on it.
        XCTAssertEqual(epochs.count - bestEpoch, 3)
    }
}
