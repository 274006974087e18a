import Foundation
import XCTest
import Tandem

/// Shared helpers for the unit tests: approximate comparisons, temporary directories, IDX and
/// gzip fabrication. Nothing here knows the implementation; it only builds inputs and checks.

/// Asserts |a − b| ≤ tolerance · max(1, |a|, |b|) for each element.
func assertClose(_ actual: [Float], _ expected: [Double], relative tolerance: Double,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count differs. \(message())", file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        let scale = max(1, abs(Double(a)), abs(e))
        if !(abs(Double(a) - e) <= tolerance * scale) {
            XCTFail("element \(i): got \(a), expected \(e) (tolerance \(tolerance) relative). \(message())",
                    file: file, line: line)
            return
        }
    }
}

/// Asserts |a − b| ≤ tolerance · max(|a|, |b|), with an absolute floor, for each element.
func assertRelativelyClose(_ actual: [Float], _ expected: [Double], relative tolerance: Double, absoluteFloor: Double = 1e-7,
                           _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count differs. \(message())", file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        let bound = max(tolerance * max(abs(Double(a)), abs(e)), absoluteFloor)
        if !(abs(Double(a) - e) <= bound) {
            XCTFail("element \(i): got \(a), expected \(e) (relative tolerance \(tolerance)). \(message())",
                    file: file, line: line)
            return
        }
    }
}

/// A fresh directory under the system temporary directory, removed when the test case ends.
func makeTemporaryDirectory(_ testCase: XCTestCase, prefix: String = "tandem-tests") throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(prefix)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A deterministic stream of test values (independent of Tandem's own generator).
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x1234_5678_9ABC_DEF1 }
    mutating func next() -> UInt64 {
        // xorshift64*
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    /// Uniform in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) / Double(1 << 53)
    }
    mutating func floats(_ count: Int, _ low: Double = -1, _ high: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(uniform(low, high)) }
    }
}

/// IDX file bytes: magic (0, 0, type, rank), big-endian UInt32 dimensions, then the payload.
enum IDX {
    static func header(dimensions: [Int], elementType: UInt8 = 0x08) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, elementType, UInt8(dimensions.count)]
        for d in dimensions {
            let v = UInt32(d)
            bytes += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        }
        return bytes
    }

    /// A complete, valid file for these dimensions and payload.
    static func file(dimensions: [Int], payload: [UInt8]) -> [UInt8] {
        precondition(dimensions.reduce(1, *) == payload.count)
        return header(dimensions: dimensions) + payload
    }

    /// `count` images of rows×columns with a simple deterministic pattern.
    static func images(count: Int, rows: Int = 28, columns: Int = 28) -> [UInt8] {
        let payload = (0..<(count * rows * columns)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 / 7)) }
        return file(dimensions: [count, rows, columns], payload: payload)
    }

    /// `count` labels cycling through 0..<classes.
    static func labels(count: Int, classes: Int = 10) -> [UInt8] {
        file(dimensions: [count], payload: (0..<count).map { UInt8($0 % classes) })
    }
}

enum TestFiles {
    static func write(_ bytes: [UInt8], to url: URL) throws {
        try Data(bytes).write(to: url)
    }

    /// Compresses with the system's gzip (the format Debian ships the data sets in).
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-c", "-n"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        // Write on another thread so a large input cannot dead-lock against a full output pipe.
        let writer = Thread {
            input.fileHandleForWriting.write(Data(bytes))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "gzip", code: Int(process.terminationStatus))
        }
        return [UInt8](data)
    }
}
