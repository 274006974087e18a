import CKernels
import Foundation

/// Causal multi-head self-attention, as GPT-2 (and nanoGPT's `CausalSelfAttention`):
///
///     q, k, v = split(c_attn(x))               c_attn: Linear(C → 3C), per position
///     per head h:  P = softmax(q·kᵀ/√d + causal mask),  y_h = P·v
///     out = c_proj(concat_h y_h)               c_proj: Linear(C → C)
///
/// Each position attends to itself and the positions before it, never to later ones: the model
/// predicts byte t+1 from bytes ≤ t. Heads are column blocks of width d = C / heads.
///
/// The mask is used to skip work: rows are taken in blocks of `blockRows` (64), and block i
/// multiplies only the columns up to its last row (the rest of its scores would be masked
/// anyway), which saves a quarter of the products at T = 128. The softmax is fused with its backward: with P kept
/// from forward, dS = P ⊙ (dP − rowsum(P ⊙ dP)), one pass per row.
public final class CausalSelfAttention: Layer {
    /// Channels C of each position, split evenly among the heads.
    public let dimension: Int
    /// Number of attention heads; each works on C / heads channels.
    public let heads: Int
    /// The input projection, C → 3C per position: q, k and v side by side.
    public let c_attn: Linear
    /// The output projection, C → C per position, applied to the concatenated heads.
    public let c_proj: Linear
    static let blockRows = 64

    private var qkv: Tensor?
    /// The attention weights P of the last training forward, [B, heads, T, T] (zero above the
    /// diagonal).
    private let probabilities = FloatBuffer()
    private let mixed = FloatBuffer()        // concat_h y_h, [B, T, C]
    private let gradQKV = FloatBuffer()      // [B, T, 3C]
    private let gradScores = FloatBuffer()   // dP, then dS, of one head: [T, T]

    /// `projectionStd`: the normal distribution c_proj's weight starts from (GPT-2 scales it
    /// by 1/√(2 · layers), since every block adds its output to the residual stream).
    public init(dimension: Int, heads: Int, projectionStd: Float = 0.02) {
        precondition(heads > 0 && dimension % heads == 0, "the heads must divide the dimension")
        self.dimension = dimension; self.heads = heads
        c_attn = Linear(dimension, 3 * dimension, weightStd: 0.02, positionwise: true)
        c_proj = Linear(dimension, dimension, weightStd: projectionStd, positionwise: true)
    }

    /// "CausalSelfAttention(C, h heads)".
    public var summary: String { "CausalSelfAttention(\(dimension), \(heads) heads)" }

    /// `c_attn` and `c_proj`, nanoGPT's names.
    public var children: [(name: String, layer: Layer)] { [("c_attn", c_attn), ("c_proj", c_proj)] }

