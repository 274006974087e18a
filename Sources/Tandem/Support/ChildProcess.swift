import Foundation
import Glibc

/// A child process in a process group of its own, so that a terminal's Ctrl-C reaches only
/// its parent, which decides what the child is told (Foundation's `Process` keeps the
/// parent's group).
public final class ChildProcess {
    /// The child's process id, which is also the id of its process group.
    public let pid: pid_t

    /// Starts `executable` with `arguments`, inheriting stdin, stdout and stderr.
    public init(executable: String, arguments: [String], environment: [String: String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // The parent may ignore signals it handles through dispatch sources; the child must not.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGUSR1, SIGHUP] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, nil, &attributes, argv, envp)
        guard status == 0 else {
            throw CommunicationError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// Sends `signal` (e.g. `SIGTERM`) to the child process alone, not to its group.
    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the child to end: its exit status, or 128 + the signal that ended it.
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return ChildProcess.exitStatus(status)
    }

    /// Waits at most `seconds`; nil when the child is still running then.
    public func wait(timeout seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return ChildProcess.exitStatus(status) }
            usleep(100_000)
        }
        return nil
    }

    private static func exitStatus(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Finds `name` on the PATH.
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }
}
