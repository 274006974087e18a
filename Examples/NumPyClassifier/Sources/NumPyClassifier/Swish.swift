import Foundation
import Tandem

/// A layer of our own: Swish with a learned slope per feature, y = x · σ(βx).
///     dy/dx = σ + βx·σ(1 − σ)        dy/dβ = x²·σ(1 − σ)
final class Swish: Layer {
    let features: Int
    private var beta: ParameterView!
    private var input: Tensor?
    private let output = FloatBuffer(), gradInput = FloatBuffer()

    init(features: Int) { self.features = features }

    var summary: String { "Swish(\(features))" }
    var parameterSpecs: [ParameterSpec] { [ParameterSpec(name: "beta", shape: [features], initializer: .constant(1))] }
    func bind(_ parameters: [ParameterView]) { beta = parameters[0] }
    func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape == [features] else { throw ModelSpecError("\(summary) takes [\(features)] per sample, got \(shape)") }
        return shape
    }

    func forward(_ x: Tensor, context: ForwardContext) throws -> Tensor {
        input = x
        let y = output.tensor(x.shape)
        for i in 0..<x.count {
            let v = x.pointer[i]
            y.pointer[i] = v / (1 + exp(-beta.value[i % features] * v))
        }
        return y
    }

    func backward(_ dy: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let x = input!, dx = gradInput.tensor(x.shape)
        var dBeta = [Float](repeating: 0, count: features)
        for i in 0..<x.count {
            let f = i % features, v = x.pointer[i], b = beta.value[f]
            let s = 1 / (1 + exp(-b * v)), slope = s * (1 - s)
            dx.pointer[i] = dy.pointer[i] * (s + b * v * slope)
            dBeta[f] += dy.pointer[i] * v * v * slope
        }
        let keep = beta.gradientBeta()   // 0: first writer this step, 1: add to a tied user's
        for f in 0..<features { beta.gradient[f] = dBeta[f] + keep * beta.gradient[f] }
        return needsInputGradient ? dx : nil
    }
}
