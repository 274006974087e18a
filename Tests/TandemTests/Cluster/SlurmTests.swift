import Foundation
import Tandem
import XCTest

/// `cluster/slurm.sbatch` under a real Slurm (a one-node cluster started by
/// `scripts/slurm-local`): a job whose time limit is too short for the run is signalled before
/// the limit, stops with a checkpoint, is requeued, carries on, and ends with the parameters of
/// an uninterrupted run.
final class SlurmTests: XCTestCase {
    /// 60 epochs of 50 steps; under Slurm each step is made 28 ms slower (the mathematics is
    /// unchanged), so the run needs about 90 s. Its allocation is two minutes, and Slurm's
    /// warning signal (asked for 45 s before the limit) comes at its first 30 s tick with at
    /// most 45 + 30 s left: 45 to 75 s into the job, before the run can end. After the requeue
    /// the rest (under 45 s) ends before the next warning.
    let train = ["--epochs", "60", "--train-subset", "3200", "--global-batch", "64", "--seed", "13", "--threads", "1",
                 "--quiet", "--keep", "100", "--vanishing-threshold", "0", "--checkpoint-every", "500"]

    /// Runs a shell command with its output in files, not pipes: the daemons it starts must
    /// not hold a pipe the test waits on. Its own process group is killed if it outlives `timeout`.
    func shell(_ command: String, timeout: Double = 60) throws -> JobResult {
        try TandemBinary.shell(command, timeout: timeout)
    }

    func testTimeLimitedJobIsSignalledCheckpointedRequeuedAndEndsBitwiseEqual() throws {
        guard getuid() == 0 else { throw XCTSkip("the one-node Slurm cluster's daemons run as root") }
        for tool in ["sbatch", "slurmctld", "slurmd", "munged"] {
            XCTAssertNotNil(ChildProcess.find(tool) ?? (FileManager.default.isExecutableFile(atPath: "/usr/sbin/\(tool)") ? tool : nil),
                            "\(tool) missing: scripts/setup --tests installs slurm-wlm and munge")
        }
        let cluster = TandemBinary.temporaryDirectory(self, "slurm")
        let root = TandemBinary.packageRoot.path
        let started = try shell("PATH=$PATH:/usr/sbin '\(root)/scripts/slurm-local' start '\(cluster)'")
        XCTAssertEqual(started.status, 0, started.summary)
        addTeardownBlock { _ = try? self.shell("PATH=$PATH:/usr/sbin '\(root)/scripts/slurm-local' stop '\(cluster)'") }
        let conf = "SLURM_CONF='\(cluster)/slurm.conf'"

        // The uninterrupted run, at full speed.
        let whole = TandemBinary.temporaryDirectory(self, "whole")
        let reference = try TandemBinary.mpirun(2, ["train"] + train + ["--run-dir", whole], timeout: 240)
        XCTAssertEqual(reference.status, 0, reference.summary)

        let run = cluster + "/run"
        let arguments = (train + ["--inject-step-delay", "0.028"]).map { "'\($0)'" }.joined(separator: " ")
        let submitted = try shell("cd '\(root)' && \(conf) RUN_DIR='\(run)' TANDEM_BIN='\(TandemBinary.path)' "
                                  + "sbatch --parsable --time=2 --signal=B:USR1@45 --nodes=1 --ntasks-per-node=2 "
                                  + "--output='\(cluster)/job-%j.out' cluster/slurm.sbatch \(arguments)")
        XCTAssertEqual(submitted.status, 0, submitted.summary)
        let job = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(job.isEmpty)

        // Wait for the job to complete (requeues included).
        var state = "", restarts = 0
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let shown = try shell("\(conf) scontrol show job '\(job)'")
            let fields = shown.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
            state = fields.first { $0.hasPrefix("JobState=") }.map { String($0.dropFirst("JobState=".count)) } ?? state
            restarts = fields.first { $0.hasPrefix("Restarts=") }.flatMap { Int($0.dropFirst("Restarts=".count)) } ?? restarts
            if ["COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL"].contains(state) { break }
            usleep(1_000_000)
        }
        let output = (try? String(contentsOfFile: "\(cluster)/job-\(job).out", encoding: .utf8)) ?? ""
        XCTAssertEqual(state, "COMPLETED", output)
        XCTAssertGreaterThanOrEqual(restarts, 1, "the job should have been requeued at least once\n\(output)")
        XCTAssertTrue(output.contains("tandem: stopped by SIGUSR1 after step "), output)
        XCTAssertTrue(output.contains("requeueing job \(job)"), output)

        let records = try readMetrics(run)
        let stops = records.filter { $0["event"] as? String == "stopped" }
        XCTAssertGreaterThanOrEqual(stops.count, 1)
        XCTAssertEqual(records.last { $0["event"] as? String == "end" }?["step"] as? Int, 3000)
        try assertSameFinalTensors(run, whole, "after Slurm's requeues")
        print("slurm: job \(job) requeued \(restarts) time(s), stopped at steps \(stops.compactMap { $0["step"] as? Int })")
    }
}
