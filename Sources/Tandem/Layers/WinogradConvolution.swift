import CKernels

/// A stride-1 5×5 or 3×3 convolution computed with Winograd's minimal filtering F(4×4, 5×5)
/// or F(4×4, 3×3): 4 multiplies per output pixel and channel pair instead of im2col's 25, or
/// 2.25 instead of 9.
///
/// Every 4×4 block of the output ("tile") depends on the 8×8 (6×6) input patch under it. The
/// input patches and the weights are each carried into a 64-point (36-point) transform domain
/// (`V`, `U`), where the convolution summed over input channels becomes independent matrix
/// products, one per point,
///
///     M[ξ] (out × tiles) = U[ξ] (out × in) · V[ξ] (in × tiles),      ξ = 0 ..< 64 (36),
///
/// and each tile of M is carried back to its 4×4 output block. Backward is the transpose of
/// the same bilinear map, so it reuses V and U: with M̂ the output gradient in the transform
/// domain, dU[ξ] = M̂[ξ] · V[ξ]ᵀ and dV[ξ] = U[ξ]ᵀ · M̂[ξ], then dW and dX come back out
/// (the algebra, the matrices and the memory layouts are in `Sources/CKernels/winograd.c`).
///
/// Why: in the `cnn` preset the second convolution (32 → 64 channels, 5×5, 14×14) holds about
/// three quarters of the network's multiply-adds, and OpenBLAS already runs its im2col
/// products near this machine's peak; fewer multiplies was the way left to a faster step.
/// F(4×4, 5×5) rather than the smaller F(2×2, 5×5) (9 multiplies per pixel): the larger tile
/// also moves fewer transformed values per output pixel (4 instead of 9), and on this machine
/// the transforms' memory traffic, not the multiplies, is what limits the layer.
/// The price is rounding: the transforms scale values up and back down, so results agree with
/// the definition to a few 1e-6 of the largest value rather than 1e-7 (ConvolutionTests).
///
/// F(4×4, 3×3) is the ResNet's path: its basic blocks are stride-1 3×3 convolutions over 16 to
/// 64 channels, where im2col spent as long unfolding and folding columns as multiplying them.
/// The tile stays 4×4 so both shapes share their lane shuffles and layouts (winograd.c).
///
/// Samples are processed in slices of eight, one per vector lane: the transform-domain
/// matrices of a slice then stay in cache between the transforms and the products (for the
/// `cnn`'s second layer 1 MB of V and 2 MB of M). Measured with `mpirun -np 2 tandem bench
/// --model cnn --global-batch 128`, interleaved: slices of 8 samples 1,614 and 1,639 samples/s,
/// of 16 samples 1,434 and 1,478, of 64 samples 1,472 and 1,507. The weight gradient is
/// accumulated over slices in the transform domain and carried back once.
final class WinogradConvolution {
    /// The kernels this class implements: 5×5 and 3×3, stride 1, any padding and channel count.
    static func handles(kernel: Int, stride: Int) -> Bool { (kernel == 5 || kernel == 3) && stride == 1 }

    /// Where it pays: narrow inputs (the first layer of an image net has one channel) stay on
    /// im2col, where the product over in·25 rows is still large and the transforms would cost
    /// more than they save.
    static func suits(kernel: Int, stride: Int, inChannels: Int) -> Bool {
        handles(kernel: kernel, stride: stride) && inChannels >= 8
    }

    private let inChannels: Int
    private let outChannels: Int
    /// The kernel size r of F(4×4, r×r): 5 or 3.
    private let kernel: Int
    /// Samples per slice: one per lane of a vector (see the type's notes).
    private static let sliceSamples = 8
    /// Points of the transform domain: the 8×8 (6×6) input patch of a tile.
    private var points: Int { (4 + kernel - 1) * (4 + kernel - 1) }
    /// Zeros standing in for the bias of a convolution without one.
    private let zeroBias = FloatBuffer()
    /// Where the bias gradient of a convolution without one goes.
    private let unusedBiasGradient = FloatBuffer()
    /// U = G g Gᵀ, one [out, in] matrix per point, `weightStride` apart: once per forward, reused by backward.
    private let transformedWeights = FloatBuffer()
    /// dU accumulated over slices, laid out as U.
    private let transformedWeightGradient = FloatBuffer()
    /// V, [points, in, ld], the transformed input patches; dV in backward, after V's last use.
    private let transformedInput = FloatBuffer()
    /// M in forward, M̂ in backward, [points, out, ld].
    private let products = FloatBuffer()
    /// The input (forward) and the input gradient (backward) with the padding and tile overhang
    /// written out, eight samples interleaved.
    private let padded = FloatBuffer()
    /// True while `transformedInput` holds V of the whole last input (one slice).
    private var transformedInputHoldsBatch = false

