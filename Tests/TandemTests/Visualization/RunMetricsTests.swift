import Foundation
import Tandem
import XCTest

/// Reading metrics.jsonl back: the records the plots need, tolerance for what a live or
/// resumed run leaves behind, and one-line errors for everything else.
final class RunMetricsTests: XCTestCase {
    static let sample = """
        {"event":"start","steps_per_epoch":4,"total_steps":8,"model":"mlp"}
        {"event":"layers","step":2,"global_norm":1.5,"clipped":false,"layers":[{"index":0,"name":"0: Linear(784 → 256)","grad_norm":1.25,"weight_norm":20,"update_ratio":0.001},{"index":2,"name":"2: Linear(256 → 10)","grad_norm":0.5,"weight_norm":4,"update_ratio":0}]}
        {"event":"step","step":2,"epoch":0,"loss":1.75,"lr":0.001}
        {"event":"epoch","epoch":1,"step":4,"train_loss":1.5,"validation_loss":1.25,"validation_accuracy":0.5,"test_loss":1.375,"test_accuracy":0.625}
        {"event":"checkpoint","step":4,"path":"x"}
        {"event":"step","step":6,"epoch":1,"loss":"nan","lr":0.001}
        {"event":"layers","step":6,"global_norm":"inf","clipped":true,"layers":[{"index":0,"name":"0: Linear(784 → 256)","grad_norm":3,"weight_norm":21,"update_ratio":0.002}]}
        {"event":"epoch","epoch":2,"step":8,"train_loss":1.0}

        """

    func testReadsEveryKindOfRecord() throws {
        let m = try RunMetrics.parse(Self.sample, path: "m.jsonl")
        XCTAssertEqual(m.stepsPerEpoch, 4)
        XCTAssertEqual(m.epochs.map(\.epoch), [1, 2])
        XCTAssertEqual(m.epochs[0].step, 4)
        XCTAssertEqual(m.epochs[0].trainLoss, 1.5)
        XCTAssertEqual(m.epochs[0].validationLoss, 1.25)
        XCTAssertEqual(m.epochs[0].validationAccuracy, 0.5)
        XCTAssertEqual(m.epochs[0].testLoss, 1.375)
        XCTAssertEqual(m.epochs[0].testAccuracy, 0.625)
        XCTAssertNil(m.epochs[1].validationLoss, "absent fields stay absent")
        XCTAssertNil(m.epochs[1].testAccuracy)
        XCTAssertEqual(m.steps.map(\.step), [2, 6])
        XCTAssertEqual(m.steps[0].loss, 1.75)
        XCTAssertTrue(m.steps[1].loss.isNaN, "\"nan\" is how the trainer writes NaN")
        XCTAssertEqual(m.layerRecords.map(\.step), [2, 6])
        XCTAssertEqual(m.layerRecords[0].layers.map(\.name), ["0: Linear(784 → 256)", "2: Linear(256 → 10)"])
        XCTAssertEqual(m.layerRecords[0].layers.map(\.index), [0, 2])
        XCTAssertEqual(m.layerRecords[0].layers[0].gradientNorm, 1.25)
        XCTAssertEqual(m.layerRecords[0].layers[0].weightNorm, 20)
        XCTAssertEqual(m.layerRecords[0].layers[1].updateRatio, 0)
        XCTAssertFalse(m.layerRecords[0].clipped)
        XCTAssertTrue(m.layerRecords[1].clipped)
        XCTAssertEqual(m.layerRecords[1].globalNorm, .infinity)
    }

    func testResumedRunKeepsTheLaterRecordOfARepeatedStep() throws {
        let text = """
            {"event":"step","step":10,"loss":2.0}
            {"event":"step","step":20,"loss":1.5}
            {"event":"start","steps_per_epoch":100}
            {"event":"step","step":20,"loss":1.25}
            {"event":"step","step":30,"loss":1.0}

            """
        let m = try RunMetrics.parse(text, path: "m")
        XCTAssertEqual(m.steps.map(\.step), [10, 20, 30])
        XCTAssertEqual(m.steps.map(\.loss), [2.0, 1.25, 1.0])
    }

    func testAPartialLastLineOfALiveRunIsLeftForLater() throws {
        let m = try RunMetrics.parse("{\"event\":\"step\",\"step\":1,\"loss\":1}\n{\"event\":\"st", path: "m")
        XCTAssertEqual(m.steps.count, 1)
        // A complete last line without its newline is still read.
        XCTAssertEqual(try RunMetrics.parse("{\"event\":\"step\",\"step\":1,\"loss\":1}", path: "m").steps.count, 1)
    }

