import Foundation
import Tandem
import XCTest

/// The multi-host path without a second machine: `scripts/netns-test` builds two network
/// namespaces joined by a veth pair (10.231.77.1 "tandem-a", 10.231.77.2 "tandem-b"), runs
/// `mpirun` in the first and starts the second rank's daemon in the other through
/// `cluster/netns-agent` (Open MPI's ssh stand-in), with only the TCP transport allowed on
/// 10.231.77.0/24. The job must train exactly as the same job does on one host.
final class TwoHostTests: XCTestCase {
    struct Outcome {
        var parameters: [Float]; var losses: [Double]; var worldSize: Int?; var reduce: String?
        /// Each logged step's per-layer gradient norms (rank 0's health probe, which reads the
        /// global gradient however the ranks summed it).
        var gradientNorms: [[Double]]
    }

    static let steps = 30

    func trainingArguments(_ run: String) -> [String] {
        ["train", "--max-steps", "\(Self.steps)", "--global-batch", "128", "--train-subset", "5000", "--seed", "3",
         "--log-every", "1", "--run-dir", run, "--quiet", "--threads", "1"]
    }

    func outcome(_ run: String) throws -> Outcome {
        let records = try readMetrics(run)
        let losses = records.filter { $0["event"] as? String == "step" }.compactMap { $0["loss"] as? Double }
        let start = records.first { $0["event"] as? String == "start" }
        let latest = try XCTUnwrap(CheckpointDirectory(path: run, keep: 3).latestPath(), "a final checkpoint must exist in \(run)")
        let file = try CheckpointFile.read(path: latest)
        let parameters = file.tensors.filter { !$0.name.hasPrefix("optim.") }.flatMap(\.values)
        let norms = records.filter { $0["event"] as? String == "layers" }.map { record in
            ((record["layers"] as? [[String: Any]]) ?? []).compactMap { $0["grad_norm"] as? Double }
        }
        return Outcome(parameters: parameters, losses: losses, worldSize: start?["world_size"] as? Int,
                       reduce: start?["reduce"] as? String, gradientNorms: norms)
    }

    func relative(_ a: [Float], _ b: [Float]) -> Double {
        var d = 0.0, n = 0.0
        for i in a.indices { d += pow(Double(a[i]) - Double(b[i]), 2); n += pow(Double(b[i]), 2) }
        return (d / n).squareRoot()
    }

