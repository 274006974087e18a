/// A residual block: y = body(x) + shortcut(x), where the shortcut is the identity or a layer
/// of its own (a 1×1 convolution that matches channels and stride).
///
/// The input fans out to two branches, so its gradient is the sum of what both send back.
/// Children are named "body" and "shortcut".
public final class Residual: Layer {
    public let body: Layer
    public let shortcut: Layer?
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()

    public init(_ body: Layer, shortcut: Layer? = nil) {
        self.body = body; self.shortcut = shortcut
    }

    public var summary: String { shortcut == nil ? "Residual(identity)" : "Residual(projection)" }

    public var children: [(name: String, layer: Layer)] {
        [("body", body)] + (shortcut.map { [("shortcut", $0)] } ?? [])
    }

    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let main = try body.outputShape(forInput: shape)
        let side = try shortcut?.outputShape(forInput: shape) ?? shape
        guard main == side else {
            throw ModelSpecError("Residual: the body gives shape \(main) but the shortcut gives \(side) (input \(shape)); "
                                 + "a projection shortcut must match them")
        }
        return main
    }

    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let main = try body.forward(input, context: context)
        let side = try shortcut?.forward(input, context: context) ?? input
        let y = output.tensor(main.shape)
        Kernels.add(main.pointer, side.pointer, into: y.pointer, count: y.count)
        return y
    }

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