    func assertRejected(_ text: String, mentions fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try RunMetrics.parse(text, path: "run/metrics.jsonl"), file: file, line: line) { error in
            guard let e = error as? DataError else { return XCTFail("not a DataError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.path, "run/metrics.jsonl", file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
            XCTAssertTrue(e.problem.contains(fragment), "'\(fragment)' missing from: \(e)", file: file, line: line)
        }
    }

    func testMalformedRecords() {
        assertRejected("{\"event\":\"start\"}\nnot json\n{\"event\":\"end\"}\n", mentions: "line 2 is not a JSON object")
        assertRejected("[1, 2]\n", mentions: "line 1 is not a JSON object")
        assertRejected("{\"step\":3}\n", mentions: "line 1: has no \"event\"")
        assertRejected("{\"event\":\"epoch\",\"train_loss\":1}\n", mentions: "no \"epoch\" number")
        assertRejected("{\"event\":\"epoch\",\"epoch\":1.5}\n", mentions: "not a whole number")
        assertRejected("{\"event\":\"epoch\",\"epoch\":1,\"test_loss\":\"low\"}\n", mentions: "\"test_loss\" is \"low\", not a number")
        assertRejected("{\"event\":\"epoch\",\"epoch\":1,\"test_loss\":[1]}\n", mentions: "\"test_loss\" is not a number")
        assertRejected("{\"event\":\"layers\",\"step\":1}\n", mentions: "no \"layers\" list")
        assertRejected("{\"event\":\"layers\",\"step\":1,\"layers\":[{\"index\":0,\"grad_norm\":\"big\"}]}\n",
                       mentions: "\"layers[0].grad_norm\" is \"big\"")
    }

    func testFileErrors() throws {
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-metrics")
        XCTAssertThrowsError(try RunMetrics.read(path: dir.path + "/metrics.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("no such file"), "\(error)")
        }
        XCTAssertThrowsError(try RunMetrics.read(path: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("is a directory"), "\(error)")
        }
        let path = dir.appendingPathComponent("metrics.jsonl")
        try TestFiles.write([0xFF, 0xFE, 0x00, 0x7B], to: path)
        XCTAssertThrowsError(try RunMetrics.read(path: path.path)) { error in
            XCTAssertTrue("\(error)".contains("UTF-8"), "\(error)")
        }
        try TestFiles.write(Array(Self.sample.utf8), to: path)
        XCTAssertEqual(try RunMetrics.read(path: path.path).epochs.count, 2)
    }

    /// A language model's run ends long before its first epoch: its evaluations every N steps
    /// are drawn with the validation points, and every curve against steps.
    func testEvaluationsOfARunInsideItsFirstEpochAreDrawnAgainstSteps() throws {
        let text = """
            {"event":"start","steps_per_epoch":142229,"total_steps":600,"model":"gpt"}
            {"event":"step","step":50,"epoch":0,"loss":2.6,"lr":0.001,"tokens_per_second":19000}
            {"event":"eval","step":100,"epoch":0,"validation_loss":2.5,"validation_accuracy":0.27,"validation_bits_per_byte":3.6}
            {"event":"step","step":150,"epoch":0,"loss":2.4,"lr":0.001}
            {"event":"eval","step":200,"epoch":0,"validation_loss":2.4,"validation_accuracy":0.3}
            {"event":"epoch","epoch":1,"step":600,"train_loss":2.3,"validation_loss":2.13,"validation_accuracy":0.38}

            """
        let m = try RunMetrics.parse(text, path: "m")
        XCTAssertTrue(m.withinFirstEpoch)
        XCTAssertEqual(m.epochs.map(\.step), [100, 200, 600])
        XCTAssertEqual(m.epochs.map(\.validationLoss), [2.5, 2.4, 2.13])
        let plot = TrainingPlots.loss(m, runName: "gpt")
        XCTAssertEqual(plot.xLabel, "step")
        let validation = try XCTUnwrap(plot.series.first { $0.title == "validation loss" })
        XCTAssertEqual(validation.points.map(\.x), [100, 200, 600])
        XCTAssertEqual(plot.series.first { $0.title.hasPrefix("training loss (logged") }?.points.map(\.x), [50, 150])
        XCTAssertNil(plot.series.first { $0.title == "training loss (epoch mean)" }, "a mean since the start is not an epoch's")
        // An image run that spans epochs keeps its epoch axis.
        XCTAssertFalse(try RunMetrics.parse(Self.sample, path: "m").withinFirstEpoch)
        XCTAssertEqual(TrainingPlots.loss(try RunMetrics.parse(Self.sample, path: "m"), runName: "mlp").xLabel, "epoch")
    }
}
