import Foundation
import XCTest
import Tandem

final class CSVDatasetTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self, prefix: "tandem-csv")
    }

    private func write(_ text: String, _ name: String = "data.csv") throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    private func features(_ data: Dataset) -> [Float] {
        var x = [Float](repeating: .nan, count: data.count * data.featuresPerSample)
        var y = [Int32](repeating: -1, count: data.count)
        data.fill(indices: 0..<data.count, into: &x, labels: &y)
        XCTAssertEqual(y, data.labels)
        return x
    }

    private func assertError(_ text: String, _ fragments: [String], classCount: Int? = nil,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try write(text)
        XCTAssertThrowsError(try CSVDataset.load(path: path, classCount: classCount), file: file, line: line) { error in
            XCTAssertTrue(error is DataError, "\(type(of: error))", file: file, line: line)
            let message = "\(error)"
            XCTAssertTrue(message.contains(path), "should name the file: \(message)", file: file, line: line)
            for f in fragments { XCTAssertTrue(message.contains(f), "'\(f)' missing from: \(message)", file: file, line: line) }
        }
    }

    func testValidFileWithHeader() throws {
        let path = try write("label,x1,x2,x3\n0, 1.5, 2, -3\n2,4,5e-1,6\n1,0,0,0.25\n")
        let data = try CSVDataset.load(path: path)
        XCTAssertEqual(data.count, 3)
        XCTAssertEqual(data.sampleShape, [3])
        XCTAssertEqual(data.labels, [0, 2, 1])
        XCTAssertEqual(data.classCount, 3, "largest label + 1")
        XCTAssertEqual(features(data), [1.5, 2, -3, 4, 0.5, 6, 0, 0, 0.25])
    }

    func testValidFileWithoutHeaderAndBlankLines() throws {
        let path = try write("3,1\n\n0,2\n")
        let data = try CSVDataset.load(path: path, classCount: 5, name: "small")
        XCTAssertEqual(data.name, "small")
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.classCount, 5)
        XCTAssertEqual(data.labels, [3, 0])
        XCTAssertEqual(features(data), [1, 2])
    }

    func testRaggedRow() throws {
        // Line numbers count the header: the short row is line 3.
        try assertError("label,a,b\n0,1,2\n1,3\n", ["line 3", "1 features", "2"])
    }

    func testNonNumericFeature() throws {
        try assertError("0,1,2\n1,abc,3\n", ["line 2", "column 2", "abc"])
        try assertError("0,1,2\n1,3,nan\n", ["line 2", "column 3", "nan"])
    }

    func testNegativeOrNonIntegerLabel() throws {
        try assertError("label,a\n0,1\n-1,2\n", ["line 3", "-1"])
        try assertError("0,1\n1.5,2\n", ["line 2", "1.5"])
    }

    func testLabelOutOfDeclaredRange() throws {
        try assertError("0,1\n7,2\n", ["line 2", "label 7", "0...4"], classCount: 5)
    }

    func testLabelOnlyRowAndEmptyFile() throws {
        try assertError("0,1\n1\n", ["line 2"])
        try assertError("label,a\n", ["no samples"])
    }

    func testMissingFile() {
        let path = directory.appendingPathComponent("nope.csv").path
        XCTAssertThrowsError(try CSVDataset.load(path: path)) { error in
            XCTAssertEqual((error as? DataError)?.path, path)
            XCTAssertTrue("\(error)".contains("no such file"), "\(error)")
        }
    }

    func testABrokenFirstRowIsAnErrorNotAHeader() throws {
        // Some fields are numbers: a data row with a broken label, not a header.
        try assertError("x,0.5,0.25\n1,0.5,0.25\n", ["line 1", "label 'x'"])
        try assertError("1,0.5,abc\n1,0.5,0.25\n", ["line 1", "'abc' is not a finite number"])
        // No field is a number: a header.
        let data = try CSVDataset.load(path: try write("label,f1,f2\n1,0.5,0.25\n0,1,2\n"))
        XCTAssertEqual(data.count, 2)
    }
}
