/// Compares a layer's hand-written backward pass with central finite differences.
///
/// The objective is L = Σᵢ wᵢ·yᵢ with fixed random weights w, so dL/dy = w, and every output
/// takes part with its own weight (a plain sum would hide mistakes that cancel). For each
/// checked coordinate θ the numeric slope (L(θ+h) − L(θ−h)) / 2h is compared with the analytic
/// one. Float32 arithmetic limits the agreement to about 1e-3 relative.
public struct GradientCheckResult: CustomStringConvertible {
    /// What was checked: a layer (inside a tiny model), a model or a loss.
    public var name: String
    /// The worst |numeric − analytic| / max(1, |numeric|, |analytic|) over the checked coordinates.
    public var maxRelativeError: Double
    /// Coordinates compared (inputs and parameters, or logits).
    public var checked: Int
    /// The largest relative error that passes.
    public var tolerance: Double
    /// Whether the worst error is within `tolerance`.
    public var passed: Bool { maxRelativeError <= tolerance }
    /// One line: "ok" or "FAIL", the name, the worst error and how many coordinates were checked.
    public var description: String {
        "\(passed ? "ok  " : "FAIL") \(name): max relative error \(String(format: "%.2e", maxRelativeError)) over \(checked) coordinates"
    }
}

/// Finite-difference checks of models' and losses' gradients (see `GradientCheckResult`).
public enum GradientCheck {
    /// Checks a model's input and parameter gradients on a random batch (values in ±1), or on
    /// `input` (token ids for a model that embeds them; their gradient is not checked).
    /// `spread`: draw every parameter uniformly in ±spread instead of from its initialiser, for
    /// layers whose initial weights are so small (a GPT's 0.02) that their gradients would be
    /// too small for the check's absolute floor to see a mistake.
    public static func check(model: Model, batch: Int, seed: UInt64 = 7, name: String,
                             context: ForwardContext = ForwardContext(training: true), input: Tensor? = nil, spread: Float? = nil,
                             step h: Float = 1e-2, tolerance: Double = 2e-2, maxCoordinates: Int = 60) -> GradientCheckResult {
        var rng = SplitMix64(seed: seed)
        model.initializeParameters(seed: seed)
        // Shift parameters off zero so biases and kinks are exercised too.
        for i in 0..<model.arena.count {
            if let spread { model.arena.values[i] = rng.uniform(-spread, spread) } else { model.arena.values[i] += rng.uniform(-0.1, 0.1) }
        }
        let x = input ?? Tensor(shape: [batch] + model.inputShape,
                                values: (0..<(batch * model.inputShape.reduce(1, *))).map { _ in rng.uniform(-1, 1) })
        let outputCount = batch * model.outputShape.reduce(1, *)
        let w = (0..<outputCount).map { _ in rng.uniform(-1, 1) }

        func objective() -> Double {
            guard let y = try? model.forward(x, context: context) else { return .nan }
            var total = 0.0
            for i in 0..<outputCount { total += Double(w[i]) * Double(y.pointer[i]) }
            return total
        }

        // Analytic gradients, the input's included (which training never asks for).
        _ = objective()
        let gradOutput = Tensor(shape: [batch] + model.outputShape, values: w)
        let inputGradient = (try? model.backward(gradOutput, needsInputGradient: true))??.scalars ?? []
        let parameterGradient = model.arena.gradientArray

        var worst = 0.0, checked = 0
        func compare(_ analytic: Float, _ perturb: (Float) -> Void) {
            perturb(h); let plus = objective()
            perturb(-2 * h); let minus = objective()
            perturb(h)
            let numeric = (plus - minus) / (2 * Double(h))
            let error = abs(numeric - Double(analytic)) / max(1, abs(numeric), abs(Double(analytic)))
            worst = max(worst, error); checked += 1
        }
        let inputStride = max(1, x.count / maxCoordinates)
        for i in stride(from: 0, to: x.count, by: inputStride) where inputGradient.count == x.count && input == nil {
            compare(inputGradient[i]) { x.pointer[i] += $0 }
        }
        let count = model.arena.count
        let parameterStride = max(1, count / maxCoordinates)
        for i in stride(from: 0, to: count, by: parameterStride) {
            compare(parameterGradient[i]) { model.arena.values[i] += $0 }
        }
        return GradientCheckResult(name: name, maxRelativeError: worst, checked: checked, tolerance: tolerance)
    }

    /// Checks a loss's gradient with respect to its input logits.
    public static func check(loss: Loss, classes: Int, batch: Int, seed: UInt64 = 11, scale: Float = 3,
                             step h: Float = 1e-2, tolerance: Double = 2e-2) -> GradientCheckResult {
        var rng = SplitMix64(seed: seed)
        let logits = Tensor(shape: [batch, classes], values: (0..<(batch * classes)).map { _ in rng.uniform(-scale, scale) })
        let labels = (0..<batch).map { _ in Int32(rng.next() % UInt64(classes)) }
        func value() -> Double { labels.withUnsafeBufferPointer { loss.forward(logits, labels: $0).sum } / Double(batch) }
        _ = value()
        let analytic = loss.backward(normalizer: batch).scalars
        var worst = 0.0
        for i in 0..<logits.count {
            logits.pointer[i] += h; let plus = value()
            logits.pointer[i] -= 2 * h; let minus = value()
            logits.pointer[i] += h
            let numeric = (plus - minus) / (2 * Double(h))
            worst = max(worst, abs(numeric - Double(analytic[i])) / max(1, abs(numeric), abs(Double(analytic[i]))))
        }
        return GradientCheckResult(name: loss.name, maxRelativeError: worst, checked: logits.count, tolerance: tolerance)
    }
}
