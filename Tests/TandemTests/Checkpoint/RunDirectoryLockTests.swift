import Foundation
import Glibc
import Tandem
import XCTest

/// A run directory belongs to one job: a second job on it is refused with one line naming the
/// holder and leaves the first unharmed; a lock left by a dead job is taken over.
final class RunDirectoryLockTests: XCTestCase {
    func testASecondHolderIsRefusedUntilTheFirstLetsGo() throws {
        let directory = TandemBinary.temporaryDirectory(self, "lock")
        var first: RunDirectoryLock? = try RunDirectoryLock(directory: directory)
        XCTAssertThrowsError(try RunDirectoryLock(directory: directory)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("in use by another job") && text.contains("pid \(getpid())"), text)
        }
        XCTAssertNotNil(first)
        first = nil
        XCTAssertNoThrow(try RunDirectoryLock(directory: directory), "released when its holder ends")
    }

    func testALockFileLeftByADeadJobIsTakenOver() throws {
        let directory = TandemBinary.temporaryDirectory(self, "lock")
        try "host elsewhere pid 999999 since 2026-01-01T00:00:00Z\n".write(toFile: directory + "/lock", atomically: true, encoding: .utf8)
        let lock = try RunDirectoryLock(directory: directory)
        let text = try String(contentsOfFile: lock.path, encoding: .utf8)
        XCTAssertTrue(text.contains("pid \(getpid())"), "the lock file now names its new holder: \(text)")
    }

    func testASecondJobOnARunningJobsDirectoryIsRefusedAndTheFirstFinishes() throws {
        let run = TandemBinary.temporaryDirectory(self, "lock-run")
        let common = ["train", "--train-subset", "6000", "--global-batch", "64", "--log-every", "1", "--run-dir", run,
                      "--quiet", "--threads", "1", "--checkpoint-every", "50"]
        let (first, out, err) = try TandemBinary.start(executable: "/usr/bin/mpirun",
                                                        arguments: TandemBinary.mpirunArguments(2) + [TandemBinary.path]
                                                            + common + ["--max-steps", "1500", "--epochs", "20"])
        // Wait until the first job is training (it has logged a step).
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, first.isRunning {
            if let text = try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8), text.contains("\"event\":\"step\"") { break }
            usleep(50_000)
        }
        XCTAssertTrue(first.isRunning, "the first job must still be running for this test to mean anything")
        let second = try TandemBinary.run(common + ["--max-steps", "5"], timeout: 60)
        XCTAssertNotEqual(second.status, 0, second.summary)
        XCTAssertEqual(second.stderrLines.count, 1, second.summary)
        XCTAssertTrue(second.stderr.contains("in use by another job") && second.stderr.contains("pid"), second.stderr)
        first.waitUntilExit()
        let firstErr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        XCTAssertEqual(first.terminationStatus, 0, firstErr)
        let records = try readMetrics(run)
        XCTAssertEqual(records.filter { $0["event"] as? String == "start" }.count, 1, "only the first job wrote metrics")
        XCTAssertEqual(records.last?["event"] as? String, "end")
        XCTAssertEqual(try CheckpointDirectory(path: run, keep: 3).latestPath().map { ($0 as NSString).lastPathComponent },
                       CheckpointDirectory.fileName(step: 1500))
    }
}
