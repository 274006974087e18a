import Foundation
import Glibc

/// The checkpoints of one run, kept in one directory:
///
///     ckpt-00000100.safetensors   one file per saved step (step zero-padded to 8 digits)
///     ckpt-00000200.safetensors
///     latest                      a one-line text file naming the newest checkpoint
///     best.safetensors            optionally, the best model so far (see `saveBest`)
///
/// Every file is replaced atomically (`AtomicFile`), and `latest` is updated only after the
/// checkpoint it names is safely on disk, so a crash at any moment leaves `latest` naming a
/// complete checkpoint. Only the newest `keep` step checkpoints are kept.
///
/// Only one process (rank 0) should write to a directory at a time.
public struct CheckpointDirectory {
    /// The run directory.
    public let path: String
    /// How many step checkpoints to keep; at least 1.
    public let keep: Int

    /// File names used inside the directory.
    public static let latestPointerName = "latest"
    /// The best model so far by validation loss, kept apart from the step checkpoints and never pruned.
    public static let bestName = "best.safetensors"

    /// `keep` below 1 is treated as 1: the checkpoint just written is never deleted.
    public init(path: String, keep: Int = 3) {
        self.path = path
        self.keep = max(1, keep)
    }

    // MARK: Names

    /// `ckpt-00000100.safetensors` for step 100 (more digits past 99,999,999 steps).
    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "ckpt-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".safetensors"
    }

    /// The step a checkpoint file name stands for, or nil if the name is not one.
    /// Temporary files (`.ckpt-....tmp-...`) start with a dot and so never match.
    public static func step(fromFileName name: String) -> Int? {
        let prefix = "ckpt-", suffix = ".safetensors"
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// The full path of a file in the directory.
    public func filePath(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    // MARK: Writing

    /// Creates the directory if needed and proves a file can be created in it, so that a
    /// run with an unusable checkpoint directory fails at start-up, not hours later at its
    /// first save.
    public func checkWritable() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CheckpointError(path: path, problem: "checkpoint directory is a file, not a directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw CheckpointError(path: path, problem: "cannot create checkpoint directory: \(Self.reason(error))")
            }
        }
        // A real write, not an access() check: access() ignores read-only mounts' quirks,
        // full disks and, for root, permissions.
        let probe = filePath(".write-test-\(getpid())")
        do {
            try AtomicFile.write(Array("ok\n".utf8), to: probe)
        } catch let error as CheckpointError {
            throw CheckpointError(path: path, problem: "checkpoint directory is not writable (\(error.problem))")
        }
        unlink(probe)
    }

    /// Saves `file` as the checkpoint for `step`, points `latest` at it, then deletes old
    /// checkpoints beyond the newest `keep`. Returns the checkpoint's path.
    ///
    /// The checkpoint just written is never deleted, even if files for later steps exist
    /// (as after resuming from an earlier checkpoint): it is kept along with the newest
    /// `keep - 1` others.
    @discardableResult
    public func save(_ file: CheckpointFile, step: Int) throws -> String {
        guard step >= 0 else {
            throw CheckpointError(path: path, problem: "cannot save a checkpoint for negative step \(step)")
        }
        let name = Self.fileName(step: step)
        let checkpointPath = filePath(name)
        try AtomicFile.write(file.encode(), to: checkpointPath)
        try AtomicFile.write(Array((name + "\n").utf8), to: filePath(Self.latestPointerName))
        try removeOldCheckpoints(keeping: name)
        return checkpointPath
    }

    /// Saves `file` as `best.safetensors` (atomically; not counted against `keep`).
    /// Returns its path.
    @discardableResult
    public func saveBest(_ file: CheckpointFile) throws -> String {
        let bestPath = filePath(Self.bestName)
        try AtomicFile.write(file.encode(), to: bestPath)
        return bestPath
    }

    /// Deletes step checkpoints beyond the newest `keep`, sparing `current`.
    private func removeOldCheckpoints(keeping current: String) throws {
        let others = try checkpointNames().filter { $0.name != current }
        for old in others.dropFirst(keep - 1) {
            let oldPath = filePath(old.name)
            if unlink(oldPath) != 0 && errno != ENOENT {
                throw CheckpointError(path: oldPath, problem: "checkpoint saved, but this old one cannot be removed: \(PosixIO.errorText(errno))")
            }
        }
    }

    /// Deletes temporary files left by a writer that died mid-write. Call at start-up, before
    /// this process writes anything. Returns the names removed; failures are ignored, as the
    /// files are harmless apart from the space they take.
    @discardableResult
    public func removeStaleTempFiles() -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        var removed: [String] = []
        for name in names.sorted() where AtomicFile.isTemporaryName(name) || name.hasPrefix(".write-test-") {
            if unlink(filePath(name)) == 0 { removed.append(name) }
        }
        return removed
    }

    // MARK: Reading

    /// The checkpoint to resume from, with how it was found.
    public struct Latest {
        /// Path of the checkpoint that was read.
        public var path: String
        /// The decoded, validated checkpoint.
        public var file: CheckpointFile
        /// Why newer candidates were passed over (a broken `latest` pointer, a corrupt
        /// file, ...), newest first; empty when `latest` named a good checkpoint. Worth
        /// printing as a warning.
        public var skipped: [CheckpointError]
    }

    /// The newest usable checkpoint, decoded: the one `latest` names if it is present and
    /// valid, otherwise the newest `ckpt-*.safetensors` that decodes. Nil when there is none
    /// (including when the directory does not exist). Throws only if the directory exists
    /// but cannot be listed.
    public func loadLatest() throws -> Latest? {
        var skipped: [CheckpointError] = []
        var tried = Set<String>()

        if let pointed = try pointerTarget(skipped: &skipped) {
            tried.insert(pointed)
            do {
                let file = try CheckpointFile.read(path: filePath(pointed))
                return Latest(path: filePath(pointed), file: file, skipped: skipped)
            } catch let error as CheckpointError {
                skipped.append(error)
            }
        }
        for candidate in try checkpointNames() where !tried.contains(candidate.name) {
            do {
                let file = try CheckpointFile.read(path: filePath(candidate.name))
                return Latest(path: filePath(candidate.name), file: file, skipped: skipped)
            } catch let error as CheckpointError {
                skipped.append(error)
            }
        }
        return nil
    }

    /// The path of the newest usable checkpoint (see `loadLatest`), or nil if there is none.
    public func latestPath() throws -> String? {
        try loadLatest()?.path
    }

    /// The checkpoint file name in `latest`, or nil (noting why in `skipped`) when the pointer
    /// is missing, unreadable or does not hold a checkpoint file name.
    private func pointerTarget(skipped: inout [CheckpointError]) throws -> String? {
        let pointerPath = filePath(Self.latestPointerName)
        guard FileManager.default.fileExists(atPath: pointerPath) else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try PosixIO.readWholeFile(pointerPath)
        } catch let error as CheckpointError {
            skipped.append(error)
            return nil
        }
        // Accept only a bare checkpoint name: the pointer must not lead outside the directory.
        let text = String(decoding: bytes.prefix(256), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Self.step(fromFileName: text) != nil else {
            skipped.append(CheckpointError(path: pointerPath, problem: "does not name a checkpoint file (holds \(HeaderJSON.displayed(text)))"))
            return nil
        }
        return text
    }

    /// The step checkpoints present, newest step first. Empty if the directory is missing.
    func checkpointNames() throws -> [(name: String, step: Int)] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else {
            throw CheckpointError(path: path, problem: "checkpoint directory is a file, not a directory")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw CheckpointError(path: path, problem: "cannot list checkpoint directory: \(Self.reason(error))")
        }
        return names.compactMap { name in Self.step(fromFileName: name).map { (name, $0) } }
            .sorted { ($0.step, $0.name) > ($1.step, $1.name) }
    }

    /// A Foundation error's reason, on one line.
    private static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return PosixIO.errorText(Int32(underlying.code))
        }
        return nsError.localizedDescription.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