    /// Floats from one point's weight matrix to the next (padded as the other matrices).
    private var weightStride: Int { tandem_winograd_matrix_stride(Int32(outChannels), inChannels) }

    init(inChannels: Int, outChannels: Int, kernel: Int) {
        precondition(kernel == 5 || kernel == 3, "WinogradConvolution computes 5×5 and 3×3 kernels")
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel
        zeroBias.reserve(outChannels)   // a new buffer holds zeros
        unusedBiasGradient.reserve(outChannels)
    }

    /// Where the tiles fall for one sample.
    private struct Tiling {
        let g: WindowGeometry
        /// Tiles down and across (the last ones overhang an output not divisible by four).
        var tilesY: Int { (g.outputHeight + 3) / 4 }
        var tilesX: Int { (g.outputWidth + 3) / 4 }
        var perSample: Int { tilesY * tilesX }
        /// Columns of the [.. × tiles] matrices for `samples` samples: one per tile and sample,
        /// samples rounded up to whole vectors of eight.
        func leadingDimension(samples: Int) -> Int { (samples + 7) / 8 * 8 * perSample }
        /// Floats from one point's matrix to the next (see winograd.c: padding against cache conflicts).
        func matrixStride(rows: Int, samples: Int) -> Int {
            tandem_winograd_matrix_stride(Int32(rows), leadingDimension(samples: samples))
        }
        func paddedSize(samples: Int) -> Int {
            tandem_winograd_padded_size(Int32(samples), Int32(g.channels), Int32(tilesY), Int32(tilesX))
        }
    }

    private func slice(batch: Int) -> Int { min(batch, Self.sliceSamples) }

    private func reserve(_ tiling: Tiling, samples: Int) {
        transformedWeights.reserve(points * weightStride)
        transformedWeightGradient.reserve(points * weightStride)
        transformedInput.reserve(points * tiling.matrixStride(rows: inChannels, samples: samples))
        products.reserve(points * tiling.matrixStride(rows: outChannels, samples: samples))
        padded.reserve(tiling.paddedSize(samples: samples))
    }

    /// y = conv(x, W) + b (then max(·, 0) when `relu`), NCHW; no bias adds zero.
    func forward(_ input: Tensor, geometry g: WindowGeometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 relu: Bool, into y: UnsafeMutablePointer<Float>) {
        let tiling = Tiling(g: g), batch = input.batch
        let step = slice(batch: batch)
        reserve(tiling, samples: step)
        tandem_winograd_weights(Int32(kernel), weight, Int32(outChannels), Int32(inChannels), transformedWeights.pointer, weightStride)
        for first in Swift.stride(from: 0, to: batch, by: step) {
            let count = min(step, batch - first), ld = tiling.leadingDimension(samples: count)
            let inputStride = tiling.matrixStride(rows: inChannels, samples: count)
            let productStride = tiling.matrixStride(rows: outChannels, samples: count)
            transformInput(input, first: first, count: count, tiling)
            for xi in 0..<points {   // M[ξ] = U[ξ] · V[ξ]
                Kernels.gemm(.no, .no, m: outChannels, n: ld, k: inChannels,
                             a: transformedWeights.pointer + xi * weightStride, lda: inChannels,
                             b: transformedInput.pointer + xi * inputStride, ldb: ld,
                             beta: 0, c: products.pointer + xi * productStride, ldc: ld)
            }
            tandem_winograd_output(Int32(kernel), products.pointer, Int32(count), Int32(outChannels), Int32(tiling.tilesY),
                                   Int32(tiling.tilesX), Int32(g.outputHeight), Int32(g.outputWidth), bias ?? UnsafePointer(zeroBias.pointer),
                                   relu ? 1 : 0, y + first * outChannels * g.outputPlane, ld)
        }
        transformedInputHoldsBatch = step >= batch
    }

