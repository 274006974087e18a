import Foundation
import XCTest
import Tandem

/// Optimizers against independent Double re-implementations of the update rules as documented
/// for torch.optim.SGD, torch.optim.Adam and torch.optim.AdamW.
final class OptimizerTests: XCTestCase {
    /// Linear(4 → 5): 25 parameters, so the arena has three full lanes of eight and a tail of one.
    private func makeArena() throws -> (Model, [Float]) {
        let model = try Model([Linear(4, 5)], inputShape: [4])
        var rng = TestRandom(seed: 77)
        let initial = rng.floats(model.arena.count, -1, 1)
        model.arena.setValues(initial)
        return (model, initial)
    }

    /// A different gradient at each step, of mixed signs and magnitudes.
    private func gradient(step t: Int, count: Int, scale: Double = 1) -> [Float] {
        (0..<count).map { i -> Float in
            let phase: Double = Double(i) * 0.7 + Double(t) * 1.3
            let magnitude: Double = 1 + Double(i % 3)
            return Float(scale * sin(phase) * magnitude)
        }
    }

    private let learningRates: [Float] = [0.1, 0.05, 0.02]

    private func setGradient(_ arena: ParameterArena, _ g: [Float]) {
        for i in 0..<arena.count { arena.gradients[i] = g[i] }
    }

    // MARK: SGD

    /// torch.optim.SGD (dampening 0):
    ///   g ← g + λθ;  b ← g (t = 1) or μb + g;  g ← g + μb (nesterov) or b;  θ ← θ − ηg
    private func referenceSGD(theta0: [Float], momentum mu: Double, nesterov: Bool, weightDecay wd: Double)
        -> (theta: [Double], buffer: [Double]) {
        var theta = theta0.map(Double.init)
        var b = [Double](repeating: 0, count: theta.count)
        for t in 0..<3 {
            let lr = Double(learningRates[t])
            let grad = gradient(step: t, count: theta.count).map(Double.init)
            for i in theta.indices {
                var g = grad[i]
                if wd != 0 { g += wd * theta[i] }
                if mu != 0 {
                    b[i] = t == 0 ? g : mu * b[i] + g
                    g = nesterov ? g + mu * b[i] : b[i]
                }
                theta[i] -= lr * g
            }
        }
        return (theta, b)
    }

