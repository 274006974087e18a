import Foundation
import XCTest

/// A rank that stops answering must end the job within seconds, with one line that names it,
/// never a silent hang: `--collective-timeout` and the heartbeats between ranks.
final class CollectiveWatchdogTests: XCTestCase {
    /// Starts `mpirun -np ranks tandem train …`, waits until it trains, then acts on one rank.
    private func startJob(ranks: Int, reduce: String, extra: [String] = [], run: String) throws -> (Process, Pipe, [Int32]) {
        let arguments = TandemBinary.mpirunArguments(ranks) + [TandemBinary.path, "train", "--epochs", "100", "--quiet",
                                                               "--log-every", "1", "--collective-timeout", "5",
                                                               "--reduce", reduce, "--run-dir", run] + extra
        let (mpirun, _, err) = try TandemBinary.start(executable: "/usr/bin/mpirun", arguments: arguments)
        addTeardownBlock { if mpirun.isRunning { kill(mpirun.processIdentifier, SIGKILL) } }
        let pids = try ProcessTable.ranks(of: mpirun.processIdentifier, count: ranks)
        XCTAssertEqual(pids.count, ranks, "mpirun should have started \(ranks) ranks")
        addTeardownBlock { for pid in pids { kill(pid, SIGKILL) } }
        ProcessTable.waitForTraining(in: run)
        return (mpirun, err, pids)
    }

    private func stoppedRankEndsTheJob(ranks: Int, reduce: String) throws {
        let run = TandemBinary.temporaryDirectory(self, "watchdog")
        let (mpirun, err, pids) = try startJob(ranks: ranks, reduce: reduce, run: run)
        // A random moment of training, and a random rank (rank 0 included: then another reports).
        usleep(UInt32.random(in: 0...1_500_000))
        let victim = Int.random(in: 0..<ranks)
        let stopped = Date()
        kill(pids[victim], SIGSTOP)
        let ended = ProcessTable.waitForExit(mpirun, timeout: 15)
        let seconds = Date().timeIntervalSince(stopped)
        XCTAssertTrue(ended, "\(reduce), \(ranks) ranks: the job must end within 15 s of rank \(victim) stopping")
        guard ended else { return }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = stderr.split(separator: "\n").filter { $0.hasPrefix("tandem:") }
        XCTAssertNotEqual(mpirun.terminationStatus, 0)
        XCTAssertEqual(lines.count, 1, stderr)
        let line = String(lines.first ?? "")
        XCTAssertTrue(line.hasPrefix("tandem: error: collective timed out: rank "), line)
        XCTAssertTrue(line.contains("(--collective-timeout 5)"), line)
        XCTAssertTrue(line.contains("rank \(victim) (host \(ProcessInfo.processInfo.hostName), pid \(pids[victim])) "
                                    + "has sent no heartbeat for"), "\(reduce), victim rank \(victim): \(line)")
        XCTAssertTrue(line.contains("(stopped, dead or unreachable)"), line)
        // No other rank is blamed: they all arrived.
        for other in 0..<ranks where other != victim { XCTAssertFalse(line.contains("rank \(other) (host"), line) }
        usleep(500_000)
        for pid in pids { XCTAssertFalse(ProcessTable.isAlive(pid), "rank process \(pid) is still alive") }
        XCTAssertTrue(try ProcessTable.mentioning(run).isEmpty, "a process of the job is left behind")
        print("\(reduce), \(ranks) ranks: rank \(victim) stopped; job ended after \(String(format: "%.1f", seconds)) s")
    }

    func testStoppedRankOnSharedMemoryPathTwoRanks() throws { try stoppedRankEndsTheJob(ranks: 2, reduce: "shared-memory") }
    func testStoppedRankOnMPIPathTwoRanks() throws { try stoppedRankEndsTheJob(ranks: 2, reduce: "mpi") }
    func testStoppedRankOnSharedMemoryPathThreeRanks() throws { try stoppedRankEndsTheJob(ranks: 3, reduce: "shared-memory") }
    func testStoppedRankOnMPIPathThreeRanks() throws { try stoppedRankEndsTheJob(ranks: 3, reduce: "mpi") }

    /// A rank that is alive but stuck outside the collectives (here: as if its disk hung while it
    /// wrote a checkpoint) is told apart from one that is gone, by its heartbeats.
    func testAliveButStuckRankIsToldApartFromAStoppedOne() throws {
        let run = TandemBinary.temporaryDirectory(self, "stall")
        let result = try TandemBinary.mpirun(2, ["train", "--epochs", "100", "--quiet", "--collective-timeout", "4",
                                                 "--inject-stall", "1:30", "--run-dir", run], timeout: 40)
        XCTAssertFalse(result.timedOut, result.summary)
        XCTAssertEqual(result.status, 124, result.summary)
        XCTAssertEqual(result.tandemErrorLines.count, 1, result.summary)
        let line = result.tandemErrorLines.first ?? ""
        XCTAssertTrue(line.hasPrefix("tandem: error: collective timed out: rank 0 waited "), line)
        XCTAssertTrue(line.contains("at step 30"), line)
        XCTAssertTrue(line.contains("is alive but has not arrived: at step 30, writing a checkpoint for "), line)
        XCTAssertFalse(line.contains("no heartbeat"), line)
    }

    func testCollectiveTimeoutIsRangeChecked() throws {
        for value in ["-1", "nan", "inf"] {
            let result = try TandemBinary.run(["train", "--max-steps", "1", "--collective-timeout", value,
                                               "--run-dir", TandemBinary.temporaryDirectory(self)], timeout: 60)
            XCTAssertNotEqual(result.status, 0, value)
            XCTAssertEqual(result.tandemErrorLines.count, 1, result.summary)
            XCTAssertTrue(result.tandemErrorLines.first?.contains("--collective-timeout must be a non-negative number of seconds") ?? false,
                          result.summary)
        }
    }
}