    func assertClose(_ a: Outcome, _ b: Outcome, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.losses.count, Self.steps, label, file: file, line: line)
        XCTAssertEqual(b.losses.count, Self.steps, label, file: file, line: line)
        XCTAssertEqual(a.parameters.count, b.parameters.count, label, file: file, line: line)
        guard a.parameters.count == b.parameters.count, !a.parameters.isEmpty, a.losses.count == b.losses.count else { return }
        XCTAssertLessThan(relative(a.parameters, b.parameters), 1e-4, "\(label): final parameters", file: file, line: line)
        for (step, (x, y)) in zip(a.losses, b.losses).enumerated() {
            XCTAssertLessThan(abs(x - y) / abs(y), 1e-4, "\(label): loss of step \(step + 1): \(x) vs \(y)", file: file, line: line)
        }
        XCTAssertEqual(a.gradientNorms.count, Self.steps, "\(label): one layer record per step", file: file, line: line)
        XCTAssertEqual(a.gradientNorms.count, b.gradientNorms.count, label, file: file, line: line)
        for (step, (x, y)) in zip(a.gradientNorms, b.gradientNorms).enumerated() {
            XCTAssertEqual(x.count, y.count, "\(label): layers of step \(step + 1)", file: file, line: line)
            XCTAssertFalse(x.isEmpty, label, file: file, line: line)
            for (u, v) in zip(x, y) {
                XCTAssertLessThan(abs(u - v) / abs(v), 1e-3, "\(label): gradient norms of step \(step + 1): \(x) vs \(y)",
                                  file: file, line: line)
            }
        }
    }

    func lines(_ text: String, matching pattern: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern)
        return text.split(separator: "\n").map(String.init).filter {
            regex.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil
        }
    }

    func testTwoRanksOnTwoHostsOverTCPTrainLikeOneHost() throws {
        let script = TandemBinary.packageRoot.appendingPathComponent("scripts/netns-test").path
        let name = "tdm" + UUID().uuidString.prefix(8).lowercased()
        // The script removes its namespaces on exit; this covers a script killed by the timeout.
        addTeardownBlock {
            _ = try? TandemBinary.launch(executable: script, arguments: ["--cleanup", name], timeout: 30)
        }

        let twoHostRun = TandemBinary.temporaryDirectory(self, "twohost")
        let job = try TandemBinary.launch(
            executable: "/usr/bin/env",
            arguments: ["TANDEM_NETNS_NAME=\(name)", "TANDEM_NETNS_TIMEOUT=90", script,
                        "--display-map", "--mca", "btl_base_verbose", "30", "--", TandemBinary.path]
                + trainingArguments(twoHostRun),
            timeout: 120)
        if job.status == 77, let reason = job.stderr.split(separator: "\n").first(where: { $0.contains("netns-test: cannot test") }) {
            throw XCTSkip("no network namespaces on this machine, so no two-host test: \(reason)")
        }
        let output = job.stdout + "\n" + job.stderr
        XCTAssertFalse(job.timedOut, "the two-host job hung:\n\(output.suffix(4000))")
        XCTAssertEqual(job.status, 0, "two-host job:\n\(output.suffix(4000))")
        XCTAssertFalse(job.looksLikeCrash, output)

        // Evidence that the ranks really were two hosts talking TCP over the veth pair: Open MPI
        // mapped them to two nodes, each rank ran under its own hostname, each one's TCP transport
        // connected to the other's namespace address, and no connection went anywhere else.
        XCTAssertFalse(lines(output, matching: #"Data for node: tandem-a\s"#).isEmpty, "rank 0's node in the map:\n\(output)")
        XCTAssertFalse(lines(output, matching: #"Data for node: 10\.231\.77\.2\s"#).isEmpty, "rank 1's node in the map:\n\(output)")
        // Open MPI logs a connection as "now connected to" once its handshake is acknowledged, and
        // the initiating side as "connect() to … completed" before that; a job may end before the
        // acknowledgement's line is printed, so either line is evidence of the connection.
        let aToB = #"^\[tandem-a:\d+\] btl:tcp: (now connected to 10\.231\.77\.2, process \[\[\d+,\d+\],1\]|connect\(\) to 10\.231\.77\.2:\d+ completed)"#
        let bToA = #"^\[tandem-b:\d+\] btl:tcp: (now connected to 10\.231\.77\.1, process \[\[\d+,\d+\],0\]|connect\(\) to 10\.231\.77\.1:\d+ completed)"#
        XCTAssertFalse(lines(output, matching: aToB).isEmpty, "rank 0 on tandem-a must connect to rank 1 at 10.231.77.2 over TCP:\n\(output)")
        XCTAssertFalse(lines(output, matching: bToA).isEmpty, "rank 1 on tandem-b must connect to rank 0 at 10.231.77.1 over TCP:\n\(output)")
        let connections = lines(output, matching: #"btl:tcp: now connected to "#)
        XCTAssertFalse(connections.isEmpty)
        for line in connections {
            XCTAssertTrue(line.contains("connected to 10.231.77.1,") || line.contains("connected to 10.231.77.2,"),
                          "a connection outside the namespaces' subnet: \(line)")
        }
        XCTAssertTrue(lines(output, matching: #"select: initializing btl component (?!tcp$|self$)"#).isEmpty,
                      "only the tcp and self transports may be loaded:\n\(output)")
        let twoHosts = try outcome(twoHostRun)
        XCTAssertEqual(twoHosts.worldSize, 2)
        XCTAssertEqual(twoHosts.reduce, "mpi", "ranks on two hosts cannot share memory")

        // The same training on one host: two ranks under plain mpirun (shared memory), and one process.
        let hostRun = TandemBinary.temporaryDirectory(self, "onehost")
        let host = try TandemBinary.mpirun(2, trainingArguments(hostRun), timeout: 120)
        XCTAssertEqual(host.status, 0, "mpirun -np 2 on one host: \(host.stderr)")
        let singleRun = TandemBinary.temporaryDirectory(self, "single")
        let single = try TandemBinary.run(trainingArguments(singleRun), timeout: 120)
        XCTAssertEqual(single.status, 0, "one process: \(single.stderr)")

        let oneHost = try outcome(hostRun), oneProcess = try outcome(singleRun)
        XCTAssertEqual(oneHost.worldSize, 2)
        XCTAssertEqual(oneHost.reduce, "shared-memory")
        XCTAssertEqual(oneProcess.worldSize, 1)
        if let first = twoHosts.losses.first, let last = twoHosts.losses.last {
            XCTAssertLessThan(last, first * 0.8, "training must move the weights")
        }
        assertClose(twoHosts, oneHost, "two hosts vs mpirun -np 2 on one host")
        assertClose(twoHosts, oneProcess, "two hosts vs one process")
    }

    /// A network link cut between the hosts mid-training: no hang. Each rank's watchdog ends it
    /// after --collective-timeout with the line that names the unreachable rank, and Open MPI's
    /// daemons, kept alive by TCP keepalive, end the job soon after.
    func testACutLinkEndsTheJobWithTheWatchdogsLine() throws {
        let script = TandemBinary.packageRoot.appendingPathComponent("scripts/netns-test").path
        let name = "tdm" + UUID().uuidString.prefix(8).lowercased()
        addTeardownBlock { _ = try? TandemBinary.launch(executable: script, arguments: ["--cleanup", name], timeout: 30) }
        let run = TandemBinary.temporaryDirectory(self, "cut")
        let (process, _, err) = try TandemBinary.start(
            executable: "/usr/bin/env",
            arguments: ["TANDEM_NETNS_NAME=\(name)", "TANDEM_NETNS_TIMEOUT=100", script, TandemBinary.path, "train",
                        "--epochs", "100", "--quiet", "--log-every", "1", "--collective-timeout", "5", "--run-dir", run])
        addTeardownBlock { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        ProcessTable.waitForTraining(in: run)
        guard process.isRunning else {
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if process.terminationStatus == 77 { throw XCTSkip("no network namespaces on this machine: \(stderr)") }
            return XCTFail("the two-host job ended before the link was cut: \(stderr)")
        }
        usleep(UInt32.random(in: 200_000...1_000_000))
        let cut = try TandemBinary.launch(executable: "/sbin/ip", arguments: ["-n", "\(name)-a", "link", "set", "tandem0", "down"],
                                          timeout: 10)
        XCTAssertEqual(cut.status, 0, cut.summary)
        let cutAt = Date()
        let ended = ProcessTable.waitForExit(process, timeout: 45)
        XCTAssertTrue(ended, "the job must end after the link is cut, not hang")
        if !ended { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        let seconds = Date().timeIntervalSince(cutAt)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertNotEqual(process.terminationStatus, 0)
        let lines = stderr.split(separator: "\n").filter { $0.hasPrefix("tandem:") }
        XCTAssertEqual(lines.count, 1, stderr)
        XCTAssertTrue(lines.first?.hasPrefix("tandem: error: collective timed out: rank 0 waited ") ?? false, stderr)
        XCTAssertTrue(lines.first?.contains("rank 1 (host tandem-b, pid ") ?? false, stderr)
        XCTAssertTrue(lines.first?.contains("has sent no heartbeat for") ?? false, stderr)
        XCTAssertTrue(try ProcessTable.mentioning(run).isEmpty, "a process of the job is left behind")
        print(String(format: "cut link: the job ended %.1f s after the cut", seconds))
    }
}
