/// Layer normalisation over the last dimension, as PyTorch's `nn.LayerNorm(C)` (eps 1e-5):
/// each row of C values (one position of one sample) is centred and scaled to unit variance,
/// then given a learned scale `weight` (starting at 1) and shift `bias` (starting at 0).
///
/// Unlike batch normalisation it looks at one row at a time, so it never needs the other
/// ranks: the world size cannot change it.
public final class LayerNorm: Layer {
    public let features: Int
    public let epsilon: Float
    private var weightView: ParameterView?, biasView: ParameterView?
    /// The last forward's normalised rows x̂ and each row's 1/σ: what backward needs.
    private let normalized = FloatBuffer()
    private var inverseDeviation: [Float] = []
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    public init(_ features: Int, epsilon: Float = 1e-5) {
        self.features = features; self.epsilon = epsilon
    }

    public var summary: String { "LayerNorm(\(features))" }

    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.last == features else {
            throw ModelSpecError("LayerNorm(\(features)) normalises the last dimension but receives shape \(shape)")
        }
        return shape
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "weight", shape: [features], initializer: .constant(1)),
         ParameterSpec(name: "bias", shape: [features], initializer: .zeros)]
    }

    public func bind(_ parameters: [ParameterView]) { weightView = parameters[0]; biasView = parameters[1] }

    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let c = features, rows = input.count / c
        let y = output.tensor(input.shape)
        let xhat = normalized.tensor(input.shape).pointer
        if inverseDeviation.count < rows { inverseDeviation = [Float](repeating: 0, count: rows) }
        let gamma = weightView!.value, beta = biasView!.value
        inverseDeviation.withUnsafeMutableBufferPointer { rstd in
            for r in 0..<rows {
                let x = input.pointer + r * c, h = xhat + r * c, out = y.pointer + r * c
                var sum: Float = 0
                for j in 0..<c { sum += x[j] }
                let mean = sum / Float(c)
                var squares: Float = 0
                for j in 0..<c { let d = x[j] - mean; squares += d * d }
                // The biased variance, as PyTorch's layer norm.
                let s = 1 / (squares / Float(c) + epsilon).squareRoot()
                rstd[r] = s
                for j in 0..<c {
                    h[j] = (x[j] - mean) * s
                    out[j] = h[j] * gamma[j] + beta[j]
                }
            }
        }
        return y
    }

    /// With g = dy·γ: dx = (g − mean(g) − x̂·mean(g·x̂)) / σ; dγ = Σ dy·x̂, dβ = Σ dy over rows.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let c = features, rows = gradOutput.count / c
        let xhat = normalized.pointer, gamma = weightView!.value
        let weight = weightView!, bias = biasView!
        let dGamma = weight.gradient, dBeta = bias.gradient
        if !weight.gradientAccumulates() { dGamma.update(repeating: 0, count: c) }
        if !bias.gradientAccumulates() { dBeta.update(repeating: 0, count: c) }
        let dx = needsInputGradient ? gradInput.tensor(gradOutput.shape) : nil
        inverseDeviation.withUnsafeBufferPointer { rstd in
            for r in 0..<rows {
                let dy = gradOutput.pointer + r * c, h = xhat + r * c
                var meanG: Float = 0, meanGH: Float = 0
                for j in 0..<c {
                    dGamma[j] += dy[j] * h[j]
                    dBeta[j] += dy[j]
                    let g = dy[j] * gamma[j]
                    meanG += g; meanGH += g * h[j]
                }
                guard let dx else { continue }
                meanG /= Float(c); meanGH /= Float(c)
                let out = dx.pointer + r * c, s = rstd[r]
                for j in 0..<c { out[j] = (dy[j] * gamma[j] - meanG - h[j] * meanGH) * s }
            }
        }
        return dx
    }
}
