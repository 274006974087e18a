import Tandem

/// A layer written outside Tandem: subtracts from every feature its mean over the *global*
/// batch, then adds a learned bias. The mean needs every rank's samples, so forward and
/// backward each sum a few numbers over the ranks through `LayerCollectives`; evaluation uses a
/// running mean instead, a buffer that checkpoints keep but no optimizer touches.
///
///     y = x − mean_batch(x) + b        dx = dy − mean_batch(dy)        db = Σ dy
final class MeanCentering: Layer {
    let features: Int
    private var bias: ParameterView!
    private var runningMean: ParameterView!
    private var sums: [Double]
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    init(features: Int) {
        self.features = features
        sums = [Double](repeating: 0, count: features + 1)
    }

    var summary: String { "MeanCentering(\(features))" }

    func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape == [features] else { throw ModelSpecError("\(summary) takes [\(features)] per sample, got \(shape)") }
        return shape
    }

    var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "bias", shape: [features], initializer: .zeros),
         ParameterSpec(name: "running_mean", shape: [features], initializer: .zeros, trainable: false)]
    }

    func bind(_ parameters: [ParameterView]) { bias = parameters[0]; runningMean = parameters[1] }

    /// Per-feature means of `x`'s rows over the global batch (the last sum counts the rows).
    private func globalMean(_ x: Tensor, collectives: LayerCollectives) throws -> [Double] {
        for f in 0...features { sums[f] = 0 }
        for row in 0..<x.batch {
            for f in 0..<features { sums[f] += Double(x.pointer[row * features + f]) }
        }
        sums[features] = Double(x.batch)
        try collectives.sum(&sums)
        return (0..<features).map { sums[$0] / sums[features] }
    }

    func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let mean: [Double]
        if context.training {
            mean = try globalMean(input, collectives: context.collectives)
            for f in 0..<features { runningMean.value[f] = 0.9 * runningMean.value[f] + 0.1 * Float(mean[f]) }
        } else {
            mean = (0..<features).map { Double(runningMean.value[$0]) }
        }
        let y = output.tensor(input.shape)
        for row in 0..<input.batch {
            for f in 0..<features {
                y.pointer[row * features + f] = input.pointer[row * features + f] - Float(mean[f]) + bias.value[f]
            }
        }
        return y
    }

    func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let beta = bias.gradientBeta()
        for f in 0..<features {
            var total: Float = 0
            for row in 0..<gradOutput.batch { total += gradOutput.pointer[row * features + f] }
            bias.gradient[f] = total + beta * bias.gradient[f]
        }
        // Every rank sums the same collective, whether or not it needs dx.
        let mean = try globalMean(gradOutput, collectives: context.collectives)
        guard needsInputGradient else { return nil }
        let dx = gradInput.tensor(gradOutput.shape)
        for row in 0..<gradOutput.batch {
            for f in 0..<features {
                dx.pointer[row * features + f] = gradOutput.pointer[row * features + f] - Float(mean[f])
            }
        }
        return dx
    }
}
