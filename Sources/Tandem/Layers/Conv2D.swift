/// A 2-D convolution (cross-correlation, as in every framework) over NCHW batches, with
/// PyTorch's layout: weight [out, in, k, k], bias [out]; square kernel, stride and zero padding.
///
/// Convolution becomes matrix products over im2col columns (see `Im2Col`):
///
///     forward   Y[out, n·P]     = W[out, in·k·k] × cols[in·k·k, n·P]
///     backward  dW[out, in·k·k] = dY[out, n·P] × colsᵀ           (summed over slices)
///               dcols           = Wᵀ × dY[out, n·P],  then col2im into dX
///
/// where P = Ho·Wo and n samples share one product. The product comes out channel-major
/// ([out, n, P]); one cheap pass reorders it into NCHW and adds the bias on the way, and the
/// mirror pass in backward reorders dY and sums the bias gradient. Backward writes dcols over
/// the columns it has just used for dW. All workspaces are `FloatBuffer`s that only grow, so
/// a training step allocates nothing.
///
/// How many samples share a product is set by `workspaceLimit`, the most floats the columns
/// (or the channel-major product) may take. The default, 2²⁰ floats = 4 MiB, keeps them in
/// cache: measured on the 2-core target with the `cnn` preset at global batch 128, slices of
/// a few samples ran 10–15 % faster than one product over the whole shard batch (whose 80 MB
/// of columns must stream through memory several times per step), and peak memory of a `cnn`
/// training run with evaluation fell from 552 to 380 MB. The products stay large enough for
/// BLAS to run near its peak (e.g. 64 × 1176 × 800 for the second `cnn` convolution). When one slice holds the whole
/// batch, backward reuses the forward's columns instead of unfolding again.
///
/// Training lets a shard whose columns fit in four times the limit go in one slice for that
/// reason: unfolding again cost more than the larger slice. The resnet's 16 → 32 stride-2
/// convolution (1.8 M floats of columns at 64 samples a rank) spent 9.1 ms in backward with two
/// slices and 7.2 ms with one (`tandem bench --model resnet --global-batch 64 --threads 1
/// --record-layer-times`, three runs each); evaluation, which has no backward, keeps the limit.
///
/// A stride-1 5×5 or 3×3 convolution over eight or more channels runs Winograd's F(4×4, 5×5)
/// or F(4×4, 3×3) instead (`WinogradConvolution`: 4 multiplies per output pixel and channel
/// pair instead of 25, 2.25 instead of 9); `algorithm` can force either method where both apply.
public final class Conv2D: FusingLayer {
    /// How the convolution is computed; both give the same result up to rounding.
    public enum Algorithm: String, Sendable, CaseIterable {
        case im2col, winograd
    }

    /// Channels C of each input sample [C, H, W].
    public let inChannels: Int
    /// Channels of each output sample, one filter each.
    public let outChannels: Int
    /// Side length k of the square kernel.
    public let kernel: Int
    /// Step between neighbouring windows, in pixels, both ways.
    public let stride: Int
    /// Zero pixels added on every side of the input.
    public let padding: Int
    /// Most floats the im2col column workspace may hold (default 2²⁰ = 4 MiB); see the type's notes.
    public let workspaceLimit: Int
    /// The method chosen: given, or Winograd where it suits the layer and im2col elsewhere.
    public let algorithm: Algorithm
    private let winograd: WinogradConvolution?

