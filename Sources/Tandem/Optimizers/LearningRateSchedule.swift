import Foundation

/// The learning rate as a function of the step.
public enum LearningRateSchedule: Equatable, CustomStringConvertible {
    case constant
    /// Multiply by `gamma` every `every` steps.
    case step(every: Int, gamma: Float)
    /// Linear warm-up over `warmup` steps, then a half cosine from the base rate to 0 at `total`.
    case cosine(warmup: Int, total: Int)

    /// The learning rate at `step` (counted from 0) for base rate `base`.
    public func learningRate(base: Float, step: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .step(let every, let gamma):
            return base * pow(gamma, Float(step / max(every, 1)))
        case .cosine(let warmup, let total):
            if step < warmup { return base * Float(step + 1) / Float(warmup) }
            let span = max(total - warmup, 1)
            let progress = min(Double(step - warmup) / Double(span), 1)
            return base * Float(0.5 * (1 + cos(Double.pi * progress)))
        }
    }

    /// The schedule and its parameters, as the start-of-run line shows it.
    public var description: String {
        switch self {
        case .constant: return "constant"
        case .step(let every, let gamma): return "step(every \(every), gamma \(gamma))"
        case .cosine(let warmup, let total): return "cosine(warmup \(warmup), total \(total))"
        }
    }
}
