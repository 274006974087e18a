import Foundation
import Tandem
import XCTest

/// Data sets from NumPy arrays written by NumPy itself (`numpy.save`, `numpy.savez`): inputs and
/// labels read back exactly, `.npz` members found and mapped in place, and every kind of bad
/// pair refused with one line naming the file.
final class NumPyDatasetTests: XCTestCase {
    /// Runs a Python script with NumPy imported as np, in a fresh folder; returns the folder.
    func numpy(_ script: String) throws -> String {
        let folder = TandemBinary.temporaryDirectory(self, "npy")
        let result = try TandemBinary.launch(executable: "/usr/bin/env", arguments: ["python3", "-c", "import numpy as np, os; os.chdir('\(folder)')\n" + script],
                                             timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        return folder
    }

    func inputs(_ set: Dataset, _ indices: [Int]) -> (x: [Float], y: [Int32]) {
        var x = [Float](repeating: .nan, count: indices.count * set.featuresPerSample)
        var y = [Int32](repeating: -1, count: indices.count)
        x.withUnsafeMutableBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            set.fill(indices: indices, into: xb.baseAddress!, labels: yb.baseAddress!)
        } }
        return (x, y)
    }

    func testAPairOfNpyFilesIsADataSetOfItsRows() throws {
        let folder = try numpy("""
            np.save('x.npy', (np.arange(15, dtype=np.float64).reshape(5, 3) - 4) / 8)
            np.save('y.npy', np.array([2, 0, 1, 4, 0], dtype=np.int64))
            np.save('yf.npy', np.array([[2.0], [0.0], [1.0], [4.0], [0.0]], dtype=np.float32))
            """)
        let set = try NumPyDataset.load(x: folder + "/x.npy", y: folder + "/y.npy")
        XCTAssertEqual(set.count, 5)
        XCTAssertEqual(set.sampleShape, [3])
        XCTAssertEqual(set.classCount, 5)
        let (x, y) = inputs(set, [3, 0])
        XCTAssertEqual(x, [5, 6, 7, -4, -3, -2].map { Float($0) / 8 })
        XCTAssertEqual(y, [4, 2])
        // Whole-number float labels of shape [N, 1] are class indices too.
        XCTAssertEqual(inputs(try NumPyDataset.load(x: folder + "/x.npy", y: folder + "/yf.npy"), [0, 1, 2, 3, 4]).y, [2, 0, 1, 4, 0])
        // A subset is rows of the same mapped file, read the same way.
        let subset = set.subset([4, 1], name: "s")
        if case .array = subset.storage {} else { XCTFail("a subset of a mapped array must stay mapped, not be copied") }
        XCTAssertEqual(inputs(subset, [1, 0]).x, [-1, 0, 1, 8, 9, 10].map { Float($0) / 8 })
    }

    func testBytesArePixelsAndGreyImagesGetTheirChannel() throws {
        let folder = try numpy("""
            np.save('x.npy', np.arange(24, dtype=np.uint8).reshape(4, 2, 3) * 10)
            np.save('y.npy', np.array([1, 1, 0, 2], dtype=np.uint8))
            np.save('x4.npy', np.zeros((4, 3, 2, 2), dtype=np.float32))
            """)
        let set = try NumPyDataset.load(x: folder + "/x.npy", y: folder + "/y.npy")
        XCTAssertEqual(set.sampleShape, [1, 2, 3], "an [N, H, W] array holds grey images")
        XCTAssertEqual(inputs(set, [1]).x, (6..<12).map { Float($0 * 10) * (1 / Float(255)) })
        XCTAssertEqual(try NumPyDataset.load(x: folder + "/x4.npy", y: folder + "/y.npy").sampleShape, [3, 2, 2])
    }

    func testArraysOfAStoredArchiveAreMappedInPlace() throws {
        let folder = try numpy("""
            x = np.arange(12, dtype=np.float32).reshape(6, 2); y = np.array([0, 1, 2, 0, 1, 2])
            np.savez('train.npz', x=x, y=y)
            np.savez('named.npz', images=x[::-1].copy(), labels=y[::-1].copy(), other=np.zeros(3))
            np.savez_compressed('packed.npz', x=x, y=y)
            """)
        let bare = try NumPyDataset.load(x: folder + "/train.npz", y: folder + "/train.npz")
        XCTAssertEqual(inputs(bare, [2, 5]).x, [4, 5, 10, 11])
        XCTAssertEqual(inputs(bare, [2, 5]).y, [2, 2])
        let named = try NumPyDataset.load(x: folder + "/named.npz:images", y: folder + "/named.npz:labels.npy")
        XCTAssertEqual(inputs(named, [0]).x, [10, 11])
        XCTAssertEqual(inputs(named, [0, 1]).y, [2, 1])
        XCTAssertThrowsError(try NumPyDataset.load(x: folder + "/named.npz", y: folder + "/named.npz:labels")) { error in
            XCTAssertEqual("\(error)", "\(folder)/named.npz: has no array 'x' (it holds images, labels, other)")
        }
        XCTAssertThrowsError(try NumPyDataset.load(x: folder + "/packed.npz", y: folder + "/packed.npz")) { error in
            XCTAssertTrue("\(error)".contains("is compressed (numpy.savez_compressed)"), "\(error)")
        }
    }

    func testBadPairsAreRefusedInOneLineNamingTheFile() throws {
        let folder = try numpy("""
            np.save('x.npy', np.zeros((4, 3), dtype=np.float32))
            np.save('x1.npy', np.zeros(4, dtype=np.float32))
            np.save('x0.npy', np.zeros((0, 3), dtype=np.float32))
            xn = np.zeros((4, 3), dtype=np.float32); xn[2, 1] = np.nan; np.save('xnan.npy', xn)
            np.save('y.npy', np.array([0, 1, 2, 3]))
            np.save('y3.npy', np.array([0, 1, 2]))
            np.save('yneg.npy', np.array([0, -1, 2, 3]))
            np.save('yhalf.npy', np.array([0, 1.5, 2, 3]))
            np.save('y2d.npy', np.zeros((4, 2), dtype=np.int64))
            np.savez('a.npz', x=np.zeros((4, 3), dtype=np.float32), y=np.array([0, 1, 2, 3]))
            data = open('a.npz', 'rb').read(); open('cut.npz', 'wb').write(data[:len(data) // 2])
            open('text.npz', 'w').write('not an archive at all')
            """)
        func refused(_ x: String, _ y: String, classCount: Int? = nil, _ expected: String, line: UInt = #line) {
            XCTAssertThrowsError(try NumPyDataset.load(x: folder + "/" + x, y: folder + "/" + y, classCount: classCount), line: line) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(expected), "\(message) should say \(expected)", line: line)
                XCTAssertTrue(message.hasPrefix(folder + "/"), "\(message) must name the file", line: line)
                XCTAssertFalse(message.contains("\n"), line: line)
            }
        }
        refused("x1.npy", "y.npy", "inputs need one sample per row")
        refused("x0.npy", "y.npy", "holds no samples")
        refused("xnan.npy", "y.npy", "sample 2 holds a non-finite value (nan at element 1)")
        refused("x.npy", "y3.npy", "holds 3 labels but")
        refused("x.npy", "yneg.npy", "label -1 at row 1 is not a class index")
        refused("x.npy", "yhalf.npy", "label 1.5 at row 1 is not a class index")
        refused("x.npy", "y2d.npy", "class labels need one integer per sample")
        refused("x.npy", "y.npy", classCount: 3, "label 3 at row 3 is out of range 0...2")
        refused("cut.npz", "y.npy", "ZIP archive")
        refused("text.npz", "y.npy", "not a ZIP archive")
        refused("missing.npy", "y.npy", "no such file")
    }

    func testDamagedArchivesNeverCrash() throws {
        let folder = try numpy("np.savez('good.npz', x=np.arange(12, dtype=np.float32).reshape(4, 3), y=np.array([0, 1, 2, 1]))")
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/good.npz")))
        let path = folder + "/fuzz.npz"
        var rng = SplitMix64(seed: 23)
        var refused = 0
        for trial in 0..<300 {
            var bytes = good
            switch trial % 3 {
            case 0:   // a byte of a header or directory record (they hold every offset and size)
                let records = [0, 30, bytes.count - 22, bytes.count - 120]
                let at = max(0, records[Int(rng.next() % 4)] + Int(rng.next() % 40))
                if at < bytes.count { bytes[at] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            default: bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let set = try NumPyDataset.load(x: path, y: path)
                _ = inputs(set, Array(0..<set.count))
            } catch let error as DataError {
                refused += 1
                XCTAssertTrue(error.path.hasPrefix(path), error.description)
                XCTAssertFalse(error.description.contains("\n"), error.description)
            }
        }
        XCTAssertGreaterThan(refused, 150, "most corruptions must be refused")
    }
}
