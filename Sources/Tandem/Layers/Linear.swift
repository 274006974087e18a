/// How a weight matrix is first filled.
public enum WeightInit: String, CaseIterable {
    /// He et al.: uniform in ±√(6 / fanIn); keeps activations' variance through ReLU layers.
    case kaiming
    /// Glorot & Bengio: uniform in ±√(6 / (fanIn + fanOut)); suited to sigmoid and tanh.
    case xavier

    func bound(fanIn: Int, fanOut: Int) -> Float {
        switch self {
        case .kaiming: return (6 / Float(fanIn)).squareRoot()
        case .xavier: return (6 / Float(fanIn + fanOut)).squareRoot()
        }
    }
}

/// A fully connected layer, y = x·Wᵀ + b, with PyTorch's layout: weight [out, in], bias [out].
///
/// By default any per-sample input shape is read as a flat vector of its size, so an MLP can
/// take 28×28 images directly (and its parameters keep PyTorch's names `0.weight`, `0.bias`).
/// A *position-wise* layer instead maps the last dimension, as PyTorch's `nn.Linear` does:
/// [T, in] → [T, out], every position of every sample one row of the product (a transformer's
/// projections).
public final class Linear: DenseProductLayer {
    /// Features per input row (the flattened sample, or the last dimension when `positionwise`).
    public let inputs: Int
    /// Features per output row.
    public let outputs: Int
    /// The distribution that fills the weight when no `weightStd` is given (ignored for a tied weight).
    public let weightInit: WeightInit
    /// Set when the weight is another layer's parameter (a GPT's head tied to its embedding).
    public let weightTie: ParameterTie?
    /// Maps the last dimension of each sample (one row per position), not the flattened sample.
    public let positionwise: Bool
    /// Whether the layer adds a bias b of [outputs]; false before batch normalisation or for a GPT's head.
    public let hasBias: Bool

    private var weightView: ParameterView?
    private var biasView: ParameterView?
    /// The [outputs, inputs] weight W; available once the model has bound the layer.
    public var weight: ParameterView { weightView! }
    /// The [outputs] bias b, or nil when the layer has none.
    public var bias: ParameterView? { biasView }
    /// True unless `positionwise`: then every position, not every sample, is a row of the product.
    public var productOverSamples: Bool { !positionwise }
    /// The last forward's input, and the last backward's output gradient: the two factors of
    /// the weight gradient dW = dYᵀ·X.
    public private(set) var lastInput: Tensor?
    /// The last backward's output gradient dY, [rows, outputs].
    public private(set) var lastGradOutput: Tensor?
    /// A gradient path that forms dW over the global batch itself (and may split the forward
    /// product by rows); see `RowSplitDense`. The bias gradient and dX are always computed here.
    public var delegate: DenseProductDelegate?
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    /// A dense layer; `weightTiedTo` makes its [outputs, inputs] weight another layer's
    /// parameter of that shape (which must come earlier in the model).
    /// `weightInit` fills the weight unless `weightStd` asks for a normal distribution of that
    /// standard deviation (GPT-2's 0.02).
    public init(_ inputs: Int, _ outputs: Int, weightInit: WeightInit = .kaiming, weightStd: Float? = nil,
                weightTiedTo tie: ParameterTie? = nil, positionwise: Bool = false, bias: Bool = true) {
        self.inputs = inputs; self.outputs = outputs; self.weightInit = weightInit; self.weightStd = weightStd
        weightTie = tie; self.positionwise = positionwise; hasBias = bias
    }

    private let weightStd: Float?

    /// "Linear(in → out)", noting a tied weight or a missing bias.
    public var summary: String {
        "Linear(\(inputs) → \(outputs)\(weightTie == nil ? "" : ", tied weight")\(hasBias ? "" : ", no bias"))"
    }

    /// [outputs] for any input of `inputs` values, or the input shape with its last dimension replaced when `positionwise`.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        if positionwise {
            guard shape.last == inputs else {
                throw ModelSpecError("Linear(\(inputs) → \(outputs)) maps the last dimension but receives shape \(shape)")
            }
            return shape.dropLast() + [outputs]
        }
        let size = shape.reduce(1, *)
        guard size == inputs else {
            throw ModelSpecError("Linear(\(inputs) → \(outputs)) receives \(size) features per sample (shape \(shape))")
        }
        return [outputs]
    }

    /// The weight (uniform by `weightInit`, normal with `weightStd`, or tied) and, if any, a zero bias.
    public var parameterSpecs: [ParameterSpec] {
        let initializer = weightStd.map { ParameterInit.normal(std: $0) }
            ?? .uniform(bound: weightInit.bound(fanIn: inputs, fanOut: outputs))
        let weight = weightTie.map { ParameterSpec.tied("weight", shape: [outputs, inputs], to: $0.owner, $0.name) }
            ?? ParameterSpec(name: "weight", shape: [outputs, inputs], initializer: initializer)
        return [weight] + (hasBias ? [ParameterSpec(name: "bias", shape: [outputs], initializer: .zeros)] : [])
    }

    /// Takes the weight view and, when there is a bias, the bias view, in `parameterSpecs` order.
    public func bind(_ parameters: [ParameterView]) {
        weightView = parameters[0]
        biasView = hasBias ? parameters[1] : nil
    }

    /// Y = X·Wᵀ + b for each row; in training a delegate (`RowSplitDense`) may compute it instead.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        lastInput = input
        let n = input.count / inputs
        let y = output.tensor(positionwise ? input.shape.dropLast() + [outputs] : [n, outputs])
        if context.training, let delegate, delegate.computesForward {
            try delegate.forward(input, sampleOffset: context.globalSampleOffset, into: y.pointer)
            return y
        }
        // Start every row at the bias and let gemm accumulate x·Wᵀ onto it.
        if let bias { Kernels.broadcastRows(bias.value, rows: n, columns: outputs, into: y.pointer) }
        Kernels.gemm(.no, .yes, m: n, n: outputs, k: inputs,
                     a: input.pointer, lda: inputs, b: weight.value, ldb: inputs,
                     beta: bias == nil ? 0 : 1, c: y.pointer, ldc: outputs)
        return y
    }

    /// dW (+)= dYᵀ·X unless a delegate forms it, db (+)= Σ dY over rows, and returns dX = dY·W when needed.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard let input = lastInput else { preconditionFailure("Linear.backward before forward") }
        let n = gradOutput.count / outputs
        lastGradOutput = gradOutput
        // dW[out, in] (+)= dYᵀ · X ;  db (+)= Σ_rows dY ;  dX = dY · W
        if delegate == nil {
            Kernels.gemm(.yes, .no, m: outputs, n: inputs, k: n,
                         a: gradOutput.pointer, lda: outputs, b: input.pointer, ldb: inputs,
                         beta: weight.gradientBeta(), c: weight.gradient, ldc: inputs)
        } else {
            weight.claimGradientElsewhere()
        }
        if let bias {
            Kernels.sumRows(gradOutput.pointer, rows: n, columns: outputs, into: bias.gradient, accumulate: bias.gradientAccumulates())
        }
        guard needsInputGradient else { return nil }
        let dx = gradInput.tensor(input.shape)
        Kernels.gemm(.no, .no, m: n, n: inputs, k: outputs,
                     a: gradOutput.pointer, lda: outputs, b: weight.value, ldb: inputs,
                     beta: 0, c: dx.pointer, ldc: inputs)
        return dx
    }
}
