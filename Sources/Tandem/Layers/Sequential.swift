/// A stack of layers run one after another: the model.
///
/// It lays every layer's parameters into one `ParameterArena`, named as PyTorch names the
/// parameters of the equivalent `torch.nn.Sequential` (`"<layer index>.<parameter>"`).
public final class Sequential {
    public let layers: [Layer]
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let arena: ParameterArena
    /// For each layer, the arena range holding its parameters (empty for parameter-free layers).
    public let parameterRanges: [Range<Int>]
    /// Layers before this index have no parameters upstream of them, so no one needs their
    /// input gradients; backward stops computing them there.
    private let firstTrainableLayer: Int

    public init(_ layers: [Layer], inputShape: [Int]) throws {
        self.layers = layers
        self.inputShape = inputShape
        var shape = inputShape
        var slots: [ParameterSlot] = []
        var ranges: [Range<Int>] = []
        var offset = 0
        for (index, layer) in layers.enumerated() {
            shape = try layer.outputShape(forInput: shape)
            let start = offset
            for spec in layer.parameterSpecs {
                slots.append(ParameterSlot(name: "\(index).\(spec.name)", shape: spec.shape, offset: offset, count: spec.count))
                offset += spec.count
            }
            ranges.append(start..<offset)
        }
        outputShape = shape
        parameterRanges = ranges
        arena = ParameterArena(slots: slots)
        firstTrainableLayer = ranges.firstIndex { !$0.isEmpty } ?? layers.count
        if firstTrainableLayer < layers.count { (layers[firstTrainableLayer] as? Linear)?.isFirstTrainable = true }
        // A ReLU right after a convolution runs inside the convolution's reorder passes.
        for (first, second) in zip(layers, layers.dropFirst()) {
            if let convolution = first as? Conv2D, let activation = second as? Activation, case .relu = activation.function {
                convolution.appliesReLU = true
                activation.isFusedIntoPrevious = true
            }
        }
        var slotIndex = 0
        for layer in layers {
            let specs = layer.parameterSpecs
            layer.bind(slots[slotIndex..<slotIndex + specs.count].map { ParameterView(arena: arena, slot: $0) })
            slotIndex += specs.count
        }
    }

    /// Fills the arena from the seed. Each parameter draws from its own stream, so adding a
    /// layer does not change how the others start.
    public func initializeParameters(seed: UInt64) {
        var slotIndex = 0
        for (layerIndex, layer) in layers.enumerated() {
            for (specIndex, spec) in layer.parameterSpecs.enumerated() {
                let slot = arena.slots[slotIndex]
                var rng = SplitMix64(seed: seed, stream: 0x1A1D, UInt64(layerIndex), UInt64(specIndex))
                let values = arena.values + slot.offset
                switch spec.initializer {
                case .zeros: values.update(repeating: 0, count: slot.count)
                case .uniform(let bound): for i in 0..<slot.count { values[i] = rng.uniform(-bound, bound) }
                case .normal(let std): for i in 0..<slot.count { values[i] = std * rng.normal() }
                }
                slotIndex += 1
            }
        }
    }

    public var parameterCount: Int { arena.count }

    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        var x = input
        for layer in layers { x = layer.forward(x, context: context) }
        return x
    }

    /// Runs backward from the loss gradient. After each layer's parameter gradients are final,
    /// `layerDone(index)` is called, so the gradient allreduce can start on them while earlier
    /// layers are still working.
    public func backward(_ gradOutput: Tensor, layerDone: (Int) throws -> Void = { _ in }) rethrows {
        var grad = gradOutput
        for index in layers.indices.reversed() {
            let needsInput = index > firstTrainableLayer
            let next = layers[index].backward(grad, needsInputGradient: needsInput)
            try layerDone(index)
            guard let next else { break }
            grad = next
        }
    }

    public var summary: String {
        layers.enumerated().map { "  \($0.offset): \($0.element.summary)" }.joined(separator: "\n")
    }
}
