import Foundation
import XCTest
import Tandem

final class IDXFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self, prefix: "tandem-idx")
    }

    private func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) throws -> String {
        let url = directory.appendingPathComponent(name)
        try TestFiles.write(gzip ? try TestFiles.gzip(bytes) : bytes, to: url)
        return url.path
    }

    /// Asserts that reading `path` throws a DataError naming the path and containing each fragment.
    private func assertDataError(_ path: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                                 _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let dataError = error as? DataError else {
                return XCTFail("expected DataError, got \(type(of: error)): \(error)", file: file, line: line)
            }
            let text = dataError.description
            XCTAssertEqual(dataError.path, path, file: file, line: line)
            XCTAssertTrue(text.contains(path), "message should name the file: \(text)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(text.lowercased().contains(fragment.lowercased()), "'\(fragment)' missing from: \(text)",
                              file: file, line: line)
            }
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
        }
    }

    // MARK: Valid files

    func testParsesRawFile() throws {
        let payload = (0..<24).map { UInt8($0 * 3) }
        let path = try write("raw-idx3", IDX.file(dimensions: [2, 3, 4], payload: payload))
        let idx = try IDXFile(path: path)
        XCTAssertEqual(idx.dimensions, [2, 3, 4])
        XCTAssertEqual(Array(idx.bytes), payload)
    }

    func testParsesGzipFile() throws {
        let payload = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let path = try write("labels.gz", IDX.file(dimensions: [300], payload: payload), gzip: true)
        // Really compressed: the gzip magic is on disk.
        let onDisk = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(onDisk.prefix(2)), [0x1F, 0x8B])
        let idx = try IDXFile(path: path)
        XCTAssertEqual(idx.dimensions, [300])
        XCTAssertEqual(Array(idx.bytes), payload)
    }

    func testLargeDimensionsAreBigEndian() throws {
        // 258 = 0x00000102: a little-endian reader would see 0x02010000.
        let payload = [UInt8](repeating: 5, count: 258)
        let idx = try IDXFile(bytes: IDX.file(dimensions: [258], payload: payload), path: "mem")
        XCTAssertEqual(idx.dimensions, [258])
        XCTAssertEqual(idx.bytes.count, 258)
    }

    // MARK: Malformed files

    func testWrongMagic() throws {
        var bytes = IDX.file(dimensions: [4], payload: [1, 2, 3, 4])
        bytes[0] = 0x1F; bytes[1] = 0x8C
        let path = try write("bad-magic", bytes)
        assertDataError(path, ["magic"]) { _ = try IDXFile(path: path) }
    }

    func testUnsupportedElementType() throws {
        // 0x0D is IDX's float32 type code.
        let bytes = IDX.header(dimensions: [1], elementType: 0x0D) + [0, 0, 0, 0]
        let path = try write("floats", bytes)
        assertDataError(path, ["element type", "0d"]) { _ = try IDXFile(path: path) }
    }

    func testTruncatedHeader() throws {
        // Declares 3 dimensions (needs 16 header bytes) but holds only one dimension word.
        let path = try write("short-header", [0, 0, 8, 3, 0, 0, 0, 2])
        assertDataError(path, ["truncated header"]) { _ = try IDXFile(path: path) }
        let tiny = try write("tiny", [0, 0])
        assertDataError(tiny, ["too short"]) { _ = try IDXFile(path: tiny) }
    }

    func testTruncatedPayload() throws {
        let full = IDX.file(dimensions: [3, 2, 2], payload: [UInt8](repeating: 9, count: 12))
        let path = try write("truncated.gz", Array(full.dropLast(5)), gzip: true)
        assertDataError(path, ["truncated payload", "12", "7"]) { _ = try IDXFile(path: path) }
    }

    func testPayloadTooLong() throws {
        let path = try write("long", IDX.file(dimensions: [2], payload: [1, 2]) + [3])
        assertDataError(path, ["longer than declared"]) { _ = try IDXFile(path: path) }
    }

    func testZeroDimensions() throws {
        let path = try write("rank0", [0, 0, 8, 0])
        assertDataError(path, ["no dimensions"]) { _ = try IDXFile(path: path) }
    }

    func testMissingFile() {
        let path = directory.appendingPathComponent("does-not-exist.gz").path
        assertDataError(path, ["no such file"]) { _ = try IDXFile(path: path) }
    }

    func testDirectoryInsteadOfFile() {
        let path = directory.path
        assertDataError(path, ["directory"]) { _ = try IDXFile(path: path) }
    }

    func testCorruptGzipChecksum() throws {
        let payload = (0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        var gz = try TestFiles.gzip(IDX.file(dimensions: [2000], payload: payload))
        // The last 8 bytes are CRC-32 and length; a wrong CRC must not pass silently.
        gz[gz.count - 8] ^= 0xFF
        let path = try write("bad-crc.gz", [])
        try TestFiles.write(gz, to: URL(fileURLWithPath: path))
        assertDataError(path, ["corrupt"]) { _ = try IDXFile(path: path) }
    }

    func testCorruptGzipStream() throws {
        let payload = (0..<5000).map { UInt8(truncatingIfNeeded: ($0 * $0) &+ $0 / 3) }
        var gz = try TestFiles.gzip(IDX.file(dimensions: [5000], payload: payload))
        for i in stride(from: 12, to: gz.count - 8, by: 5) { gz[i] ^= 0x5A }
        let path = try write("garbled.gz", [])
        try TestFiles.write(gz, to: URL(fileURLWithPath: path))
        assertDataError(path, ["corrupt"]) { _ = try IDXFile(path: path) }
    }

    func testTruncatedGzip() throws {
        let payload = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 11) }
        let gz = try TestFiles.gzip(IDX.file(dimensions: [5000], payload: payload))
        let path = try write("cut.gz", [])
        try TestFiles.write(Array(gz.prefix(gz.count / 2)), to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try IDXFile(path: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(error is DataError)
            XCTAssertTrue(text.contains(path), text)
            XCTAssertTrue(text.contains("corrupt") || text.contains("truncated"), text)
        }
    }
}
