import CKernels
import Foundation

/// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), with PyTorch's update rule:
///
///     Adam:   g ← g + λ·θ                  AdamW:  θ ← θ·(1 − η·λ)
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public final class Adam: Optimizer {
    public let beta1, beta2, epsilon, weightDecay: Float
    /// AdamW decays the weights directly instead of adding λ·θ to the gradient.
    public let decoupled: Bool
    public var stepCount = 0
    private let m: StateBuffer
    private let v: StateBuffer

    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.decoupled = decoupled
        m = StateBuffer(count: parameterCount)
        v = StateBuffer(count: parameterCount)
    }

    public var name: String { decoupled ? "adamw" : "adam" }
    public var hyperParameters: [String: String] {
        ["beta1": "\(beta1)", "beta2": "\(beta2)", "eps": "\(epsilon)", "weight_decay": "\(weightDecay)"]
    }
    public var stateNames: [String] { ["exp_avg", "exp_avg_sq"] }
    public func state(named name: String) -> UnsafeMutableBufferPointer<Float> {
        name == "exp_avg" ? m.buffer : v.buffer
    }

    public func relocateState(to memory: UnsafeMutablePointer<Float>, copying: Bool) {
        m.relocate(to: memory, copying: copying)
        v.relocate(to: memory + m.count, copying: copying)
    }

    public func step(_ arena: ParameterArena, learningRate lr: Float, ranges: [Range<Int>], gradientScale: Float) {
        stepCount += 1
        let t = Double(stepCount)
        let stepSize = lr / Float(1 - pow(Double(beta1), t))
        let correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
        let b1 = beta1, b2 = beta2, eps = epsilon
        let l2 = decoupled ? 0 : weightDecay
        let shrink = decoupled ? 1 - lr * weightDecay : 1
        for range in ranges {
            let lo = range.lowerBound
            tandem_adam_update(arena.values + lo, arena.globalGradients + lo, m.pointer + lo, v.pointer + lo, range.count,
                               gradientScale, b1, b2, eps, l2, shrink, stepSize, correction2)
        }
    }
}
