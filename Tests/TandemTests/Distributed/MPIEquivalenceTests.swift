import Foundation
import Tandem
import XCTest

/// Under a real `mpirun`, 1, 2, 3 and 4 (oversubscribed) ranks train to the same parameters
/// and per-step losses, and `--simulate-ranks N` matches `mpirun -np N`.
final class MPIEquivalenceTests: XCTestCase {
    struct Outcome { var parameters: [Float]; var losses: [Double] }

    /// Trains 50 steps with shuffling on and returns the final weights and every step's loss.
    func train(ranks: Int, simulated: Bool = false, globalBatch: Int, extra: [String] = []) throws -> Outcome {
        let run = TandemBinary.temporaryDirectory(self, "eq")
        let args = ["train", "--max-steps", "50", "--global-batch", "\(globalBatch)", "--train-subset", "10000",
                    "--seed", "3", "--shuffle", "true", "--log-every", "1", "--run-dir", run, "--quiet", "--threads", "1"] + extra
        let result = simulated ? try TandemBinary.run(args + ["--simulate-ranks", "\(ranks)"], timeout: 240)
                               : try TandemBinary.mpirun(ranks, args, timeout: 240)
        XCTAssertEqual(result.status, 0, "ranks \(ranks): \(result.stderr)")
        let losses = try readMetrics(run).filter { $0["event"] as? String == "step" }.compactMap { $0["loss"] as? Double }
        let latest = try XCTUnwrap(CheckpointDirectory(path: run, keep: 3).latestPath(), "a final checkpoint must exist")
        let file = try CheckpointFile.read(path: latest)
        let parameters = file.tensors.filter { !$0.name.hasPrefix("optim.") }.flatMap(\.values)
        return Outcome(parameters: parameters, losses: losses)
    }

    func relative(_ a: [Float], _ b: [Float]) -> Double {
        var d = 0.0, n = 0.0
        for i in a.indices { d += pow(Double(a[i]) - Double(b[i]), 2); n += pow(Double(b[i]), 2) }
        return (d / n).squareRoot()
    }

    func assertClose(_ a: Outcome, _ b: Outcome, _ label: String) {
        XCTAssertEqual(a.losses.count, 50, label)
        XCTAssertEqual(a.parameters.count, b.parameters.count, label)
        guard a.parameters.count == b.parameters.count, a.losses.count == b.losses.count else { return }
        XCTAssertLessThan(relative(a.parameters, b.parameters), 1e-4, label)
        for (x, y) in zip(a.losses, b.losses) { XCTAssertLessThan(abs(x - y) / abs(y), 1e-4, "\(label): \(x) vs \(y)") }
    }

    func testWorldSizeDoesNotChangeTheMathematics() throws {
        for batch in [128, 130] {
            let one = try train(ranks: 1, globalBatch: batch)
            XCTAssertLessThan(one.losses.last!, one.losses.first! * 0.8, "training must move the weights")
            // Four ranks (two per core) once, at the batch that does not divide evenly.
            for ranks in batch == 130 ? [2, 3, 4] : [2, 3] {
                // The default same-host path (shared arena) and the MPI allreduce path.
                let mpi = try train(ranks: ranks, globalBatch: batch)
                assertClose(mpi, one, "mpirun -np \(ranks), batch \(batch)")
                assertClose(try train(ranks: ranks, globalBatch: batch, extra: ["--reduce", "mpi"]), one,
                            "mpirun -np \(ranks) --reduce mpi, batch \(batch)")
                if batch == 130 {
                    assertClose(try train(ranks: ranks, simulated: true, globalBatch: batch), mpi,
                                "--simulate-ranks \(ranks) vs mpirun -np \(ranks)")
                }
            }
        }
    }

