/// Reads each sample as one flat vector: [N, C, H, W] → [N, C·H·W], as PyTorch's `nn.Flatten()`.
///
/// Storage is row-major and batch-first, so this is only a new shape over the same values:
/// forward and backward copy nothing.
public final class Flatten: Layer {
    private var inputShape: [Int] = []

    /// A flatten layer; it has no settings and no parameters.
    public init() {}

    /// "Flatten".
    public var summary: String { "Flatten" }

    /// One dimension: the product of the input's.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard !shape.isEmpty else { throw ModelSpecError("Flatten needs a per-sample input shape, got []") }
        return [shape.reduce(1, *)]
    }

    /// The same storage seen as [N, features per sample].
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        inputShape = input.shape
        return input.reshaped([input.batch, input.featuresPerSample])
    }

    /// The output gradient reshaped back to the last input's shape.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard needsInputGradient else { return nil }
        return gradOutput.reshaped(inputShape)
    }
}
