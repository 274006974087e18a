import Glibc

/// Replaces a file's contents all at once, so that after a crash or power cut the file holds
/// either its old contents or its new contents, never a torn mixture.
///
/// The recipe: write a temporary file in the same directory (so the rename below stays
/// within one file system), `fsync` it so its data is on disk, `rename` it over the target
/// (atomic on POSIX), then `fsync` the directory so the rename itself is durable.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically. On any failure it throws a one-line
    /// `CheckpointError` naming `path` and the system's reason, removes its temporary file,
    /// and leaves an existing file at `path` exactly as it was.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let (directory, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw CheckpointError(path: path, problem: "cannot write: the path names a directory, not a file")
        }
        let temporaryName = "." + name + ".tmp-\(getpid())-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let temporaryPath = directory.hasSuffix("/") ? directory + temporaryName : directory + "/" + temporaryName

        func failure(_ step: String, _ code: Int32) -> CheckpointError {
            CheckpointError(path: path, problem: "\(step): \(PosixIO.errorText(code))")
        }

        // O_EXCL: never reuse (and so never clobber) an existing file by the same name.
        let fd = PosixIO.retryingOnInterrupt {
            open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw failure("cannot create temporary file \(temporaryName)", errno) }

        // From here until the rename succeeds, any exit removes the temporary file.
        var renamed = false
        defer { if !renamed { unlink(temporaryPath) } }

        if let code = bytes.withUnsafeBytes({ PosixIO.writeAll(fd, $0) }) {
            close(fd)
            throw failure("cannot write temporary file \(temporaryName)", code)
        }
        guard fsync(fd) == 0 else {
            let code = errno
            close(fd)
            throw failure("cannot flush temporary file \(temporaryName) to disk", code)
        }
        // Some file systems (NFS) report deferred write errors only at close.
        guard close(fd) == 0 else { throw failure("cannot close temporary file \(temporaryName)", errno) }
        guard rename(temporaryPath, path) == 0 else {
            throw failure("cannot rename temporary file \(temporaryName) over it", errno)
        }
        renamed = true

        try syncDirectory(directory, for: path)
    }

    /// Makes a completed rename durable by flushing the directory entry itself.
    static func syncDirectory(_ directory: String, for path: String) throws {
        let fd = PosixIO.retryingOnInterrupt { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else {
            throw CheckpointError(path: path, problem: "written, but cannot open its directory to flush it: \(PosixIO.errorText(errno))")
        }
        defer { close(fd) }
        // EINVAL / ENOTSUP: the file system does not sync directories (nothing to do there).
        if fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP {
            throw CheckpointError(path: path, problem: "written, but cannot flush its directory to disk: \(PosixIO.errorText(errno))")
        }
    }

    /// Whether a file name is one of this writer's temporary files (`.<name>.tmp-<pid>-<hex>`),
    /// left behind only if the process died mid-write.
    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(".tmp-")
    }

    /// The directory part (`.` when there is none) and the last component of a path.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
