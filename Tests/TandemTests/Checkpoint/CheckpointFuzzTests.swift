import Foundation
import Tandem
import XCTest

/// Several hundred corrupted versions of a valid checkpoint, drawn with a fixed seed. Each
/// must be refused with a `CheckpointError`; none may crash the decoder (a crash would end
/// the test run, so finishing is itself the check).
///
/// One class of corruption cannot be caught by design: the checksum covers the tensor
/// payload, not the header, so a byte flip that leaves the header valid JSON (a digit in a
/// free-form metadata value, a padding space turned into a tab, a changed tensor name) decodes.
/// For header flips the test therefore demands: refused by `decode` or by
/// `validate(expected:)` (which catches renamed tensors), or else the tensors are bit-for-bit
/// the original ones and only metadata differs.
final class CheckpointFuzzTests: XCTestCase {
    typealias F = CheckpointFixtures

    let original = F.sample()
    lazy var good = original.encode()
    lazy var headerLength = (0..<8).reduce(0) { $0 | Int(good[$1]) << (8 * $1) }
    lazy var payloadStart = 8 + headerLength

    /// Decoding and checking against the model, as a resume does.
    func load(_ bytes: [UInt8]) throws -> CheckpointFile {
        let file = try CheckpointFile.decode(bytes, path: "fuzz")
        try CheckpointFile.validate(file, expected: F.sampleExpectation, path: "fuzz")
        return file
    }

