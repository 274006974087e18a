/// A network ready to train: a tree of layers with every parameter laid out in one arena.
///
/// The model walks the tree once, in forward order, and gives each parameter a block of the
/// `arena` named by its path, as PyTorch names the equivalent module's state (`0.weight` in a
/// `Sequential`, `3.body.0.weight` inside a residual block). Tied parameters get no block of
/// their own; buffers (running statistics) go to `buffers`, which no optimizer sees.
///
/// Every layer that does work of its own (a leaf, or a container with parameters of its own)
/// is a `LayerUnit`, numbered in forward order. Backward reports units as their gradients
/// become final, last unit first, which is when the MPI path can start reducing them.
public final class Model {
    /// The top of the layer tree, e.g. a `Sequential` of the model's layers, or a `GPT`.
    public let root: Layer
    /// Shape of one sample's input, without the batch dimension.
    public let inputShape: [Int]
    /// Shape of one sample's output, without the batch dimension (e.g. [10] class scores).
    public let outputShape: [Int]
    /// Trainable parameters, their gradients, and (through the optimizer) their state.
    public let arena: ParameterArena
    /// Non-trainable tensors (running statistics): checkpointed, never optimised or reduced.
    public let buffers: ParameterArena
    /// The layers that do work of their own, in forward order.
    public let units: [LayerUnit]
    private let unitIndex: [ObjectIdentifier: Int]
    /// Each unit's views, one per parameter spec, as bound.
    private let views: [[ParameterView]]

    /// Lays out `root`'s tree for inputs of `inputShape` (per sample); throws when shapes do
    /// not chain, a layer instance appears twice, or a tie names a parameter not yet laid out.
    public init(_ root: Layer, inputShape: [Int]) throws {
        self.root = root
        self.inputShape = inputShape
        outputShape = try root.outputShape(forInput: inputShape)
        var layout = Layout()
        try layout.visit(root, path: [])
        arena = ParameterArena(slots: layout.slots)
        buffers = ParameterArena(slots: layout.bufferSlots)
        units = layout.units
        unitIndex = Dictionary(uniqueKeysWithValues: layout.units.enumerated().map { (ObjectIdentifier($0.element.layer), $0.offset) })
        let (parameterStore, bufferStore) = (arena, buffers)
        views = layout.bindings.map { binding in
            binding.views.map { ParameterView(arena: $0.isBuffer ? bufferStore : parameterStore, index: $0.slot) }
        }
        for (binding, unitViews) in zip(layout.bindings, views) { binding.layer.bind(unitViews) }
        for (ordinal, unit) in units.enumerated() {
            (unit.layer as? StochasticLayer)?.assignStream(UInt64(ordinal))
        }
    }

    /// A model of layers run one after another.
    public convenience init(_ layers: [Layer], inputShape: [Int]) throws {
        try self.init(Sequential(layers), inputShape: inputShape)
    }

    /// The root's children (the layers of a `Sequential` model), or the root alone.
    public var layers: [Layer] {
        let children = root.children
        return children.isEmpty ? [root] : children.map(\.layer)
    }

    /// Number of trainable scalars (tied parameters counted once, buffers not at all).
    public var parameterCount: Int { arena.count }

    /// Every unit of a given capability, in forward order (the gradient paths ask for these).
    public func units<T>(conformingTo type: T.Type) -> [(unit: LayerUnit, layer: T)] {
        units.compactMap { unit in (unit.layer as? T).map { (unit, $0) } }
    }

    /// Whether two or more layers use the slot at `index` (a tied parameter).
    public func isShared(slot index: Int) -> Bool { units.filter { $0.usedSlots.contains(index) }.count > 1 }

    /// Fills the arena and buffers from the seed. Each parameter draws from its own stream,
    /// (unit, parameter), so changing one layer does not change how the others start.
    public func initializeParameters(seed: UInt64) {
        for (ordinal, unit) in units.enumerated() {
            for (specIndex, spec) in unit.layer.parameterSpecs.enumerated() where spec.tiedTo == nil {
                let view = views[ordinal][specIndex]
                var rng = SplitMix64(seed: seed, stream: 0x1A1D, UInt64(ordinal), UInt64(specIndex))
                let values = view.value, count = view.count
                switch spec.initializer {
                case .zeros: values.update(repeating: 0, count: count)
                case .constant(let value): values.update(repeating: value, count: count)
                case .uniform(let bound): for i in 0..<count { values[i] = rng.uniform(-bound, bound) }
                case .normal(let std): for i in 0..<count { values[i] = std * rng.normal() }
                }
            }
        }
    }

