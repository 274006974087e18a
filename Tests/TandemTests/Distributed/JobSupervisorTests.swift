import Foundation
import Tandem
import XCTest

/// `tandem launch`: a job whose ranks die is restarted from its latest checkpoint and ends
/// exactly where an uninterrupted run ends; it gives up after --max-restarts with one line,
/// never restarts a job refused at start-up, and leaves out a host that stays unreachable.
final class JobSupervisorTests: XCTestCase {
    /// 30 epochs of 50 steps, a checkpoint every 100: a few seconds of training (each killed
    /// attempt trains for under half a second, so three or four kills leave most of it to do).
    let train = ["--epochs", "30", "--train-subset", "3200", "--global-batch", "64", "--seed", "9", "--threads", "1",
                 "--quiet", "--keep", "100", "--log-every", "1", "--checkpoint-every", "100"]

    func records(_ run: String, _ event: String) -> [[String: Any]] {
        ((try? readMetrics(run)) ?? []).filter { $0["event"] as? String == event }
    }

    /// Waits until the `attempt`-th start of the job (counted in metrics.jsonl) is training.
    func waitForAttempt(_ attempt: Int, run: String, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8) {
                let events = text.split(separator: "\n").map { $0.contains("\"event\":\"start\"") ? "start" : $0.contains("\"event\":\"step\"") ? "step" : "" }
                if let k = events.indices.filter({ events[$0] == "start" }).dropFirst(attempt - 1).first,
                   events[(k + 1)...].contains("step") { return true }
            }
            usleep(30_000)
        }
        return false
    }

    /// Starts `tandem launch`, kills one random rank of each of the first `kills` attempts at a
    /// random step, and returns how the launcher ended.
    func launch(_ run: String, maxRestarts: Int, kills: Int) throws -> JobResult {
        let arguments = ["launch", "-np", "2", "--max-restarts", "\(maxRestarts)", "--backoff", "0.2", "--"] + train + ["--run-dir", run]
        let (launcher, out, err) = try TandemBinary.start(executable: TandemBinary.path, arguments: arguments)
        addTeardownBlock { if launcher.isRunning { kill(launcher.processIdentifier, SIGKILL) } }
        for attempt in 1...kills {
            XCTAssertTrue(waitForAttempt(attempt, run: run), "attempt \(attempt) should train")
            usleep(UInt32.random(in: 0...400_000))
            let mpirun = try XCTUnwrap(try ProcessTable.children(of: launcher.processIdentifier).first, "mpirun of attempt \(attempt)")
            let ranks = try ProcessTable.ranks(of: mpirun, count: 2)
            XCTAssertEqual(ranks.count, 2)
            kill(ranks[Int.random(in: 0..<2)], SIGKILL)
            // Wait for that attempt's mpirun to end before looking for the next.
            let deadline = Date().addingTimeInterval(30)
            while ProcessTable.isAlive(mpirun) && Date() < deadline { usleep(20_000) }
        }
        XCTAssertTrue(ProcessTable.waitForExit(launcher, timeout: 120), "the launcher should end")
        if launcher.isRunning { kill(launcher.processIdentifier, SIGKILL) }
        return JobResult(finished: launcher, stdout: out, stderr: err)
    }

    func testThreeKilledRanksAreRestartedAndTheRunEndsBitwiseEqual() throws {
        let whole = TandemBinary.temporaryDirectory(self, "whole"), run = TandemBinary.temporaryDirectory(self, "launch")
        let complete = try TandemBinary.mpirun(2, ["train"] + train + ["--run-dir", whole], timeout: 240)
        XCTAssertEqual(complete.status, 0, complete.summary)
        let result = try launch(run, maxRestarts: 3, kills: 3)
        XCTAssertEqual(result.status, 0, result.summary)
        let restarts = records(run, "restart")
        XCTAssertEqual(restarts.map { $0["attempt"] as? Int }, [1, 2, 3])
        XCTAssertEqual(restarts.map { $0["exit_status"] as? Int }, [137, 137, 137])
        XCTAssertEqual(records(run, "end").last?["step"] as? Int, 1500)
        try assertSameFinalTensors(run, whole, "after three restarts")
    }

    func testAFourthFailureGivesUpWithOneLine() throws {
        let run = TandemBinary.temporaryDirectory(self, "giveup")
        let result = try launch(run, maxRestarts: 3, kills: 4)
        XCTAssertEqual(result.status, 137, result.summary)
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("tandem launch: error:") }
        XCTAssertEqual(lines, ["tandem launch: error: giving up: the job failed 4 times (last: exit 137: a rank was killed) "
                               + "and --max-restarts is 3; its latest checkpoint stays in \(run)"], result.summary)
        XCTAssertEqual(records(run, "restart").count, 3)
        XCTAssertTrue(records(run, "end").isEmpty)
    }

    func testAJobRefusedAtStartUpIsNotRestarted() throws {
        let run = TandemBinary.temporaryDirectory(self, "refused")
        let result = try TandemBinary.run(["launch", "-np", "2", "--backoff", "0", "--"] + train + ["--run-dir", run, "--model", "nonsense"],
                                          timeout: 60)
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertEqual(result.tandemErrorLines.filter { $0.contains("error: model spec 'nonsense'") }.count, 1, result.summary)
        XCTAssertTrue(result.stderr.contains("tandem launch: not restarting: the job failed before training began"), result.summary)
        XCTAssertTrue(records(run, "restart").isEmpty)
    }

    func testSIGTERMStopsTheJobAndTheSameCommandCarriesOn() throws {
        let run = TandemBinary.temporaryDirectory(self, "term")
        let arguments = ["launch", "-np", "2", "--backoff", "0.2", "--"] + train + ["--run-dir", run]
        let (launcher, _, err) = try TandemBinary.start(executable: TandemBinary.path, arguments: arguments)
        addTeardownBlock { if launcher.isRunning { kill(launcher.processIdentifier, SIGKILL) } }
        XCTAssertTrue(waitForAttempt(1, run: run))
        usleep(UInt32.random(in: 0...400_000))
        kill(launcher.processIdentifier, SIGTERM)
        XCTAssertTrue(ProcessTable.waitForExit(launcher, timeout: 30))
        XCTAssertEqual(launcher.terminationStatus, GracefulStop.exitCode)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(stderr.contains("tandem: stopped by SIGUSR1 after step "), stderr)
        let stopped = try XCTUnwrap(records(run, "stopped").last?["step"] as? Int)
        XCTAssertTrue(records(run, "restart").isEmpty, "a stop on request is not a failure")
        let again = try TandemBinary.run(arguments, timeout: 120)
        XCTAssertEqual(again.status, 0, again.summary)
        XCTAssertEqual(records(run, "start").last?["start_step"] as? Int, stopped)
        XCTAssertEqual(records(run, "end").last?["step"] as? Int, 1500)
    }

    func testAnUnreachableHostIsLeftOutAndTheJobRunsOnFewerRanks() throws {
        let run = TandemBinary.temporaryDirectory(self, "elastic")
        let hostfile = run + "-hosts"
        try "localhost slots=2\nnosuchhost.invalid slots=1\n".write(toFile: hostfile, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: hostfile) }
        let short = train.map { $0 == "30" ? "2" : $0 }
        let result = try TandemBinary.run(["launch", "-np", "3", "--hostfile", hostfile, "--min-ranks", "2", "--backoff", "0",
                                           "--"] + short + ["--run-dir", run], timeout: 120)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains("tandem launch: host nosuchhost.invalid is unreachable; leaving it out"), result.summary)
        XCTAssertEqual(records(run, "restart").first?["ranks"] as? Int, 2)
        XCTAssertEqual(records(run, "start").last?["world_size"] as? Int, 2)
        XCTAssertEqual(records(run, "end").last?["step"] as? Int, 100)
    }

    func testLaunchMisuseIsRefusedInOneLine() throws {
        for (arguments, message) in [(["--min-ranks", "1"], "--min-ranks needs --hostfile"),
                                     (["--max-restarts", "-1"], "--max-restarts must be at least 0"),
                                     (["--backoff", "nan"], "--backoff must be a non-negative number of seconds"),
                                     (["--", "--simulate-ranks", "2"], "--simulate-ranks cannot be given to tandem launch")] {
            let result = try TandemBinary.run(["launch"] + arguments, timeout: 30)
            XCTAssertEqual(result.status, 1, result.summary)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.summary)
            XCTAssertTrue(result.stderr.contains(message), result.summary)
        }
    }
}
