import Foundation
import Tandem
import XCTest

/// Encoding then decoding gives the checkpoint back, and the bytes follow the safetensors
/// layout exactly (so Python's `safetensors` and NumPy read them).
final class CheckpointRoundTripTests: XCTestCase {
    func testRoundTripKeepsTensorsAndMetadataAndAddsFormatEntries() throws {
        let original = CheckpointFixtures.sample()
        let decoded = try CheckpointFile.decode(original.encode(), path: "x")
        XCTAssertEqual(decoded.tensors, original.tensors)
        XCTAssertEqual(decoded.metadata["model"], "mlp:4-3-2")
        XCTAssertEqual(decoded.metadata["step"], "1234")
        XCTAssertEqual(decoded.metadata["format"], "tandem-checkpoint")
        XCTAssertEqual(decoded.metadata["format_version"], "2")
        XCTAssertEqual(decoded.metadata["payload_sha256"]?.count, 64)
        XCTAssertEqual(decoded.metadata["header_sha256"]?.count, 64)
        XCTAssertEqual(decoded.metadata.count, original.metadata.count + 4)
        // A decoded file re-encodes to the same bytes: encoding is deterministic.
        XCTAssertEqual(decoded.encode(), original.encode())
    }

    func testSpecialFloatValuesSurviveBitForBit() throws {
        let values: [Float] = [0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude,
                               .greatestFiniteMagnitude, Float(bitPattern: 0x7FC0_1234), 1.0 / 3.0]
        let original = CheckpointFile(tensors: [TensorRecord(name: "odd", shape: [values.count], values: values)])
        let decoded = try CheckpointFile.decode(original.encode(), path: "x")
        XCTAssertEqual(decoded.tensors[0].values.map(\.bitPattern), values.map(\.bitPattern))
    }

    func testScalarEmptyAndUnusualNames() throws {
        let original = CheckpointFile(
            metadata: ["note": "quote \" backslash \\ newline \n tab \t unicode é✓ control \u{01}"],
            tensors: [
                TensorRecord(name: "scalar", shape: [], values: [3]),
                TensorRecord(name: "empty", shape: [0, 5], values: []),
                TensorRecord(name: "weird \"name\"\n/é", shape: [1], values: [1]),
                TensorRecord(name: "", shape: [2], values: [1, 2]),
            ])
        let decoded = try CheckpointFile.decode(original.encode(), path: "x")
        XCTAssertEqual(decoded.tensors, original.tensors)
        XCTAssertEqual(decoded.metadata["note"], original.metadata["note"])
    }

    func testNoTensorsIsAValidCheckpoint() throws {
        let decoded = try CheckpointFile.decode(CheckpointFile(metadata: ["a": "b"]).encode(), path: "x")
        XCTAssertEqual(decoded.tensors, [])
        XCTAssertEqual(decoded.metadata["a"], "b")
    }

    func testCallerFormatEntriesKeptButChecksumAlwaysRecomputed() throws {
        var file = CheckpointFixtures.sample()
        file.metadata["format_version"] = "1"
        file.metadata["payload_sha256"] = String(repeating: "0", count: 64)
        let decoded = try CheckpointFile.decode(file.encode(), path: "x")
        XCTAssertNotEqual(decoded.metadata["payload_sha256"], String(repeating: "0", count: 64))

        file.metadata["format"] = "something-else"
        XCTAssertTrue(String(decoding: file.encode(), as: UTF8.self).contains("\"format\":\"something-else\""))
    }

    func testTensorNamed() {
        let file = CheckpointFixtures.sample()
        XCTAssertEqual(file.tensor(named: "2.bias")?.values, [-7, 7])
        XCTAssertNil(file.tensor(named: "3.bias"))
    }

