/// Max pooling over square windows of each channel (no padding, floor mode, as PyTorch's
/// `nn.MaxPool2d(kernel, stride)`; the stride defaults to the kernel).
///
/// Forward records, for every output, which input won (its index within the channel plane),
/// so backward is a scatter of dY to those positions; no comparison is repeated. Ties go to
/// the first position in row-major order, and a NaN in a window wins, so it is not hidden.
public final class MaxPool2D: Layer {
    public let kernel: Int
    public let stride: Int

    private var inputShape: [Int] = []
    private var geometry: WindowGeometry?
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private let winners = IndexBuffer()

    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel > 0 && (stride ?? kernel) > 0, "MaxPool2D needs a positive kernel and stride")
        self.kernel = kernel; self.stride = stride ?? kernel
    }

    public var summary: String { "MaxPool2D(\(kernel)×\(kernel), stride \(stride))" }

    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let g = try WindowGeometry(input: shape, kernel: kernel, stride: stride, padding: 0, layer: summary)
        guard g.inputPlane <= Int(Int32.max) else {   // winners are stored as Int32 plane offsets
            throw ModelSpecError("\(summary): input planes of \(g.height)×\(g.width) are too large")
        }
        return [g.channels, g.outputHeight, g.outputWidth]
    }

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
        let k = kernel, s = stride, width = g.width, outWidth = g.outputWidth
        for plane in 0..<planes {
            let source = x + plane * g.inputPlane
            let destination = out + plane * g.outputPlane
            let winner = at + plane * g.outputPlane
            for oh in 0..<g.outputHeight {
                for ow in 0..<outWidth {
                    let origin = oh * s * width + ow * s
                    var best = source[origin], bestIndex = origin
                    for kh in 0..<k {
                        let row = origin + kh * width
                        for kw in 0..<k {
                            let v = source[row + kw]
                            if v > best || v.isNaN && !best.isNaN { best = v; bestIndex = row + kw }
                        }
                    }
                    destination[oh * outWidth + ow] = best
                    winner[oh * outWidth + ow] = Int32(truncatingIfNeeded: bestIndex)
                }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool) -> Tensor? {
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
