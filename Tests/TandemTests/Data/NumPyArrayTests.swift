import Foundation
import Tandem
import XCTest

/// `.npy` files: every supported dtype and format version read back exactly from a memory map,
/// a file NumPy itself wrote, and damaged files — by hand and by a fuzz of 400 corruptions —
/// refused with one line naming the file, never a crash.
final class NumPyArrayTests: XCTestCase {
    /// The bytes of a `.npy` file as NumPy writes them (header padded to a multiple of 64).
    func npy(descr: String, shape: String, fortran: Bool = false, payload: [UInt8], version: UInt8 = 1,
             dict: String? = nil) -> [UInt8] {
        var header = dict ?? "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        let prefix = version == 1 ? 10 : 12
        while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        bytes += version == 1 ? [UInt8(length & 0xFF), UInt8(length >> 8)]
                              : [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), UInt8(length >> 24)]
        return bytes + Array(header.utf8) + payload
    }

    func write(_ bytes: [UInt8], _ name: String = "a.npy") throws -> String {
        let path = TandemBinary.temporaryDirectory(self, "npy") + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    func testEveryDTypeAndVersionReadsBackExactly() throws {
        let floats: [Float] = [1.5, -2.25, 0, 3e-7, 1e30, -0.125]
        let doubles: [Double] = [0.1, -7, 2.5, 1e-300, 42, -1]
        let cases: [(String, [UInt8], [Double])] = [
            ("<f4", littleEndian(floats.map(\.bitPattern)), floats.map(Double.init)),
            ("<f8", littleEndian(doubles.map(\.bitPattern)), doubles),
            ("|u1", [0, 1, 127, 128, 254, 255], [0, 1, 127, 128, 254, 255]),
            ("<i8", littleEndian([Int64(-3), 0, 9, 1 << 40, 7, -1]), [-3, 0, 9, Double(1 << 40), 7, -1]),
        ]
        for version: UInt8 in [1, 2, 3] {
            for (descr, payload, expected) in cases {
                let path = try write(npy(descr: descr, shape: "(2, 3)", payload: payload, version: version))
                let array = try NumPyArray(path: path)
                XCTAssertEqual(array.shape, [2, 3], descr)
                XCTAssertEqual(array.rows, 2); XCTAssertEqual(array.rowSize, 3)
                XCTAssertEqual((0..<6).map(array.element), expected, "\(descr) v\(version)")
                var row = [Float](repeating: .nan, count: 3)
                row.withUnsafeMutableBufferPointer { array.copyRow(1, into: $0.baseAddress!) }
                XCTAssertEqual(row, expected[3...].map { Float($0) }, "\(descr) v\(version) row 1")
            }
        }
        // uint8 images scaled into [0, 1] on the way.
        let images = try NumPyArray(path: try write(npy(descr: "|u1", shape: "(1, 2)", payload: [255, 51])))
        var scaled = [Float](repeating: 0, count: 2)
        scaled.withUnsafeMutableBufferPointer { images.copyRow(0, scale: 1 / 255, into: $0.baseAddress!) }
        let scale: Float = 1 / 255
        XCTAssertEqual(scaled, [255 * scale, 51 * scale], "uint8 scaled by 1/255")
        // A one-dimensional array (labels) and a Fortran-ordered vector (the same bytes).
        XCTAssertEqual(try NumPyArray(path: try write(npy(descr: "<i8", shape: "(3,)", payload: littleEndian([Int64(4), 5, 6])))).rowSize, 1)
        XCTAssertEqual(try NumPyArray(path: try write(npy(descr: "<i8", shape: "(3,)", fortran: true,
                                                          payload: littleEndian([Int64(4), 5, 6])))).element(2), 6)
    }

    func testAFileWrittenByNumPyItself() throws {
        let path = TandemBinary.temporaryDirectory(self, "npy") + "/numpy.npy"
        let script = "import numpy as np; np.save('\(path)', (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 5) / 4)"
        let result = try TandemBinary.launch(executable: "/usr/bin/env", arguments: ["python3", "-c", script], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        let array = try NumPyArray(path: path)
        XCTAssertEqual(array.shape, [2, 3, 4])
        XCTAssertEqual(array.dtype, .float32)
        XCTAssertEqual(array.rowSize, 12)
        XCTAssertEqual((0..<24).map(array.element), (0..<24).map { (Double($0) - 5) / 4 })
    }

    func testDamagedFilesGetOneLineErrorsNamingTheProblem() throws {
        let good = npy(descr: "<f4", shape: "(2, 3)", payload: [UInt8](repeating: 0, count: 24))
        let cases: [([UInt8], String)] = [
            ([], "too short"),
            (Array("PK\u{3}\u{4} not numpy at all".utf8), "bad magic"),
            (Array(good.prefix(9)), "too short"),
            ([0x93] + Array("NUMPY".utf8) + [4, 0, 10, 0] + Array(good[10...]), "version 4.0 not supported"),
            (Array(good.prefix(40)), "truncated NumPy header"),
            (npy(descr: ">f4", shape: "(2, 3)", payload: [UInt8](repeating: 0, count: 24)), "dtype '>f4' not supported"),
            (npy(descr: "<c8", shape: "(2, 3)", payload: [UInt8](repeating: 0, count: 48)), "dtype '<c8' not supported"),
            (npy(descr: "<f4", shape: "(2, 3)", fortran: true, payload: [UInt8](repeating: 0, count: 24)), "Fortran-ordered"),
            (Array(good.dropLast(5)), "truncated data: shape (2, 3) of float32 needs 24 bytes, found 19"),
            (good + [0, 0, 0, 0], "data longer than declared"),
            (npy(descr: "<f4", shape: "(2, -3)", payload: []), "non-negative integers"),
            (npy(descr: "<f4", shape: "(99999999999, 99999999999, 99999999999)", payload: []), "too large"),
            (npy(descr: "", shape: "", payload: [], dict: "{'descr': '<f4', 'fortran_order': False, 'shapes': (0,), }"), "expected descr"),
            (npy(descr: "", shape: "", payload: [], dict: "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (0,), }"), "unexpected value"),
            (npy(descr: "", shape: "", payload: [], dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (0,) } x"), "text after the dict"),
        ]
        for (bytes, expected) in cases {
            let path = try write(bytes, "bad.npy")
            XCTAssertThrowsError(try NumPyArray(path: path), expected) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(expected), "\(message) should say \(expected)")
                XCTAssertTrue(message.hasPrefix(path + ": "), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
        XCTAssertThrowsError(try NumPyArray(path: "/nonexistent/x.npy")) { XCTAssertTrue("\($0)".contains("no such file")) }
    }

    /// 400 corruptions of a valid file — a byte of the header or length changed, the file cut
    /// short or extended, a header character replaced — each either still reads as a
    /// consistent array or is refused with a one-line DataError naming the file.
    func testFuzzedFilesNeverCrash() throws {
        let good = npy(descr: "<f8", shape: "(3, 2)", payload: littleEndian((0..<6).map { Double($0).bitPattern }))
        let path = TandemBinary.temporaryDirectory(self, "npy-fuzz") + "/fuzz.npy"
        var rng = SplitMix64(seed: 19)
        var refused = 0
        for trial in 0..<400 {
            var bytes = good
            switch trial % 4 {
            case 0: bytes[Int(rng.next() % 64)] = UInt8(truncatingIfNeeded: rng.next())
            case 1: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            case 2: bytes += (0..<Int(1 + rng.next() % 9)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default:
                let symbols = Array("{}():,'\" 0123456789TrueFalsL-".utf8)
                bytes[10 + Int(rng.next() % 54)] = symbols[Int(rng.next() % UInt64(symbols.count))]
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let array = try NumPyArray(path: path)
                XCTAssertEqual(array.header.dataOffset + array.header.byteCount, bytes.count, "trial \(trial)")
                for i in 0..<array.header.count { _ = array.element(i) }
            } catch let error as DataError {
                refused += 1
                XCTAssertEqual(error.path, path)
                XCTAssertFalse(error.description.contains("\n"), error.description)
            }
        }
        XCTAssertGreaterThan(refused, 250, "most corruptions must be refused")
    }
}
