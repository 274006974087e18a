import Glibc

/// Thin wrappers over the POSIX calls the checkpoint code needs, turning `errno` into
/// one-line `CheckpointError`s. Plain POSIX (rather than Foundation's file APIs) because
/// durable writes need `fsync` on files and directories, and error messages should carry
/// the system's reason (`No space left on device`) rather than a generic failure.
enum PosixIO {
    /// The system's text for an `errno` value, e.g. "Permission denied".
    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Every byte of the file at `path`.
    static func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = retryingOnInterrupt { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            let code = errno
            throw CheckpointError(path: path, problem: code == ENOENT ? "no such file" : "cannot open for reading: \(errorText(code))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError(path: path, problem: "cannot inspect file: \(errorText(errno))")
        }
        guard (info.st_mode & S_IFMT) != S_IFDIR else {
            throw CheckpointError(path: path, problem: "is a directory, not a checkpoint file")
        }
        var bytes: [UInt8] = []
        if info.st_size > 0 && info.st_size < Int.max { bytes.reserveCapacity(Int(info.st_size)) }
        // Read until end of file rather than trusting st_size: the size is only a hint.
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { read(fd, buffer.baseAddress, buffer.count) }
            }
            guard count >= 0 else {
                throw CheckpointError(path: path, problem: "read failed: \(errorText(errno))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// Writes all of `bytes` to `fd`, continuing after short writes. Returns the `errno` of a
    /// failed write, or nil when everything was written.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        guard let base = bytes.baseAddress else { return nil }
        var written = 0
        while written < bytes.count {
            // Cap each call at 1 GiB: Linux writes at most about 2 GiB per call anyway.
            let request = min(bytes.count - written, 1 << 30)
            let count = retryingOnInterrupt { write(fd, base + written, request) }
            if count < 0 { return errno }
            // A zero-byte write of a non-empty request means the device took nothing; treat
            // it as full rather than looping forever.
            if count == 0 { return ENOSPC }
            written += count
        }
        return nil
    }

    /// Repeats a system call that failed only because a signal interrupted it.
    static func retryingOnInterrupt<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result < 0 && errno == EINTR { continue }
            return result
        }
    }
}
