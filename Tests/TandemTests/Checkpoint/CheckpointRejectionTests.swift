import Foundation
import Tandem
import XCTest

/// Each way a checkpoint can be malformed is refused with its own one-line message.
final class CheckpointRejectionTests: XCTestCase {
    typealias F = CheckpointFixtures

    /// Two F32 tensors, a [2] and a [1], with a valid payload of 12 bytes.
    let payload = F.bytes(of: [1, 2, 3])
    var a: String { F.entry("a", shape: "[2]", offsets: "[0,8]") }
    var b: String { F.entry("b", shape: "[1]", offsets: "[8,12]") }

    /// A file with the given tensor entries and valid metadata for `payload`.
    func file(_ entries: String..., payload: [UInt8]? = nil, metadata: [String: String] = [:],
              dropping: Set<String> = []) -> [UInt8] {
        let payload = payload ?? self.payload
        return F.file(header: F.header(entries: entries.joined(separator: ","), payload: payload,
                                       metadata: metadata, dropping: dropping),
                      payload: payload)
    }

    func testTheBaseFileIsValid() throws {
        let decoded = try CheckpointFile.decode(file(a, b), path: "t")
        XCTAssertEqual(decoded.tensors, [TensorRecord(name: "a", shape: [2], values: [1, 2]),
                                         TensorRecord(name: "b", shape: [1], values: [3])])
        // Unpadded headers (other writers) and any key order are fine too.
        let unpadded = F.file(header: F.header(entries: b + "," + a, payload: payload), payload: payload, pad: false)
        XCTAssertEqual(try CheckpointFile.decode(unpadded, path: "t").tensors, decoded.tensors)
    }

    // MARK: Length field

    func testShortFiles() {
        assertRejects([], "file is 0 bytes, too short to hold the 8-byte header length")
        assertRejects([1, 0, 0, 0, 0, 0, 0], "file is 7 bytes")
    }

    func testHeaderLengthZero() {
        assertRejects(F.lengthField(0) + payload, "header length is 0")
    }

    func testHeaderLengthAbsurd() {
        assertRejects(F.lengthField(100_000_001) + [UInt8](repeating: 32, count: 64), "header length 100000001 bytes is absurd")
        assertRejects(F.lengthField(UInt64.max), "header length 18446744073709551615 bytes is absurd")
        assertRejects(F.lengthField(1 << 63), "is absurd")
    }

    func testHeaderLengthPastEndOfFile() {
        let good = file(a, b)
        var bad = good
        bad.replaceSubrange(0..<8, with: F.lengthField(UInt64(good.count)))
        assertRejects(bad, "header length \(good.count) bytes runs past the end of the file (only \(good.count - 8) bytes follow")
    }

    // MARK: Header text

    func testHeaderNotAnObject() {
        assertRejects(F.file(header: "[1, 2]", payload: []), "header does not start with '{'")
        assertRejects(F.file(header: "\u{FEFF}{}", payload: []), "header does not start with '{'")
        assertRejects(F.file(header: "        ", payload: []), "header does not start with '{'")
    }

    func testHeaderNotUTF8() {
        var bytes = F.file(header: "{\"__metadata__\":{\"x\":\"?\"}}", payload: [])
        let question = bytes.firstIndex(of: UInt8(ascii: "?"))!
        bytes[question] = 0xFF
        assertRejects(bytes, "header is not valid UTF-8")
        bytes[question] = 0xC3  // a lead byte with no continuation
        assertRejects(bytes, "header is not valid UTF-8")
    }

    func testHeaderNotJSON() {
        assertRejects(F.file(header: "{not json}", payload: []), "header is not valid JSON (")
        assertRejects(F.file(header: "{\"a\":1", payload: []), "header is not valid JSON")
        assertRejects(F.file(header: "{\"a\":1}x", payload: []), "header is not valid JSON")
        assertRejects(F.file(header: "{\"a\":1e999}", payload: []), "header is not valid JSON")
        assertRejects(F.file(header: "{\"a\":" + String(repeating: "[", count: 10_000) + "}", payload: []),
                      "header is not valid JSON")
    }

    func testParserMessagesAreShortened() {
        let bytes = F.file(header: "{\"a\":" + String(repeating: "1", count: 100_000) + "}", payload: [])
        assertRejects(bytes, "header is not valid JSON")
        XCTAssertLessThan(String(describing: Result { try CheckpointFile.decode(bytes, path: "t") }).count, 400)
    }