    func testSmallCNNWithDropoutUnderMPI() throws {
        // im2col: the method whose sums agree across world sizes to float rounding, so the bounds
        // can be tight. (cnn-small's second convolution, 8 → 16 channels at 3×3, would otherwise
        // run Winograd's F(4×4, 3×3); that path is the next test's and BatchNormEquivalenceTests'.)
        let cnn = ["--model", "cnn-small", "--convolution", "im2col"]
        let one = try train(ranks: 1, globalBatch: 30, extra: cnn)
        for ranks in [2, 3] {
            assertClose(try train(ranks: ranks, globalBatch: 30, extra: cnn), one, "cnn-small, mpirun -np \(ranks)")
        }
        assertClose(try train(ranks: 2, globalBatch: 30, extra: cnn + ["--reduce", "mpi"]), one, "cnn-small, mpirun -np 2 --reduce mpi")
    }

    func testSmallCNNWithWinogradConvolutionUnderMPI() throws {
        // cnn-small with a 5×5 second convolution, which runs Winograd's method. Its forward pass is
        // bitwise the same whatever the world size (each sample has its own vector lane), so the
        // first step's loss must agree to float rounding. Its weight gradient rounds to ~5e-6 of
        // the largest entry, not ~1e-7 as im2col's does, and summed in a different order on each
        // world size those differences grow over the steps (measured at 2 ranks: losses 4e-9 →
        // 2e-4 after 50 steps, weights 1e-3 apart; with SGD at lr 0.05 ten times more), hence
        // bounds that tighten towards the first steps, where a mistake in sharding, dropout or
        // averaging would show at once.
        let cnn = ["--model", "conv:8x3p1,relu,maxpool:2,conv:16x5p2,relu,maxpool:2,flatten,dropout:0.25,linear:10"]
        let one = try train(ranks: 1, globalBatch: 30, extra: cnn)
        for ranks in [2, 3] {
            let many = try train(ranks: ranks, globalBatch: 30, extra: cnn), label = "cnn-small (Winograd), mpirun -np \(ranks)"
            XCTAssertEqual(many.losses.count, 50, label)
            guard many.losses.count == one.losses.count else { continue }
            for (step, (x, y)) in zip(many.losses, one.losses).enumerated() {
                let bound = step == 0 ? 1e-6 : step < 5 ? 1e-5 : 2e-3
                XCTAssertLessThan(abs(x - y) / abs(y), bound, "\(label), step \(step + 1): \(x) vs \(y)")
            }
            XCTAssertLessThan(relative(many.parameters, one.parameters), 5e-3, label)
            if ranks == 2 {
                // The same world size, simulated as threads of one process: the same sums in the
                // same order, so as close as any two runs.
                assertClose(try train(ranks: 2, simulated: true, globalBatch: 30, extra: cnn), many,
                            "cnn-small (Winograd), --simulate-ranks 2 vs mpirun -np 2")
            }
        }
    }

    func testRankZeroClippingAndSkippingUnderMPI() throws {
        // Every step clipped hard; the consistency check after every step proves all ranks applied
        // rank 0's coefficient (a rank that decided alone would drift and stop the job).
        let single = try train(ranks: 1, globalBatch: 128, extra: ["--clip-norm", "0.05"])
        for reduce in ["shared-memory", "mpi"] {
            let clipped = try train(ranks: 2, globalBatch: 128, extra: ["--clip-norm", "0.05", "--consistency-every", "1", "--reduce", reduce])
            assertClose(clipped, single, "clipped, --reduce \(reduce)")
        }
        // A NaN on rank 1 at step index 9 (the 10th step): every rank skips it, weights stay equal.
        let run = TandemBinary.temporaryDirectory(self, "nan")
        let result = try TandemBinary.mpirun(2, ["train", "--max-steps", "12", "--train-subset", "5000", "--log-every", "1",
                                                 "--consistency-every", "1", "--inject-nan", "1:9", "--run-dir", run, "--quiet"],
                                             timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try readMetrics(run)
        let skips = records.filter { $0["event"] as? String == "skip" }.compactMap { $0["step"] as? Int }
        XCTAssertEqual(skips, [10])
        let end = try XCTUnwrap(records.last { $0["event"] as? String == "end" })
        XCTAssertEqual(end["skipped_steps"] as? Int, 1)
    }
}
