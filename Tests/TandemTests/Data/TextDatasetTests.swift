import Foundation
import Tandem
import XCTest

/// Byte windows from text files: inputs and next-byte targets, the 90/10 split, the fixed
/// validation sample, and the one-line refusals of unusable files.
final class TextDatasetTests: XCTestCase {
    func write(_ text: String, _ name: String = "text.txt") -> String {
        let path = TandemBinary.temporaryDirectory(self, "text") + "/" + name
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
        return path
    }

    func testWindowsAreInputsAndTheBytesThatFollowThem() throws {
        let text = String(repeating: "abcdefghij", count: 10)   // 100 bytes
        let (train, validation) = try TextDataset.load(paths: [write(text)], context: 4, validationWindows: 3)
        XCTAssertEqual(train.bytes.count, 90)
        XCTAssertEqual(train.count, 86, "every start with 4 + 1 bytes after it")
        XCTAssertEqual(validation.bytes, Array(text.utf8.suffix(10)))
        XCTAssertEqual(validation.count, 3)
        XCTAssertEqual(train.targetKind, .classes(count: 256, perSample: 4))
        let batch = BatchBuffer()
        batch.fill(from: train, indices: [2, 85][...]) { x, targets in
            XCTAssertEqual(x.shape, [2, 4])
            XCTAssertEqual(x.scalars, "cdef".utf8.map(Float.init) + "fghi".utf8.map(Float.init))
            XCTAssertEqual(Array(targets.classes), "defg".utf8.map(Int32.init) + "ghij".utf8.map(Int32.init))
        }
        // The validation sample spreads over the part: its first and last windows.
        batch.fill(from: validation, indices: [0, 2][...]) { x, _ in
            XCTAssertEqual(x.scalars, "abcd".utf8.map(Float.init) + "fghi".utf8.map(Float.init))
        }
    }

    func testSeveralFilesAreConcatenatedInOrderAndFingerprinted() throws {
        let a = write(String(repeating: "x", count: 60), "a.txt"), b = write(String(repeating: "y", count: 40), "b.txt")
        let (ab, _) = try TextDataset.load(paths: [a, b], context: 4)
        let (ba, _) = try TextDataset.load(paths: [b, a], context: 4)
        XCTAssertEqual(ab.bytes.prefix(60), ArraySlice(repeating: UInt8(ascii: "x"), count: 60))
        XCTAssertNotEqual(ab.fingerprint, ba.fingerprint)
        XCTAssertEqual(ab.fingerprint, try TextDataset.load(paths: [a, b], context: 4).train.fingerprint)
    }

    /// Ranks compare one digest of their data; a text's validation windows are its test set too,
    /// and must still count (combined by XOR, the two copies cancelled out).
    func testTheDigestRanksCompareCoversTheValidationText() throws {
        let base = String(repeating: "abcdefghij", count: 9)
        func data(_ tail: String) throws -> TrainingData {
            let parts = try TextDataset.load(paths: [write(base + tail, "t-\(tail).txt")], context: 4)
            return TrainingData(train: parts.train, validation: parts.validation, test: parts.validation)
        }
        let a = try data("0123456789"), b = try data("0123456780")
        XCTAssertEqual(a.train.fingerprint, b.train.fingerprint, "the same first 90 %")
        XCTAssertNotEqual(a.fingerprint, b.fingerprint)
        XCTAssertEqual(a.fingerprint, try data("0123456789").fingerprint)
    }

    func testUnusableFilesAreRefusedInOneLineNamingThem() throws {
        let empty = write("", "empty.txt"), short = write("to be or not", "short.txt")
        let directory = TandemBinary.temporaryDirectory(self, "dir")
        let cases: [(paths: [String], expected: String)] = [
            ([empty], "empty.txt: is empty"),
            ([short], "short.txt: holds 12 bytes, shorter than one window of 9 bytes"),
            (["/nonexistent/play.txt"], "/nonexistent/play.txt: no such file"),
            ([directory], "is a directory"),
            ([], "no text file given"),
        ]
        for (paths, expected) in cases {
            XCTAssertThrowsError(try TextDataset.load(paths: paths, context: 8)) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
    }

    func testTheCommandLineRefusesBadTextSetupsInOneLine() throws {
        let short = write("to be or not", "short.txt")
        let cases: [(arguments: [String], expected: String)] = [
            (["--model", "gpt", "--dataset", "text", "--text-file", short], "short.txt: holds 12 bytes"),
            (["--model", "gpt", "--dataset", "text", "--text-file", "/nonexistent/a.txt"], "/nonexistent/a.txt: no such file"),
            (["--model", "mlp", "--dataset", "text", "--text-file", short], "give --model gpt"),
            (["--model", "gpt", "--dataset", "text"], "no text file given"),
            (["--dataset", "fashion-mnist", "--text-file", short], "--text-file \(short) is read only with --dataset text"),
        ]
        for (arguments, expected) in cases {
            let result = try TandemBinary.run(["train", "--max-steps", "1", "--global-batch", "2"] + arguments, timeout: 60)
            XCTAssertEqual(result.status, 1, result.summary)
            XCTAssertEqual(result.tandemErrorLines.count, 1, result.summary)
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            XCTAssertFalse(result.looksLikeCrash, result.summary)
        }
    }
}
