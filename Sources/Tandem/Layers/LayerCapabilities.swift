/// Optimisations a layer opts into. Containers, the model and the gradient paths look for these
/// protocols, never for layer types, so a new layer gains an optimisation by conforming and
/// nothing outside it changes.

/// A layer that can take over the work of the layer right after it (a convolution applying the
/// ReLU that follows it inside its own reorder passes). `Sequential` asks each child about its
/// successor once, when it is built.
public protocol FusingLayer: Layer {
    /// Takes over `next`'s work if it can (and tells `next` to pass values through).
    func fuse(with next: Layer)
}

/// A layer that draws random numbers (dropout): the model gives each one its own stream, its
/// position in forward order, so two such layers never draw the same numbers.
public protocol StochasticLayer: Layer {
    /// Gives the layer its own stream number (mixed into every seed it draws from); called once by the model.
    func assignStream(_ stream: UInt64)
}

/// A dense layer, Y = X·Wᵀ + b with W [outputs, inputs] (PyTorch's layout), whose weight
/// gradient dW = dYᵀ·X a gradient path may form itself, over the global batch, and whose
/// training forward product it may split by rows among the ranks (see `RowSplitDense`).
public protocol DenseProductLayer: Layer {
    /// Features per input row: the second dimension of the weight.
    var inputs: Int { get }
    /// Features per output row: the first dimension of the weight.
    var outputs: Int { get }
    /// The [outputs, inputs] weight matrix W.
    var weight: ParameterView { get }
    /// Nil for a layer without a bias (a GPT's output head).
    var bias: ParameterView? { get }
    /// Whether each sample is one row of the product. A position-wise layer (a transformer's,
    /// T rows per sample) is not: its activations outweigh its weights many times over, and
    /// it keeps its own weight gradient.
    var productOverSamples: Bool { get }
    /// The last forward's input and the last backward's output gradient: dW's two factors.
    var lastInput: Tensor? { get }
    /// The gradient dY of the last backward, [rows, outputs].
    var lastGradOutput: Tensor? { get }
    /// Set by a gradient path that forms dW itself (backward then leaves it out) and, when it
    /// splits the forward product too, computes Y in training.
    var delegate: DenseProductDelegate? { get set }
}

/// Who takes over part of a dense layer's work (a gradient path).
public protocol DenseProductDelegate: AnyObject {
    /// Whether the training forward product is computed by `forward(_:sampleOffset:into:)`.
    var computesForward: Bool { get }
    /// Writes this rank's rows Y = X·Wᵀ + b of the training forward pass.
    func forward(_ input: Tensor, sampleOffset: Int, into y: UnsafeMutablePointer<Float>) throws
}
