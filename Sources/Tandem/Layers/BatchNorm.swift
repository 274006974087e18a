import CKernels
import Foundation

/// Batch normalisation (Ioffe & Szegedy, 2015) whose statistics are those of the *global*
/// batch, so one process and P ranks compute the same network.
///
///     training:    y = γ · (x − μ_B) / √(σ²_B + ε) + β        μ_B, σ²_B over the global batch
///     evaluation:  y = γ · (x − running_mean) / √(running_var + ε) + β
///
/// Channels are the first dimension of a sample: [C] for dense features (PyTorch's
/// BatchNorm1d), [C, H, W] for images (BatchNorm2d); the statistics of a channel run over every
/// sample and every position. PyTorch normalises each rank's shard with its own statistics
/// (SyncBatchNorm being its GPU-only remedy); here each rank forms per-channel sums and sums of
/// squares over its shard and the ranks add them through `LayerCollectives` — one small sum
/// in forward, and in backward the two sums the input gradient needs:
///
///     dx = γ / (M √(σ² + ε)) · (M · dy − Σ dy − x̂ · Σ dy · x̂)       M: values per channel
///
/// The running statistics (momentum 0.1, unbiased variance, as PyTorch) and the count of
/// batches are buffers: checkpoints keep them under PyTorch's names (`running_mean`,
/// `running_var`, `num_batches_tracked`), and no optimizer, clipping or gradient path touches
/// them. Every rank updates its own copy with the same global statistics.
///
/// A ReLU right after it is fused in (`FusingLayer`): applied as the output is written, and its
/// gate applied to dy as the backward pass reads it, which saves two passes over the block's
/// activations. The gate is recomputed from x (x̂·γ + β > 0, the forward's own float operations)
/// rather than read from the output: one array fewer for passes that run at cache speed. The
/// per-row passes are C kernels (`batchnorm.c`): the double-precision sums vectorise there, and
/// were a third of the layer's time in a Swift loop.
public final class BatchNorm: FusingLayer {
    /// Channels C: the first dimension of each sample.
    public let channels: Int
    /// Added to the variance before the square root, for stability (PyTorch's default 1e-5).
    public let epsilon: Float
    /// Weight of the newest batch in the running statistics (PyTorch's default 0.1).
    public let momentum: Float

    private var weight: ParameterView!
    private var bias: ParameterView!
    private var runningMean: ParameterView!
    private var runningVar: ParameterView!
    private var batchesTracked: ParameterView!
    /// The last training forward's input and, per channel, 1/√(σ² + ε) and −μ/√(σ² + ε):
    /// x̂ = x · inverseStd + shift is recomputed in backward rather than stored.
    private var input: Tensor?
    private var inverseStd: [Float] = []
    private var shifts: [Float] = []
    private var sums: [Double] = []
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    /// Set when a ReLU follows (`fuse(with:)`).
    public private(set) var appliesReLU = false

    /// Batch normalisation over `channels`, with PyTorch's defaults for `epsilon` and `momentum`.
    public init(_ channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        precondition(channels > 0, "a batch normalisation needs channels")
        self.channels = channels; self.epsilon = epsilon; self.momentum = momentum
    }

    /// "BatchNorm(C)".
    public var summary: String { "BatchNorm(\(channels))" }

