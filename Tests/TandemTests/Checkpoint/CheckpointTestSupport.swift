import Foundation
import Tandem
import XCTest

/// Helpers shared by the checkpoint tests: scratch directories, sample checkpoints, and a
/// hand-rolled safetensors writer for building files the real encoder would never produce.
enum CheckpointFixtures {
    /// A small checkpoint with tensors of several ranks, including a scalar.
    static func sample() -> CheckpointFile {
        CheckpointFile(
            metadata: ["model": "mlp:4-3-2", "step": "1234"],
            tensors: [
                TensorRecord(name: "0.weight", shape: [3, 4], values: (0..<12).map { Float($0) * 0.25 - 1 }),
                TensorRecord(name: "0.bias", shape: [3], values: [0.5, -0.5, 1e-3]),
                TensorRecord(name: "2.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                TensorRecord(name: "2.bias", shape: [2], values: [-7, 7]),
                TensorRecord(name: "optim.scale", shape: [], values: [42]),
            ])
    }

    /// The (name, shape) list `CheckpointFile.validate` expects for `sample()`.
    static let sampleExpectation: [(name: String, shape: [Int])] = [
        ("0.weight", [3, 4]), ("0.bias", [3]), ("2.weight", [2, 3]), ("2.bias", [2]), ("optim.scale", []),
    ]

    /// The little-endian bytes of some floats.
    static func bytes(of values: [Float]) -> [UInt8] {
        values.flatMap { value -> [UInt8] in
            let bits = value.bitPattern
            return (0..<4).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt32($0))) }
        }
    }

    /// An 8-byte little-endian length field.
    static func lengthField(_ length: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) }
    }

    /// A file from a header text and a payload, with the header padded to 8 bytes.
    static func file(header: String, payload: [UInt8], pad: Bool = true) -> [UInt8] {
        var headerBytes = Array(header.utf8)
        while pad && headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
        return lengthField(UInt64(headerBytes.count)) + headerBytes + payload
    }

    /// A header whose metadata is valid for `payload` (format, version and the right checksum,
    /// unless `metadata` overrides them) followed by raw tensor entry text such as
    /// `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`.
    static func header(entries: String, payload: [UInt8], metadata: [String: String] = [:],
                       dropping dropped: Set<String> = []) -> String {
        var pairs = [
            "format": "tandem-checkpoint",
            "format_version": "1",
            "payload_sha256": SHA256.hex(payload),
        ]
        for (key, value) in metadata { pairs[key] = value }
        for key in dropped { pairs[key] = nil }
        let metadataText = pairs.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
        return "{\"__metadata__\":{\(metadataText)}" + (entries.isEmpty ? "" : "," + entries) + "}"
    }

    /// One tensor entry's text.
    static func entry(_ name: String, dtype: String = "\"F32\"", shape: String, offsets: String) -> String {
        "\"\(name)\":{\"dtype\":\(dtype),\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    /// A fresh, empty scratch directory, removed when the test ends.
    static func scratchDirectory(_ test: XCTestCase) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("tandem-ckpt-test-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The names in a directory, sorted.
    static func listing(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }
}

/// Asserts that decoding `bytes` throws a `CheckpointError` for `path` whose problem contains
/// `expected`, and that its description is one line.
func assertRejects(_ bytes: [UInt8], _ expected: String, path: String = "test.safetensors",
                   file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try CheckpointFile.decode(bytes, path: path)
        XCTFail("decoded a file that should fail with '\(expected)'", file: file, line: line)
    } catch let error as CheckpointError {
        XCTAssertEqual(error.path, path, file: file, line: line)
        XCTAssertTrue(error.problem.contains(expected), "message '\(error.problem)' lacks '\(expected)'", file: file, line: line)
        XCTAssertFalse(error.description.contains("\n"), "message spans lines: \(error.description)", file: file, line: line)
    } catch {
        XCTFail("threw \(type(of: error)), not CheckpointError: \(error)", file: file, line: line)
    }
}