    // MARK: Metadata

    func testMetadataMissingOrIllTyped() {
        assertRejects(F.file(header: "{\(a),\(b)}", payload: payload), "header has no __metadata__ object; not a Tandem checkpoint")
        assertRejects(F.file(header: "{\"__metadata__\":[\"x\"]}", payload: []), "__metadata__ is an array, not a JSON object")
        assertRejects(F.file(header: "{\"__metadata__\":null}", payload: []), "__metadata__ is null, not a JSON object")
        assertRejects(F.file(header: "{\"__metadata__\":{\"step\":5}}", payload: []), "__metadata__ entry step is 5, not a string")
        assertRejects(F.file(header: "{\"__metadata__\":{\"ok\":true}}", payload: []), "__metadata__ entry ok is true, not a string")
    }

    func testFormatAndVersion() {
        assertRejects(file(a, b, dropping: ["format"]), "metadata has no format entry; not a Tandem checkpoint")
        assertRejects(file(a, b, metadata: ["format": "pt"]), "metadata format is pt, expected tandem-checkpoint")
        assertRejects(file(a, b, dropping: ["format_version"]), "metadata has no format_version entry")
        assertRejects(file(a, b, metadata: ["format_version": "3"]), "format_version 3 is not supported (this build reads versions 1 and 2)")
        assertRejects(file(a, b, metadata: ["format_version": "2"]),
                      "metadata has no header_sha256 entry, so the header cannot be verified")
    }

    func testChecksumEntryMissingMalformedOrWrong() {
        assertRejects(file(a, b, dropping: ["payload_sha256"]), "metadata has no payload_sha256 entry, so the tensors cannot be verified")
        assertRejects(file(a, b, metadata: ["payload_sha256": "abc"]), "metadata payload_sha256 is abc, not a 64-digit hex SHA-256")
        let wrong = String(repeating: "ab", count: 32)
        assertRejects(file(a, b, metadata: ["payload_sha256": wrong]),
                      "payload SHA-256 mismatch: header records \(wrong), tensors hash to \(SHA256.hex(payload)); file corrupted")
        // Upper-case digits are the same digest.
        XCTAssertNoThrow(try CheckpointFile.decode(file(a, b, metadata: ["payload_sha256": SHA256.hex(payload).uppercased()]), path: "t"))
    }

    func testPayloadByteFlipFailsChecksum() {
        var bytes = file(a, b)
        bytes[bytes.count - 1] ^= 0x01
        assertRejects(bytes, "payload SHA-256 mismatch")
    }

    // MARK: Tensor entries

    func testEntryNotAnObjectOrWithUnknownField() {
        assertRejects(file("\"a\":[1]"), "tensor a is described by an array, not a JSON object")
        assertRejects(file("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}", b),
                      "tensor a has an unexpected field extra")
    }

    func testDtype() {
        assertRejects(file("\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}", b), "tensor a has no dtype")
        assertRejects(file(F.entry("a", dtype: "32", shape: "[2]", offsets: "[0,8]"), b), "tensor a dtype is 32, not a string")
        assertRejects(file(F.entry("a", dtype: "\"F16\"", shape: "[4]", offsets: "[0,8]"), b),
                      "tensor a has dtype F16; only F32 is supported")
        assertRejects(file(F.entry("a", dtype: "\"I32\"", shape: "[2]", offsets: "[0,8]"), b), "tensor a has dtype I32")
        assertRejects(file(F.entry("a", dtype: "\"f32\"", shape: "[2]", offsets: "[0,8]"), b), "tensor a has dtype f32")
    }

