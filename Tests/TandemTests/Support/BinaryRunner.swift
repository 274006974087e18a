import Foundation
import XCTest

/// What a finished (or killed) child process left behind.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool

    /// The non-empty lines of stderr.
    var stderrLines: [String] {
        stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    var summary: String {
        "exit \(status)\(timedOut ? " (timed out)" : "")\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
}

/// Runs the built `tandem` binary (or any executable) for integration tests.
enum BinaryRunner {
    /// The package root: the nearest directory above this file that holds Package.swift.
    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        fatalError("no Package.swift above \(#filePath)")
    }

    /// `$TANDEM_BIN` if set (absolute, or relative to the package root), else `.build/release/tandem`.
    static var tandemPath: String {
        if let override = ProcessInfo.processInfo.environment["TANDEM_BIN"], !override.isEmpty {
            return override.hasPrefix("/") ? override : packageRoot.appendingPathComponent(override).path
        }
        return packageRoot.appendingPathComponent(".build/release/tandem").path
    }

    /// The tandem binary, or a test failure explaining how to build it.
    static func tandem(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let path = tandemPath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            XCTFail("tandem binary not found at \(path): run `swift build -c release` first, or set TANDEM_BIN",
                    file: file, line: line)
            throw XCTSkip("tandem binary missing")
        }
        return path
    }

    /// The environment for a child: this process's, without the Open MPI / PMIx variables that
    /// would make the child believe it was started by `mpirun` (see FACTS).
    static func childEnvironment(extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("OMPI_") && !key.hasPrefix("PMIX_")
        }
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs `executable` with `arguments`, capturing both streams. After `timeout` seconds the
    /// child is sent SIGTERM, then SIGKILL a second later, and `timedOut` is set.
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60,
                    environment: [String: String]? = nil, currentDirectory: URL? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment ?? childEnvironment()
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice

        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()

        // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let stdoutBox = Box(), stderrBox = Box()
        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) { stdoutBox.data = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { stderrBox.data = err.fileHandleForReading.readDataToEndOfFile() }

        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            if finished.wait(timeout: .now() + 1) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
            }
        }
        readers.wait()
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: stdoutBox.data, as: UTF8.self),
                             stderr: String(decoding: stderrBox.data, as: UTF8.self),
                             timedOut: timedOut)
    }

    /// Runs the tandem binary.
    static func runTandem(_ arguments: [String], timeout: TimeInterval = 60,
                          file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try run(try tandem(file: file, line: line), arguments, timeout: timeout)
    }
}