    /// The forward pass. A new step's gradients begin here: the next backward overwrites them.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        arena.beginGradients()
        return try root.forward(input, context: context)
    }

    /// The backward pass from the loss gradient. `unitDone(i)` is called once for every unit,
    /// in descending order, as soon as unit `i`'s gradients and those of every later unit are
    /// final (a tied parameter is final once its earliest user is done, and the owner comes
    /// first), so a gradient path can start on them while earlier layers still work.
    /// The model's input gradient is returned only when asked for (gradient checks).
    @discardableResult
    public func backward(_ gradOutput: Tensor, collectives: LayerCollectives = LocalCollectives(), needsInputGradient: Bool = false,
                         unitDone: (Int) throws -> Void = { _ in }) throws -> Tensor? {
        try withoutActuallyEscaping(unitDone) { unitDone in
            var done = [Bool](repeating: false, count: units.count)
            var frontier = units.count
            let context = BackwardContext(collectives: collectives) { [unitIndex] layer in
                guard let index = unitIndex[ObjectIdentifier(layer)] else { return }
                done[index] = true
                while frontier > 0 && done[frontier - 1] { frontier -= 1; try unitDone(frontier) }
            }
            let inputGradient = try context.backward(root, gradOutput, needsInputGradient: needsInputGradient)
            arena.finishGradients()
            // Layers before the first parameter are never asked for a gradient.
            while frontier > 0 { frontier -= 1; try unitDone(frontier) }
            return inputGradient
        }
    }

    /// One line per unit, "path: layer summary", in forward order.
    public var summary: String {
        units.map { "  \($0.path.isEmpty ? "-" : $0.path): \($0.layer.summary)" }.joined(separator: "\n")
    }
}

/// A layer that does work of its own inside a model, and where its parameters lie.
public struct LayerUnit {
    /// The layer itself.
    public let layer: Layer
    /// The dotted path to it ("3.body.0"); empty for a root that is itself a leaf.
    public let path: String
    /// The arena range of the parameters it owns (empty when it has none, or uses only tied ones).
    public let range: Range<Int>
    /// Arena slots it reads and writes: its own and the tied ones.
    public let usedSlots: [Int]
    /// No trainable parameter comes before it in forward order, so nobody needs its input gradient.
    public let isFirstTrainable: Bool
    /// "3.body.0: Linear(64 → 64)", as health reports name it.
    public var name: String { "\(path.isEmpty ? "-" : path): \(layer.summary)" }
}

/// The walk that lays out a model's parameters.
private struct Layout {
    struct ViewRef { var slot: Int; var isBuffer: Bool }
    var slots: [ParameterSlot] = [], bufferSlots: [ParameterSlot] = []
    var offset = 0, bufferOffset = 0
    var units: [LayerUnit] = []
    var bindings: [(layer: Layer, views: [ViewRef])] = []
    var seen: Set<ObjectIdentifier> = []
    /// (owner, parameter name) → arena slot, for ties.
    var owned: [ObjectIdentifier: [String: Int]] = [:]
    var trainableSoFar = false

    mutating func visit(_ layer: Layer, path: [String]) throws {
        let name = path.joined(separator: ".")
        guard seen.insert(ObjectIdentifier(layer)).inserted else {
            throw ModelSpecError("layer \(layer.summary) appears twice in the model (at \(name.isEmpty ? "the root" : name)); "
                                 + "to share weights, tie a parameter (ParameterSpec.tied) instead")
        }
        let specs = layer.parameterSpecs
        let children = layer.children
        if !specs.isEmpty || children.isEmpty {
            let start = offset
            var views: [ViewRef] = [], used: [Int] = []
            for spec in specs {
                let full = name.isEmpty ? spec.name : name + "." + spec.name
                if let tie = spec.tiedTo {
                    guard let index = owned[ObjectIdentifier(tie.owner)]?[tie.name] else {
                        throw ModelSpecError("\(full) is tied to \(tie.owner.summary)'s '\(tie.name)', which is not laid out before it "
                                             + "(the owner of a tied parameter must come first in forward order)")
                    }
                    guard slots[index].shape == spec.shape else {
                        throw ModelSpecError("\(full) has shape \(spec.shape) but is tied to \(slots[index].name) of shape \(slots[index].shape)")
                    }
                    views.append(ViewRef(slot: index, isBuffer: false)); used.append(index)
                } else if spec.trainable {
                    owned[ObjectIdentifier(layer), default: [:]][spec.name] = slots.count
                    views.append(ViewRef(slot: slots.count, isBuffer: false)); used.append(slots.count)
                    slots.append(ParameterSlot(name: full, shape: spec.shape, offset: offset, count: spec.count))
                    offset += spec.count
                } else {
                    views.append(ViewRef(slot: bufferSlots.count, isBuffer: true))
                    bufferSlots.append(ParameterSlot(name: full, shape: spec.shape, offset: bufferOffset, count: spec.count))
                    bufferOffset += spec.count
                }
            }
            units.append(LayerUnit(layer: layer, path: name, range: start..<offset, usedSlots: used,
                                   isFirstTrainable: !trainableSoFar))
            if !used.isEmpty { trainableSoFar = true }
            bindings.append((layer, views))
        }
        for child in children { try visit(child.layer, path: path + [child.name]) }
    }
}
