import XCTest
import Tandem

/// A Linear layer with a deliberate mistake in its backward pass, to prove the checker notices.
private enum Fault { case none, inputGradientScaled(Float), weightGradientScaled(Float), biasGradientZero }

private func faultyLinear(_ inputs: Int, _ outputs: Int, fault: Fault) -> Layer {
    FaultyLayer(Linear(inputs, outputs)) { parameters, dx in
        switch fault {
        case .none: break
        case .inputGradientScaled(let s):
            if let dx { for i in 0..<dx.count { dx.pointer[i] *= s } }
        case .weightGradientScaled(let s):
            for i in 0..<parameters[0].count { parameters[0].gradient[i] *= s }
        case .biasGradientZero:
            for i in 0..<parameters[1].count { parameters[1].gradient[i] = 0 }
        }
    }
}

final class GradientCheckTests: XCTestCase {
    func testSuitePasses() {
        let results = GradientCheckSuite.all()
        // Every model case, the seven transformer cases and the two losses.
        XCTAssertEqual(results.count, GradientCheckSuite.models().count + 7 + 2)
        XCTAssertGreaterThanOrEqual(results.count, 9)
        for result in results {
            XCTAssertTrue(result.passed, "\(result)")
            XCTAssertGreaterThan(result.checked, 0, result.name)
            XCTAssertTrue(result.maxRelativeError.isFinite, result.name)
        }
        let names = Set(results.map(\.name))
        for expected in ["Linear", "ReLU", "Sigmoid", "Tanh", "GELU", "LayerNorm", "TransformerBlock"] {
            XCTAssertTrue(names.contains(expected), "suite should cover \(expected): \(names)")
        }
    }

    private func check(_ layers: [Layer], inputs: Int = 5) throws -> GradientCheckResult {
        let model = try Model(layers, inputShape: [inputs])
        return GradientCheck.check(model: model, batch: 3, name: "faulty")
    }

    func testCorrectWrapperPasses() throws {
        // The control: the same wrapper without a fault agrees with finite differences.
        let result = try check([faultyLinear(5, 6, fault: .none), Activation(.tanh), faultyLinear(6, 3, fault: .none)])
        XCTAssertTrue(result.passed, "\(result)")
    }

    func testWrongInputGradientIsCaught() throws {
        // The fault in the last layer's input gradient corrupts the first layer's parameter gradients.
        let result = try check([Linear(5, 6), Activation(.tanh), faultyLinear(6, 3, fault: .inputGradientScaled(1.1))])
        XCTAssertFalse(result.passed, "\(result)")
        XCTAssertGreaterThan(result.maxRelativeError, result.tolerance)
    }

    func testWrongInputGradientOfFirstLayerIsCaught() throws {
        // Nothing upstream has parameters: only the check of the input gradient itself can see it.
        let result = try check([faultyLinear(5, 4, fault: .inputGradientScaled(1.1))])
        XCTAssertFalse(result.passed, "\(result)")
    }

    func testWrongWeightGradientIsCaught() throws {
        let result = try check([faultyLinear(5, 6, fault: .weightGradientScaled(0.9)), Activation(.relu), Linear(6, 3)])
        XCTAssertFalse(result.passed, "\(result)")
    }

    func testMissingBiasGradientIsCaught() throws {
        let result = try check([Linear(5, 6), Activation(.sigmoid), faultyLinear(6, 3, fault: .biasGradientZero)])
        XCTAssertFalse(result.passed, "\(result)")
    }

    func testLossCheckCatchesWrongLossGradient() {
        /// Cross-entropy whose gradient is 1.5 times too large.
        final class SkewedLoss: Loss {
            let inner = SoftmaxCrossEntropy()
            var name: String { "skewed" }
            func forward(_ output: Tensor, targets: Targets) -> LossResult { inner.forward(output, targets: targets) }
            func backward(normalizer: Int) -> Tensor {
                let g = inner.backward(normalizer: normalizer)
                for i in 0..<g.count { g.pointer[i] *= 1.5 }
                return g
            }
        }
        XCTAssertTrue(GradientCheck.check(loss: SoftmaxCrossEntropy(), classes: 5, batch: 4).passed)
        XCTAssertFalse(GradientCheck.check(loss: SkewedLoss(), classes: 5, batch: 4).passed)
    }
}
