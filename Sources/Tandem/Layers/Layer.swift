/// What a forward pass needs to know besides its input.
public struct ForwardContext {
    /// Training enables dropout; evaluation does not.
    public var training: Bool
    /// Seed and step make stochastic layers reproducible.
    public var seed: UInt64
    public var step: Int
    /// Index, within the global batch, of this rank's first sample. A dropout mask drawn from
    /// (seed, step, global sample index) is the same whatever the world size.
    public var globalSampleOffset: Int

    public init(training: Bool, seed: UInt64 = 0, step: Int = 0, globalSampleOffset: Int = 0) {
        self.training = training; self.seed = seed; self.step = step; self.globalSampleOffset = globalSampleOffset
    }

    public static let evaluation = ForwardContext(training: false)
}

/// One stage of a network, with its forward pass and its hand-written backward pass.
///
/// Shapes exclude the batch dimension. A layer keeps whatever its backward needs from the last
/// forward (inputs, masks, argmaxes) in buffers it reuses. `backward` *overwrites* the layer's
/// parameter gradients in the arena (one backward per step, so no zeroing is needed) and
/// returns the gradient with respect to its input unless the caller says nobody needs it.
public protocol Layer: AnyObject {
    /// How the layer reads in a model summary, e.g. "Linear(784 → 256)".
    var summary: String { get }
    /// The per-sample output shape for a per-sample input shape; throws on a mismatch.
    func outputShape(forInput shape: [Int]) throws -> [Int]
    /// Parameters in PyTorch's order for the equivalent module.
    var parameterSpecs: [ParameterSpec] { get }
    /// Called once when the model lays out its arena.
    func bind(_ parameters: [ParameterView])
    func forward(_ input: Tensor, context: ForwardContext) -> Tensor
    func backward(_ gradOutput: Tensor, needsInputGradient: Bool) -> Tensor?
}

extension Layer {
    public var parameterSpecs: [ParameterSpec] { [] }
    public func bind(_ parameters: [ParameterView]) {}
}

/// A model spec that cannot be built (bad syntax, shapes that do not chain).
public struct ModelSpecError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
