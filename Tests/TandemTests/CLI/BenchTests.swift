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