    private func checkSGD(momentum: Float, nesterov: Bool, weightDecay: Float, file: StaticString = #filePath, line: UInt = #line) throws {
        let (model, initial) = try makeArena()
        let arena = model.arena
        let sgd = SGD(parameterCount: arena.count, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
        for t in 0..<3 {
            setGradient(arena, gradient(step: t, count: arena.count))
            sgd.step(arena, learningRate: learningRates[t])
        }
        XCTAssertEqual(sgd.stepCount, 3, file: file, line: line)
        let expected = referenceSGD(theta0: initial, momentum: Double(momentum), nesterov: nesterov, weightDecay: Double(weightDecay))
        let label = "SGD momentum \(momentum) nesterov \(nesterov) wd \(weightDecay)"
        assertRelativelyClose(arena.valueArray, expected.theta, relative: 1e-5, absoluteFloor: 1e-6, label, file: file, line: line)
        if momentum != 0 {
            XCTAssertEqual(sgd.stateNames, ["momentum_buffer"], file: file, line: line)
            assertRelativelyClose(Array(sgd.state(named: "momentum_buffer")), expected.buffer, relative: 1e-5,
                                  absoluteFloor: 1e-6, label + " buffer", file: file, line: line)
        } else {
            XCTAssertEqual(sgd.stateNames, [], file: file, line: line)
        }
    }

    func testSGDPlain() throws { try checkSGD(momentum: 0, nesterov: false, weightDecay: 0) }
    func testSGDMomentum() throws { try checkSGD(momentum: 0.9, nesterov: false, weightDecay: 0) }
    func testSGDNesterov() throws { try checkSGD(momentum: 0.9, nesterov: true, weightDecay: 0) }
    func testSGDWeightDecay() throws { try checkSGD(momentum: 0, nesterov: false, weightDecay: 0.1) }
    func testSGDMomentumNesterovWeightDecay() throws { try checkSGD(momentum: 0.8, nesterov: true, weightDecay: 0.05) }

    func testSGDFirstStepUsesGradientAsBuffer() throws {
        // PyTorch: the first momentum buffer is g itself (not (1 − dampening)·g, not μ·0 + g scaled).
        let (model, initial) = try makeArena()
        let sgd = SGD(parameterCount: model.arena.count, momentum: 0.9)
        setGradient(model.arena, [Float](repeating: 2, count: model.arena.count))
        sgd.step(model.arena, learningRate: 0.5)
        XCTAssertEqual(Array(sgd.state(named: "momentum_buffer")), [Float](repeating: 2, count: model.arena.count))
        assertClose(model.arena.valueArray, initial.map { Double($0) - 1 }, relative: 1e-7)
    }

    // MARK: Adam / AdamW

    /// torch.optim.Adam / AdamW:
    ///   Adam:  g ← g + λθ           AdamW: θ ← θ(1 − ηλ)
    ///   m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²
    ///   m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ);  θ ← θ − η m̂ / (√v̂ + ε)
    private func referenceAdam(theta0: [Float], beta1: Double, beta2: Double, eps: Double, weightDecay wd: Double,
                               decoupled: Bool, gradientScale: Double) -> (theta: [Double], m: [Double], v: [Double]) {
        var theta = theta0.map(Double.init)
        var m = [Double](repeating: 0, count: theta.count), v = m
        for t in 0..<3 {
            let lr = Double(learningRates[t])
            let grad = gradient(step: t, count: theta.count, scale: gradientScale).map(Double.init)
            let step = Double(t + 1)
            for i in theta.indices {
                var g = grad[i]
                if decoupled { theta[i] *= 1 - lr * wd } else { g += wd * theta[i] }
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                let mHat = m[i] / (1 - pow(beta1, step))
                let vHat = v[i] / (1 - pow(beta2, step))
                theta[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
        return (theta, m, v)
    }

    private func checkAdam(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float,
                           decoupled: Bool, gradientScale: Double = 1,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let (model, initial) = try makeArena()
        let arena = model.arena
        let adam = Adam(parameterCount: arena.count, beta1: beta1, beta2: beta2, epsilon: eps,
                        weightDecay: weightDecay, decoupled: decoupled)
        for t in 0..<3 {
            setGradient(arena, gradient(step: t, count: arena.count, scale: gradientScale))
            adam.step(arena, learningRate: learningRates[t])
        }
        XCTAssertEqual(adam.stepCount, 3, file: file, line: line)
        let expected = referenceAdam(theta0: initial, beta1: Double(beta1), beta2: Double(beta2), eps: Double(eps),
                                     weightDecay: Double(weightDecay), decoupled: decoupled, gradientScale: gradientScale)
        let label = "\(decoupled ? "AdamW" : "Adam") wd \(weightDecay) eps \(eps) scale \(gradientScale)"
        assertRelativelyClose(arena.valueArray, expected.theta, relative: 1e-5, absoluteFloor: 1e-6, label, file: file, line: line)
        XCTAssertEqual(adam.stateNames, ["exp_avg", "exp_avg_sq"], file: file, line: line)
        assertRelativelyClose(Array(adam.state(named: "exp_avg")), expected.m, relative: 1e-5,
                              absoluteFloor: 1e-6 * gradientScale, label + " exp_avg", file: file, line: line)
        assertRelativelyClose(Array(adam.state(named: "exp_avg_sq")), expected.v, relative: 1e-5,
                              absoluteFloor: 1e-6 * gradientScale * gradientScale, label + " exp_avg_sq", file: file, line: line)
    }

    func testAdam() throws { try checkAdam(weightDecay: 0, decoupled: false) }
    func testAdamL2WeightDecay() throws { try checkAdam(weightDecay: 0.1, decoupled: false) }
    func testAdamW() throws { try checkAdam(weightDecay: 0.1, decoupled: true) }
    func testAdamWZeroDecayEqualsAdam() throws { try checkAdam(weightDecay: 0, decoupled: true) }
    func testAdamOtherBetas() throws { try checkAdam(beta1: 0.5, beta2: 0.9, weightDecay: 0.01, decoupled: true) }

    func testAdamEpsilonIsAddedToBiasCorrectedRoot() throws {
        // Gradients of size ~1e-3 with ε = 1e-3: where ε sits (outside √v̂, after bias correction)
        // changes the update by tens of percent, so this pins PyTorch's placement.
        try checkAdam(eps: 1e-3, weightDecay: 0, decoupled: false, gradientScale: 1e-3)
        try checkAdam(eps: 1e-3, weightDecay: 0.1, decoupled: true, gradientScale: 1e-3)
    }

    func testAdamFirstStepMovesEachParameterByLearningRate() throws {
        // After bias correction the first Adam step is −η·sign(g) (up to ε).
        let (model, initial) = try makeArena()
        let adam = Adam(parameterCount: model.arena.count)
        let g = gradient(step: 0, count: model.arena.count)
        setGradient(model.arena, g)
        adam.step(model.arena, learningRate: 0.01)
        let expected = zip(initial, g).map { Double($0) - 0.01 * ($1 > 0 ? 1 : $1 < 0 ? -1 : 0) }
        assertRelativelyClose(model.arena.valueArray, expected, relative: 1e-5, absoluteFloor: 1e-6)
    }

    // MARK: Factory

    func testMakeOptimizer() throws {
        var config = OptimizerConfig()
        config.kind = .sgd; config.momentum = 0.5; config.nesterov = true; config.weightDecay = 0.01
        let sgd = try XCTUnwrap(makeOptimizer(config, parameterCount: 10) as? SGD)
        XCTAssertEqual(sgd.momentum, 0.5); XCTAssertTrue(sgd.nesterov); XCTAssertEqual(sgd.weightDecay, 0.01)
        config.kind = .adam
        let adam = try XCTUnwrap(makeOptimizer(config, parameterCount: 10) as? Adam)
        XCTAssertFalse(adam.decoupled); XCTAssertEqual(adam.name, "adam")
        config.kind = .adamw
        let adamw = try XCTUnwrap(makeOptimizer(config, parameterCount: 10) as? Adam)
        XCTAssertTrue(adamw.decoupled); XCTAssertEqual(adamw.name, "adamw")
        XCTAssertNil(OptimizerKind(rawValue: "rmsprop"), "an unknown optimizer is refused where it is typed")
    }
}

final class LearningRateScheduleTests: XCTestCase {
    func testConstant() {
        for step in [0, 1, 100, 10_000] {
            XCTAssertEqual(LearningRateSchedule.constant.learningRate(base: 0.3, step: step), 0.3)
        }
    }

    func testStepDecay() {
        let s = LearningRateSchedule.step(every: 10, gamma: 0.5)
        for step in 0..<10 { XCTAssertEqual(s.learningRate(base: 0.8, step: step), 0.8, accuracy: 1e-7) }
        for step in 10..<20 { XCTAssertEqual(s.learningRate(base: 0.8, step: step), 0.4, accuracy: 1e-7) }
        XCTAssertEqual(s.learningRate(base: 0.8, step: 25), 0.2, accuracy: 1e-7)
        XCTAssertEqual(s.learningRate(base: 0.8, step: 30), 0.1, accuracy: 1e-7)
    }

    func testCosineWarmupRampsLinearly() {
        let s = LearningRateSchedule.cosine(warmup: 10, total: 100)
        let base: Float = 0.5
        let ramp = (0..<10).map { s.learningRate(base: base, step: $0) }
        XCTAssertGreaterThan(ramp[0], 0, "the first step must not have a zero learning rate")
        XCTAssertLessThanOrEqual(ramp[0], base / 10 + 1e-7)
        let increments = zip(ramp.dropFirst(), ramp).map { $0 - $1 }
        for d in increments { XCTAssertEqual(d, base / 10, accuracy: 1e-6, "linear ramp") }
        XCTAssertEqual(ramp[9], base, accuracy: 1e-6, "warm-up ends at the base rate")
    }

    func testCosineDecaysToZeroAtTotal() {
        let s = LearningRateSchedule.cosine(warmup: 10, total: 100)
        let base: Float = 0.5
        XCTAssertEqual(s.learningRate(base: base, step: 10), base, accuracy: 1e-6)
        // Halfway through the cosine part: base/2.
        XCTAssertEqual(s.learningRate(base: base, step: 55), base / 2, accuracy: 1e-6)
        // A quarter of the way: base · (1 + cos(π/4)) / 2.
        let quarter = Float(0.5 * (1 + cos(Double.pi / 4))) * base
        XCTAssertEqual(s.learningRate(base: base, step: 10 + 90 / 4), quarter, accuracy: 0.01)
        XCTAssertLessThan(s.learningRate(base: base, step: 99), base * 1e-3)
        XCTAssertEqual(s.learningRate(base: base, step: 100), 0, accuracy: 1e-7)
        XCTAssertEqual(s.learningRate(base: base, step: 150), 0, accuracy: 1e-7, "stays at 0 after total")
        var previous = Float.infinity
        for step in 10...100 {
            let lr = s.learningRate(base: base, step: step)
            XCTAssertLessThanOrEqual(lr, previous, "non-increasing after warm-up (step \(step))")
            XCTAssertGreaterThanOrEqual(lr, 0)
            previous = lr
        }
    }

    func testCosineWithoutWarmup() {
        let s = LearningRateSchedule.cosine(warmup: 0, total: 4)
        let expected = (0...4).map { Float(0.5 * (1 + cos(Double.pi * Double($0) / 4))) }
        for step in 0...4 { XCTAssertEqual(s.learningRate(base: 1, step: step), expected[step], accuracy: 1e-6) }
    }
}
