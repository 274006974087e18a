import Foundation
import XCTest

/// `tandem bench` under a real mpirun: the JSON report names the gradient path, the world size
/// and every phase of the split, and the phases add up (within the spread of medians) to a
/// plausible step. Speed itself is a benchmark matter, never asserted here.
final class BenchTests: XCTestCase {
    func bench(_ ranks: Int, _ extra: [String], model: String = "mlp:784-256-128-10", steps: Int = 30) throws -> [String: Any] {
        let result = try TandemBinary.mpirun(ranks, ["bench", "--model", model, "--global-batch", "64",
                                                     "--steps", "\(steps)", "--warmup-steps", "3", "--train-subset", "2000",
                                                     "--json"] + extra, timeout: 120)
        XCTAssertEqual(result.status, 0, result.summary)
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").last.map(String.init), result.summary)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
    }

    func split(_ report: [String: Any]) throws -> [String: Double] {
        try XCTUnwrap(report["split_ms"] as? [String: Double], "\(report)")
    }

    func testReportOnTheSharedPathSeparatesWaitingFromTheSum() throws {
        let report = try bench(2, [])
        XCTAssertEqual(report["world_size"] as? Int, 2)
        XCTAssertEqual(report["reduce"] as? String, "shared-memory")
        XCTAssertGreaterThan(report["samples_per_second"] as? Double ?? 0, 0)
        let phases = try split(report)
        for key in ["data", "forward", "backward", "layer_collectives", "allreduce_exposed", "allreduce_total", "allreduce_waiting", "clip", "optimizer"] {
            XCTAssertNotNil(phases[key], "missing \(key) in \(phases)")
            XCTAssertGreaterThanOrEqual(phases[key] ?? -1, 0, key)
        }
        XCTAssertGreaterThan(phases["forward"] ?? 0, 0)
        XCTAssertGreaterThan(phases["allreduce_exposed"] ?? 0, 0, "the slice sum takes time")
        XCTAssertEqual(phases["layer_collectives"] ?? -1, 0, "an MLP's layers exchange nothing")
        XCTAssertLessThanOrEqual(phases["allreduce_waiting"] ?? 1, phases["allreduce_exposed"] ?? 0)
        // Every rank's waiting, rank 0's being the one in the split.
        let waits = try XCTUnwrap(report["allreduce_waiting_ms_per_rank"] as? [Double], "\(report)")
        XCTAssertEqual(waits.count, 2)
        XCTAssertEqual(waits.first ?? -1, phases["allreduce_waiting"] ?? -2, accuracy: 1e-6)
        XCTAssertTrue(waits.allSatisfy { $0 >= 0 && $0 < (report["step_ms"] as? Double ?? 0) }, "\(waits)")
    }

    /// Batch normalisation sums its statistics over the ranks inside forward and backward: the
    /// split shows that exchange as its own phase, on both gradient paths, and the text line
    /// names it. (The phase includes waiting for the slowest rank to arrive, so on a busy
    /// machine it can outlast the work around it.)
    func testBatchStatisticsExchangeIsItsOwnPhase() throws {
        let model = "conv:8x3p1,bn,relu,resblock:8,gap,linear:10"
        for extra in [[], ["--reduce", "mpi"]] {
            let phases = try split(try bench(2, extra, model: model, steps: 8))
            XCTAssertGreaterThan(phases["layer_collectives"] ?? 0, 0, "\(extra): \(phases)")
        }
        let text = try TandemBinary.mpirun(2, ["bench", "--model", model, "--global-batch", "64", "--steps", "4",
                                               "--warmup-steps", "1", "--train-subset", "2000"], timeout: 120)
        XCTAssertEqual(text.status, 0, text.summary)
        XCTAssertTrue(text.stdout.contains("layer collectives"), text.stdout)
        let one = try split(try bench(1, [], model: model, steps: 4))
        XCTAssertEqual(one["layer_collectives"] ?? 1, 0, accuracy: 0.05, "one process sums nothing: \(one)")
    }

    func testReportOnTheMPIPathAndOneProcess() throws {
        let mpi = try bench(2, ["--reduce", "mpi", "--overlap", "false"])
        XCTAssertEqual(mpi["reduce"] as? String, "mpi")
        XCTAssertEqual(mpi["overlap"] as? Bool, false)
        XCTAssertEqual(try split(mpi)["allreduce_waiting"], 0)
        XCTAssertGreaterThan(try split(mpi)["allreduce_exposed"] ?? 0, 0)
        let one = try bench(1, [])
        XCTAssertEqual(one["world_size"] as? Int, 1)
        XCTAssertEqual(one["reduce"] as? String, "none")
        XCTAssertEqual(try split(one)["allreduce_exposed"] ?? 1, 0, accuracy: 0.01)
    }

