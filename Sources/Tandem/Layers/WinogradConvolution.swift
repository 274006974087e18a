import CKernels

/// A stride-1 5×5 convolution computed with Winograd's minimal filtering F(2×2, 5×5):
/// 9 multiplies per output pixel and channel pair instead of im2col's 25.
///
/// Every 2×2 block of the output ("tile") depends on the 6×6 input patch under it. The input
/// patches and the weights are each carried into a 36-point transform domain (`V`, `U`), where
/// the convolution summed over input channels becomes 36 independent matrix products
///
///     M[ξ] (out × tiles) = U[ξ] (out × in) · V[ξ] (in × tiles),      ξ = 0 ..< 36,
///
/// and each tile of M is carried back to its 2×2 output block. Backward is the transpose of
/// the same bilinear map, so it reuses V and U: with M̂ the output gradient in the transform
/// domain, dU[ξ] = M̂[ξ] · V[ξ]ᵀ and dV[ξ] = U[ξ]ᵀ · M̂[ξ], then dW and dX come back out
/// (the algebra and the transform matrices are in `Sources/CKernels/winograd.c`).
///
/// Why: in the `cnn` preset the second convolution (32 → 64 channels, 5×5, 14×14) holds about
/// three quarters of the network's multiply-adds, and OpenBLAS already runs its im2col
/// products near this machine's peak; fewer multiplies was the way left to a faster step.
/// The price is rounding: the transforms scale values by up to ~100 and back, so results
/// agree with im2col to about 1e-5 relative rather than 1e-7 (ConvolutionTests compare the two).
///
/// Samples are processed in slices whose transform-domain products fit `workspaceLimit`
/// floats, as im2col's columns are (see `Conv2D`); the weight gradient is accumulated over
/// slices in the transform domain and carried back once.
final class WinogradConvolution {
    /// The kernels this class implements: 5×5, stride 1, any padding. Narrow inputs (the first
    /// layer of an image net has one channel) stay on im2col, where the product over
    /// in·25 rows is still large and the transforms would cost more than they save.
    static func suits(kernel: Int, stride: Int, inChannels: Int) -> Bool {
        kernel == 5 && stride == 1 && inChannels >= 8
    }

    private let inChannels: Int
    private let outChannels: Int
    private let workspaceLimit: Int
    /// U = G g Gᵀ, [36, out, in]: once per forward, reused by backward.
    private let transformedWeights = FloatBuffer()
    /// dU accumulated over slices, [36, out, in].
    private let transformedWeightGradient = FloatBuffer()
    /// V, [36, in, ld], the transformed input patches; dV in backward, after V's last use.
    private let transformedInput = FloatBuffer()
    /// M in forward, M̂ in backward, [36, out, ld].
    private let products = FloatBuffer()
    /// The input (forward) and the input gradient (backward) with the padding and tile overhang written out.
    private let padded = FloatBuffer()
    /// True while `transformedInput` holds V of the whole last input (one slice).
    private var transformedInputHoldsBatch = false

    init(inChannels: Int, outChannels: Int, workspaceLimit: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.workspaceLimit = workspaceLimit
    }

    /// Where the tiles fall for one sample.
    private struct Tiling {
        let g: WindowGeometry
        /// Tiles down and across (the last ones overhang an odd output by a row or column).
        var tilesY: Int { (g.outputHeight + 1) / 2 }
        var tilesX: Int { (g.outputWidth + 1) / 2 }
        var perSample: Int { tilesY * tilesX }
        /// Floats per padded plane: every tile's 6×6 patch, even and odd columns apart (see winograd.c).
        var paddedPlane: Int { tandem_winograd_padded_plane(Int32(tilesY), Int32(tilesX)) }
        /// Row length of the [.. × tiles] matrices for `samples` samples: whole 32-byte vectors,
        /// plus eight floats of slack that the transforms' last vector of a row may write into.
        func leadingDimension(samples: Int) -> Int { (samples * perSample + 7) / 8 * 8 + 8 }
    }

    private func slice(_ tiling: Tiling, batch: Int) -> Int {
        let perSample = 36 * max(inChannels, outChannels) * tiling.perSample
        return max(1, min(batch, workspaceLimit / perSample))
    }

    private func reserve(_ tiling: Tiling, samples: Int) {
        let ld = tiling.leadingDimension(samples: samples)
        transformedWeights.reserve(36 * outChannels * inChannels)
        transformedWeightGradient.reserve(36 * outChannels * inChannels)
        transformedInput.reserve(36 * inChannels * ld)
        products.reserve(36 * outChannels * ld)
        padded.reserve(samples * inChannels * tiling.paddedPlane)
    }