    /// Unchanged; the first dimension must be `channels`.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.first == channels else {
            throw ModelSpecError("\(summary) normalises \(channels) channels (the first dimension) but receives shape \(shape)")
        }
        return shape
    }

    /// `weight` γ and `bias` β ([C], trainable), then the buffers `running_mean`, `running_var` and `num_batches_tracked`.
    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "weight", shape: [channels], initializer: .constant(1)),
         ParameterSpec(name: "bias", shape: [channels], initializer: .zeros),
         ParameterSpec(name: "running_mean", shape: [channels], initializer: .zeros, trainable: false),
         ParameterSpec(name: "running_var", shape: [channels], initializer: .constant(1), trainable: false),
         ParameterSpec(name: "num_batches_tracked", shape: [], initializer: .zeros, trainable: false)]
    }

    /// Takes the views of γ, β and the three buffers, in `parameterSpecs` order.
    public func bind(_ parameters: [ParameterView]) {
        weight = parameters[0]; bias = parameters[1]
        runningMean = parameters[2]; runningVar = parameters[3]; batchesTracked = parameters[4]
    }

    /// Applies a following ReLU itself and makes that layer pass values through.
    public func fuse(with next: Layer) {
        guard let activation = next as? Activation, case .relu = activation.function else { return }
        appliesReLU = true
        activation.isFusedIntoPrevious = true
    }

    /// Training: normalises with the global batch's statistics and updates the running ones;
    /// evaluation: normalises with the running statistics.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try normalise(input, adding: nil, relu: appliesReLU, context: context)
    }

    /// relu(bn(x) + residual), or bn(x) + residual when `relu` is false: the end of a residual
    /// block (`BasicBlock`) in the pass that normalises, rather than in one of its own over the
    /// normalised values. The gradient is this layer's as usual: the caller applies the ReLU's
    /// mask to it first, since this layer's own backward knows nothing of the residual.
    public func forward(_ input: Tensor, adding residual: Tensor, relu: Bool, context: ForwardContext) throws -> Tensor {
        precondition(residual.shape == input.shape && !appliesReLU, "BatchNorm.forward(adding:): a same-shaped residual, no fused ReLU")
        return try normalise(input, adding: residual.pointer, relu: relu, context: context)
    }

    private func normalise(_ input: Tensor, adding residual: UnsafePointer<Float>?, relu: Bool,
                           context: ForwardContext) throws -> Tensor {
        let (c, spatial, n) = (channels, input.count / max(input.batch * channels, 1), input.batch)
        let x = input.pointer, y = output.tensor(input.shape)
        if !context.training {
            for ch in 0..<c {
                let scale = weight.value[ch] / (runningVar.value[ch] + epsilon).squareRoot()
                let shift = bias.value[ch] - runningMean.value[ch] * scale
                for s in 0..<n {
                    let offset = (s * c + ch) * spatial
                    Self.affine(x + offset, count: spatial, scale: scale, shift: shift, adding: residual.map { $0 + offset },
                                relu: relu, into: y.pointer + offset)
                }
            }
            return y
        }
        // Σx and Σx² per channel over this shard, and the count, summed over the ranks.
        if sums.count != 2 * c + 1 { sums = [Double](repeating: 0, count: 2 * c + 1) }
        for i in sums.indices { sums[i] = 0 }
        sums.withUnsafeMutableBufferPointer { sums in
            for s in 0..<n {
                for ch in 0..<c {
                    let row = x + (s * c + ch) * spatial
                    tandem_batchnorm_moments(row, spatial, sums.baseAddress! + ch, sums.baseAddress! + c + ch)
                }
            }
        }
        sums[2 * c] = Double(n * spatial)
        try context.collectives.sum(&sums)
        let count = sums[2 * c]
        self.input = input
        if inverseStd.count != c { inverseStd = [Float](repeating: 0, count: c); shifts = inverseStd }
        for ch in 0..<c {
            let mean = sums[ch] / count
            let variance = max(sums[c + ch] / count - mean * mean, 0)
            let inverse = Float(1 / (variance + Double(epsilon)).squareRoot())
            inverseStd[ch] = inverse
            shifts[ch] = -Float(mean) * inverse
            // PyTorch keeps the unbiased variance, n/(n − 1) of the batch's.
            let unbiased = count > 1 ? variance * count / (count - 1) : variance
            runningMean.value[ch] = (1 - momentum) * runningMean.value[ch] + momentum * Float(mean)
            runningVar.value[ch] = (1 - momentum) * runningVar.value[ch] + momentum * Float(unbiased)
            let (gamma, beta) = (weight.value[ch], bias.value[ch])
            for s in 0..<n {
                let offset = (s * c + ch) * spatial
                tandem_batchnorm_normalise(x + offset, spatial, inverse, shifts[ch], gamma, beta, relu ? 1 : 0,
                                           residual.map { $0 + offset }, y.pointer + offset)
            }
        }
        batchesTracked.value[0] += 1
        return y
    }

    /// Forms dγ and dβ from this shard and, after summing the two per-channel sums over the ranks, dx.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let (c, spatial, n) = (channels, gradOutput.count / max(gradOutput.batch * channels, 1), gradOutput.batch)
        guard let input else { preconditionFailure("BatchNorm.backward before a training forward") }
        let dy = gradOutput.pointer, x = input.pointer
        // The fused ReLU's gate, recomputed from x (batchnorm.c): dy passes where the output was positive.
        let gated: Int32 = appliesReLU ? 1 : 0
        // Read once: a class's stored property read per row costs a dynamic exclusivity check.
        let gamma = weight.value, beta = bias.value, inverseStd = self.inverseStd, shifts = self.shifts
        // Σ dy and Σ dy·x̂ per channel over this shard: the shard's dβ and dγ, and (summed over
        // the ranks) what the input gradient needs.
        for i in sums.indices { sums[i] = 0 }
        sums.withUnsafeMutableBufferPointer { sums in
            for s in 0..<n {
                for ch in 0..<c {
                    let offset = (s * c + ch) * spatial
                    tandem_batchnorm_sums(dy + offset, x + offset, inverseStd[ch], shifts[ch], gated, gamma[ch], beta[ch], spatial,
                                          sums.baseAddress! + ch, sums.baseAddress! + c + ch)
                }
            }
        }
        let (betaAccumulates, gammaBeta) = (bias.gradientBeta(), weight.gradientBeta())
        for ch in 0..<c {
            bias.gradient[ch] = Float(sums[ch]) + betaAccumulates * bias.gradient[ch]
            weight.gradient[ch] = Float(sums[c + ch]) + gammaBeta * weight.gradient[ch]
        }
        sums[2 * c] = Double(n * spatial)
        // Every rank sums, whether or not it needs dx: a collective is everyone's.
        try context.collectives.sum(&sums)
        guard needsInputGradient else { return nil }
        let count = sums[2 * c]
        let dx = gradInput.tensor(gradOutput.shape)
        for ch in 0..<c {
            let k = weight.value[ch] * inverseStd[ch]
            let meanDy = Float(sums[ch] / count), meanProjected = Float(sums[c + ch] / count)
            for s in 0..<n {
                let offset = (s * c + ch) * spatial
                tandem_batchnorm_input_gradient(dy + offset, x + offset, spatial, inverseStd[ch], shifts[ch], gated, gamma[ch],
                                                beta[ch], k, meanDy, meanProjected, dx.pointer + offset)
            }
        }
        return dx
    }

    @inline(__always)
    static func affine(_ x: UnsafePointer<Float>, count: Int, scale: Float, shift: Float, adding residual: UnsafePointer<Float>?,
                       relu: Bool, into y: UnsafeMutablePointer<Float>) {
        if let residual {
            for i in 0..<count { let v = (x[i] * scale + shift) + residual[i]; y[i] = relu && !(v > 0) ? 0 : v }
        } else if relu {
            for i in 0..<count { let v = x[i] * scale + shift; y[i] = v > 0 ? v : 0 }
        } else {
            for i in 0..<count { y[i] = x[i] * scale + shift }
        }
    }
}
