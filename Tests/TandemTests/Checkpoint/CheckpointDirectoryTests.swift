import Foundation
import Tandem
import XCTest

/// Keep-K pruning, the `latest` pointer and its fallbacks, temporary files, `best`.
final class CheckpointDirectoryTests: XCTestCase {
    typealias F = CheckpointFixtures

    func sample(step: Int) -> CheckpointFile {
        var file = F.sample()
        file.metadata["step"] = String(step)
        return file
    }

    func testFileNames() {
        XCTAssertEqual(CheckpointDirectory.fileName(step: 0), "ckpt-00000000.safetensors")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 1234), "ckpt-00001234.safetensors")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 123_456_789), "ckpt-123456789.safetensors")
        XCTAssertEqual(CheckpointDirectory.step(fromFileName: "ckpt-00001234.safetensors"), 1234)
        XCTAssertEqual(CheckpointDirectory.step(fromFileName: "ckpt-123456789.safetensors"), 123_456_789)
        for name in ["ckpt-.safetensors", "ckpt-12a.safetensors", "ckpt-+12.safetensors", "ckpt-00000012.safetensors.bak",
                     ".ckpt-00000012.safetensors.tmp-1-2", "best.safetensors", "latest", "ckpt-٣.safetensors"] {
            XCTAssertNil(CheckpointDirectory.step(fromFileName: name), name)
        }
    }

    func testSaveKeepsNewestAndUpdatesLatest() throws {
        let path = try F.scratchDirectory(self)
        let directory = CheckpointDirectory(path: path, keep: 2)
        for step in [10, 20, 30, 40, 50] {
            let written = try directory.save(sample(step: step), step: step)
            XCTAssertEqual(written, path + "/" + CheckpointDirectory.fileName(step: step))
            XCTAssertEqual(try directory.latestPath(), written)
        }
        XCTAssertEqual(F.listing(path), ["ckpt-00000040.safetensors", "ckpt-00000050.safetensors", "latest"])
        XCTAssertEqual(try String(contentsOfFile: path + "/latest", encoding: .utf8), "ckpt-00000050.safetensors\n")
        let latest = try XCTUnwrap(directory.loadLatest())
        XCTAssertEqual(latest.file.metadata["step"], "50")
        XCTAssertEqual(latest.skipped, [])
    }

    func testKeepOneAndKeepBelowOne() throws {
        let path = try F.scratchDirectory(self)
        let directory = CheckpointDirectory(path: path, keep: 0)
        XCTAssertEqual(directory.keep, 1)
        try directory.save(sample(step: 1), step: 1)
        try directory.save(sample(step: 2), step: 2)
        XCTAssertEqual(F.listing(path), ["ckpt-00000002.safetensors", "latest"])
    }

    /// After resuming from an earlier checkpoint, files for later steps exist; the one just
    /// written is still never deleted.
    func testSavingAnEarlierStepNeverDeletesIt() throws {
        let path = try F.scratchDirectory(self)
        let directory = CheckpointDirectory(path: path, keep: 2)
        for step in [100, 200, 300] { try directory.save(sample(step: step), step: step) }
        try directory.save(sample(step: 150), step: 150)
        XCTAssertEqual(F.listing(path), ["ckpt-00000150.safetensors", "ckpt-00000300.safetensors", "latest"])
        XCTAssertEqual(try directory.latestPath(), path + "/ckpt-00000150.safetensors")
    }

    func testNegativeStepRefused() throws {
        let directory = CheckpointDirectory(path: try F.scratchDirectory(self))
        XCTAssertThrowsError(try directory.save(F.sample(), step: -1)) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem, "cannot save a checkpoint for negative step -1")
        }
    }

    func testNoCheckpointsMeansNil() throws {
        let path = try F.scratchDirectory(self)
        XCTAssertNil(try CheckpointDirectory(path: path).latestPath())
        XCTAssertNil(try CheckpointDirectory(path: path + "/does-not-exist").latestPath())
    }

    func testFallsBackWhenLatestPointsAtACorruptFile() throws {
        let path = try F.scratchDirectory(self)
        let directory = CheckpointDirectory(path: path, keep: 3)
        for step in [1, 2, 3] { try directory.save(sample(step: step), step: step) }
        // Corrupt the newest checkpoint's payload: `latest` still names it.
        let newest = path + "/ckpt-00000003.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))
        bytes[bytes.count - 1] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: newest))

        let latest = try XCTUnwrap(directory.loadLatest())
        XCTAssertEqual(latest.path, path + "/ckpt-00000002.safetensors")
        XCTAssertEqual(latest.file.metadata["step"], "2")
        XCTAssertEqual(latest.skipped.count, 1)
        XCTAssertEqual(latest.skipped.first?.path, newest)
        XCTAssertTrue(latest.skipped.first?.problem.hasPrefix("payload SHA-256 mismatch") ?? false)

        // A truncated file is passed over the same way.
        try Data(bytes.prefix(20)).write(to: URL(fileURLWithPath: path + "/ckpt-00000002.safetensors"))
        XCTAssertEqual(try directory.latestPath(), path + "/ckpt-00000001.safetensors")
    }

    func testFallsBackWhenLatestIsMissingOrPointsNowhere() throws {
        let path = try F.scratchDirectory(self)
        let directory = CheckpointDirectory(path: path, keep: 5)
        for step in [7, 9, 8] { try directory.save(sample(step: step), step: step) }
        XCTAssertEqual(try directory.latestPath(), path + "/ckpt-00000008.safetensors", "latest names the last save")

        try FileManager.default.removeItem(atPath: path + "/latest")
        XCTAssertEqual(try directory.latestPath(), path + "/ckpt-00000009.safetensors", "newest step without a pointer")

        try "ckpt-00000042.safetensors\n".write(toFile: path + "/latest", atomically: false, encoding: .utf8)
        let latest = try XCTUnwrap(directory.loadLatest())
        XCTAssertEqual(latest.path, path + "/ckpt-00000009.safetensors")
        XCTAssertEqual(latest.skipped.first?.problem, "no such file")

        // The pointer may not lead outside the directory.
        try "../../etc/passwd".write(toFile: path + "/latest", atomically: false, encoding: .utf8)
        let escaped = try XCTUnwrap(directory.loadLatest())
        XCTAssertEqual(escaped.path, path + "/ckpt-00000009.safetensors")
        XCTAssertEqual(escaped.skipped.first?.problem, "does not name a checkpoint file (holds ../../etc/passwd)")
    }

    func testAllCorruptMeansNil() throws {
        let path = try F.scratchDirectory(self)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path + "/ckpt-00000001.safetensors"))
        let directory = CheckpointDirectory(path: path)
        XCTAssertNil(try directory.loadLatest())
    }

    func testTemporaryFilesAreIgnoredAndRemoved() throws {
        let path = try F.scratchDirectory(self)
        let directory = CheckpointDirectory(path: path, keep: 1)
        try directory.save(sample(step: 5), step: 5)
        // A crashed writer's leftovers, for a later step, even holding a complete checkpoint.
        let leftovers = [".ckpt-00000006.safetensors.tmp-999-abc", ".latest.tmp-999-def"]
        try Data(sample(step: 6).encode()).write(to: URL(fileURLWithPath: path + "/" + leftovers[0]))
        try Data("ckpt-00000006.safetensors".utf8).write(to: URL(fileURLWithPath: path + "/" + leftovers[1]))

        XCTAssertEqual(try directory.latestPath(), path + "/ckpt-00000005.safetensors")
        try directory.save(sample(step: 7), step: 7)
        XCTAssertEqual(F.listing(path), leftovers.sorted() + ["ckpt-00000007.safetensors", "latest"], "pruning skips temporary files")

        XCTAssertEqual(directory.removeStaleTempFiles(), leftovers.sorted())
        XCTAssertEqual(F.listing(path), ["ckpt-00000007.safetensors", "latest"])
    }

    func testBestIsSeparateFromKeepAndLatest() throws {
        let path = try F.scratchDirectory(self)
        let directory = CheckpointDirectory(path: path, keep: 1)
        let bestPath = try directory.saveBest(sample(step: 1))
        XCTAssertEqual(bestPath, path + "/best.safetensors")
        XCTAssertNil(try directory.latestPath(), "best is not a resume point")
        for step in [2, 3] { try directory.save(sample(step: step), step: step) }
        XCTAssertEqual(F.listing(path), ["best.safetensors", "ckpt-00000003.safetensors", "latest"])
        XCTAssertEqual(try CheckpointFile.read(path: bestPath).metadata["step"], "1")
        try directory.saveBest(sample(step: 3))
        XCTAssertEqual(try CheckpointFile.read(path: bestPath).metadata["step"], "3")
    }

    func testCheckWritable() throws {
        let path = try F.scratchDirectory(self)
        let nested = CheckpointDirectory(path: path + "/a/b/run")
        XCTAssertNoThrow(try nested.checkWritable())
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + "/a/b/run", isDirectory: &isDirectory) && isDirectory.boolValue)
        XCTAssertEqual(F.listing(path + "/a/b/run"), [], "the probe file is removed")

        try Data([0]).write(to: URL(fileURLWithPath: path + "/file"))
        XCTAssertThrowsError(try CheckpointDirectory(path: path + "/file").checkWritable()) { error in
            XCTAssertEqual(error as? CheckpointError, CheckpointError(path: path + "/file", problem: "checkpoint directory is a file, not a directory"))
        }
        XCTAssertThrowsError(try CheckpointDirectory(path: path + "/file/run").checkWritable()) { error in
            let error = error as? CheckpointError
            XCTAssertEqual(error?.path, path + "/file/run")
            XCTAssertTrue(error?.problem.hasPrefix("cannot create checkpoint directory: ") ?? false, "\(String(describing: error))")
            XCTAssertFalse(error?.description.contains("\n") ?? true)
        }
        XCTAssertThrowsError(try CheckpointDirectory(path: path + "/file").latestPath())
    }
}
