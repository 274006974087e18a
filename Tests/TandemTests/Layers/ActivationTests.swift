import Foundation
import XCTest
import Tandem
import CKernels

final class ActivationTests: XCTestCase {
    private let points: [Float] = [-3, -1, -0.5, 0, 0.5, 1, 2]

    private func forward(_ function: ActivationFunction, _ x: [Float]) -> [Float] {
        Activation(function).forward(Tensor(shape: [1, x.count], values: x), context: .evaluation).scalars
    }

    private func inputGradient(_ function: ActivationFunction, _ x: [Float], _ dy: [Float]) -> [Float] {
        let layer = Activation(function)
        _ = layer.forward(Tensor(shape: [1, x.count], values: x), context: ForwardContext(training: true))
        return layer.backward(Tensor(shape: [1, dy.count], values: dy), needsInputGradient: true, context: BackwardContext())?.scalars ?? []
    }

    /// Standard normal CDF and density, in Double.
    private func phi(_ x: Double) -> Double { 0.5 * (1 + erf(x / 2.0.squareRoot())) }
    private func density(_ x: Double) -> Double { exp(-x * x / 2) / (2 * Double.pi).squareRoot() }

    func testReLU() {
        XCTAssertEqual(forward(.relu, points), [0, 0, 0, 0, 0.5, 1, 2])
        XCTAssertEqual(inputGradient(.relu, [-2, 3, 0.1], [5, 7, -1]), [0, 7, -1])
    }

    func testLeakyReLU() {
        assertClose(forward(.leakyReLU(slope: 0.01), points), [-0.03, -0.01, -0.005, 0, 0.5, 1, 2], relative: 1e-7)
        assertClose(forward(.leakyReLU(slope: 0.2), [-5, 5]), [-1, 5], relative: 1e-7)
        assertClose(inputGradient(.leakyReLU(slope: 0.1), [-2, 3], [4, 4]), [0.4, 4], relative: 1e-7)
    }

    func testSigmoid() {
        let expected = points.map { 1 / (1 + exp(-Double($0))) }
        assertClose(forward(.sigmoid, points), expected, relative: 1e-6)
        XCTAssertEqual(forward(.sigmoid, [0]), [0.5])
        // σ'(x) = σ(x)(1 − σ(x)); σ'(0) = 0.25
        let s2 = 1 / (1 + exp(-2.0))
        assertClose(inputGradient(.sigmoid, [0, 2], [1, 3]), [0.25, 3 * s2 * (1 - s2)], relative: 1e-6)
        // Saturates without NaN.
        let extreme = forward(.sigmoid, [-200, 200])
        XCTAssertEqual(extreme[0], 0, accuracy: 1e-30)
        XCTAssertEqual(extreme[1], 1)
    }

    func testTanh() {
        assertClose(forward(.tanh, points), points.map { Foundation.tanh(Double($0)) }, relative: 1e-6)
        // tanh'(x) = 1 − tanh²(x)
        let t = Foundation.tanh(0.5)
        assertClose(inputGradient(.tanh, [0, 0.5], [2, 1]), [2, 1 - t * t], relative: 1e-6)
    }

    func testGELUExactErfForm() {
        let y = forward(.gelu, [1, -1, 0, 2, -3])
        // PyTorch's nn.GELU() (approximate='none'): gelu(1) = 0.8413447, gelu(−1) = −0.1586553.
        XCTAssertEqual(y[0], 0.8413447, accuracy: 1e-6)
        XCTAssertEqual(y[1], -0.1586553, accuracy: 1e-6)
        XCTAssertEqual(y[2], 0)
        XCTAssertEqual(y[3], 1.9544997, accuracy: 1e-6)
        XCTAssertEqual(y[4], Float(-3 * phi(-3)), accuracy: 1e-6)
        // Not the tanh approximation: that gives gelu(1) = 0.8411920.
        XCTAssertGreaterThan(abs(y[0] - 0.8411920), 1e-4)
        // gelu'(x) = Φ(x) + x·φ(x)
        let dx = inputGradient(.gelu, [1, 0, -1], [1, 1, 2])
        assertClose(dx, [phi(1) + density(1), 0.5, 2 * (phi(-1) - density(-1))], relative: 1e-5)
    }

