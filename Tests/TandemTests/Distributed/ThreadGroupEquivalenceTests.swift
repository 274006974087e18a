import Foundation
import Tandem
import XCTest

/// The world size must not change the mathematics: N simulated ranks train to the same
/// parameters and losses as one process, for global batches that do and do not divide evenly.
final class ThreadGroupEquivalenceTests: XCTestCase {
    static let data: TrainingData? = {
        var config = TrainingConfig()
        config.trainSubset = 8_000
        return try? TrainingData.load(config)
    }()

    struct Run { var parameters: [Float]; var losses: [Double]; var decisions: [ClipDecision] }

    func train(ranks: Int, globalBatch: Int, steps: Int = 50, configure: (inout TrainingConfig) -> Void = { _ in }) throws -> Run {
        let data = try XCTUnwrap(Self.data, "Fashion-MNIST must be installed (scripts/setup)")
        var config = TrainingConfig()
        config.globalBatch = globalBatch
        config.maxSteps = steps
        config.trainSubset = 8_000
        config.progress = false
        config.evaluateEveryEpoch = false
        config.threads = 1
        config.runDirectory = NSTemporaryDirectory() + "tandem-tg-\(UUID().uuidString)"
        configure(&config)
        defer { try? FileManager.default.removeItem(atPath: config.runDirectory!) }
        var result = Run(parameters: [], losses: [], decisions: [])
        let lock = NSLock()
        let body: (Communicator) throws -> Void = { communicator in
            let trainer = try Trainer(config: config, communicator: communicator, data: data)
            if communicator.rank == 0 {
                trainer.onStep = { _, outcome in result.losses.append(outcome.loss); result.decisions.append(outcome.decision) }
            }
            _ = try trainer.run()
            if communicator.rank == 0 { lock.lock(); result.parameters = trainer.model.arena.valueArray; lock.unlock() }
        }
        if ranks == 1 {
            try body(SingleProcessCommunicator())
        } else if let error = ThreadGroup(size: ranks).run(body) {
            throw error
        }
        return result
    }

    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var diff = 0.0, norm = 0.0
        for i in a.indices { diff += pow(Double(a[i]) - Double(b[i]), 2); norm += pow(Double(b[i]), 2) }
        return (diff / norm).squareRoot()
    }

    func assertEquivalent(_ run: Run, _ reference: Run, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.losses.count, reference.losses.count, label, file: file, line: line)
        XCTAssertEqual(run.parameters.count, reference.parameters.count, label, file: file, line: line)
        guard run.parameters.count == reference.parameters.count else { return }
        XCTAssertLessThan(Self.relativeDifference(run.parameters, reference.parameters), 1e-4, label, file: file, line: line)
        for (a, b) in zip(run.losses, reference.losses) {
            XCTAssertLessThan(abs(a - b) / abs(b), 1e-4, "\(label): loss \(a) vs \(b)", file: file, line: line)
        }
    }

    func testSimulatedRanksMatchOneProcess() throws {
        for batch in [128, 130] {
            let reference = try train(ranks: 1, globalBatch: batch)
            XCTAssertEqual(reference.losses.count, 50)
            // Training must actually move the weights, or equality would prove nothing.
            XCTAssertLessThan(reference.losses.last!, reference.losses.first! * 0.8)
            for ranks in [2, 3, 4] {
                // Simulated ranks share one process, so "auto" takes the shared-arena path.
                assertEquivalent(try train(ranks: ranks, globalBatch: batch), reference, "\(ranks) ranks, batch \(batch)")
                assertEquivalent(try train(ranks: ranks, globalBatch: batch) { $0.reduce = .mpi }, reference,
                                 "\(ranks) ranks, batch \(batch), allreduce path")
            }
        }
    }

    func testSmallCNNWithDropoutMatchesAcrossWorldSizes() throws {
        // Dropout masks depend on (seed, step, index in the global batch), never on the rank.
        let cnn: (inout TrainingConfig) -> Void = { $0.model = "cnn-small" }
        let reference = try train(ranks: 1, globalBatch: 30, steps: 20, configure: cnn)
        XCTAssertLessThan(reference.losses.last!, reference.losses.first!)
        for ranks in [2, 3, 4] {
            assertEquivalent(try train(ranks: ranks, globalBatch: 30, steps: 20, configure: cnn), reference, "cnn-small, \(ranks) ranks")
        }
    }

    func testLayersBeforeASplitFirstDenseLayerMatchAcrossWorldSizes() throws {
        // Dropout and pooling ahead of the first dense layer, whose forward pass the ranks split
        // by rows (196 × 256 weights outweigh 64 samples' activations): that layer must see what
        // they made of the input, not the data set's samples.
        let model: (inout TrainingConfig) -> Void = { $0.model = "dropout:0.2,maxpool:2,flatten,linear:256,relu,linear:10" }
        let reference = try train(ranks: 1, globalBatch: 64, steps: 20, configure: model)
        XCTAssertLessThan(reference.losses.last!, reference.losses.first!)
        for ranks in [2, 3] {
            assertEquivalent(try train(ranks: ranks, globalBatch: 64, steps: 20, configure: model), reference,
                             "pooling before the first dense layer, \(ranks) ranks")
        }
    }

    func testDifferentSeedsDiverge() throws {
        // Guards the comparison itself: a different run is far outside the tolerance.
        let a = try train(ranks: 2, globalBatch: 64, steps: 10)
        let b = try train(ranks: 2, globalBatch: 64, steps: 10) { $0.seed = 7 }
        XCTAssertGreaterThan(Self.relativeDifference(a.parameters, b.parameters), 1e-2)
    }

    func testRankZeroClipDecisionIsAppliedEverywhere() throws {
        let clipped = try train(ranks: 3, globalBatch: 96, steps: 20) { $0.clipNorm = 0.05 }
        XCTAssertTrue(clipped.decisions.allSatisfy { $0.clipped }, "a tiny max norm must clip every step")
        for d in clipped.decisions {
            XCTAssertEqual(Double(d.coefficient), 0.05 / (d.norm + 1e-6), accuracy: 1e-6)
        }
        assertEquivalent(clipped, try train(ranks: 1, globalBatch: 96, steps: 20) { $0.clipNorm = 0.05 }, "clipped")
        assertEquivalent(try train(ranks: 3, globalBatch: 96, steps: 20) { $0.clipNorm = 0.05; $0.reduce = .mpi }, clipped,
                         "clipped, allreduce path")
        let unclipped = try train(ranks: 3, globalBatch: 96, steps: 20)
        XCTAssertGreaterThan(Self.relativeDifference(clipped.parameters, unclipped.parameters), 1e-3)
    }

    func testNonFiniteGradientOnOneRankSkipsTheStepEverywhere() throws {
        // Both runs plan 50 steps (same schedule) and stop early, after 5 and after 6 steps.
        let five = try train(ranks: 3, globalBatch: 96, steps: 50) { $0.stopAfter = 5 }
        let poisoned = try train(ranks: 3, globalBatch: 96, steps: 50) { $0.stopAfter = 6; $0.injectNaN = (rank: 2, step: 5) }
        XCTAssertEqual(poisoned.decisions.count, 6)
        XCTAssertTrue(poisoned.decisions[5].skip)
        XCTAssertFalse(poisoned.decisions[4].skip)
        // The skipped step left every parameter exactly as it was after step 5.
        XCTAssertTrue(poisoned.parameters == five.parameters, "a skipped step changed the parameters")
        let seven = try train(ranks: 3, globalBatch: 96, steps: 50) { $0.stopAfter = 6 }
        XCTAssertFalse(seven.parameters == five.parameters, "an unskipped step must change them")
    }

    func testBatchSmallerThanWorldIsRefusedOnEveryRank() {
        XCTAssertThrowsError(try train(ranks: 4, globalBatch: 3, steps: 1)) { error in
            XCTAssertTrue("\(error)".contains("smaller than the world size 4"), "\(error)")
        }
    }

    func testParameterDivergenceIsDetected() {
        XCTAssertThrowsError(try train(ranks: 2, globalBatch: 64, steps: 10) {
            $0.consistencyEvery = 5; $0.injectDivergence = (rank: 1, step: 5); $0.reduce = .mpi
        }) { error in
            XCTAssertTrue("\(error)".contains("diverged at step 5"), "\(error)")
            XCTAssertTrue("\(error)".contains("rank 1"), "\(error)")
        }
    }
}