    /// The byte layout, checked field by field against the safetensors specification.
    func testLayoutMatchesSafetensors() throws {
        let file = CheckpointFixtures.sample()
        let bytes = file.encode()

        // 8-byte little-endian header length, header padded with spaces to a multiple of 8.
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        XCTAssertEqual(headerLength % 8, 0)
        let header = Array(bytes[8..<(8 + headerLength)])
        XCTAssertEqual(header.first, UInt8(ascii: "{"))
        let text = String(decoding: header, as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .init(charactersIn: " "))
        XCTAssertEqual(trimmed.last, "}")
        XCTAssertLessThan(text.count - trimmed.count, 8, "padding is less than one alignment unit")
        XCTAssertTrue(text.hasPrefix("{\"__metadata__\":{"), "metadata comes first, compact like Python's writer")

        // Header entries: dtype, shape, offsets relative to the payload start, packed in order.
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(header)) as? [String: Any])
        let payload = Array(bytes[(8 + headerLength)...])
        var expectedBegin = 0
        for tensor in file.tensors {
            let entry = try XCTUnwrap(json[tensor.name] as? [String: Any])
            XCTAssertEqual(entry["dtype"] as? String, "F32")
            XCTAssertEqual(entry["shape"] as? [Int], tensor.shape)
            let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int])
            XCTAssertEqual(offsets, [expectedBegin, expectedBegin + 4 * tensor.values.count])
            XCTAssertEqual(Array(payload[offsets[0]..<offsets[1]]), CheckpointFixtures.bytes(of: tensor.values))
            expectedBegin = offsets[1]
        }
        XCTAssertEqual(expectedBegin, payload.count, "tensors fill the payload exactly")

        let metadata = try XCTUnwrap(json["__metadata__"] as? [String: String])
        XCTAssertEqual(metadata["payload_sha256"], SHA256.hex(payload))
    }

    /// Reads an encoded file with an independent NumPy-only reader, which applies the same
    /// rules as the Python safetensors library (skipped where python3 with NumPy is missing).
    func testNumPyReaderAgrees() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        let path = directory + "/sample.safetensors"
        try AtomicFile.write(CheckpointFixtures.sample().encode(), to: path)
        let script = """
        import hashlib, json, struct, sys
        import numpy as np
        data = open(sys.argv[1], "rb").read()
        (n,) = struct.unpack("<Q", data[:8])
        assert n % 8 == 0 and data[8:9] == b"{"
        header = json.loads(data[8:8 + n])
        payload = data[8 + n:]
        meta = header.pop("__metadata__")
        assert all(isinstance(v, str) for v in meta.values())
        assert meta["payload_sha256"] == hashlib.sha256(payload).hexdigest()
        end = 0
        for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
            begin, stop = info["data_offsets"]
            assert begin == end and info["dtype"] == "F32"
            count = int(np.prod(info["shape"], dtype=np.int64))
            array = np.frombuffer(payload[begin:stop], dtype="<f4").reshape(info["shape"])
            assert array.size == count
            print(name, list(array.shape), [float(x) for x in array.ravel()])
            end = stop
        assert end == len(payload)
        """
        let output = try runPython(script, arguments: [path])
        let expected = CheckpointFixtures.sample().tensors
            .sorted { $0.name < $1.name }
            .map { "\($0.name) \($0.shape) \($0.values.map(Double.init))" }
        XCTAssertEqual(output.split(separator: "\n").map(String.init).sorted(), expected.sorted())
    }

    func testReadReportsMissingFileAndDirectory() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        XCTAssertThrowsError(try CheckpointFile.read(path: directory + "/nope.safetensors")) { error in
            XCTAssertEqual(error as? CheckpointError, CheckpointError(path: directory + "/nope.safetensors", problem: "no such file"))
        }
        XCTAssertThrowsError(try CheckpointFile.read(path: directory)) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem, "is a directory, not a checkpoint file")
        }
        let path = directory + "/ok.safetensors"
        try AtomicFile.write(CheckpointFixtures.sample().encode(), to: path)
        XCTAssertEqual(try CheckpointFile.read(path: path).tensors, CheckpointFixtures.sample().tensors)
    }

    func testValidateAgainstExpectedTensors() throws {
        let file = CheckpointFixtures.sample()
        XCTAssertNoThrow(try CheckpointFile.validate(file, expected: CheckpointFixtures.sampleExpectation, path: "p"))

        var expected = CheckpointFixtures.sampleExpectation
        expected[0].shape = [3, 5]
        XCTAssertThrowsError(try CheckpointFile.validate(file, expected: expected, path: "p")) { error in
            XCTAssertEqual((error as? CheckpointError)?.description, "p: tensor 0.weight has shape [3, 4], the model expects [3, 5]")
        }

        expected = CheckpointFixtures.sampleExpectation + [("4.weight", [2, 2])]
        XCTAssertThrowsError(try CheckpointFile.validate(file, expected: expected, path: "p")) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem, "checkpoint has no tensor 4.weight, which the model expects")
        }

        expected = Array(CheckpointFixtures.sampleExpectation.dropLast())
        XCTAssertThrowsError(try CheckpointFile.validate(file, expected: expected, path: "p")) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem, "checkpoint has tensor optim.scale, which the model does not expect")
        }

        expected = [("0.weight", [4, 3])]
        XCTAssertThrowsError(try CheckpointFile.validate(file, expected: expected, path: "p")) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem,
                           "tensor 0.weight has shape [3, 4], the model expects [4, 3] (and 4 more mismatches)")
        }
    }

    private func runPython(_ script: String, arguments: [String]) throws -> String {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import numpy"]
        probe.standardError = FileHandle.nullDevice
        do { try probe.run() } catch { throw XCTSkip("python3 not available") }
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { throw XCTSkip("python3 with NumPy not available") }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: errors, as: UTF8.self))
        return String(decoding: output, as: UTF8.self)
    }
}