    /// Unchanged: [T, C] in, [T, C] out.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[1] == dimension else {
            throw ModelSpecError("\(summary) takes [T, \(dimension)] per sample but receives shape \(shape)")
        }
        return shape
    }

    /// Projects to q, k, v, attends each position to itself and earlier ones in every head, and projects back.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let qkv = try c_attn.forward(input, context: context)
        self.qkv = qkv
        let (b, t, c) = (input.batch, input.shape[1], dimension)
        let y = mixed.tensor([b, t, c])
        // Backward needs every sample's P; evaluation (256 windows at a time) keeps one sample's.
        let kept = context.training ? b : 1
        let p = probabilities.tensor([kept, heads, t, t])
        for sample in 0..<b {
            for head in 0..<heads {
                attend(qkv: qkv.pointer + sample * t * 3 * c + head * headSize, t: t,
                       probabilities: p.pointer + ((context.training ? sample : 0) * heads + head) * t * t,
                       into: y.pointer + sample * t * c + head * headSize)
            }
        }
        return try c_proj.forward(y, context: context)
    }

    /// Back through `c_proj`, every head's attention and softmax, and `c_attn`.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        guard let qkv, let dy = try context.backward(c_proj, gradOutput, needsInputGradient: true) else {
            preconditionFailure("CausalSelfAttention.backward before forward")
        }
        let (b, t, c) = (dy.batch, dy.shape[1], dimension)
        let dqkv = gradQKV.tensor([b, t, 3 * c])
        let dS = gradScores.tensor([t, t]).pointer
        for sample in 0..<b {
            for head in 0..<heads {
                let offset = sample * t * 3 * c + head * headSize
                attendBackward(qkv: qkv.pointer + offset, t: t,
                               probabilities: probabilities.pointer + (sample * heads + head) * t * t,
                               gradOutput: dy.pointer + sample * t * c + head * headSize,
                               scratch: dS, into: dqkv.pointer + offset)
            }
        }
        return try context.backward(c_attn, dqkv, needsInputGradient: needsInputGradient)
    }

    private var headSize: Int { dimension / heads }
    private var scale: Float { 1 / Float(headSize).squareRoot() }

    /// One head of one sample. `qkv` points at its q (k and v follow C and 2C columns later,
    /// rows 3C apart); `y` at its columns of the output (rows C apart).
    private func attend(qkv q: UnsafePointer<Float>, t: Int, probabilities p: UnsafeMutablePointer<Float>,
                        into y: UnsafeMutablePointer<Float>) {
        let c = dimension, d = headSize, k = q + c, v = q + 2 * c
        for first in stride(from: 0, to: t, by: Self.blockRows) {
            let rows = min(Self.blockRows, t - first), columns = first + rows
            // Scores of these rows against every position up to the block's last row.
            Kernels.gemm(.no, .yes, m: rows, n: columns, k: d, alpha: scale, a: q + first * 3 * c, lda: 3 * c,
                         b: k, ldb: 3 * c, beta: 0, c: p + first * t, ldc: t)
            for row in first..<(first + rows) {
                tandem_causal_softmax(p + row * t, row + 1, columns)
            }
            Kernels.gemm(.no, .no, m: rows, n: d, k: columns, a: p + first * t, lda: t, b: v, ldb: 3 * c,
                         beta: 0, c: y + first * c, ldc: c)
        }
    }

    /// The backward of `attend`: writes this head's columns of dq, dk and dv.
    private func attendBackward(qkv q: UnsafePointer<Float>, t: Int, probabilities p: UnsafePointer<Float>,
                                gradOutput dy: UnsafePointer<Float>, scratch dS: UnsafeMutablePointer<Float>,
                                into dq: UnsafeMutablePointer<Float>) {
        let c = dimension, d = headSize, k = q + c, v = q + 2 * c
        let dk = dq + c, dv = dq + 2 * c
        // Row blocks: dP = dY·vᵀ, then dS (softmax backward, fused), then dq = scale · dS·k.
        for first in stride(from: 0, to: t, by: Self.blockRows) {
            let rows = min(Self.blockRows, t - first), columns = first + rows
            Kernels.gemm(.no, .yes, m: rows, n: columns, k: d, a: dy + first * c, lda: c, b: v, ldb: 3 * c,
                         beta: 0, c: dS + first * t, ldc: t)
            for row in first..<(first + rows) {
                tandem_causal_softmax_backward(p + row * t, dS + row * t, row + 1, columns)
            }
            Kernels.gemm(.no, .no, m: rows, n: d, k: columns, alpha: scale, a: dS + first * t, lda: t, b: k, ldb: 3 * c,
                         beta: 0, c: dq + first * 3 * c, ldc: 3 * c)
        }
        // Column blocks: position j is seen only by rows ≥ j, so dv and dk of a block sum over
        // those rows alone: dv = Pᵀ·dY, dk = scale · dSᵀ·q.
        for first in stride(from: 0, to: t, by: Self.blockRows) {
            let width = min(Self.blockRows, t - first), below = t - first
            Kernels.gemm(.yes, .no, m: width, n: d, k: below, a: p + first * t + first, lda: t, b: dy + first * c, ldb: c,
                         beta: 0, c: dv + first * 3 * c, ldc: 3 * c)
            Kernels.gemm(.yes, .no, m: width, n: d, k: below, alpha: scale, a: dS + first * t + first, lda: t,
                         b: q + first * 3 * c, ldb: 3 * c, beta: 0, c: dk + first * 3 * c, ldc: 3 * c)
        }
    }
}
