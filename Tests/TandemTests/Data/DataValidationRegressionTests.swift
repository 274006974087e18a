import Foundation
import XCTest
import Tandem

/// Regressions found by review: each of these once crashed, read out of bounds or accepted garbage.
final class DataValidationRegressionTests: XCTestCase {
    func testCSVWithCRLFLineEndingsLoads() throws {
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-crlf")
        let path = dir.appendingPathComponent("crlf.csv").path
        try "label,a,b\r\n3,1,2\r\n0,4,5\r\n".write(toFile: path, atomically: true, encoding: .utf8)
        let data = try CSVDataset.load(path: path)
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.sampleShape, [2])
        XCTAssertEqual(data.labels, [3, 0])
    }

    func testMLPSpecWithEmptyWidthIsRejected() {
        // "784--10" and "784--1-10" are typos; they must not silently build 784-10 / 784-1-10.
        for spec in ["mlp:784--10", "mlp:784--1-10", "mlp:-784-10"] {
            XCTAssertThrowsError(try ModelSpec(spec).build(inputShape: [784]), spec)
        }
    }

    func testHugeIDXDimensionsAreADataErrorNotACrash() throws {
        // Three dimensions of 2^32 − 1: their product overflows Int. Run in the binary so a trap
        // shows up as a crash there instead of killing the test process.
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-huge")
        let images = IDX.header(dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF]) + [1, 2, 3]
        try TestFiles.write(try TestFiles.gzip(images), to: dir.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try TestFiles.write(try TestFiles.gzip(IDX.labels(count: 4)), to: dir.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        try TestFiles.write(try TestFiles.gzip(IDX.images(count: 4)), to: dir.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try TestFiles.write(try TestFiles.gzip(IDX.labels(count: 4)), to: dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        let result = try TandemBinary.run(["train", "--data-dir", dir.path, "--max-steps", "1",
                                                 "--run-dir", dir.appendingPathComponent("run").path])
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.summary)
        XCTAssertTrue(result.stderr.hasPrefix("tandem: error: \(dir.path)/train-images-idx3-ubyte.gz"), result.summary)
    }

    func testTestImagesOfAnotherShapeAreRejected() throws {
        // Train images 28×28, test images 28×27: training must not evaluate a 784-input model on
        // 756-value samples (Linear then reads past the evaluator's buffer).
        let dir = try makeTemporaryDirectory(self, prefix: "tandem-shape")
        try TestFiles.write(try TestFiles.gzip(IDX.images(count: 128)), to: dir.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try TestFiles.write(try TestFiles.gzip(IDX.labels(count: 128)), to: dir.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        try TestFiles.write(try TestFiles.gzip(IDX.images(count: 16, rows: 28, columns: 27)), to: dir.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try TestFiles.write(try TestFiles.gzip(IDX.labels(count: 16)), to: dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        let result = try TandemBinary.run(["train", "--data-dir", dir.path, "--max-steps", "1",
                                                 "--run-dir", dir.appendingPathComponent("run").path])
        XCTAssertNotEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.hasPrefix("tandem: error: \(dir.path)/t10k-images-idx3-ubyte.gz"), result.summary)
    }
}
