import Foundation
import XCTest
import Tandem

/// A data source of any shape: here one class per position of a short sequence (as a language
/// model's next-token targets). The loss is the mean over every target of the global batch, and
/// the world size still does not change the mathematics.
final class DataSourceTests: XCTestCase {
    /// Sequences of 4 tokens from a vocabulary of 3, one-hot encoded; the target at each
    /// position is the next token, (token + 1) mod 3.
    final class NextToken: DataSource {
        static let positions = 4, vocabulary = 3
        let count: Int
        init(count: Int) { self.count = count }
        var name: String { "next-token" }
        var sampleShape: [Int] { [Self.positions, Self.vocabulary] }
        var targetKind: TargetKind { .classes(count: Self.vocabulary, perSample: Self.positions) }
        var fingerprint: UInt64 { UInt64(count) }
        func token(_ sample: Int, _ position: Int) -> Int { (sample * 7 + position * position * 5 + sample / 3) % Self.vocabulary }
        func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage) {
            let width = Self.positions * Self.vocabulary
            for (row, sample) in indices.enumerated() {
                for p in 0..<Self.positions {
                    let t = token(sample, p)
                    for v in 0..<Self.vocabulary { inputs[row * width + p * Self.vocabulary + v] = v == t ? 1 : 0 }
                    targets.classes![row * Self.positions + p] = Int32((t + 1) % Self.vocabulary)
                }
            }
        }
    }

    static func model() throws -> Model {
        try Model([Flatten(), Linear(12, 16), Activation(.tanh), Linear(16, 12)], inputShape: [4, 3])
    }

    func train(ranks: Int, steps: Int = 20) throws -> (losses: [Double], parameters: [Float]) {
        var config = TrainingConfig()
        config.model = "next-token"
        config.globalBatch = 30
        config.maxSteps = steps
        config.shuffle = false
        config.progress = false
        config.evaluateEveryEpoch = false
        config.threads = 1
        config.learningRate = 0.01
        config.warmupSteps = 0
        config.runDirectory = TandemBinary.temporaryDirectory(self, "tokens")
        let data = TrainingData(train: NextToken(count: 120), test: NextToken(count: 45))
        var losses: [Double] = [], parameters: [Float] = []
        let lock = NSLock()
        let body: (Communicator) throws -> Void = { communicator in
            let trainer = try Trainer(model: try Self.model(), data: data, config: config, communicator: communicator)
            if communicator.isRoot { trainer.onStep = { _, outcome in losses.append(outcome.loss) } }
            _ = try trainer.run()
            if communicator.isRoot { lock.lock(); parameters = trainer.model.arena.valueArray; lock.unlock() }
        }
        if ranks == 1 { try body(SingleProcessCommunicator()) } else if let error = ThreadGroup(size: ranks).run(body) { throw error }
        return (losses, parameters)
    }

    func testTheLossIsTheMeanOverEveryTokenOfTheGlobalBatch() throws {
        let losses = try train(ranks: 1, steps: 1).losses
        // The first step's loss, by hand: the model as the trainer starts it (seed 42), the
        // first 30 samples (no shuffling), cross-entropy summed over 30 × 4 tokens, ÷ 120.
        let model = try Self.model()
        model.initializeParameters(seed: 42)
        let source = NextToken(count: 120)
        var x = [Float](repeating: 0, count: 30 * 12), y = [Int32](repeating: 0, count: 30 * 4)
        x.withUnsafeMutableBufferPointer { inputs in
            y.withUnsafeMutableBufferPointer { labels in
                source.fill(indices: Array(0..<30)[...], inputs: inputs.baseAddress!, targets: TargetStorage(classes: labels.baseAddress, values: nil))
            }
        }
        let logits = try model.forward(Tensor(shape: [30, 4, 3], values: x), context: ForwardContext(training: true)).scalars
        var total = 0.0
        for row in 0..<120 {
            let z = logits[(row * 3)..<(row * 3 + 3)].map(Double.init)
            let top = z.max()!
            total += log(z.map { exp($0 - top) }.reduce(0, +)) + top - z[Int(y[row])]
        }
        XCTAssertEqual(try XCTUnwrap(losses.first), total / 120, accuracy: 1e-6)
    }

    func testTokenTargetsTrainAlikeOnEveryWorldSize() throws {
        let one = try train(ranks: 1)
        XCTAssertEqual(one.losses.count, 20)
        XCTAssertLessThan(one.losses.last!, one.losses.first! * 0.8, "training must learn the next token")
        for ranks in [2, 3] {
            let many = try train(ranks: ranks)
            XCTAssertEqual(many.losses.count, one.losses.count)
            for (a, b) in zip(many.losses, one.losses) { XCTAssertEqual(a, b, accuracy: 1e-5 * b, "\(ranks) ranks") }
            XCTAssertLessThan(ThreadGroupEquivalenceTests.relativeDifference(many.parameters, one.parameters), 1e-5)
        }
    }

    func testTheModelMustOutputAClassScoreForEveryPosition() throws {
        var config = TrainingConfig()
        config.globalBatch = 30; config.progress = false; config.runDirectory = TandemBinary.temporaryDirectory(self, "tokens")
        let data = TrainingData(train: NextToken(count: 120), test: NextToken(count: 45))
        let short = try Model([Flatten(), Linear(12, 3)], inputShape: [4, 3])
        XCTAssertThrowsError(try Trainer(model: short, data: data, config: config, communicator: SingleProcessCommunicator())) { error in
            XCTAssertTrue("\(error)".contains("outputs 3 values per sample but the data's targets need 12"), "\(error)")
        }
    }
}
