import Foundation
import Tandem
import XCTest

/// What a finished child process left behind.
struct JobResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
    var seconds: Double
    /// The non-empty lines of stderr.
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    /// Everything, for assertion messages.
    var summary: String {
        "exit \(status)\(timedOut ? " (timed out)" : "")\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
    /// stderr lines written by tandem itself (mpirun adds its own banners around them).
    var tandemErrorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("tandem:") } }
    var looksLikeCrash: Bool {
        ["Fatal error", "Stack dump", "Backtrace", "SIGSEGV", "Current stack trace", "signal 11", "Segmentation"]
            .contains { stderr.contains($0) || stdout.contains($0) }
    }
}

/// Runs the built `tandem` binary, plainly or under a real `mpirun`, the way a user would.
enum TandemBinary {
    /// The package root: the nearest directory above this file holding Package.swift.
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url = url.deletingLastPathComponent()
        }
        return url
    }()

    /// `TANDEM_BIN` if set, else the release build (scripts/test builds it before the tests).
    static var path: String {
        ProcessInfo.processInfo.environment["TANDEM_BIN"] ?? packageRoot.appendingPathComponent(".build/release/tandem").path
    }

    /// The child's environment: ours, minus Open MPI's per-process variables (a child mpirun
    /// that inherits them exits at once, see FACTS), plus permission to run as root.
    static var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        return env
    }

    /// A bash command with its output in files rather than pipes, its own process group, and a
    /// hard timeout that kills the group (a test must fail, never hang).
    static func shell(_ command: String, timeout: Double = 60) throws -> JobResult {
        let output = NSTemporaryDirectory() + "tandem-shell-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: output + ".out"); try? FileManager.default.removeItem(atPath: output + ".err") }
        let child = try ChildProcess(executable: "/bin/bash", arguments: ["-c", "{ \(command) ; } >'\(output).out' 2>'\(output).err' </dev/null"],
                                     environment: environment)
        var status = child.wait(timeout: timeout)
        if status == nil { kill(-child.pid, SIGKILL); status = child.wait(timeout: 10) }
        XCTAssertNotNil(status, "timed out: \(command)")
        let read = { (suffix: String) in (try? String(contentsOfFile: output + suffix, encoding: .utf8)) ?? "" }
        return JobResult(status: status ?? 137, stdout: read(".out"), stderr: read(".err"), timedOut: status == nil, seconds: 0)
    }

    static func run(_ arguments: [String], timeout: Double = 300) throws -> JobResult {
        try launch(executable: path, arguments: arguments, timeout: timeout)
    }

    /// `mpirun -np N tandem ARGS` (oversubscribed when N exceeds the cores).
    static func mpirun(_ ranks: Int, _ arguments: [String], extra: [String] = [], timeout: Double = 300) throws -> JobResult {
        try launch(executable: "/usr/bin/mpirun", arguments: mpirunArguments(ranks, extra: extra) + [path] + arguments, timeout: timeout)
    }

    static func mpirunArguments(_ ranks: Int, extra: [String] = []) -> [String] {
        var args = ["-np", "\(ranks)"]
        if ranks > ProcessInfo.processInfo.activeProcessorCount { args += ["--oversubscribe", "--bind-to", "none"] }
        return args + extra
    }

    /// Starts a process and returns it running (for tests that act on it while it works).
    static func start(executable: String, arguments: [String]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = packageRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return (process, out, err)
    }

    static func launch(executable: String, arguments: [String], timeout: Double) throws -> JobResult {
        let started = Date()
        let (process, out, err) = try start(executable: executable, arguments: arguments)
        // Drain both pipes while waiting, so a chatty child never blocks on a full pipe.
        let stdout = PipeReader(out), stderr = PipeReader(err)
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(started) > timeout {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        // Every wait below is bounded: a killed mpirun may leave ranks that still hold the
        // pipes, and a test must fail, never hang.
        let exited = ProcessTable.waitForExit(process, timeout: 10)
        let grace = Date().addingTimeInterval(timedOut ? 5 : 30)
        return JobResult(status: exited ? process.terminationStatus : 137, stdout: stdout.text(waitingUntil: grace),
                         stderr: stderr.text(waitingUntil: grace), timedOut: timedOut || !exited,
                         seconds: Date().timeIntervalSince(started))
    }

    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase, _ label: String = "run") -> String {
        let path = NSTemporaryDirectory() + "tandem-\(label)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}

/// Reads `metrics.jsonl` as an array of records.
func readMetrics(_ runDirectory: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
    return try text.split(separator: "\n").map {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

/// Reads a pipe to its end on a thread of its own; what was read so far can be taken at any time.
final class PipeReader {
    private let lock = NSLock()
    private var data = Data()
    private var ended = false

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                lock.lock()
                if chunk.isEmpty { ended = true } else { data.append(chunk) }
                lock.unlock()
                if chunk.isEmpty { return }
            }
        }
    }

    /// The text read once the pipe has ended, or by `deadline`, whichever is first.
    func text(waitingUntil deadline: Date) -> String {
        while Date() < deadline {
            lock.lock(); let done = ended; lock.unlock()
            if done { break }
            usleep(10_000)
        }
        lock.lock(); defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}
