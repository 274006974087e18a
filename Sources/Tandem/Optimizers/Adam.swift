import CKernels
import Foundation

/// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), with PyTorch's update rule:
///
///     Adam:   g ← g + λ·θ                  AdamW:  θ ← θ·(1 − η·λ)
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public final class Adam: Optimizer {
    /// β₁ and β₂ (decay rates of the first and second moment estimates), ε (added to the denominator for
    /// stability) and λ (weight decay).
    public let beta1, beta2, epsilon, weightDecay: Float
    /// AdamW decays the weights directly instead of adding λ·θ to the gradient.
    public let decoupled: Bool
    /// Steps taken so far; the bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ use it.
    public var stepCount = 0
    private let m: StateBuffer
    private let v: StateBuffer

    /// Zeroed moments for `parameterCount` parameters; `decoupled` makes it AdamW.
    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.decoupled = decoupled
        m = StateBuffer(count: parameterCount)
        v = StateBuffer(count: parameterCount)
    }

    /// "adamw" when decoupled, else "adam".
    public var name: String { decoupled ? "adamw" : "adam" }
    /// β₁, β₂, ε and the weight decay, as checkpoints record them.
    public var hyperParameters: [String: String] {
        ["beta1": "\(beta1)", "beta2": "\(beta2)", "eps": "\(epsilon)", "weight_decay": "\(weightDecay)"]
    }
    /// The first and second moments, named as PyTorch's Adam names them.
    public var stateNames: [String] { ["exp_avg", "exp_avg_sq"] }
    /// The buffer of the moment `name` names ("exp_avg", or else "exp_avg_sq").
    public func state(named name: String) -> UnsafeMutableBufferPointer<Float> {
        name == "exp_avg" ? m.buffer : v.buffer
    }

    /// Moves both moments into `memory`, first then second moment, copying them when `copying`.
    public func relocateState(to memory: UnsafeMutablePointer<Float>, copying: Bool) {
        m.relocate(to: memory, copying: copying)
        v.relocate(to: memory + m.count, copying: copying)
    }

    /// One Adam(W) update of the elements in `ranges`, each gradient read as gradient × `gradientScale`.
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
