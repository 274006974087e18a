import CKernels
import Foundation

/// Softmax over each sample's values, as a layer (for models that output probabilities).
/// For training a classifier use `SoftmaxCrossEntropy` on logits instead: fused, it is both
/// cheaper and numerically stable.
public final class Softmax: Layer {
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var shape: [Int] = []

    /// A softmax layer; it has no parameters.
    public init() {}
    /// "Softmax".
    public var summary: String { "Softmax" }
    /// Unchanged: one probability per input value.
    public func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    /// Each sample's values turned into probabilities that sum to 1.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        shape = input.shape
        let y = output.tensor(input.shape)
        let d = input.featuresPerSample
        for r in 0..<input.batch {
            Softmax.probabilities(input.pointer + r * d, count: d, into: y.pointer + r * d)
        }
        return y
    }

    /// dx_i = y_i (dy_i − Σ_j dy_j y_j) for each sample.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = gradInput.tensor(shape)
        let d = gradOutput.featuresPerSample
        // dx_i = y_i (dy_i − Σ_j dy_j y_j)
        for r in 0..<gradOutput.batch {
            let y = output.pointer + r * d, dy = gradOutput.pointer + r * d, out = dx.pointer + r * d
            var dot: Float = 0
            for j in 0..<d { dot += dy[j] * y[j] }
            for j in 0..<d { out[j] = y[j] * (dy[j] - dot) }
        }
        return dx
    }

    /// Stable softmax of one row: subtracting the maximum keeps exp() in range for any logits.
    /// Returns log Σ exp(x), which cross-entropy needs.
    @discardableResult
    public static func probabilities(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) -> Float {
        // In C, eight lanes at a time (libm's expf is a scalar call): the byte GPT's 256-way
        // softmax over every position was about 1 % of its step.
        y.update(from: x, count: count)
        return tandem_softmax(y, count)
    }
}