    /// y = conv(x, W) + b (then max(·, 0) when `relu`), NCHW.
    func forward(_ input: Tensor, geometry g: WindowGeometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                 relu: Bool, into y: UnsafeMutablePointer<Float>) {
        let tiling = Tiling(g: g), batch = input.batch
        let step = slice(tiling, batch: batch)
        reserve(tiling, samples: step)
        tandem_winograd_weights(weight, Int32(outChannels), Int32(inChannels), transformedWeights.pointer)
        for first in Swift.stride(from: 0, to: batch, by: step) {
            let count = min(step, batch - first), ld = tiling.leadingDimension(samples: count)
            transformInput(input, first: first, count: count, tiling)
            for xi in 0..<36 {
                Kernels.gemm(.no, .no, m: outChannels, n: count * tiling.perSample, k: inChannels,
                             a: transformedWeights.pointer + xi * outChannels * inChannels, lda: inChannels,
                             b: transformedInput.pointer + xi * inChannels * ld, ldb: ld,
                             beta: 0, c: products.pointer + xi * outChannels * ld, ldc: ld)
            }
            tandem_winograd_output(products.pointer, Int32(count), Int32(outChannels), Int32(tiling.tilesY),
                                   Int32(tiling.tilesX), Int32(g.outputHeight), Int32(g.outputWidth), bias,
                                   relu ? 1 : 0, y + first * outChannels * g.outputPlane, ld)
        }
        transformedInputHoldsBatch = step >= batch
    }

    /// Overwrites the weight and bias gradients and, when `inputGradient` is given, writes dX.
    /// `reluOutput` is the forward's output when a fused ReLU must mask dY.
    func backward(_ gradOutput: Tensor, input: Tensor, geometry g: WindowGeometry, reluOutput: UnsafePointer<Float>?,
                  weight: ParameterView, bias: ParameterView, inputGradient dx: UnsafeMutablePointer<Float>?) {
        let tiling = Tiling(g: g), batch = input.batch
        let step = slice(tiling, batch: batch)
        let weights = outChannels * inChannels
        for first in Swift.stride(from: 0, to: batch, by: step) {
            let count = min(step, batch - first), ld = tiling.leadingDimension(samples: count)
            let tiles = count * tiling.perSample, accumulate = first > 0
            let outputOffset = first * outChannels * g.outputPlane
            if !transformedInputHoldsBatch { transformInput(input, first: first, count: count, tiling) }
            tandem_winograd_output_gradient(gradOutput.pointer + outputOffset, reluOutput.map { $0 + outputOffset },
                                            Int32(count), Int32(outChannels), Int32(tiling.tilesY), Int32(tiling.tilesX),
                                            Int32(g.outputHeight), Int32(g.outputWidth), products.pointer, ld,
                                            bias.gradient, accumulate ? 1 : 0)
            for xi in 0..<36 {   // dU[ξ] (+)= M̂[ξ] · V[ξ]ᵀ
                Kernels.gemm(.no, .yes, m: outChannels, n: inChannels, k: tiles,
                             a: products.pointer + xi * outChannels * ld, lda: ld,
                             b: transformedInput.pointer + xi * inChannels * ld, ldb: ld,
                             beta: accumulate ? 1 : 0, c: transformedWeightGradient.pointer + xi * weights, ldc: inChannels)
            }
            guard let dx else { continue }
            for xi in 0..<36 {   // dV[ξ] = U[ξ]ᵀ · M̂[ξ], over V (used for the last time above)
                Kernels.gemm(.yes, .no, m: inChannels, n: tiles, k: outChannels,
                             a: transformedWeights.pointer + xi * weights, lda: inChannels,
                             b: products.pointer + xi * outChannels * ld, ldb: ld,
                             beta: 0, c: transformedInput.pointer + xi * inChannels * ld, ldc: ld)
            }
            transformedInputHoldsBatch = false
            let planes = count * inChannels
            padded.fill(0, count: planes * tiling.paddedPlane)
            tandem_winograd_input_gradient(transformedInput.pointer, Int32(count), Int32(inChannels),
                                           Int32(tiling.tilesY), Int32(tiling.tilesX), padded.pointer, ld)
            tandem_winograd_unpad(padded.pointer, planes, Int32(g.height), Int32(g.width), Int32(g.padding),
                                  Int32(tiling.tilesY), Int32(tiling.tilesX), dx + first * inChannels * g.inputPlane)
        }
        tandem_winograd_weight_gradient(transformedWeightGradient.pointer, Int32(outChannels), Int32(inChannels),
                                        weight.gradient)
    }

    /// V of samples first..<first+count, through the padded copy.
    private func transformInput(_ input: Tensor, first: Int, count: Int, _ tiling: Tiling) {
        let g = tiling.g, planes = count * inChannels
        tandem_winograd_pad(input.pointer + first * inChannels * g.inputPlane, planes, Int32(g.height), Int32(g.width),
                            Int32(g.padding), Int32(tiling.tilesY), Int32(tiling.tilesX), padded.pointer)
        tandem_winograd_input(padded.pointer, Int32(count), Int32(inChannels), Int32(tiling.tilesY), Int32(tiling.tilesX),
                              transformedInput.pointer, tiling.leadingDimension(samples: count))
    }
}