    private var weight: ParameterView!
    private var bias: ParameterView?
    /// Whether the layer has a bias. A convolution followed by batch normalisation has none:
    /// the normalisation subtracts any per-channel constant, so such a bias would get a zero
    /// gradient and be moved only by rounding noise (which Adam amplifies).
    public let hasBias: Bool
    /// Zeros in place of the bias, and where its gradient goes, when there is none.
    private let noBias = FloatBuffer()
    private let noBiasGradient = FloatBuffer()
    private var input: Tensor?
    private var geometry: WindowGeometry?
    /// im2col of the last input in forward; dcols in backward.
    private let columns = FloatBuffer()
    /// The product in channel-major order: Y in forward, the reordered dY in backward.
    private let channelMajor = FloatBuffer()
    /// The input with its zero padding written out (forward); the padded input gradient (backward).
    private let padded = FloatBuffer()
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    /// True while `columns` holds the im2col of the whole last input (one slice), so backward can use it.
    private var columnsHoldInput = false
    /// Samples per slice in the last forward pass; backward slices alike (the workspaces fit them).
    private var forwardSlice = 1
    /// Set when a ReLU follows this convolution (`fuse(with:)`): the ReLU is applied in the
    /// reorder pass of forward and its mask in the reorder pass of backward, which saves two
    /// passes over a CNN's largest activations (the ReLU layer then passes values through).
    public private(set) var appliesReLU = false

