import Foundation
import Tandem
import XCTest

/// The model of `Sources/residual-example`, written in Swift against the library's API (nested
/// `Residual`s of `Sequential`s, a weight used by two layers, a layer of its own that sums
/// statistics over the global batch and keeps a running buffer), trains alike on every launch
/// mode and both gradient paths, checks its gradients, and checkpoints and resumes.
final class ResidualExampleTests: XCTestCase {
    static var path: String { TandemBinary.packageRoot.appendingPathComponent(".build/release/residual-example").path }

    struct Outcome { var losses: [Double]; var tensors: [String: [Float]] }

    func train(ranks: Int = 1, simulated: Bool = false, _ arguments: [String] = [], runDirectory: String? = nil) throws -> Outcome {
        let directory = runDirectory ?? TandemBinary.temporaryDirectory(self, "example")
        let args = ["--run-dir", directory] + arguments + (simulated ? ["--simulate-ranks", "\(ranks)"] : [])
        let result = simulated || ranks == 1
            ? try TandemBinary.launch(executable: Self.path, arguments: args, timeout: 120)
            : try TandemBinary.launch(executable: "/usr/bin/mpirun",
                                      arguments: TandemBinary.mpirunArguments(ranks) + [Self.path] + args, timeout: 120)
        XCTAssertEqual(result.status, 0, result.summary)
        let losses = try readMetrics(directory).filter { $0["event"] as? String == "step" }.compactMap { $0["loss"] as? Double }
        let latest = try XCTUnwrap(CheckpointDirectory(path: directory, keep: 3).latestPath(), "a final checkpoint must exist")
        let file = try CheckpointFile.read(path: latest)
        return Outcome(losses: losses, tensors: Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.values) }))
    }

    func assertClose(_ a: Outcome, _ b: Outcome, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.losses.count, 40, label, file: file, line: line)
        XCTAssertEqual(a.losses.count, b.losses.count, label, file: file, line: line)
        for (x, y) in zip(a.losses, b.losses) {
            XCTAssertLessThan(abs(x - y) / abs(y), 1e-4, "\(label): loss \(x) vs \(y)", file: file, line: line)
        }
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys), label, file: file, line: line)
        var difference = 0.0, norm = 0.0
        for (name, values) in b.tensors where !name.hasPrefix("optim.") {
            guard let other = a.tensors[name], other.count == values.count else { continue }
            for (x, y) in zip(other, values) { difference += pow(Double(x) - Double(y), 2); norm += pow(Double(y), 2) }
        }
        XCTAssertLessThan((difference / norm).squareRoot(), 1e-4, label, file: file, line: line)
    }

    func testTrainsAlikeInOneProcessOnSimulatedRanksAndUnderMpirun() throws {
        let one = try train()
        XCTAssertLessThan(one.losses.last!, one.losses.first! * 0.6, "training must move the weights")
        assertClose(try train(ranks: 3, simulated: true), one, "--simulate-ranks 3")
        assertClose(try train(ranks: 2), one, "mpirun -np 2 (shared memory)")
        assertClose(try train(ranks: 2, ["--reduce", "mpi"]), one, "mpirun -np 2 --reduce mpi")
    }

    func testCheckpointHoldsTheTiedWeightOnceAndTheBufferOutsideTheOptimizer() throws {
        let names = Set(try train(["--steps", "5"]).tensors.keys)
        XCTAssertTrue(names.contains("4.body.0.weight"), "the shared weight, under its owner's name")
        XCTAssertFalse(names.contains("5.body.0.weight"), "the tied user stores no copy")
        XCTAssertTrue(names.contains("5.body.0.bias") && names.contains("5.shortcut.weight"))
        XCTAssertTrue(names.contains("3.running_mean"), "the buffer is saved")
        XCTAssertFalse(names.contains { $0.hasPrefix("optim.") && $0.hasSuffix("running_mean") }, "no optimizer state for a buffer")
        XCTAssertTrue(names.contains("optim.exp_avg.4.body.0.weight"))
    }

    func testResumeRestoresTheSwiftModelExactly() throws {
        let straight = try train()
        let directory = TandemBinary.temporaryDirectory(self, "example-resume")
        _ = try train(["--stop-after", "20"], runDirectory: directory)
        let resumed = try train(["--resume"], runDirectory: directory)
        XCTAssertEqual(resumed.losses.count, 40, "the resumed run logs steps 21-40 after the first 20")
        XCTAssertEqual(resumed.losses, straight.losses, "losses continue exactly")
        XCTAssertEqual(resumed.tensors["3.running_mean"], straight.tensors["3.running_mean"], "buffers are restored")
        XCTAssertEqual(resumed.tensors["4.body.0.weight"], straight.tensors["4.body.0.weight"])
    }

    func testGradientCheckOfTheWholeModelPasses() throws {
        let result = try TandemBinary.launch(executable: Self.path, arguments: ["--gradcheck"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stdout.hasPrefix("ok "), result.stdout)
    }

    func testTheCommandLineRefusesToRebuildASwiftModel() throws {
        let directory = TandemBinary.temporaryDirectory(self, "example-eval")
        _ = try train(["--steps", "3"], runDirectory: directory)
        let latest = try XCTUnwrap(CheckpointDirectory(path: directory, keep: 3).latestPath())
        let eval = try TandemBinary.run(["eval", "--checkpoint", latest], timeout: 60)
        XCTAssertNotEqual(eval.status, 0)
        XCTAssertEqual(eval.tandemErrorLines.count, 1, eval.summary)
        XCTAssertTrue(eval.stderr.contains("built in Swift"), eval.stderr)
    }
}