    /// Training keeps GELU's slope from the forward pass; evaluation does not, and a backward
    /// after it recomputes the slope from x. Both must give the same outputs, bit for bit, and
    /// the same gradients to rounding, over enough values to run the vector loops and their tails.
    func testGELUKeptSlopeMatchesTheRecomputedOne() {
        let x = (0..<1_003).map { Float($0) * 0.012 - 6 }
        let dy = (0..<1_003).map { Float(($0 * 37) % 11) - 5 }
        let training = Activation(.gelu), evaluation = Activation(.gelu)
        let input = Tensor(shape: [1, x.count], values: x), gradOutput = Tensor(shape: [1, dy.count], values: dy)
        let yTraining = training.forward(input, context: ForwardContext(training: true)).scalars
        let yEvaluation = evaluation.forward(input, context: .evaluation).scalars
        XCTAssertEqual(yTraining.map(\.bitPattern), yEvaluation.map(\.bitPattern))
        let kept = training.backward(gradOutput, needsInputGradient: true, context: BackwardContext())!.scalars
        let recomputed = evaluation.backward(gradOutput, needsInputGradient: true, context: BackwardContext())!.scalars
        for i in x.indices {
            XCTAssertEqual(kept[i], recomputed[i], accuracy: 1e-6 * max(1, abs(recomputed[i])), "x = \(x[i])")
            let exact = Double(dy[i]) * (phi(Double(x[i])) + Double(x[i]) * density(Double(x[i])))
            XCTAssertEqual(Double(kept[i]), exact, accuracy: 2e-6 * max(1, abs(exact)), "x = \(x[i])")
        }
    }

    func testActivationPreservesShape() throws {
        let layer = Activation(.relu)
        XCTAssertEqual(try layer.outputShape(forInput: [1, 28, 28]), [1, 28, 28])
        let y = layer.forward(Tensor(shape: [2, 1, 2, 2], values: [1, -1, 2, -2, 3, -3, 4, -4]), context: .evaluation)
        XCTAssertEqual(y.shape, [2, 1, 2, 2])
        XCTAssertEqual(y.scalars, [1, 0, 2, 0, 3, 0, 4, 0])
    }

    func testNamesParse() {
        XCTAssertEqual(ActivationFunction.named("ReLU"), .relu)
        XCTAssertEqual(ActivationFunction.named("gelu"), .gelu)
        XCTAssertEqual(ActivationFunction.named("tanh"), .tanh)
        XCTAssertEqual(ActivationFunction.named("sigmoid"), .sigmoid)
        if case .leakyReLU(let slope)? = ActivationFunction.named("leakyrelu") {
            XCTAssertEqual(slope, 0.01, "PyTorch's default negative_slope")
        } else {
            XCTFail("leakyrelu should parse")
        }
        XCTAssertNil(ActivationFunction.named("swish"))
    }
}

final class SoftmaxTests: XCTestCase {
    func testRowsSumToOneAndMatchFormula() {
        let x: [Float] = [1, 2, 3, 0,
                          -1, 0, 5, 5,
                          0, 0, 0, 0]
        let y = Softmax().forward(Tensor(shape: [3, 4], values: x), context: .evaluation)
        XCTAssertEqual(y.shape, [3, 4])
        var expected: [Double] = []
        for r in 0..<3 {
            let row = x[(r * 4)..<(r * 4 + 4)].map { exp(Double($0)) }
            let total = row.reduce(0, +)
            expected += row.map { $0 / total }
        }
        assertClose(y.scalars, expected, relative: 1e-6)
        for r in 0..<3 {
            XCTAssertEqual(y.scalars[(r * 4)..<(r * 4 + 4)].reduce(0, +), 1, accuracy: 1e-6)
        }
        XCTAssertEqual(Array(y.scalars[8...]), [0.25, 0.25, 0.25, 0.25])
    }

