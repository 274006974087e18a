import CKernels

/// Layer normalisation over the last dimension, as PyTorch's `nn.LayerNorm(C)` (eps 1e-5):
/// each row of C values (one position of one sample) is centred and scaled to unit variance,
/// then given a learned scale `weight` (starting at 1) and shift `bias` (starting at 0).
///
/// Unlike batch normalisation it looks at one row at a time, so it never needs the other
/// ranks: the world size cannot change it.
public final class LayerNorm: Layer {
    /// Size C of the normalised last dimension, and of `weight` and `bias`.
    public let features: Int
    /// Added to the variance before the square root, for stability.
    public let epsilon: Float
    private var weightView: ParameterView?, biasView: ParameterView?
    /// The last forward's normalised rows x̂ and each row's 1/σ: what backward needs.
    private let normalized = FloatBuffer()
    private let inverseDeviation = FloatBuffer()
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    /// Normalisation over a last dimension of `features` values.
    public init(_ features: Int, epsilon: Float = 1e-5) {
        self.features = features; self.epsilon = epsilon
    }

    /// "LayerNorm(C)".
    public var summary: String { "LayerNorm(\(features))" }

    /// Unchanged; the last dimension must be `features`.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.last == features else {
            throw ModelSpecError("LayerNorm(\(features)) normalises the last dimension but receives shape \(shape)")
        }
        return shape
    }

    /// `weight` (the scale γ, starting at 1) and `bias` (the shift β, starting at 0), each [C].
    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "weight", shape: [features], initializer: .constant(1)),
         ParameterSpec(name: "bias", shape: [features], initializer: .zeros)]
    }

    /// Takes the `weight` and `bias` views.
    public func bind(_ parameters: [ParameterView]) { weightView = parameters[0]; biasView = parameters[1] }

    /// y = γ · (x − mean) / √(var + ε) + β over each row of C values, keeping x̂ and 1/σ for backward.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let rows = input.count / features
        let y = output.tensor(input.shape)
        let xhat = normalized.tensor(input.shape).pointer
        inverseDeviation.reserve(rows)
        tandem_layernorm_forward(input.pointer, weightView!.value, biasView!.value, xhat, inverseDeviation.pointer, y.pointer,
                                 rows, features, epsilon)
        return y
    }

    /// With g = dy·γ: dx = (g − mean(g) − x̂·mean(g·x̂)) / σ; dγ = Σ dy·x̂, dβ = Σ dy over rows.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let rows = gradOutput.count / features
        let weight = weightView!, bias = biasView!
        // The kernel adds into dγ and dβ: the step's first writer clears them.
        if !weight.gradientAccumulates() { weight.gradient.update(repeating: 0, count: features) }
        if !bias.gradientAccumulates() { bias.gradient.update(repeating: 0, count: features) }
        let dx = needsInputGradient ? gradInput.tensor(gradOutput.shape) : nil
        tandem_layernorm_backward(gradOutput.pointer, normalized.pointer, inverseDeviation.pointer, weight.value, dx?.pointer,
                                  weight.gradient, bias.gradient, rows, features)
        return dx
    }
}
