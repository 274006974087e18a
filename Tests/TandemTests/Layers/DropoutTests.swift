import XCTest
import Tandem

/// Inverted dropout: identity in evaluation; in training a mask that keeps about 1 − p of the
/// values, scales them by 1 / (1 − p), and depends only on (seed, step, global sample index,
/// element index), never on how the global batch is split into shards.
final class DropoutTests: XCTestCase {
    /// Inputs in [0.5, 1.5): never zero, so a zero in the output can only be a dropped value.
    private func input(batch: Int, features: Int, seed: UInt64 = 41) -> Tensor {
        var rng = TestRandom(seed: seed)
        return Tensor(shape: [batch, features], values: rng.floats(batch * features, 0.5, 1.5))
    }

    func testEvaluationIsIdentity() throws {
        let dropout = Dropout(0.5)
        let x = input(batch: 4, features: 10)
        let y = dropout.forward(x, context: .evaluation)
        XCTAssertEqual(y.shape, x.shape)
        XCTAssertEqual(y.scalars, x.scalars)
        let dy = input(batch: 4, features: 10, seed: 42)
        XCTAssertEqual(try XCTUnwrap(try dropout.backward(dy, needsInputGradient: true)).scalars, dy.scalars)
    }

    func testTwoDropoutLayersOfOneSizeDrawDifferentMasks() throws {
        let model = try ModelSpec("linear:64,dropout:0.5,linear:64,dropout:0.5,linear:10").build(inputShape: [20])
        let first = try XCTUnwrap(model.layers[1] as? Dropout), second = try XCTUnwrap(model.layers[3] as? Dropout)
        XCTAssertNotEqual(first.stream, second.stream)
        let x = input(batch: 8, features: 64)
        let context = ForwardContext(training: true, seed: 5, step: 3)
        let a = first.forward(x, context: context).scalars.map { $0 == 0 }
        let b = second.forward(x, context: context).scalars.map { $0 == 0 }
        XCTAssertNotEqual(a, b, "each dropout layer needs its own random stream")
    }

    func testTwoDropoutsWrittenInSwiftDrawDifferentMasks() throws {
        // No streams given: the model numbers them, even inside nested blocks.
        let first = Dropout(0.5), second = Dropout(0.5), third = Dropout(0.5)
        _ = try Model(Sequential(Linear(20, 64), first, Residual(Sequential(second, Linear(64, 64))), third), inputShape: [20])
        XCTAssertEqual(Set([first.stream, second.stream, third.stream]).count, 3)
        let x = input(batch: 8, features: 64)
        let context = ForwardContext(training: true, seed: 5, step: 3)
        let masks = [first, second, third].map { $0.forward(x, context: context).scalars.map { $0 == 0 } }
        XCTAssertNotEqual(masks[0], masks[1])
        XCTAssertNotEqual(masks[1], masks[2])
        let fixed = Dropout(0.5, stream: 9)
        _ = try Model([Linear(20, 64), fixed], inputShape: [20])
        XCTAssertEqual(fixed.stream, 9, "a stream given at creation is kept")
    }

    func testTrainingKeepsAboutOneMinusPAndScalesThem() throws {
        let p: Float = 0.3
        let dropout = Dropout(p)
        let x = input(batch: 64, features: 1000)
        let y = dropout.forward(x, context: ForwardContext(training: true, seed: 5, step: 3))
        let xs = x.scalars, ys = y.scalars
        let kept = ys.filter { $0 != 0 }.count
        let fraction = Double(kept) / Double(ys.count)
        // 64 000 Bernoulli(0.7) draws: the standard deviation of the fraction is 0.0018.
        XCTAssertEqual(fraction, 0.7, accuracy: 0.01)
        for i in 0..<ys.count where ys[i] != 0 {
            XCTAssertEqual(ys[i], xs[i] / (1 - p), accuracy: 1e-6 * abs(xs[i] / (1 - p)), "kept values are scaled by 1/(1−p)")
        }
        // Every sample has its own mask.
        XCTAssertNotEqual(ys[0..<1000].map { $0 == 0 }, ys[1000..<2000].map { $0 == 0 })
    }