    /// The MPI path's overlap is a choice of the job's shape: `auto` overlaps only where ranks
    /// span hosts, so on one host (both cores computing) it is off.
    func testOverlapAutoIsOffOnOneHost() throws {
        let auto = try bench(2, ["--reduce", "mpi"], steps: 5)
        XCTAssertEqual(auto["overlap"] as? Bool, false, "\(auto)")
        let forced = try bench(2, ["--reduce", "mpi", "--overlap", "true"], steps: 5)
        XCTAssertEqual(forced["overlap"] as? Bool, true, "\(forced)")
    }

    /// `--record-layer-times` writes one rank's forward, backward, optimizer and per-unit times;
    /// `--emulate-compute` replays them: the step then takes at least the recorded compute
    /// (scaled to the shard), the report says it was emulated, and a file for another model is
    /// refused with one line.
    func testRecordedLayerTimesAreReplayed() throws {
        let directory = TandemBinary.temporaryDirectory(self, "layer-times")
        let file = directory + "/mlp.json"
        let model = "mlp:784-256-128-10"
        let recorded = try TandemBinary.run(["bench", "--model", model, "--global-batch", "64", "--steps", "10",
                                             "--warmup-steps", "2", "--train-subset", "2000", "--record-layer-times", file], timeout: 120)
        XCTAssertEqual(recorded.status, 0, recorded.summary)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        XCTAssertEqual(json["samples_per_rank"] as? Int, 64)
        let done = try XCTUnwrap(json["unit_done_seconds"] as? [Double])
        XCTAssertEqual(done.count, 5, "three Linear layers and two ReLUs: \(json)")
        let forward = try XCTUnwrap(json["forward_seconds"] as? Double), backward = try XCTUnwrap(json["backward_seconds"] as? Double)
        XCTAssertGreaterThan(forward, 0); XCTAssertGreaterThan(backward, 0)
        XCTAssertGreaterThan(json["optimizer_seconds"] as? Double ?? 0, 0)
        // Backward finishes the last unit first, and every unit within backward.
        XCTAssertEqual(done, done.sorted(by: >), "\(done)")
        XCTAssertTrue(done.allSatisfy { $0 <= backward + 1e-9 }, "\(done) vs \(backward)")

        // Emulated, 2 ranks: each rank's shard is 64 of the global 128, as recorded.
        let emulated = try bench(2, ["--reduce", "mpi", "--emulate-compute", file], model: model, steps: 10)
        XCTAssertEqual(emulated["emulated_compute"] as? Bool, true)
        let phases = try split(emulated)
        XCTAssertGreaterThanOrEqual((phases["forward"] ?? 0) + 0.05, forward * 1e3 / 2, "a 32-sample shard of the 64 recorded: \(phases)")
        XCTAssertGreaterThanOrEqual((phases["backward"] ?? 0) + (phases["allreduce_exposed"] ?? 0) + 0.05, backward * 1e3 / 2, "\(phases)")

        let wrong = try TandemBinary.mpirun(2, ["bench", "--model", "mlp:784-64-10", "--global-batch", "64", "--steps", "2",
                                                "--warmup-steps", "0", "--train-subset", "2000", "--emulate-compute", file], timeout: 120)
        XCTAssertNotEqual(wrong.status, 0)
        let lines = wrong.stderr.split(separator: "\n").filter { $0.hasPrefix("tandem:") }
        XCTAssertEqual(lines.count, 1, wrong.summary)
        XCTAssertTrue(lines.first?.contains("the layer times are for mlp:784-256-128-10") ?? false, wrong.summary)
        XCTAssertFalse(wrong.looksLikeCrash, wrong.summary)
    }

    /// `tandem bench --core-latency`: five positive round trips between cores 0 and 1 and their
    /// median, or, where this process cannot use two cores, a one-line error.
    func testCoreLatencyProbe() throws {
        let result = try TandemBinary.run(["bench", "--core-latency", "--json"], timeout: 60)
        if ProcessInfo.processInfo.activeProcessorCount < 2 {
            XCTAssertNotEqual(result.status, 0, result.summary)
            XCTAssertTrue(result.stderr.contains("cores 0 and 1"), result.summary)
            return
        }
        XCTAssertEqual(result.status, 0, result.summary)
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").last.map(String.init), result.summary)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        let samples = try XCTUnwrap(report["samples_ns"] as? [Double], line)
        XCTAssertEqual(samples.count, 5)
        let median = try XCTUnwrap(report["core_round_trip_ns"] as? Double, line)
        XCTAssertEqual(median, samples.sorted()[2])
        // A round trip is two cache-line transfers: more than a nanosecond, far less than a millisecond.
        for sample in samples { XCTAssertGreaterThan(sample, 1); XCTAssertLessThan(sample, 1e6) }
    }
}
