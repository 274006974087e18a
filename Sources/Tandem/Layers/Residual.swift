/// A residual block: y = body(x) + shortcut(x), where the shortcut is the identity or a layer
/// of its own (a 1×1 convolution that matches channels and stride).
///
/// The input fans out to two branches, so its gradient is the sum of what both send back.
/// Children are named "body" and "shortcut".
public final class Residual: Layer {
    /// The main branch.
    public let body: Layer
    /// The side branch, or nil for the identity.
    public let shortcut: Layer?
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    /// y = body(x) + x, or body(x) + shortcut(x) when a shortcut layer is given.
    public init(_ body: Layer, shortcut: Layer? = nil) {
        self.body = body; self.shortcut = shortcut
    }

    /// Whether the shortcut is the identity or a projection.
    public var summary: String { shortcut == nil ? "Residual(identity)" : "Residual(projection)" }

    /// "body" and, when there is one, "shortcut".
    public var children: [(name: String, layer: Layer)] {
        [("body", body)] + (shortcut.map { [("shortcut", $0)] } ?? [])
    }

    /// The body's output shape, which the shortcut's must equal.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let main = try body.outputShape(forInput: shape)
        let side = try shortcut?.outputShape(forInput: shape) ?? shape
        guard main == side else {
            throw ModelSpecError("Residual: the body gives shape \(main) but the shortcut gives \(side) (input \(shape)); "
                                 + "a projection shortcut must match them")
        }
        return main
    }

    /// Runs both branches on the same input and adds their outputs.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let main = try body.forward(input, context: context)
        let side = try shortcut?.forward(input, context: context) ?? input
        let y = output.tensor(main.shape)
        Kernels.add(main.pointer, side.pointer, into: y.pointer, count: y.count)
        return y
    }

    /// Runs the shortcut's backward, then the body's, and returns the sum of their input gradients.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        // Reverse of forward order: the shortcut ran last, so its backward runs first.
        var fromSide = gradOutput
        if let shortcut, let g = try context.backward(shortcut, gradOutput, needsInputGradient: needsInputGradient) {
            fromSide = g
        }
        guard let main = try context.backward(body, gradOutput, needsInputGradient: needsInputGradient),
              needsInputGradient else { return nil }
        let dx = gradInput.tensor(main.shape)
        Kernels.add(main.pointer, fromSide.pointer, into: dx.pointer, count: dx.count)
        return dx
    }
}
