import Foundation
import Tandem
import XCTest

/// `AtomicFile.write` replaces a file whole or not at all. The tests run as root, for whom
/// permission bits mean nothing, so failures are provoked in ways that stop root too: a
/// parent that is a regular file or does not exist, a target that is a directory, and a
/// file-size limit (RLIMIT_FSIZE) that makes the write itself fail part-way, like a full disk.
final class CheckpointAtomicFileTests: XCTestCase {
    func testWritesAndReplacesWithoutLeavingTemporaryFiles() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        let path = directory + "/file.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        XCTAssertEqual(try readFile(path), [1, 2, 3])
        try AtomicFile.write([9, 8], to: path)
        XCTAssertEqual(try readFile(path), [9, 8])
        try AtomicFile.write([], to: path)
        XCTAssertEqual(try readFile(path), [])
        XCTAssertEqual(CheckpointFixtures.listing(directory), ["file.bin"])
    }

    func testRelativePathInCurrentDirectory() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(directory))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        try AtomicFile.write([7], to: "relative.bin")
        XCTAssertEqual(try readFile(directory + "/relative.bin"), [7])
    }

    func testParentIsARegularFile() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        try AtomicFile.write([0], to: directory + "/plain")
        let path = directory + "/plain/file.bin"
        XCTAssertThrowsError(try AtomicFile.write([1], to: path)) { error in
            let error = error as? CheckpointError
            XCTAssertEqual(error?.path, path)
            XCTAssertTrue(error?.problem.hasPrefix("cannot create temporary file .file.bin.tmp-") ?? false, "\(String(describing: error))")
            XCTAssertTrue(error?.problem.hasSuffix(": Not a directory") ?? false, "\(String(describing: error))")
        }
        XCTAssertEqual(CheckpointFixtures.listing(directory), ["plain"])
    }

    func testParentDoesNotExist() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        XCTAssertThrowsError(try AtomicFile.write([1], to: directory + "/missing/file.bin")) { error in
            XCTAssertTrue((error as? CheckpointError)?.description.hasSuffix(": No such file or directory") ?? false, "\(error)")
        }
    }

    func testTargetIsADirectoryIsLeftAlone() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        let target = directory + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try AtomicFile.write([5], to: target + "/inside")
        XCTAssertThrowsError(try AtomicFile.write([1, 2, 3], to: target)) { error in
            XCTAssertTrue((error as? CheckpointError)?.problem.hasPrefix("cannot rename temporary file .target.tmp-") ?? false, "\(error)")
        }
        XCTAssertEqual(CheckpointFixtures.listing(directory), ["target"], "temporary file removed")
        XCTAssertEqual(try readFile(target + "/inside"), [5])
        XCTAssertThrowsError(try AtomicFile.write([1], to: directory + "/")) { error in
            XCTAssertEqual((error as? CheckpointError)?.problem, "cannot write: the path names a directory, not a file")
        }
    }

    /// A write that fails part-way (as on a full disk) leaves the old file intact and no
    /// temporary file behind. RLIMIT_FSIZE applies to root, unlike permissions.
    func testFailedWriteLeavesOldFileIntact() throws {
        let directory = try CheckpointFixtures.scratchDirectory(self)
        let path = directory + "/checkpoint.safetensors"
        let old = CheckpointFixtures.sample().encode()
        try AtomicFile.write(old, to: path)

        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        // Exceeding the limit raises SIGXFSZ, which would kill the process; ignored, the
        // write fails with EFBIG instead.
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var limited = saved
        limited.rlim_cur = 4096
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited), 0)
        let result = Result { try AtomicFile.write([UInt8](repeating: 0xAB, count: 1 << 20), to: path) }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, previousHandler)

        XCTAssertThrowsError(try result.get()) { error in
            let error = error as? CheckpointError
            XCTAssertEqual(error?.path, path)
            XCTAssertTrue(error?.problem.hasPrefix("cannot write temporary file .checkpoint.safetensors.tmp-") ?? false, "\(String(describing: error))")
            XCTAssertTrue(error?.problem.hasSuffix(": File too large") ?? false, "\(String(describing: error))")
        }
        XCTAssertEqual(try readFile(path), old, "the old file is untouched")
        XCTAssertEqual(CheckpointFixtures.listing(directory), ["checkpoint.safetensors"], "temporary file removed")
        XCTAssertNoThrow(try CheckpointFile.read(path: path))
    }

    func testTemporaryNamePattern() {
        XCTAssertTrue(AtomicFile.isTemporaryName(".ckpt-00000010.safetensors.tmp-123-abcdef"))
        XCTAssertTrue(AtomicFile.isTemporaryName(".latest.tmp-1-0"))
        XCTAssertFalse(AtomicFile.isTemporaryName("ckpt-00000010.safetensors"))
        XCTAssertFalse(AtomicFile.isTemporaryName("latest"))
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
