import Foundation
import XCTest

/// Runs the built `tandem` binary on broken data directories and bad options: each must end
/// with a non-zero status and exactly one line on stderr, `tandem: error: ...`, naming the file
/// and the problem, and never with a crash trace.
final class MalformedDataTests: XCTestCase {
    static let trainImages = "train-images-idx3-ubyte.gz"
    static let trainLabels = "train-labels-idx1-ubyte.gz"
    static let testImages = "t10k-images-idx3-ubyte.gz"
    static let testLabels = "t10k-labels-idx1-ubyte.gz"

    /// Small valid files in Fashion-MNIST's format: 128 training images (one default global
    /// batch) and 16 test images, 28×28, gzip-compressed as Debian ships them.
    private static let validFiles: [String: [UInt8]] = {
        var files: [String: [UInt8]] = [:]
        files[trainImages] = try! TestFiles.gzip(IDX.images(count: 128))
        files[trainLabels] = try! TestFiles.gzip(IDX.labels(count: 128))
        files[testImages] = try! TestFiles.gzip(IDX.images(count: 16))
        files[testLabels] = try! TestFiles.gzip(IDX.labels(count: 16))
        return files
    }()

    private var root: URL!

    override func setUpWithError() throws {
        root = try makeTemporaryDirectory(self, prefix: "tandem-cli")
    }

    /// A data directory holding the four valid files, with `name` replaced by `broken`
    /// (uncompressed IDX bytes, gzipped here), or removed when `broken` is nil.
    private func dataDirectory(replacing name: String? = nil, with broken: [UInt8]? = nil) throws -> String {
        let dir = root.appendingPathComponent("data-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (file, bytes) in Self.validFiles where file != name {
            try TestFiles.write(bytes, to: dir.appendingPathComponent(file))
        }
        if let name, let broken {
            try TestFiles.write(try TestFiles.gzip(broken), to: dir.appendingPathComponent(name))
        }
        return dir.path
    }

    private func train(_ arguments: [String]) throws -> JobResult {
        let runDir = root.appendingPathComponent("run-\(UUID().uuidString.prefix(8))").path
        return try TandemBinary.run(["train"] + arguments + ["--max-steps", "1", "--run-dir", runDir], timeout: 60)
    }

    /// The shared assertions for a run that must fail cleanly with one error line.
    @discardableResult
    private func assertCleanFailure(_ result: JobResult, mentions fragments: [String],
                                    file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertFalse(result.timedOut, result.summary, file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "must fail\n\(result.summary)", file: file, line: line)
        for crash in ["Fatal error", "Stack dump", "Backtrace", "SIGSEGV", "Current stack trace", "Segmentation fault",
                      "Program crashed", "Illegal instruction"] {
            XCTAssertFalse(result.stderr.contains(crash) || result.stdout.contains(crash),
                           "crash trace (\(crash))\n\(result.summary)", file: file, line: line)
        }
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 1, "stderr must be exactly one line\n\(result.summary)", file: file, line: line)
        XCTAssertFalse(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).contains("\n"),
                       "stderr must be one line\n\(result.summary)", file: file, line: line)
        guard let message = lines.first else { return "" }
        XCTAssertTrue(message.hasPrefix("tandem: error:"), "prefix: \(message)", file: file, line: line)
        XCTAssertGreaterThan(message.count, "tandem: error:".count + 10, "an actual explanation: \(message)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(message.contains(f), "'\(f)' missing from: \(message)", file: file, line: line)
        }
        return message
    }

    // MARK: Control

    func testValidFabricatedDirectoryTrains() throws {
        // Proves the fabricated files are right, so each failure below is due to its one broken file.
        let dir = try dataDirectory()
        let result = try train(["--data-dir", dir, "--quiet"])
        XCTAssertFalse(result.timedOut, result.summary)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines), "", result.summary)
    }

    // MARK: Broken files

    func testWrongMagic() throws {
        var bytes = IDX.images(count: 128)
        bytes[0] = 0x42; bytes[1] = 0x4D   // "BM", a bitmap header
        let dir = try dataDirectory(replacing: Self.trainImages, with: bytes)
        assertCleanFailure(try train(["--data-dir", dir]), mentions: ["\(dir)/\(Self.trainImages)", "magic"])
    }

    func testTruncatedPayload() throws {
        let bytes = Array(IDX.images(count: 16).dropLast(100))
        let dir = try dataDirectory(replacing: Self.testImages, with: bytes)
        assertCleanFailure(try train(["--data-dir", dir]), mentions: ["\(dir)/\(Self.testImages)", "truncated"])
    }

    func testLabelsWithThreeDimensions() throws {
        let bytes = IDX.file(dimensions: [128, 1, 1], payload: (0..<128).map { UInt8($0 % 10) })
        let dir = try dataDirectory(replacing: Self.trainLabels, with: bytes)
        assertCleanFailure(try train(["--data-dir", dir]), mentions: ["\(dir)/\(Self.trainLabels)", "dimension"])
    }

    func testLabelOutOfRange() throws {
        var payload = (0..<128).map { UInt8($0 % 10) }
        payload[77] = 12
        let dir = try dataDirectory(replacing: Self.trainLabels, with: IDX.file(dimensions: [128], payload: payload))
        assertCleanFailure(try train(["--data-dir", dir]),
                           mentions: ["\(dir)/\(Self.trainLabels)", "label 12", "out of range"])
    }

    func testImageLabelCountMismatch() throws {
        let dir = try dataDirectory(replacing: Self.testLabels, with: IDX.labels(count: 15))
        assertCleanFailure(try train(["--data-dir", dir]), mentions: ["\(dir)/\(Self.testLabels)", "15", "16"])
    }

    func testMissingFile() throws {
        let dir = try dataDirectory(replacing: Self.testImages, with: nil)
        assertCleanFailure(try train(["--data-dir", dir]), mentions: ["\(dir)/\(Self.testImages)", "no such file"])
    }

    func testMissingDirectory() throws {
        let dir = root.appendingPathComponent("no-such-dir").path
        assertCleanFailure(try train(["--data-dir", dir]), mentions: [dir, "no such file"])
    }

    func testCorruptGzip() throws {
        let dir = try dataDirectory()
        let path = "\(dir)/\(Self.trainImages)"
        var gz = Self.validFiles[Self.trainImages]!
        gz = Array(gz.prefix(gz.count / 2))
        try TestFiles.write(gz, to: URL(fileURLWithPath: path))
        assertCleanFailure(try train(["--data-dir", dir]), mentions: [path])
    }

    // MARK: Bad options

    func testGlobalBatchZero() throws {
        let dir = try dataDirectory()
        assertCleanFailure(try train(["--data-dir", dir, "--global-batch", "0"]), mentions: ["--global-batch", "0"])
    }

    func testUnknownOptimizer() throws {
        let dir = try dataDirectory()
        assertCleanFailure(try train(["--data-dir", dir, "--optimizer", "rmsprop"]), mentions: ["rmsprop", "optimizer"])
    }

    func testUnknownConvolutionMethod() throws {
        let dir = try dataDirectory()
        assertCleanFailure(try train(["--data-dir", dir, "--convolution", "fft"]), mentions: ["fft", "--convolution"])
    }

    func testGlobalBatchLargerThanTrainingSet() throws {
        let dir = try dataDirectory()
        assertCleanFailure(try train(["--data-dir", dir, "--global-batch", "129"]), mentions: ["128", "129"])
    }
}
