import Foundation
import XCTest

/// Failures of a real `mpirun` job: each must end the whole job with a clear line and a
/// non-zero exit, never a hang and never a process left behind.
final class MPIFaultTests: XCTestCase {
    func testKilledRankEndsTheJobPromptly() throws {
        let run = TandemBinary.temporaryDirectory(self, "kill")
        let (mpirun, _, _) = try TandemBinary.start(
            executable: "/usr/bin/mpirun",
            arguments: TandemBinary.mpirunArguments(2) + [TandemBinary.path, "train", "--epochs", "100", "--quiet",
                                                          "--log-every", "1", "--run-dir", run])
        defer { if mpirun.isRunning { kill(mpirun.processIdentifier, SIGKILL) } }
        ProcessTable.waitForTraining(in: run)
        let ranks = try ProcessTable.children(of: mpirun.processIdentifier)
        XCTAssertEqual(ranks.count, 2, "mpirun should have started two ranks")
        let victim = try XCTUnwrap(ranks.last)
        let killed = Date()
        kill(victim, SIGKILL)
        while mpirun.isRunning && Date().timeIntervalSince(killed) < 30 { usleep(50_000) }
        XCTAssertFalse(mpirun.isRunning, "the job must end within 30 s of losing a rank")
        mpirun.waitUntilExit()
        XCTAssertNotEqual(mpirun.terminationStatus, 0)
        usleep(500_000)
        for pid in ranks { XCTAssertFalse(ProcessTable.isAlive(pid), "rank process \(pid) is still alive") }
        XCTAssertTrue(try ProcessTable.mentioning(run).isEmpty, "a process of the job is left behind")
    }

    func testGlobalBatchSmallerThanWorldIsOneLineError() throws {
        let result = try TandemBinary.mpirun(3, ["train", "--global-batch", "2", "--max-steps", "1",
                                                 "--run-dir", TandemBinary.temporaryDirectory(self)], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.tandemErrorLines,
                       ["tandem: error: --global-batch 2 is smaller than the world size 3: every rank needs at least one sample per step"])
        XCTAssertFalse(result.looksLikeCrash, result.stderr)
    }

    func testEveryOptionThatMustAgreeIsComparedAndNamed() throws {
        // Options outside the mathematics that still steer the ranks together: with different
        // --stop-after one rank would leave the loop while the other waits for it forever.
        for (option, a, b) in [("--stop-after", "3", "5"), ("--reduce", "mpi", "shared-memory"), ("--bucket-mb", "1", "2")] {
            let run = TandemBinary.temporaryDirectory(self)
            let common = ["train", "--max-steps", "6", "--train-subset", "2000", "--run-dir", run, "--quiet"]
            let first: [String] = ["-np", "1", TandemBinary.path] + common + [option, a]
            let second: [String] = ["-np", "1", TandemBinary.path] + common + [option, b]
            let result = try TandemBinary.launch(executable: "/usr/bin/mpirun", arguments: first + [":"] + second, timeout: 60)
            XCTAssertFalse(result.timedOut, "\(option): \(result.summary)")
            XCTAssertNotEqual(result.status, 0, option)
            XCTAssertEqual(result.tandemErrorLines, ["tandem: error: rank 1 was started with a different \(option) than rank 0 "
                                                     + "(every rank must be given the same \(option))"], result.summary)
        }
    }

    func testMismatchedConfigurationsAreRefused() throws {
        // MPMD launch: rank 0 and rank 1 get different seeds.
        let run = TandemBinary.temporaryDirectory(self)
        let common = ["train", "--max-steps", "2", "--run-dir", run]
        let first: [String] = ["-np", "1", TandemBinary.path] + common + ["--seed", "1"]
        let second: [String] = ["-np", "1", TandemBinary.path] + common + ["--seed", "2"]
        let result = try TandemBinary.launch(executable: "/usr/bin/mpirun", arguments: first + [":"] + second, timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.tandemErrorLines.count, 1, result.stderr)
        XCTAssertTrue(result.tandemErrorLines.first?.contains("rank 1 was started with a different --seed than rank 0") ?? false,
                      result.stderr)
    }

    func testDivergedParametersStopTheJobNamingStepAndRank() throws {
        let result = try TandemBinary.mpirun(2, ["train", "--max-steps", "30", "--consistency-every", "10",
                                                 "--inject-divergence", "1:20", "--reduce", "mpi", "--run-dir", TandemBinary.temporaryDirectory(self)],
                                             timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.tandemErrorLines.contains { $0.contains("parameters diverged at step 20: rank 1 differs from rank 0") },
                      result.stderr)
    }
}
