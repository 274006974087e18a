/// One pre-norm transformer block, as GPT-2:
///
///     x = x + attn(ln_1(x))
///     x = x + mlp(ln_2(x))         mlp: c_fc (C → 4C), GELU, c_proj (4C → C), per position
///
/// Both residual connections pass the gradient straight through, added to what the branch
/// sends back, which is what lets gradients reach the first blocks of a deep stack.
/// Children are named as nanoGPT's `Block`: `ln_1`, `attn`, `ln_2`, `mlp` (`mlp.c_fc`, `mlp.c_proj`).
public final class TransformerBlock: Layer {
    /// Layer norm before the attention.
    public let ln_1: LayerNorm
    /// The causal self-attention branch.
    public let attn: CausalSelfAttention
    /// Layer norm before the MLP.
    public let ln_2: LayerNorm
    /// The position-wise MLP: `c_fc` (C → 4C), GELU, `c_proj` (4C → C).
    public let mlp: Sequential
    private let middle = FloatBuffer()
    private let output = FloatBuffer()
    private let gradMiddle = FloatBuffer()
    private let gradInput = FloatBuffer()

    /// `projectionStd`: the initial spread of the two projections back into the residual
    /// stream (attn.c_proj, mlp.c_proj).
    public init(dimension: Int, heads: Int, projectionStd: Float = 0.02) {
        ln_1 = LayerNorm(dimension)
        attn = CausalSelfAttention(dimension: dimension, heads: heads, projectionStd: projectionStd)
        ln_2 = LayerNorm(dimension)
        mlp = Sequential(named: [("c_fc", Linear(dimension, 4 * dimension, weightStd: 0.02, positionwise: true)),
                                 ("gelu", Activation(.gelu)),
                                 ("c_proj", Linear(4 * dimension, dimension, weightStd: projectionStd, positionwise: true))])
    }

    /// "TransformerBlock(C, h heads)".
    public var summary: String { "TransformerBlock(\(attn.dimension), \(attn.heads) heads)" }

    /// ln_1, attn, ln_2, mlp: nanoGPT's names.
    public var children: [(name: String, layer: Layer)] { [("ln_1", ln_1), ("attn", attn), ("ln_2", ln_2), ("mlp", mlp)] }

    /// Unchanged: [T, C] in, [T, C] out.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        try mlp.outputShape(forInput: ln_2.outputShape(forInput: attn.outputShape(forInput: ln_1.outputShape(forInput: shape))))
    }

    /// x + attn(ln_1(x)), then that plus mlp(ln_2(·)) of it.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let h = middle.tensor(input.shape)
        Self.add(input, try attn.forward(try ln_1.forward(input, context: context), context: context), into: h)
        let y = output.tensor(input.shape)
        Self.add(h, try mlp.forward(try ln_2.forward(h, context: context), context: context), into: y)
        return y
    }

    /// Back through the MLP branch, then the attention branch, adding each residual's pass-through gradient.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        // y = h + mlp(ln_2(h)): dh = dy + the branch's gradient.
        let throughMLP = try context.backward(mlp, gradOutput, needsInputGradient: true)!
        let throughLN2 = try context.backward(ln_2, throughMLP, needsInputGradient: true)!
        let dh = gradMiddle.tensor(gradOutput.shape)
        Self.add(gradOutput, throughLN2, into: dh)
        // h = x + attn(ln_1(x)): dx = dh + the branch's gradient.
        let throughAttention = try context.backward(attn, dh, needsInputGradient: true)!
        let throughLN1 = try context.backward(ln_1, throughAttention, needsInputGradient: true)!
        guard needsInputGradient else { return nil }
        let dx = gradInput.tensor(gradOutput.shape)
        Self.add(dh, throughLN1, into: dx)
        return dx
    }

    static func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        Kernels.add(a.pointer, b.pointer, into: out.pointer, count: out.count)
    }
}
