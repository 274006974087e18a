/// Max pooling over square windows of each channel (no padding, floor mode, as PyTorch's
/// `nn.MaxPool2d(kernel, stride)`; the stride defaults to the kernel).
///
/// Forward records, for every output, which input won (its index within the channel plane),
/// so backward is a scatter of dY to those positions; no comparison is repeated. Ties go to
/// the first position in row-major order and a NaN in a window wins (so it is not hidden),
/// both as in PyTorch.
public final class MaxPool2D: Layer {
    /// Side length k of the square window.
    public let kernel: Int
    /// Step between neighbouring windows, in pixels, both ways.
    public let stride: Int

    private var inputShape: [Int] = []
    private var geometry: WindowGeometry?
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private let winners = IndexBuffer()

    /// Max pooling over k×k windows; `stride` defaults to `kernel` (non-overlapping windows).
    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel > 0 && (stride ?? kernel) > 0, "MaxPool2D needs a positive kernel and stride")
        self.kernel = kernel; self.stride = stride ?? kernel
    }

    /// "MaxPool2D(k×k, stride s)".
    public var summary: String { "MaxPool2D(\(kernel)×\(kernel), stride \(stride))" }

    /// [C, Ho, Wo] for an input [C, H, W].
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let g = try WindowGeometry(input: shape, kernel: kernel, stride: stride, padding: 0, layer: summary)
        guard g.inputPlane <= Int(Int32.max) else {   // winners are stored as Int32 plane offsets
            throw ModelSpecError("\(summary): input planes of \(g.height)×\(g.width) are too large")
        }
        return [g.channels, g.outputHeight, g.outputWidth]
    }

    /// The maximum of each window, recording which input won.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        guard let g = try? WindowGeometry(input: Array(input.shape.dropFirst()), kernel: kernel, stride: stride,
                                          padding: 0, layer: summary) else {
            preconditionFailure("\(summary) got input of shape \(input.shape)")
        }
        inputShape = input.shape; geometry = g
        let planes = input.batch * g.channels
        let y = output.tensor([input.batch, g.channels, g.outputHeight, g.outputWidth])
        winners.reserve(planes * g.outputPlane)
        let x = input.pointer, out = y.pointer, at = winners.pointer
        for plane in 0..<planes {
            let source = x + plane * g.inputPlane
            let destination = out + plane * g.outputPlane
            let winner = at + plane * g.outputPlane
            if kernel == 2 && stride == 2 {
                MaxPool2D.pool2x2(source, g, into: destination, winners: winner)
            } else {
                MaxPool2D.pool(source, g, into: destination, winners: winner)
            }
        }
        return y
    }

    /// Any window: the running maximum over k·k values per output.
    private static func pool(_ source: UnsafePointer<Float>, _ g: WindowGeometry,
                             into destination: UnsafeMutablePointer<Float>, winners: UnsafeMutablePointer<Int32>) {
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth { poolWindow(source, g, oh: oh, ow: ow, into: destination, winners: winners) }
        }
    }

    /// One window, as PyTorch: a larger value or a NaN takes the lead.
    @inline(__always)
    private static func poolWindow(_ source: UnsafePointer<Float>, _ g: WindowGeometry, oh: Int, ow: Int,
                                   into destination: UnsafeMutablePointer<Float>, winners: UnsafeMutablePointer<Int32>) {
        let origin = oh * g.stride * g.width + ow * g.stride
        var best = source[origin], bestIndex = origin
        for kh in 0..<g.kernel {
            let row = origin + kh * g.width
            for kw in 0..<g.kernel {
                let v = source[row + kw]
                if v > best || v.isNaN { best = v; bestIndex = row + kw }
            }
        }
        destination[oh * g.outputWidth + ow] = best
        winners[oh * g.outputWidth + ow] = Int32(truncatingIfNeeded: bestIndex)
    }

    /// The common 2×2, stride 2 case, unrolled into selects. On random data each comparison
    /// goes either way, so branches would mispredict; selects compile to blends and
    /// conditional moves (about 3.5× faster here). A NaN anywhere in the window makes the
    /// four-value sum NaN, and then the window is redone by the general loop, which lets NaN win.
    @inline(__always)
    private static func pool2x2(_ source: UnsafePointer<Float>, _ g: WindowGeometry,
                                into destination: UnsafeMutablePointer<Float>, winners: UnsafeMutablePointer<Int32>) {
        let width = g.width, outWidth = g.outputWidth
        for oh in 0..<g.outputHeight {
            let top = 2 * oh * width, bottom = top + width
            let d = destination + oh * outWidth, w = winners + oh * outWidth
            for ow in 0..<outWidth {
                let i = 2 * ow
                let a = source[top + i], b = source[top + i + 1], c = source[bottom + i], e = source[bottom + i + 1]
                let takeB = b > a
                var best = takeB ? b : a
                var at = Int32(truncatingIfNeeded: takeB ? top + i + 1 : top + i)
                let takeC = c > best
                best = takeC ? c : best
                at = takeC ? Int32(truncatingIfNeeded: bottom + i) : at
                let takeE = e > best
                best = takeE ? e : best
                at = takeE ? Int32(truncatingIfNeeded: bottom + i + 1) : at
                d[ow] = best
                w[ow] = at
                if (a + b + c + e).isNaN { poolWindow(source, g, oh: oh, ow: ow, into: destination, winners: winners) }
            }
        }
    }

    /// Scatters each output's gradient to its window's winner (adding where windows share one).
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let g = geometry else { preconditionFailure("MaxPool2D.backward before forward") }
        let dx = gradInput.tensor(inputShape)
        dx.storage.fill(0, count: dx.count)
        let planes = inputShape[0] * g.channels
        let dy = gradOutput.pointer, out = dx.pointer, at = winners.pointer
        for plane in 0..<planes {
            let target = out + plane * g.inputPlane
            let source = dy + plane * g.outputPlane
            let winner = at + plane * g.outputPlane
            // Overlapping windows (stride < kernel) can share a winner: add, do not assign.
            // (Writing each 2×2 tile's four values directly instead of zeroing first measured slower.)
            for o in 0..<g.outputPlane { target[Int(winner[o])] += source[o] }
        }
        return dx
    }
}

/// A growable block of `Int32`s, reused from step to step like `FloatBuffer`.
final class IndexBuffer {
    private(set) var pointer: UnsafeMutablePointer<Int32>
    private(set) var capacity: Int

    init() {
        capacity = 1
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: 0)
    }

    deinit { pointer.deallocate() }

    /// Makes room for `count` indices; contents are not preserved when the buffer grows.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        capacity = count
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
    }
}