    func testBackwardUsesTheForwardMask() throws {
        let p: Float = 0.5
        let dropout = Dropout(p)
        let x = input(batch: 8, features: 50)
        let y = dropout.forward(x, context: ForwardContext(training: true, seed: 1, step: 0)).scalars
        let dy = input(batch: 8, features: 50, seed: 43)
        let dx = try XCTUnwrap(try dropout.backward(dy, needsInputGradient: true)).scalars
        let g = dy.scalars
        for i in 0..<dx.count {
            XCTAssertEqual(dx[i], y[i] == 0 ? 0 : g[i] / (1 - p), accuracy: 1e-6, "element \(i)")
        }
        XCTAssertNil(try dropout.backward(dy, needsInputGradient: false))
    }

    func testMaskIsTheSameWhateverTheShardSplit() {
        // The global batch of 8 on one rank, and its second half on a rank whose shard starts at 4.
        let whole = input(batch: 8, features: 37)   // odd: the last draw of each sample is half used
        let secondHalf = Tensor(shape: [4, 37], values: Array(whole.scalars[(4 * 37)...]))
        let firstHalf = Tensor(shape: [4, 37], values: Array(whole.scalars[..<(4 * 37)]))
        let all = Dropout(0.5).forward(whole, context: ForwardContext(training: true, seed: 11, step: 7, globalSampleOffset: 0)).scalars
        let high = Dropout(0.5).forward(secondHalf, context: ForwardContext(training: true, seed: 11, step: 7, globalSampleOffset: 4)).scalars
        let low = Dropout(0.5).forward(firstHalf, context: ForwardContext(training: true, seed: 11, step: 7, globalSampleOffset: 0)).scalars
        XCTAssertEqual(high, Array(all[(4 * 37)...]))
        XCTAssertEqual(low, Array(all[..<(4 * 37)]))
        // The offset matters: the same rows at offset 0 get other masks.
        let shifted = Dropout(0.5).forward(secondHalf, context: ForwardContext(training: true, seed: 11, step: 7, globalSampleOffset: 0)).scalars
        XCTAssertNotEqual(shifted, high)
    }

    func testMaskDependsOnSeedStepAndStreamButRepeatsForTheSameContext() {
        let x = input(batch: 4, features: 64)
        func zeros(_ dropout: Dropout, seed: UInt64, step: Int) -> [Bool] {
            dropout.forward(x, context: ForwardContext(training: true, seed: seed, step: step)).scalars.map { $0 == 0 }
        }
        let layer = Dropout(0.5)
        let reference = zeros(layer, seed: 1, step: 1)
        XCTAssertEqual(zeros(layer, seed: 1, step: 1), reference, "a repeated forward repeats the mask")
        XCTAssertEqual(zeros(Dropout(0.5), seed: 1, step: 1), reference, "a fresh layer draws the same mask")
        XCTAssertNotEqual(zeros(layer, seed: 1, step: 2), reference)
        XCTAssertNotEqual(zeros(layer, seed: 2, step: 1), reference)
        XCTAssertNotEqual(zeros(Dropout(0.5, stream: 1), seed: 1, step: 1), reference)
    }

    func testZeroProbabilityIsIdentityInTraining() {
        let x = input(batch: 3, features: 9)
        XCTAssertEqual(Dropout(0).forward(x, context: ForwardContext(training: true, seed: 3, step: 1)).scalars, x.scalars)
    }

    func testWorksOnImageShapedSamples() {
        // Element indices run over the whole [C, H, W] sample.
        let x = Tensor(shape: [2, 3, 4, 4], values: [Float](repeating: 1, count: 96))
        let y = Dropout(0.25).forward(x, context: ForwardContext(training: true, seed: 4, step: 0))
        XCTAssertEqual(y.shape, [2, 3, 4, 4])
        XCTAssertTrue(y.scalars.allSatisfy { $0 == 0 || abs($0 - 4.0 / 3.0) < 1e-6 })
        XCTAssertTrue(y.scalars.contains(0) && y.scalars.contains { $0 != 0 })
    }
}
