import Foundation
import Glibc

/// A run directory belongs to one job at a time. Rank 0 holds an exclusive `flock` on the
/// directory's `lock` file for as long as the job runs; the file says who holds it (host,
/// process id, start time), for the message a second job gets.
///
/// The kernel drops the lock when its process ends, however it ends (a crash, SIGKILL, a lost
/// node's processes killed), so a lock left by a dead job is no obstacle: the next job simply
/// takes it. Two jobs on one directory would mix each other's checkpoints and tear
/// `metrics.jsonl`, and the second could delete the first's temporary checkpoint; this way
/// the second is refused before it touches anything.
public final class RunDirectoryLock {
    /// The lock file's name inside the run directory.
    public static let fileName = "lock"
    /// The lock file's path.
    public let path: String
    private let descriptor: Int32

    /// Takes the lock of `directory` (which must exist) or throws, naming the job that holds it.
    public init(directory: String) throws {
        path = directory.hasSuffix("/") ? directory + Self.fileName : directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TrainingConfig.Invalid(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let problem = errno
            let owner = Self.owner(fd)
            close(fd)
            if problem == EWOULDBLOCK {
                throw TrainingConfig.Invalid(description: "run directory \(directory) is in use by another job (\(owner)); "
                                             + "wait for it to end, or give another --run-dir")
            }
            throw TrainingConfig.Invalid(description: "cannot lock \(path): \(String(cString: strerror(problem)))")
        }
        descriptor = fd
        let started = ISO8601DateFormatter().string(from: Date())
        let text = "host \(ProcessInfo.processInfo.hostName) pid \(getpid()) since \(started)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// What the lock file says about its holder.
    private static func owner(_ fd: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 256)
        let count = pread(fd, &bytes, bytes.count, 0)
        guard count > 0 else { return "holder unknown" }
        return String(decoding: bytes[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
