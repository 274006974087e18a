/// What a forward pass needs to know besides its input.
public struct ForwardContext {
    /// Training enables dropout and batch statistics; evaluation does not.
    public var training: Bool
    /// Seed and step make stochastic layers reproducible.
    public var seed: UInt64
    /// The training step being run, so a stochastic layer draws different numbers each step.
    public var step: Int
    /// Index, within the global batch, of this rank's first sample. A dropout mask drawn from
    /// (seed, step, global sample index) is the same whatever the world size.
    public var globalSampleOffset: Int
    /// How a layer reaches the other ranks (sums of per-channel statistics over the global
    /// batch). One process alone sums over nothing.
    public var collectives: LayerCollectives

    /// A context for one pass; the defaults suit evaluation or a single process (no seed, step 0, no other ranks).
    public init(training: Bool, seed: UInt64 = 0, step: Int = 0, globalSampleOffset: Int = 0,
                collectives: LayerCollectives = LocalCollectives()) {
        self.training = training; self.seed = seed; self.step = step; self.globalSampleOffset = globalSampleOffset
        self.collectives = collectives
    }

    /// Inference without other ranks: no dropout, running statistics instead of batch statistics.
    public static let evaluation = ForwardContext(training: false)
}

/// One stage of a network, with its forward pass and its hand-written backward pass.
///
/// Shapes exclude the batch dimension. A layer keeps whatever its backward needs from the last
/// forward (inputs, masks, argmaxes) in buffers it reuses.
///
/// A layer may be made of layers (`children`, e.g. `Sequential`, `Residual`): the model lays
/// out every parameter of the tree in one arena, named by the path to it (`3.body.0.weight`).
///
/// `backward` **accumulates** parameter gradients: the first user of a parameter in a step
/// overwrites its gradient and later users add to it (`ParameterView.gradientBeta`), so a
/// parameter used twice (a tied weight) receives the sum of both uses. It returns the gradient
/// with respect to its input unless `needsInputGradient` is false (nothing upstream trains).
public protocol Layer: AnyObject {
    /// How the layer reads in a model summary, e.g. "Linear(784 → 256)".
    var summary: String { get }
    /// The per-sample output shape for a per-sample input shape; throws on a mismatch.
    func outputShape(forInput shape: [Int]) throws -> [Int]
    /// This layer's own parameters (not its children's), in PyTorch's order for the equivalent
    /// module; buffers (running statistics) are specs with `trainable == false`.
    var parameterSpecs: [ParameterSpec] { get }
    /// The layers this one is made of, with the names that make up parameter paths. Containers
    /// run their children themselves, the children's backward through `BackwardContext.backward`
    /// and in the reverse of their forward order.
    var children: [(name: String, layer: Layer)] { get }
    /// Called once when the model lays out its arena, with one view per parameter spec.
    func bind(_ parameters: [ParameterView])
    /// Runs the layer on a batch (`input.shape[0]` samples) and returns its output, keeping what backward needs.
    func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor
    /// Takes the gradient of the loss with respect to the last forward's output, accumulates parameter
    /// gradients, and returns the input gradient (nil when `needsInputGradient` is false).
    func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor?
}

extension Layer {
    /// Default for layers without parameters of their own: none.
    public var parameterSpecs: [ParameterSpec] { [] }
    /// Default for leaf layers: no children.
    public var children: [(name: String, layer: Layer)] { [] }
    /// Default for layers without parameters: nothing to bind.
    public func bind(_ parameters: [ParameterView]) {}

    /// Whether this layer or any layer inside it has trainable parameters (its own or tied).
    public var containsParameters: Bool {
        parameterSpecs.contains { $0.trainable } || children.contains { $0.layer.containsParameters }
    }

    /// Backward on its own, outside a model's pass (tests, gradient checks): no other ranks,
    /// nobody listening for finished layers.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        try backward(gradOutput, needsInputGradient: needsInputGradient, context: BackwardContext())
    }
}

/// What a backward pass carries besides the output gradient: the collectives, and whom to tell
/// that a layer's gradients are final (so the gradient path can start reducing them).
public final class BackwardContext {
    /// How the layers of this pass reach the other ranks (e.g. batch normalisation's gradient sums).
    public let collectives: LayerCollectives
    private let finished: (Layer) throws -> Void

    /// A context that sums through `collectives` and calls `finished` with each layer whose backward
    /// has completed (the default ignores it).
    public init(collectives: LayerCollectives = LocalCollectives(), finished: @escaping (Layer) throws -> Void = { _ in }) {
        self.collectives = collectives; self.finished = finished
    }

    /// Runs `child`'s backward as part of this pass. Containers call it for each child, in the
    /// reverse of the order their forward ran them.
    public func backward(_ child: Layer, _ gradOutput: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        let gradient = try child.backward(gradOutput, needsInputGradient: needsInputGradient, context: self)
        try finished(child)
        return gradient
    }
}

/// A model spec that cannot be built (bad syntax, shapes that do not chain).
public struct ModelSpecError: Error, CustomStringConvertible {
    /// What is wrong with the spec, in words fit to show the user.
    public var description: String
    /// An error with the message `description`.
    public init(_ description: String) { self.description = description }
}
