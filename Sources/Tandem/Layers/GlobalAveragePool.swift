/// Global average pooling: each channel of a [C, H, W] sample becomes its mean, [C]. It lets a
/// residual network end in a dense layer whatever the image size, with no weights of its own.
public final class GlobalAveragePool: Layer {
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var inputShape: [Int] = []

    /// A global average pool; it has no settings and no parameters.
    public init() {}

    /// "GlobalAveragePool".
    public var summary: String { "GlobalAveragePool" }

    /// [C] for a [C, H, W] (or [C, L]) sample.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count >= 2, shape.dropFirst().reduce(1, *) > 0 else {
            throw ModelSpecError("GlobalAveragePool takes [C, H, W] (or [C, L]) per sample but receives shape \(shape)")
        }
        return [shape[0]]
    }

    /// The mean of each channel's values for every sample: [N, C].
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        inputShape = input.shape
        let channels = input.shape[1], spatial = input.count / (input.batch * channels)
        let y = output.tensor([input.batch, channels])
        let scale = 1 / Float(spatial)
        for row in 0..<(input.batch * channels) {
            let x = input.pointer + row * spatial
            var total: Float = 0
            for i in 0..<spatial { total += x[i] }
            y.pointer[row] = total * scale
        }
        return y
    }

    /// Spreads each channel's gradient evenly over its positions: dx = dy / (H·W).
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        let dx = gradInput.tensor(inputShape)
        let spatial = dx.count / gradOutput.count
        let scale = 1 / Float(spatial)
        for row in 0..<gradOutput.count {
            (dx.pointer + row * spatial).update(repeating: gradOutput.pointer[row] * scale, count: spatial)
        }
        return dx
    }
}
