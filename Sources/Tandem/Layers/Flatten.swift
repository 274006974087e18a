/// Reads each sample as one flat vector: [N, C, H, W] → [N, C·H·W], as PyTorch's `nn.Flatten()`.
///
/// Storage is row-major and batch-first, so this is only a new shape over the same values:
/// forward and backward copy nothing.
public final class Flatten: Layer {
    private var inputShape: [Int] = []

    public init() {}

    public var summary: String { "Flatten" }

    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard !shape.isEmpty else { throw ModelSpecError("Flatten needs a per-sample input shape, got []") }
        return [shape.reduce(1, *)]
    }

    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        inputShape = input.shape
        return input.reshaped([input.batch, input.featuresPerSample])
    }

    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard needsInputGradient else { return nil }
        return gradOutput.reshaped(inputShape)
    }
}
