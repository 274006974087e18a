import Foundation
import Tandem
import XCTest

/// The hierarchical gradient path on an emulated cluster (`scripts/cluster-emulation`): two
/// hosts (network namespaces on a bridge, TCP only between them) with two ranks each. The job
/// must train exactly as one process does, and each host's link must carry only its ranks'
/// shares of the gradient.
extension TwoHostTests {
    struct Traffic { var perHostTxBytes: [Double] }

    /// Runs `arguments` on `hosts` × `ranksPerHost` emulated ranks and reads each host's bytes
    /// sent; skips the test where this machine cannot build network namespaces.
    func clusterRun(hosts: Int, ranksPerHost: Int, _ arguments: [String]) throws -> (JobResult, Traffic) {
        let script = TandemBinary.packageRoot.appendingPathComponent("scripts/cluster-emulation").path
        let name = "tdh" + UUID().uuidString.prefix(6).lowercased()
        addTeardownBlock { _ = try? TandemBinary.launch(executable: script, arguments: ["--cleanup", name], timeout: 30) }
        let counters = TandemBinary.temporaryDirectory(self, "counters") + "/traffic.json"
        let job = try TandemBinary.launch(
            executable: script,
            arguments: ["run", "--hosts", "\(hosts)", "--ranks-per-host", "\(ranksPerHost)", "--name", name, "--timeout", "150",
                        "--counters", counters, "--", TandemBinary.path] + arguments,
            timeout: 180)
        if job.status == 77 {
            throw XCTSkip("no emulated cluster on this machine: \(job.stderr.split(separator: "\n").last ?? "")")
        }
        XCTAssertFalse(job.timedOut, "the emulated-cluster job hung:\n\(job.summary)")
        XCTAssertEqual(job.status, 0, job.summary)
        XCTAssertFalse(job.looksLikeCrash, job.summary)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: counters))) as? [String: Any])
        let rows = try XCTUnwrap(json["hosts"] as? [[String: Any]], "\(json)")
        return (job, Traffic(perHostTxBytes: rows.compactMap { ($0["tx_bytes"] as? NSNumber)?.doubleValue }))
    }

    /// 2 hosts × 2 ranks, MLP: `--reduce auto` takes the hierarchical path, which trains as
    /// one process does (overlapped or not); per step each host sends about the gradient's size once (its two
    /// ranks each half of it), where the flat ring over four ranks sends 1.5 times that.
    func testHierarchicalPathOnTwoHostsTrainsLikeOneProcessWithLessTraffic() throws {
        let hierarchicalRun = TandemBinary.temporaryDirectory(self, "hierarchical")
        let (_, hierarchical) = try clusterRun(hosts: 2, ranksPerHost: 2, trainingArguments(hierarchicalRun))
        let flatRun = TandemBinary.temporaryDirectory(self, "flat")
        let (_, flat) = try clusterRun(hosts: 2, ranksPerHost: 2, trainingArguments(flatRun) + ["--reduce", "mpi"])
        let singleRun = TandemBinary.temporaryDirectory(self, "single")
        let single = try TandemBinary.run(trainingArguments(singleRun), timeout: 120)
        XCTAssertEqual(single.status, 0, single.summary)

        let twoByTwo = try outcome(hierarchicalRun), flatOutcome = try outcome(flatRun), oneProcess = try outcome(singleRun)
        XCTAssertEqual(twoByTwo.worldSize, 4)
        XCTAssertEqual(twoByTwo.reduce, "hierarchical", "auto across hosts with two ranks each")
        XCTAssertEqual(flatOutcome.reduce, "mpi")
        assertClose(twoByTwo, oneProcess, "2 hosts × 2 ranks, hierarchical, vs one process")
        assertClose(flatOutcome, oneProcess, "2 hosts × 2 ranks, flat MPI, vs one process")
        // Without overlap: every part summed and reduced after backward, blocking.
        let blockingRun = TandemBinary.temporaryDirectory(self, "blocking")
        _ = try clusterRun(hosts: 2, ranksPerHost: 2, trainingArguments(blockingRun) + ["--reduce", "hierarchical", "--overlap", "false"])
        assertClose(try outcome(blockingRun), oneProcess, "2 hosts × 2 ranks, hierarchical without overlap, vs one process")

        // The gradient's size, from the checkpoint's parameters; the traffic per step, per host.
        let gradientBytes = Double(twoByTwo.parameters.count * 4)
        XCTAssertEqual(hierarchical.perHostTxBytes.count, 2)
        for (host, bytes) in hierarchical.perHostTxBytes.enumerated() {
            let perStep = bytes / Double(Self.steps)
            // One allreduce of half the gradient per rank, two ranks per host: the gradient's
            // size; the start-up broadcast and the small per-step sums add a little.
            XCTAssertGreaterThan(perStep, 0.9 * gradientBytes, "host \(host): \(perStep) B/step, gradient \(gradientBytes) B")
            XCTAssertLessThan(perStep, 1.3 * gradientBytes, "host \(host): \(perStep) B/step, gradient \(gradientBytes) B")
        }
        let ratio = hierarchical.perHostTxBytes.reduce(0, +) / flat.perHostTxBytes.reduce(0, +)
        // A ring over 4 ranks sends 2·(3/4) = 1.5 gradients per host; the hierarchical path
        // sends 1, the least any allreduce between two hosts can: 2/3 of the flat traffic.
        XCTAssertLessThan(ratio, 0.75, "hierarchical \(hierarchical.perHostTxBytes) vs flat \(flat.perHostTxBytes) bytes")
        print(String(format: "2 hosts × 2 ranks, MLP: %.2f MB per host per step hierarchical, %.2f MB flat (ratio %.2f; gradient %.2f MB)",
                     hierarchical.perHostTxBytes[0] / Double(Self.steps) / 1e6, flat.perHostTxBytes[0] / Double(Self.steps) / 1e6,
                     ratio, gradientBytes / 1e6))
    }

    /// The same for the CNN (its convolutions' and dense layers' buckets, 1 MB each, reduced
    /// while backward runs, the default across hosts). im2col convolutions: their sums agree
    /// across world sizes to float rounding (Winograd's drift apart over the steps; see
    /// MPIEquivalenceTests), so the bound can be the MLP's.
    func testHierarchicalPathTrainsTheCNNLikeOneProcess() throws {
        let cnn = ["--model", "cnn", "--convolution", "im2col", "--train-subset", "2000"]
        // Half the MLP's global batch: 16 samples per rank, still 13 buckets a step.
        func arguments(_ run: String) -> [String] {
            var words = trainingArguments(run) + cnn
            if let i = words.firstIndex(of: "--global-batch") { words[i + 1] = "64" }
            return words
        }
        let singleRun = TandemBinary.temporaryDirectory(self, "single")
        let single = try TandemBinary.run(arguments(singleRun), timeout: 180)
        XCTAssertEqual(single.status, 0, single.summary)
        let oneProcess = try outcome(singleRun)
        let run = TandemBinary.temporaryDirectory(self, "hierarchical")
        _ = try clusterRun(hosts: 2, ranksPerHost: 2, arguments(run) + ["--reduce", "hierarchical"])
        let twoByTwo = try outcome(run)
        XCTAssertEqual(twoByTwo.reduce, "hierarchical")
        assertClose(twoByTwo, oneProcess, "CNN, 2 hosts × 2 ranks, vs one process")
    }
}
