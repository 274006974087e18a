/// Stochastic gradient descent with PyTorch's exact update rule:
///
///     g ← g + λ·θ                          (weight decay)
///     b ← g on the first step, else μ·b + g (momentum buffer)
///     g ← g + μ·b  (Nesterov)  or  g ← b
///     θ ← θ − η·g
public final class SGD: Optimizer {
    /// μ, the momentum buffer's decay (0: plain SGD, with no state).
    public let momentum: Float
    /// Whether the step uses Nesterov momentum (g + μ·b instead of b).
    public let nesterov: Bool
    /// λ, the L2 weight decay added to the gradient.
    public let weightDecay: Float
    /// Steps taken so far; the first one starts the momentum buffer at the gradient.
    public var stepCount = 0
    private let velocity: StateBuffer

    /// A zeroed momentum buffer for `parameterCount` parameters.
    public init(parameterCount: Int, momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0) {
        self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
        velocity = StateBuffer(count: parameterCount)
    }

    /// "sgd".
    public var name: String { "sgd" }
    /// Momentum, Nesterov and weight decay, as checkpoints record them.
    public var hyperParameters: [String: String] {
        ["momentum": "\(momentum)", "nesterov": "\(nesterov)", "weight_decay": "\(weightDecay)"]
    }
    /// "momentum_buffer" (PyTorch's name), or nothing without momentum.
    public var stateNames: [String] { momentum == 0 ? [] : ["momentum_buffer"] }
    /// The momentum buffer.
    public func state(named name: String) -> UnsafeMutableBufferPointer<Float> { velocity.buffer }

    /// Moves the momentum buffer into `memory` (when there is one), copying it when `copying`.
    public func relocateState(to memory: UnsafeMutablePointer<Float>, copying: Bool) {
        if !stateNames.isEmpty { velocity.relocate(to: memory, copying: copying) }
    }

    /// One SGD update of the elements in `ranges`, each gradient read as gradient × `gradientScale`.
    public func step(_ arena: ParameterArena, learningRate lr: Float, ranges: [Range<Int>], gradientScale scale: Float) {
        for range in ranges { update(arena, learningRate: lr, range: range, gradientScale: scale) }
        stepCount += 1
    }

    private func update(_ arena: ParameterArena, learningRate lr: Float, range: Range<Int>, gradientScale scale: Float) {
        let lo = range.lowerBound
        let theta = arena.values + lo, grad = arena.globalGradients + lo, b = velocity.pointer + lo
        let mu = momentum, wd = weightDecay, first = stepCount == 0
        let n = range.count
        var i = 0
        // The same rule eight lanes at a time, then the tail one by one.
        while i + 8 <= n {
            var g = grad.load8(i) * scale + wd * theta.load8(i)
            if mu != 0 {
                let bi = first ? g : mu * b.load8(i) + g
                b.store8(bi, i)
                g = nesterov ? g + mu * bi : bi
            }
            theta.store8(theta.load8(i) - lr * g, i)
            i += 8
        }
        while i < n {
            var g = grad[i] * scale + wd * theta[i]
            if mu != 0 {
                b[i] = first ? g : mu * b[i] + g
                g = nesterov ? g + mu * b[i] : b[i]
            }
            theta[i] -= lr * g
            i += 1
        }
    }
}
