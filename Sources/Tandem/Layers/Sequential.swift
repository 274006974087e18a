/// Layers run one after another: itself a layer, so a block of layers can sit inside a model
/// or inside another block. Its children are named "0", "1", … as in PyTorch's `nn.Sequential`,
/// or by the names given (a GPT's MLP: `c_fc`, `gelu`, `c_proj`).
public final class Sequential: Layer {
    /// The children in the order forward runs them.
    public let layers: [Layer]
    private let names: [String]
    /// For each child, whether a trainable parameter lies in a child before it: then its input
    /// gradient is needed even when the block's own input gradient is not.
    private let parametersBefore: [Bool]

    /// Runs `layers` in order, naming them "0", "1", …; adjacent layers that can fuse do so here.
    public convenience init(_ layers: [Layer]) {
        self.init(layers, names: layers.indices.map(String.init))
    }

    private init(_ layers: [Layer], names: [String]) {
        self.layers = layers
        self.names = names
        var before: [Bool] = [], seen = false
        for layer in layers {
            before.append(seen)
            seen = seen || layer.containsParameters
        }
        parametersBefore = before
        // Neighbours may merge their work (a convolution applying the ReLU after it): each layer
        // is asked about the layer that follows it, whatever their types.
        for (first, second) in zip(layers, layers.dropFirst()) {
            (first as? FusingLayer)?.fuse(with: second)
        }
    }

    /// Runs the given layers in order (variadic form of `init(_:)`).
    public convenience init(_ layers: Layer...) { self.init(layers) }

    /// Children with names of their own (which parameter paths use).
    public convenience init(named children: [(String, Layer)]) {
        self.init(children.map(\.1), names: children.map(\.0))
    }

    /// "Sequential(n layers)".
    public var summary: String { "Sequential(\(layers.count) layers)" }

    /// The layers with their names, in forward order.
    public var children: [(name: String, layer: Layer)] {
        zip(names, layers).map { (name: $0.0, layer: $0.1) }
    }

    /// The input shape passed through every layer in turn; throws where two do not chain.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        try layers.reduce(shape) { try $1.outputShape(forInput: $0) }
    }

    /// Runs each layer on the previous one's output.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = input
        for layer in layers { x = try layer.forward(x, context: context) }
        return x
    }

    /// Runs the layers' backward in reverse order, asking each for an input gradient only where a
    /// trainable layer lies before it (or the caller wants one).
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        var gradient = gradOutput
        for index in layers.indices.reversed() {
            let needed = needsInputGradient || parametersBefore[index]
            // Nil: nothing before this layer trains, so the pass ends here.
            guard let next = try context.backward(layers[index], gradient, needsInputGradient: needed) else { return nil }
            gradient = next
        }
        return needsInputGradient ? gradient : nil
    }
}
