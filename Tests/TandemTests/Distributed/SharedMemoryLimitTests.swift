import Foundation
import XCTest

/// Open MPI backs the shared arena with a file in /dev/shm, which containers often keep small
/// (Docker: 64 MB). Under a 40 MB /dev/shm (a private mount namespace, so the machine's own
/// /dev/shm is untouched) the cnn's shared model (98 MB with Open MPI's margin) does not fit:
/// `--reduce auto` must fall back to the MPI allreduce with a warning and train normally, and
/// `--reduce shared-memory` must stop with one line naming the problem, never a SIGBUS. The
/// small MLP still fits and keeps the shared path.
final class SharedMemoryLimitTests: XCTestCase {
    /// Runs `mpirun -np 2 tandem ARGS` with /dev/shm replaced by a 40 MB tmpfs.
    func underSmallSharedMemory(_ arguments: [String]) throws -> JobResult {
        let command = (["/usr/bin/mpirun"] + TandemBinary.mpirunArguments(2) + [TandemBinary.path] + arguments)
            .map { "'\($0)'" }.joined(separator: " ")
        return try TandemBinary.launch(executable: "/usr/bin/unshare",
                                       arguments: ["-m", "sh", "-c", "mount -t tmpfs -o size=40m tmpfs /dev/shm || exit 77; exec \(command)"],
                                       timeout: 120)
    }

    func skipUnlessMountNamespaces() throws {
        let probe = try TandemBinary.launch(executable: "/usr/bin/unshare",
                                            arguments: ["-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"], timeout: 20)
        if probe.status != 0 {
            throw XCTSkip("cannot mount a private /dev/shm here (needs root or CAP_SYS_ADMIN): \(probe.stderr)")
        }
    }

    func reduction(_ run: String) throws -> String? {
        try readMetrics(run).first { $0["event"] as? String == "start" }?["reduce"] as? String
    }

    func testCNNFallsBackToMPIWhenSharedMemoryIsTooSmall() throws {
        try skipUnlessMountNamespaces()
        let run = TandemBinary.temporaryDirectory(self, "fallback")
        let job = try underSmallSharedMemory(["train", "--model", "cnn", "--max-steps", "3", "--train-subset", "512",
                                              "--run-dir", run, "--quiet"])
        XCTAssertEqual(job.status, 0, job.summary)
        XCTAssertFalse(job.looksLikeCrash, job.summary)
        XCTAssertEqual(try reduction(run), "mpi")
        let warnings = try readMetrics(run).filter { $0["event"] as? String == "warning" }.compactMap { $0["message"] as? String }
        XCTAssertTrue(warnings.contains { $0.contains("/dev/shm has") && $0.contains("MPI allreduce instead") }, "\(warnings)")
    }

    func testForcedSharedMemoryThatDoesNotFitIsRefusedInOneLine() throws {
        try skipUnlessMountNamespaces()
        let job = try underSmallSharedMemory(["train", "--model", "cnn", "--max-steps", "3", "--train-subset", "512",
                                              "--reduce", "shared-memory", "--run-dir", TandemBinary.temporaryDirectory(self)])
        XCTAssertEqual(job.status, 1, job.summary)
        XCTAssertFalse(job.looksLikeCrash, job.summary)
        XCTAssertEqual(job.tandemErrorLines.count, 1, job.stderr)
        XCTAssertTrue(job.tandemErrorLines.first?.contains("--reduce shared-memory: /dev/shm has") ?? false, job.stderr)
    }

    func testSmallModelStillSharesMemory() throws {
        try skipUnlessMountNamespaces()
        let run = TandemBinary.temporaryDirectory(self, "mlp")
        let job = try underSmallSharedMemory(["train", "--max-steps", "3", "--train-subset", "512", "--run-dir", run, "--quiet"])
        XCTAssertEqual(job.status, 0, job.summary)
        XCTAssertEqual(try reduction(run), "shared-memory")
    }
}