    func testLargeLogitsAreStable() {
        let y = Softmax().forward(Tensor(shape: [1, 3], values: [1000, 1000, -1000]), context: .evaluation)
        XCTAssertEqual(y.scalars, [0.5, 0.5, 0])
        var out = [Float](repeating: 0, count: 3)
        let lse = Softmax.probabilities([1e4, -1e4, 0], count: 3, into: &out)
        XCTAssertEqual(lse, 1e4, accuracy: 1e-2, "log Σ exp = max + log(1 + tiny)")
        XCTAssertEqual(out[0], 1)
        XCTAssertTrue(out.allSatisfy(\.isFinite))
    }

    /// A NaN among the logits must reach the loss (the step is then skipped), not vanish in exp.
    func testANaNLogitMakesTheRowNaN() {
        for count in [3, 20] {
            var logits = [Float](repeating: 0.5, count: count)
            logits[1] = .nan
            var out = [Float](repeating: 0, count: count)
            let lse = Softmax.probabilities(logits, count: count, into: &out)
            XCTAssertTrue(lse.isNaN, "\(count) logits: log Σ exp = \(lse)")
            XCTAssertTrue(out.allSatisfy(\.isNaN), "\(count) logits: \(out)")
        }
    }

    /// Attention's causal rows, forward and backward, for every visible length of rows 13, 16
    /// and 40 wide: the masked columns (holding large scores, as the block's product leaves them)
    /// change nothing and end as exact zeros, whether the rounding up to whole vectors reaches
    /// past the visible values, stops at the width, or is not needed.
    func testCausalRowsIgnoreTheirMaskedColumns() {
        var rng = SplitMix64(seed: 5)
        for width in [13, 16, 40] {
            for visible in 1...width {
                let scores = (0..<width).map { $0 < visible ? rng.uniform(-4, 4) : rng.uniform(50, 80) }
                let upstream = (0..<width).map { _ in rng.uniform(-1, 1) }
                var p = scores, ds = upstream
                tandem_causal_softmax(&p, visible, width)
                tandem_causal_softmax_backward(p, &ds, visible, width)
                let top = scores[..<visible].max()!
                let e = scores[..<visible].map { exp(Double($0 - top)) }, total = e.reduce(0, +)
                let expected = e.map { $0 / total }
                let dot = (0..<visible).reduce(0.0) { $0 + expected[$1] * Double(upstream[$1]) }
                let expectedDS = (0..<visible).map { expected[$0] * (Double(upstream[$0]) - dot) }
                assertClose(Array(p[..<visible]), expected, relative: 1e-5, "width \(width), visible \(visible)")
                for j in 0..<visible {
                    XCTAssertEqual(Double(ds[j]), expectedDS[j], accuracy: 1e-6, "dS, width \(width), visible \(visible), column \(j)")
                }
                XCTAssertTrue(p[visible...].allSatisfy { $0 == 0 && $0.sign == .plus }, "width \(width), visible \(visible): \(p)")
                XCTAssertTrue(ds[visible...].allSatisfy { $0 == 0 && $0.sign == .plus }, "width \(width), visible \(visible): \(ds)")
            }
        }
    }

    func testLogSumExpReturned() {
        var out = [Float](repeating: 0, count: 3)
        let lse = Softmax.probabilities([1, 2, 3], count: 3, into: &out)
        XCTAssertEqual(Double(lse), log(exp(1.0) + exp(2.0) + exp(3.0)), accuracy: 1e-6)
    }

    func testBackwardIsJacobianProduct() throws {
        // dx = J·dy with J_ij = y_i(δ_ij − y_j), computed here from the probabilities.
        let layer = Softmax()
        let x: [Float] = [0.5, -1, 2]
        let y = layer.forward(Tensor(shape: [1, 3], values: x), context: ForwardContext(training: true)).scalars.map(Double.init)
        let dy: [Float] = [1, -2, 0.5]
        let dx = try layer.backward(Tensor(shape: [1, 3], values: dy), needsInputGradient: true)!.scalars
        var expected = [Double](repeating: 0, count: 3)
        for i in 0..<3 {
            for j in 0..<3 { expected[i] += y[i] * ((i == j ? 1 : 0) - y[j]) * Double(dy[j]) }
        }
        assertClose(dx, expected, relative: 1e-6)
    }
}