    /// A convolution with PyTorch's layout; `algorithm` nil chooses per layer, `bias: false` leaves the bias out.
    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                workspaceLimit: Int = 1 << 20, algorithm: Algorithm? = nil, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0 && padding >= 0,
                     "Conv2D needs positive channels, kernel and stride and a padding ≥ 0")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        self.workspaceLimit = max(1, workspaceLimit)
        hasBias = bias
        noBias.reserve(outChannels); noBiasGradient.reserve(outChannels)
        let winogradSuits = WinogradConvolution.suits(kernel: kernel, stride: stride, inChannels: inChannels)
        self.algorithm = algorithm ?? (winogradSuits ? .winograd : .im2col)
        precondition(self.algorithm == .im2col || WinogradConvolution.handles(kernel: kernel, stride: stride),
                     "Conv2D's Winograd method handles 5×5 and 3×3 kernels at stride 1 only")
        winograd = self.algorithm == .winograd
            ? WinogradConvolution(inChannels: inChannels, outChannels: outChannels, kernel: kernel)
            : nil
    }

    /// "Conv2D(in → out, k×k, stride s, padding p)", noting a missing bias.
    public var summary: String {
        "Conv2D(\(inChannels) → \(outChannels), \(kernel)×\(kernel), stride \(stride), padding \(padding)\(hasBias ? "" : ", no bias"))"
    }

    /// The same convolution without a bias (for one that batch normalisation follows).
    public func withoutBias() -> Conv2D {
        Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
               workspaceLimit: workspaceLimit, algorithm: algorithm, bias: false)
    }

    private func windows(_ shape: [Int]) throws -> WindowGeometry {
        let g = try WindowGeometry(input: shape, kernel: kernel, stride: stride, padding: padding, layer: summary)
        guard g.channels == inChannels else {
            throw ModelSpecError("\(summary) receives \(g.channels) channels (input \(shape))")
        }
        return g
    }

    /// [outChannels, Ho, Wo] for an input [inChannels, H, W].
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let g = try windows(shape)
        return [outChannels, g.outputHeight, g.outputWidth]
    }

    /// Kaiming-uniform weights, ±√(6 / fanIn) with fanIn = in·k·k, keep the variance of
    /// activations through ReLU; biases start at zero.
    public var parameterSpecs: [ParameterSpec] {
        let fanIn = inChannels * kernel * kernel
        let weight = ParameterSpec(name: "weight", shape: [outChannels, inChannels, kernel, kernel],
                                   initializer: .uniform(bound: WeightInit.kaiming.bound(fanIn: fanIn, fanOut: outChannels)))
        return hasBias ? [weight, ParameterSpec(name: "bias", shape: [outChannels], initializer: .zeros)] : [weight]
    }

    /// Takes the weight view and, when there is a bias, the bias view.
    public func bind(_ parameters: [ParameterView]) { weight = parameters[0]; bias = hasBias ? parameters[1] : nil }

    /// Applies a following ReLU itself, in its reorder passes, and makes that layer pass values through.
    public func fuse(with next: Layer) {
        guard let activation = next as? Activation, case .relu = activation.function else { return }
        appliesReLU = true
        activation.isFusedIntoPrevious = true
    }

    /// Samples per matrix product: as many as fit the workspace limit (at least one), or the
    /// whole batch in training when it fits in four times the limit (see the type's notes).
    private func slice(_ g: WindowGeometry, batch: Int, training: Bool) -> Int {
        let perSample = max(g.patchSize, outChannels) * g.outputPlane
        if training && batch * perSample <= 4 * workspaceLimit { return batch }
        return max(1, min(batch, workspaceLimit / perSample))
    }

    /// Y = W × im2col(X) + b in slices of samples (or by Winograd), reordered into NCHW.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        guard let g = try? windows(Array(input.shape.dropFirst())) else {
            preconditionFailure("\(summary) got input of shape \(input.shape)")
        }
        self.input = input
        geometry = g
        let y = output.tensor([input.batch, outChannels, g.outputHeight, g.outputWidth])
        if let winograd {
            winograd.forward(input, geometry: g, weight: weight.value, bias: bias?.value, relu: appliesReLU, into: y.pointer)
            return y
        }
        let batch = input.batch, plane = g.outputPlane, patch = g.patchSize
        let step = slice(g, batch: batch, training: context.training)
        forwardSlice = step
        reserveWorkspaces(g, samples: step)
        for first in Swift.stride(from: 0, to: batch, by: step) {
            let count = min(step, batch - first), width = count * plane
            unfold(input, first: first, count: count, g)
            Kernels.gemm(.no, .no, m: outChannels, n: width, k: patch,
                         a: weight.value, lda: patch, b: columns.pointer, ldb: width,
                         beta: 0, c: channelMajor.pointer, ldc: width)
            Conv2D.toSampleMajor(channelMajor.pointer, channels: outChannels, samples: count, plane: plane,
                                 adding: bias?.value ?? noBias.pointer, relu: appliesReLU, into: y.pointer + first * outChannels * plane)
        }
        columnsHoldInput = step >= batch
        return y
    }

    /// dW (+)= dY × colsᵀ, db (+)= Σ dY and, when needed, dX = col2im(Wᵀ × dY).
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard let input, let g = geometry else { preconditionFailure("Conv2D.backward before forward") }
        let dx = needsInputGradient ? gradInput.tensor(input.shape) : nil
        if let winograd {
            winograd.backward(gradOutput, input: input, geometry: g, reluOutput: appliesReLU ? output.pointer : nil,
                              weight: weight, bias: bias, inputGradient: dx?.pointer)
            return dx
        }
        let batch = input.batch, plane = g.outputPlane, patch = g.patchSize
        let step = forwardSlice
        // Another user of these parameters may have written their gradients this step already.
        let addToWeight = weight.gradientAccumulates(), addToBias = bias?.gradientAccumulates() ?? false
        for first in Swift.stride(from: 0, to: batch, by: step) {
            let count = min(step, batch - first), width = count * plane
            let accumulate = first > 0   // later slices add onto the first slice's gradients
            let offset = first * outChannels * plane
            Conv2D.toChannelMajor(gradOutput.pointer + offset, reluOutput: appliesReLU ? output.pointer + offset : nil,
                                  channels: outChannels, samples: count, plane: plane, into: channelMajor.pointer,
                                  biasGradient: bias?.gradient ?? noBiasGradient.pointer, accumulate: accumulate || addToBias)
            if !columnsHoldInput { unfold(input, first: first, count: count, g) }
            // dW = dY · colsᵀ
            Kernels.gemm(.no, .yes, m: outChannels, n: patch, k: width,
                         a: channelMajor.pointer, lda: width, b: columns.pointer, ldb: width,
                         beta: accumulate || addToWeight ? 1 : 0, c: weight.gradient, ldc: patch)
            guard let dx else { continue }
            // dcols = Wᵀ · dY, written over the columns (no longer needed), then folded into dX.
            Kernels.gemm(.yes, .no, m: patch, n: width, k: outChannels,
                         a: weight.value, lda: patch, b: channelMajor.pointer, ldb: width,
                         beta: 0, c: columns.pointer, ldc: width)
            columnsHoldInput = false
            let target = dx.pointer + first * g.channels * g.inputPlane
            if padding == 0 {
                target.update(repeating: 0, count: count * g.channels * g.inputPlane)
                Im2Col.foldAdding(columns.pointer, samples: count, geometry: g, into: target)
            } else {
                // Fold into the padded buffer (its input copy is no longer needed), keep the interior.
                padded.fill(0, count: count * g.channels * paddedPlane(g))
                Im2Col.foldAdding(columns.pointer, samples: count, geometry: g, into: padded.pointer)
                Im2Col.crop(padded.pointer, samples: count, geometry: g, into: target)
            }
        }
        return dx
    }

    private func paddedPlane(_ g: WindowGeometry) -> Int { (g.height + 2 * padding) * (g.width + 2 * padding) }

    private func reserveWorkspaces(_ g: WindowGeometry, samples: Int) {
        columns.reserve(g.patchSize * samples * g.outputPlane)
        channelMajor.reserve(outChannels * samples * g.outputPlane)
        if padding > 0 { padded.reserve(samples * g.channels * paddedPlane(g)) }
    }

    /// im2col of samples first..<first+count into `columns`, through the padded copy if any.
    private func unfold(_ input: Tensor, first: Int, count: Int, _ g: WindowGeometry) {
        let x = input.pointer + first * g.channels * g.inputPlane
        if padding == 0 {
            Im2Col.unfold(x, samples: count, geometry: g, into: columns.pointer)
        } else {
            Im2Col.pad(x, samples: count, geometry: g, into: padded.pointer)
            Im2Col.unfold(padded.pointer, samples: count, geometry: g, into: columns.pointer)
        }
    }

    /// y[n, o, p] = product[o, n·P + p] + bias[o] (then max(·, 0) with a fused ReLU): the
    /// reorder into NCHW with the bias fused in.
    private static func toSampleMajor(_ product: UnsafePointer<Float>, channels: Int, samples: Int, plane: Int,
                                      adding bias: UnsafePointer<Float>, relu: Bool, into y: UnsafeMutablePointer<Float>) {
        let rowLength = samples * plane
        for o in 0..<channels {
            let b = bias[o]
            for n in 0..<samples {
                let source = product + o * rowLength + n * plane
                let destination = y + (n * channels + o) * plane
                if relu {
                    for p in 0..<plane { let v = source[p] + b; destination[p] = v > 0 ? v : 0 }
                } else {
                    for p in 0..<plane { destination[p] = source[p] + b }
                }
            }
        }
    }

    /// dyc[o, n·P + p] = dY[n, o, p], and the bias gradient Σ_{n,p} dY[n, o, p] in the same pass.
    /// With a fused ReLU, dY is first masked where the ReLU's output `y` is zero (y > 0 exactly
    /// where its input was). The sum runs in eight lanes: a scalar float reduction would not vectorise.
    private static func toChannelMajor(_ dy: UnsafePointer<Float>, reluOutput y: UnsafePointer<Float>?,
                                       channels: Int, samples: Int, plane: Int,
                                       into dyc: UnsafeMutablePointer<Float>,
                                       biasGradient: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let rowLength = samples * plane
        for o in 0..<channels {
            var lanes = SIMD8<Float>()
            var rest: Float = 0
            for n in 0..<samples {
                let source = dy + (n * channels + o) * plane
                let destination = dyc + o * rowLength + n * plane
                let mask = y.map { $0 + (n * channels + o) * plane }
                var p = 0
                while p + 8 <= plane {
                    var v = UnsafeRawPointer(source + p).loadUnaligned(as: SIMD8<Float>.self)
                    if let mask {
                        let m = UnsafeRawPointer(mask + p).loadUnaligned(as: SIMD8<Float>.self)
                        v.replace(with: 0, where: m .<= 0)
                    }
                    UnsafeMutableRawPointer(destination + p).storeBytes(of: v, as: SIMD8<Float>.self)
                    lanes += v
                    p += 8
                }
                while p < plane {
                    let v = mask.map { $0[p] > 0 ? source[p] : 0 } ?? source[p]
                    destination[p] = v; rest += v; p += 1
                }
            }
            let total = lanes.sum() + rest
            biasGradient[o] = accumulate ? biasGradient[o] + total : total
        }
    }
}
