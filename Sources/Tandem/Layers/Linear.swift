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
/// Any per-sample input shape is read as a flat vector of its size, so an MLP can take
/// 28×28 images directly (and its parameters keep PyTorch's names `0.weight`, `0.bias`).
public final class Linear: Layer {
    public let inputs: Int
    public let outputs: Int
    public let weightInit: WeightInit

    private var weight: ParameterView!
    private var bias: ParameterView!
    /// The last forward's input, and the last backward's output gradient: the two factors of
    /// the weight gradient dW = dYᵀ·X.
    public private(set) var input: Tensor?
    public private(set) var gradOutput: Tensor?
    /// Set when someone else forms the weight gradient from `input` and `gradOutput` (ranks
    /// sharing one host form it for the global batch at once; see `RowSplitLinear`),
    /// so backward leaves it out. The bias gradient and dX are always computed here.
    public var defersWeightGradient = false
    /// Set by `Sequential` when no layer before this one has parameters, so that backward
    /// never asks for this layer's input gradient.
    public internal(set) var isFirstTrainable = false
    /// Where the weight lies in the arena.
    public var weightSlot: ParameterSlot { weight.slot }
    /// Set when the ranks of one host compute this layer's training forward pass together,
    /// each its rows of Y for the whole global batch (see `RowSplitLinear`): called
    /// with the input and this rank's first sample in the global batch, it writes this rank's
    /// Y, bias included.
    public var globalBatchForward: ((_ input: Tensor, _ sampleOffset: Int, _ y: UnsafeMutablePointer<Float>) -> Void)?
    /// The current weights [out, in] and biases, read-only, for whoever computes with them.
    public var weightValues: UnsafePointer<Float> { UnsafePointer(weight.value) }
    public var biasValues: UnsafePointer<Float> { UnsafePointer(bias.value) }
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    public init(_ inputs: Int, _ outputs: Int, weightInit: WeightInit = .kaiming) {
        self.inputs = inputs; self.outputs = outputs; self.weightInit = weightInit
    }

    public var summary: String { "Linear(\(inputs) → \(outputs))" }

    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let size = shape.reduce(1, *)
        guard size == inputs else {
            throw ModelSpecError("Linear(\(inputs) → \(outputs)) receives \(size) features per sample (shape \(shape))")
        }
        return [outputs]
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "weight", shape: [outputs, inputs],
                       initializer: .uniform(bound: weightInit.bound(fanIn: inputs, fanOut: outputs))),
         ParameterSpec(name: "bias", shape: [outputs], initializer: .zeros)]
    }

    public func bind(_ parameters: [ParameterView]) { weight = parameters[0]; bias = parameters[1] }

    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        self.input = input
        let n = input.batch
        let y = output.tensor([n, outputs])
        if context.training, let globalBatchForward {
            globalBatchForward(input, context.globalSampleOffset, y.pointer)
            return y
        }
        // Start every row at the bias and let gemm accumulate x·Wᵀ onto it.
        Kernels.broadcastRows(bias.value, rows: n, columns: outputs, into: y.pointer)
        Kernels.gemm(.no, .yes, m: n, n: outputs, k: inputs,
                     a: input.pointer, lda: inputs, b: weight.value, ldb: inputs,
                     beta: 1, c: y.pointer, ldc: outputs)
        return y
    }

    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("Linear.backward before forward") }
        let n = gradOutput.batch
        self.gradOutput = gradOutput
        // dW[out, in] = dYᵀ · X ;  db = Σ_rows dY ;  dX = dY · W
        if !defersWeightGradient {
            Kernels.gemm(.yes, .no, m: outputs, n: inputs, k: n,
                         a: gradOutput.pointer, lda: outputs, b: input.pointer, ldb: inputs,
                         beta: 0, c: weight.gradient, ldc: inputs)
        }
        Kernels.sumRows(gradOutput.pointer, rows: n, columns: outputs, into: bias.gradient)
        guard needsInputGradient else { return nil }
        let dx = gradInput.tensor(input.shape)
        Kernels.gemm(.no, .no, m: n, n: inputs, k: outputs,
                     a: gradOutput.pointer, lda: outputs, b: weight.value, ldb: inputs,
                     beta: 0, c: dx.pointer, ldc: inputs)
        return dx
    }
}