    /// Writes (or, for a later user of the parameters in this step, adds to) the weight and
    /// bias gradients (when there is a bias) and, when `inputGradient` is given, writes dX.
    /// `reluOutput` is the forward's output when a fused ReLU must mask dY.
    func backward(_ gradOutput: Tensor, input: Tensor, geometry g: WindowGeometry, reluOutput: UnsafePointer<Float>?,
                  weight: ParameterView, bias: ParameterView?, inputGradient dx: UnsafeMutablePointer<Float>?) {
        let tiling = Tiling(g: g), batch = input.batch
        let step = slice(batch: batch)
        let addToBias = bias?.gradientAccumulates() ?? false
        for first in Swift.stride(from: 0, to: batch, by: step) {
            let count = min(step, batch - first), ld = tiling.leadingDimension(samples: count)
            let inputStride = tiling.matrixStride(rows: inChannels, samples: count)
            let productStride = tiling.matrixStride(rows: outChannels, samples: count)
            let accumulate = first > 0
            let outputOffset = first * outChannels * g.outputPlane
            if !transformedInputHoldsBatch { transformInput(input, first: first, count: count, tiling) }
            tandem_winograd_output_gradient(Int32(kernel), gradOutput.pointer + outputOffset, reluOutput.map { $0 + outputOffset },
                                            Int32(count), Int32(outChannels), Int32(tiling.tilesY), Int32(tiling.tilesX),
                                            Int32(g.outputHeight), Int32(g.outputWidth), products.pointer,
                                            bias?.gradient ?? unusedBiasGradient.pointer, accumulate || addToBias ? 1 : 0, ld)
            for xi in 0..<points {   // dU[ξ] (+)= M̂[ξ] · V[ξ]ᵀ
                Kernels.gemm(.no, .yes, m: outChannels, n: inChannels, k: ld,
                             a: products.pointer + xi * productStride, lda: ld,
                             b: transformedInput.pointer + xi * inputStride, ldb: ld,
                             beta: accumulate ? 1 : 0, c: transformedWeightGradient.pointer + xi * weightStride, ldc: inChannels)
            }
            guard let dx else { continue }
            for xi in 0..<points {   // dV[ξ] = U[ξ]ᵀ · M̂[ξ], over V (used for the last time above)
                Kernels.gemm(.yes, .no, m: inChannels, n: ld, k: outChannels,
                             a: transformedWeights.pointer + xi * weightStride, lda: inChannels,
                             b: products.pointer + xi * productStride, ldb: ld,
                             beta: 0, c: transformedInput.pointer + xi * inputStride, ldc: ld)
            }
            transformedInputHoldsBatch = false
            padded.fill(0, count: tiling.paddedSize(samples: count))
            tandem_winograd_input_gradient(Int32(kernel), transformedInput.pointer, Int32(count), Int32(inChannels),
                                           Int32(tiling.tilesY), Int32(tiling.tilesX), padded.pointer, ld)
            tandem_winograd_unpad(padded.pointer, Int32(count), Int32(inChannels), Int32(g.height), Int32(g.width),
                                  Int32(g.padding), Int32(tiling.tilesY), Int32(tiling.tilesX),
                                  dx + first * inChannels * g.inputPlane)
        }
        weight.writeGradient { destination in
            tandem_winograd_weight_gradient(Int32(kernel), transformedWeightGradient.pointer, Int32(outChannels), Int32(inChannels),
                                            destination, weightStride)
        }
    }

    /// V of samples first..<first+count, through the padded copy.
    private func transformInput(_ input: Tensor, first: Int, count: Int, _ tiling: Tiling) {
        let g = tiling.g
        tandem_winograd_pad(input.pointer + first * inChannels * g.inputPlane, Int32(count), Int32(inChannels),
                            Int32(g.height), Int32(g.width), Int32(g.padding), Int32(tiling.tilesY), Int32(tiling.tilesX),
                            padded.pointer)
        tandem_winograd_input(Int32(kernel), padded.pointer, Int32(count), Int32(inChannels), Int32(tiling.tilesY), Int32(tiling.tilesX),
                              transformedInput.pointer, tiling.leadingDimension(samples: count))
    }
}
