import Foundation
import Tandem
import XCTest

/// A small GPT on the Shakespeare corpus trains to the same parameters and per-step losses in
/// one process, on simulated ranks and under a real mpirun, on both gradient paths (global
/// batch 32 over 3 ranks is uneven: shards of 10, 11 and 11 windows), and resumes bitwise.
final class GPTEquivalenceTests: XCTestCase {
    struct Outcome { var parameters: [Float]; var losses: [Double] }
    let model = ["--model", "gpt:layers=2,heads=2,dim=32,context=32", "--dataset", "shakespeare"]

    override func setUpWithError() throws {
        let corpus = ShakespeareCorpus.defaultPath
        XCTAssertTrue(FileManager.default.fileExists(atPath: corpus), "\(corpus) is missing: scripts/setup downloads it")
    }

    func arguments(_ run: String, steps: Int = 30) -> [String] {
        ["train"] + model + ["--max-steps", "\(steps)", "--global-batch", "32", "--seed", "5", "--optimizer", "adamw",
                             "--lr", "3e-3", "--warmup", "0", "--clip-norm", "1", "--log-every", "1", "--eval-every", "10",
                             "--run-dir", run, "--quiet", "--threads", "1"]
    }

    func train(ranks: Int, simulated: Bool = false, extra: [String] = []) throws -> Outcome {
        let run = TandemBinary.temporaryDirectory(self, "gpt-eq")
        let args = arguments(run) + extra
        let result = simulated ? try TandemBinary.run(args + ["--simulate-ranks", "\(ranks)"], timeout: 300)
                               : try TandemBinary.mpirun(ranks, args, timeout: 300)
        XCTAssertEqual(result.status, 0, "ranks \(ranks) \(extra): \(result.summary)")
        let records = try readMetrics(run)
        let losses = records.filter { $0["event"] as? String == "step" }.compactMap { $0["loss"] as? Double }
        let parameters = try finalTensors(run).filter { !$0.name.hasPrefix("optim.") }.flatMap(\.values)
        return Outcome(parameters: parameters, losses: losses)
    }

    func assertClose(_ a: Outcome, _ b: Outcome, _ label: String) {
        XCTAssertEqual(a.losses.count, 30, label)
        XCTAssertEqual(a.parameters.count, b.parameters.count, label)
        guard a.parameters.count == b.parameters.count, a.losses.count == b.losses.count, !a.parameters.isEmpty else { return }
        var d = 0.0, n = 0.0
        for (x, y) in zip(a.parameters, b.parameters) { d += pow(Double(x) - Double(y), 2); n += pow(Double(y), 2) }
        XCTAssertLessThan((d / n).squareRoot(), 1e-4, label)
        for (x, y) in zip(a.losses, b.losses) { XCTAssertLessThan(abs(x - y) / abs(y), 1e-4, "\(label): \(x) vs \(y)") }
    }

    func testWorldSizeDoesNotChangeTheGPTsMathematics() throws {
        let one = try train(ranks: 1)
        XCTAssertLessThan(one.losses.last ?? .nan, (one.losses.first ?? .nan) * 0.7, "training must move the weights")
        for ranks in [2, 3] {
            assertClose(try train(ranks: ranks, simulated: true), one, "--simulate-ranks \(ranks)")
            assertClose(try train(ranks: ranks), one, "mpirun -np \(ranks) (shared memory)")
            assertClose(try train(ranks: ranks, extra: ["--reduce", "mpi"]), one, "mpirun -np \(ranks) --reduce mpi")
        }
    }

    func testStoppedAndResumedGPTRunIsBitwiseIdentical() throws {
        let whole = TandemBinary.temporaryDirectory(self, "gpt-whole")
        let reference = try TandemBinary.mpirun(2, arguments(whole), timeout: 300)
        XCTAssertEqual(reference.status, 0, reference.summary)
        let split = TandemBinary.temporaryDirectory(self, "gpt-split")
        let first = try TandemBinary.mpirun(2, arguments(split) + ["--stop-after", "13"], timeout: 300)
        XCTAssertEqual(first.status, 0, first.summary)
        let second = try TandemBinary.mpirun(2, arguments(split) + ["--resume", "auto"], timeout: 300)
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertTrue(try readMetrics(split).contains { $0["event"] as? String == "start" && $0["start_step"] as? Int == 13 })
        try assertSameFinalTensors(split, whole, "after a stop at step 13 and a resume")
        // The validation records of both runs agree too (evaluations at 10, 20 and the end).
        let evaluations = { (run: String) in try readMetrics(run).filter { $0["validation_loss"] != nil }.compactMap { $0["validation_loss"] as? Double } }
        XCTAssertEqual(try evaluations(whole).suffix(2), try evaluations(split).suffix(2))
    }
}