    func testShape() {
        assertRejects(file("\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}", b), "tensor a has no shape")
        assertRejects(file(F.entry("a", shape: "2", offsets: "[0,8]"), b), "tensor a shape is 2, not a JSON array")
        assertRejects(file(F.entry("a", shape: "\"[2]\"", offsets: "[0,8]"), b), "tensor a shape is \"[2]\", not a JSON array")
        assertRejects(file(F.entry("a", shape: "[-2]", offsets: "[0,8]"), b),
                      "tensor a shape contains -2; expected non-negative integers")
        assertRejects(file(F.entry("a", shape: "[2.5]", offsets: "[0,8]"), b), "tensor a shape contains 2.5")
        assertRejects(file(F.entry("a", shape: "[2.0]", offsets: "[0,8]"), b), "tensor a shape contains 2")
        assertRejects(file(F.entry("a", shape: "[true]", offsets: "[0,4]"), b), "tensor a shape contains true")
        assertRejects(file(F.entry("a", shape: "[null]", offsets: "[0,8]"), b), "tensor a shape contains null")
        assertRejects(file(F.entry("a", shape: "[\"2\"]", offsets: "[0,8]"), b), "tensor a shape contains \"2\"")
        assertRejects(file(F.entry("a", shape: "[1e3]", offsets: "[0,8]"), b), "tensor a shape contains 1000")
        assertRejects(file(F.entry("a", shape: "[18446744073709551615]", offsets: "[0,8]"), b),
                      "tensor a shape contains 18446744073709551615")
        assertRejects(file(F.entry("a", shape: "[123456789012345678901234567890]", offsets: "[0,8]"), b),
                      "tensor a shape contains 123456789012345678901234567890")
        assertRejects(file(F.entry("a", shape: "[-9223372036854775809]", offsets: "[0,8]"), b), "tensor a shape contains -9223372036854775809")
        // Each dimension fits, the product does not.
        assertRejects(file(F.entry("a", shape: "[4294967296,4294967296]", offsets: "[0,8]"), b),
                      "tensor a shape [4294967296, 4294967296] has more elements than this machine can address")
        // The element count fits, its size in bytes does not.
        assertRejects(file(F.entry("a", shape: "[4611686018427387904]", offsets: "[0,8]"), b),
                      "has more elements than this machine can address")
    }

    func testDataOffsets() {
        assertRejects(file("\"a\":{\"dtype\":\"F32\",\"shape\":[2]}", b), "tensor a has no data_offsets")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "{}"), b), "tensor a data_offsets is an object, not a JSON array")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "[0,8,8]"), b), "tensor a data_offsets [0, 8, 8] should be [begin, end]")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "[0]"), b), "should be [begin, end]")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "[0,-8]"), b), "tensor a data_offsets contains -8")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "[0,false]"), b), "tensor a data_offsets contains false")
        assertRejects(file(F.entry("a", shape: "[0]", offsets: "[8,0]"), b), "tensor a data_offsets [8, 0] end before they begin")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "[8,16]"), b),
                      "tensor a data_offsets [8, 16] run past the end of the payload (12 bytes); file truncated?")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "[9223372036854775800,9223372036854775807]"), b),
                      "run past the end of the payload")
        assertRejects(file(F.entry("a", shape: "[3]", offsets: "[0,8]"), b),
                      "tensor a has shape [3] (12 bytes) but data_offsets [0, 8] span 8 bytes")
    }

    // MARK: Payload coverage

    func testOverlapGapAndTrailingBytes() {
        assertRejects(file(a, F.entry("b", shape: "[1]", offsets: "[4,8]"), payload: F.bytes(of: [1, 2])),
                      "tensors a [0, 8] and b [4, 8] overlap in the payload")
        assertRejects(file(F.entry("a", shape: "[1]", offsets: "[0,4]"), b), "payload bytes 4..<8 belong to no tensor")
        assertRejects(file(F.entry("a", shape: "[2]", offsets: "[4,12]"), payload: payload), "payload bytes 0..<4 belong to no tensor")
        assertRejects(file(a, payload: payload), "4 trailing bytes after the last tensor (payload is 12 bytes, tensors end at 8)")
        assertRejects(file(payload: payload), "12 trailing bytes after the last tensor")
        // A removed tensor leaves a gap.
        assertRejects(file(b), "payload bytes 0..<8 belong to no tensor")
    }

    func testDuplicateOffsetsOverlap() {
        assertRejects(file(a, F.entry("c", shape: "[2]", offsets: "[0,8]"), b), "overlap in the payload")
    }

    func testNamesInMessagesStayOnOneLine() {
        let entry = F.entry("line\\nbreak", dtype: "\"F16\"", shape: "[2]", offsets: "[0,8]")
        assertRejects(file(entry, b), "tensor \"line\\nbreak\" has dtype F16")
        let long = String(repeating: "x", count: 500)
        assertRejects(file(F.entry(long, dtype: "\"F16\"", shape: "[2]", offsets: "[0,8]"), b),
                      "tensor \(String(repeating: "x", count: 80))... has dtype F16")
    }
}