    func assertRefused(_ bytes: [UInt8], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try load(bytes)
            XCTFail("accepted a corrupted file: \(what)", file: file, line: line)
        } catch let error as CheckpointError {
            XCTAssertFalse(error.description.contains("\n"), "\(what): multi-line message", file: file, line: line)
        } catch {
            XCTFail("\(what): threw \(type(of: error)), not CheckpointError", file: file, line: line)
        }
    }

    func testTheUncorruptedFileLoads() throws {
        XCTAssertEqual(try load(good).tensors, original.tensors)
    }

    func testTruncationAtEveryLength() {
        for length in 0..<good.count {
            assertRefused(Array(good[..<length]), "truncated to \(length) bytes")
        }
    }

    func testRandomTruncationAndAppendedGarbage() {
        var random = SplitMix64(seed: 2024)
        for _ in 0..<100 {
            let cut = Int.random(in: 0..<good.count, using: &random)
            assertRefused(Array(good[..<cut]), "truncated at \(cut)")
            let extra = (0..<Int.random(in: 1...16, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            assertRefused(good + extra, "\(extra.count) bytes appended")
        }
    }

    func testPayloadByteFlips() {
        var random = SplitMix64(seed: 11)
        for _ in 0..<200 {
            var bytes = good
            let index = Int.random(in: payloadStart..<good.count, using: &random)
            bytes[index] ^= UInt8.random(in: 1...255, using: &random)
            assertRefused(bytes, "payload byte \(index) flipped")
        }
    }

    func testLengthFieldCorruption() {
        var random = SplitMix64(seed: 12)
        for _ in 0..<100 {
            var bytes = good
            let index = Int.random(in: 0..<8, using: &random)
            bytes[index] ^= UInt8.random(in: 1...255, using: &random)
            assertRefused(bytes, "length byte \(index) flipped")
        }
        for past in [good.count - 7, good.count, good.count * 2, Int(UInt32.max)] {
            var bytes = good
            bytes.replaceSubrange(0..<8, with: F.lengthField(UInt64(past)))
            assertRefused(bytes, "header length \(past)")
        }
    }

    func testHeaderByteFlips() throws {
        var random = SplitMix64(seed: 13)
        var refused = 0, metadataOnly = 0
        for trial in 0..<300 {
            var bytes = good
            let index = Int.random(in: 8..<payloadStart, using: &random)
            bytes[index] ^= UInt8.random(in: 1...255, using: &random)
            do {
                let decoded = try load(bytes)
                // Accepted: the payload checksum and the model check must still guarantee
                // that every tensor is exactly the original.
                XCTAssertEqual(decoded.tensors, original.tensors, "trial \(trial): header byte \(index) changed tensors undetected")
                metadataOnly += 1
            } catch is CheckpointError {
                refused += 1
            } catch {
                XCTFail("trial \(trial): threw \(type(of: error)), not CheckpointError")
            }
        }
        // Most flips break the header outright; the rest can only touch metadata text.
        XCTAssertGreaterThan(refused, 200)
        print("header byte flips: \(refused) refused, \(metadataOnly) changed only metadata text (not covered by the checksum)")
    }

    func testStructuralHeaderEdits() {
        let payload = Array(good[payloadStart...])
        let entries = entryTexts()

        // dtype changed.
        for dtype in ["F16", "BF16", "I32", "F64", "U8", "f32", ""] {
            for name in entries.keys {
                assertRefused(rebuilt(entries, payload: payload, replacing: name, with: entries[name]!
                    .replacingOccurrences(of: "\"F32\"", with: "\"\(dtype)\"")), "\(name) dtype \(dtype)")
            }
        }
        // Shape changed: a different element count breaks the offsets; the same count in another
        // arrangement passes decode and must be caught by the model check.
        for (name, shape) in F.sampleExpectation {
            for newShape in [shape + [1], [shape.reduce(1, *) + 1], Array(shape.reversed()) + [2], [0], [-1]] + (shape.count == 2 ? [[shape[1], shape[0]]] : []) {
                let text = entries[name]!.replacingOccurrences(of: "\"shape\":" + json(shape), with: "\"shape\":" + json(newShape))
                assertRefused(rebuilt(entries, payload: payload, replacing: name, with: text), "\(name) shape \(newShape)")
            }
        }
        // A tensor removed from the header.
        for name in entries.keys {
            assertRefused(rebuilt(entries, payload: payload, replacing: name, with: nil), "\(name) removed")
        }
        // Offsets shifted.
        for (name, shape, offsets) in layout() {
            for delta in [-4, -1, 1, 4] {
                let text = F.entry(name, shape: json(shape), offsets: json(offsets.map { $0 + delta }))
                assertRefused(rebuilt(entries, payload: payload, replacing: name, with: text), "\(name) offsets shifted by \(delta)")
            }
            let text = F.entry(name, shape: json(shape), offsets: json([offsets[0], offsets[1] + 4]))
            assertRefused(rebuilt(entries, payload: payload, replacing: name, with: text), "\(name) end moved by 4")
        }
    }

    func testNonJSONAndRandomHeaders() {
        var random = SplitMix64(seed: 14)
        let payload = Array(good[payloadStart...])
        for trial in 0..<100 {
            // A header of the right length filled with random bytes (printable half the time).
            let header = (0..<headerLength).map { _ in
                trial % 2 == 0 ? UInt8.random(in: 0...255, using: &random) : UInt8.random(in: 32...126, using: &random)
            }
            assertRefused(F.lengthField(UInt64(headerLength)) + header + payload, "random header \(trial)")
            // A random header that at least starts like an object.
            assertRefused(F.lengthField(UInt64(headerLength)) + [UInt8(ascii: "{")] + header.dropFirst() + payload,
                          "random '{' header \(trial)")
        }
        // Whole files of random bytes, of every small length and some larger ones.
        for length in Array(0..<64) + [100, 1000, 10_000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            assertRefused(bytes, "\(length) random bytes")
        }
    }

    // MARK: Building edited headers

    /// Each tensor's name, shape and payload offsets in the sample, in payload order.
    private func layout() -> [(name: String, shape: [Int], offsets: [Int])] {
        var offset = 0
        return original.tensors.map { tensor in
            defer { offset += 4 * tensor.values.count }
            return (tensor.name, tensor.shape, [offset, offset + 4 * tensor.values.count])
        }
    }

    /// The sample's tensor entries as header text, keyed by name.
    private func entryTexts() -> [String: String] {
        var entries: [String: String] = [:]
        for (name, shape, offsets) in layout() {
            entries[name] = F.entry(name, shape: json(shape), offsets: json(offsets))
        }
        return entries
    }

    /// The sample re-assembled with one entry replaced (or removed), with valid metadata.
    private func rebuilt(_ entries: [String: String], payload: [UInt8], replacing name: String, with text: String?) -> [UInt8] {
        var entries = entries
        entries[name] = text
        let body = entries.keys.sorted().compactMap { entries[$0] }.joined(separator: ",")
        return F.file(header: F.header(entries: body, payload: payload), payload: payload)
    }

    private func json(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ",") + "]" }
}
