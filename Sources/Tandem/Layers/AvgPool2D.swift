/// Average pooling over square windows of each channel (no padding, floor mode, as PyTorch's
/// `nn.AvgPool2d(kernel, stride)`; the stride defaults to the kernel).
///
/// Every output is the mean of k·k inputs, so backward hands each input dY / (k·k) from every
/// window that contains it.
public final class AvgPool2D: Layer {
    /// Side length k of the square window.
    public let kernel: Int
    /// Step between neighbouring windows, in pixels, both ways.
    public let stride: Int

    private var inputShape: [Int] = []
    private var geometry: WindowGeometry?
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    /// Average pooling over k×k windows; `stride` defaults to `kernel` (non-overlapping windows).
    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel > 0 && (stride ?? kernel) > 0, "AvgPool2D needs a positive kernel and stride")
        self.kernel = kernel; self.stride = stride ?? kernel
    }

    /// "AvgPool2D(k×k, stride s)".
    public var summary: String { "AvgPool2D(\(kernel)×\(kernel), stride \(stride))" }

    /// [C, Ho, Wo] for an input [C, H, W].
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let g = try WindowGeometry(input: shape, kernel: kernel, stride: stride, padding: 0, layer: summary)
        return [g.channels, g.outputHeight, g.outputWidth]
    }

    /// The mean of each window.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        guard let g = try? WindowGeometry(input: Array(input.shape.dropFirst()), kernel: kernel, stride: stride,
                                          padding: 0, layer: summary) else {
            preconditionFailure("\(summary) got input of shape \(input.shape)")
        }
        inputShape = input.shape; geometry = g
        let y = output.tensor([input.batch, g.channels, g.outputHeight, g.outputWidth])
        let x = input.pointer, out = y.pointer
        let k = kernel, s = stride, width = g.width, outWidth = g.outputWidth
        let scale = 1 / Float(k * k)
        for plane in 0..<(input.batch * g.channels) {
            let source = x + plane * g.inputPlane
            let destination = out + plane * g.outputPlane
            for oh in 0..<g.outputHeight {
                for ow in 0..<outWidth {
                    let origin = oh * s * width + ow * s
                    var total: Float = 0
                    for kh in 0..<k {
                        let row = source + origin + kh * width
                        for kw in 0..<k { total += row[kw] }
                    }
                    destination[oh * outWidth + ow] = total * scale
                }
            }
        }
        return y
    }

    /// Hands each input dY / (k·k) from every window that contains it.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let g = geometry else { preconditionFailure("AvgPool2D.backward before forward") }
        let dx = gradInput.tensor(inputShape)
        dx.storage.fill(0, count: dx.count)
        let dy = gradOutput.pointer, out = dx.pointer
        let k = kernel, s = stride, width = g.width, outWidth = g.outputWidth
        let scale = 1 / Float(k * k)
        for plane in 0..<(inputShape[0] * g.channels) {
            let target = out + plane * g.inputPlane
            let source = dy + plane * g.outputPlane
            for oh in 0..<g.outputHeight {
                for ow in 0..<outWidth {
                    let share = source[oh * outWidth + ow] * scale
                    let origin = oh * s * width + ow * s
                    for kh in 0..<k {
                        let row = target + origin + kh * width
                        for kw in 0..<k { row[kw] += share }
                    }
                }
            }
        }
        return dx
    }
}
