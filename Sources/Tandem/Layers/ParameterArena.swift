/// How a parameter starts before training.
public enum ParameterInit: Equatable {
    case zeros
    /// Every value the same (a normalisation's scale starts at 1).
    case constant(Float)
    /// Uniform in ±bound.
    case uniform(bound: Float)
    /// Normal with this standard deviation.
    case normal(std: Float)
}

/// What a layer asks the arena for: a named block of a given shape.
///
/// A spec can instead be *tied* to another layer's parameter (a GPT's output head reusing the
/// token embedding): no new block is laid out, both layers read the one tensor, each adds its
/// gradient to the one gradient, and checkpoints hold it once, under the owner's name. The
/// owner must come first in forward order.
///
/// A spec that is not `trainable` is a *buffer* (running statistics): saved in checkpoints and
/// restored on resume, but outside the parameter arena, so the optimizer, clipping and the
/// gradient paths never see it.
public struct ParameterSpec {
    /// The parameter's own name within its layer, PyTorch style.
    public var name: String          // "weight", "bias", "running_mean"
    /// Dimensions of the parameter, e.g. [out, in] for a dense weight.
    public var shape: [Int]
    /// How the values are filled before training (ignored for a tied parameter).
    public var initializer: ParameterInit
    /// False for a buffer: checkpointed, but neither optimised nor reduced across ranks.
    public var trainable: Bool
    /// Set when this parameter is another layer's (see `tied`); no block of its own is laid out.
    public var tiedTo: ParameterTie?
    /// A spec for a parameter of the layer's own (or, with `trainable: false`, a buffer).
    public init(name: String, shape: [Int], initializer: ParameterInit, trainable: Bool = true) {
        self.name = name; self.shape = shape; self.initializer = initializer; self.trainable = trainable
    }
    /// This layer's parameter `name` is `owner`'s parameter `ownerName` (same shape).
    public static func tied(_ name: String, shape: [Int], to owner: Layer, _ ownerName: String) -> ParameterSpec {
        var spec = ParameterSpec(name: name, shape: shape, initializer: .zeros)
        spec.tiedTo = ParameterTie(owner: owner, name: ownerName)
        return spec
    }
    /// Number of scalars: the product of `shape`.
    public var count: Int { shape.reduce(1, *) }
}

/// Another layer's parameter, used as one's own.
public struct ParameterTie {
    /// The layer whose parameter is reused; it must come before the user in forward order.
    public let owner: Layer
    /// The parameter's name within the owner, e.g. "weight".
    public let name: String
    /// Names `owner`'s parameter `name`.
    public init(owner: Layer, name: String) { self.owner = owner; self.name = name }
}

/// Where one parameter lives: a range of the arena, the same range in the gradient arena.
public struct ParameterSlot: Equatable {
    /// Full dotted path of the parameter in the model.
    public var name: String          // full name, PyTorch style: "0.weight"
    /// Dimensions of the parameter.
    public var shape: [Int]
    /// Index of its first value in the arena (and in the gradient arena).
    public var offset: Int
    /// Number of scalars it holds.
    public var count: Int
    /// A slot covering `offset..<offset + count` of the arena.
    public init(name: String, shape: [Int], offset: Int, count: Int) {
        self.name = name; self.shape = shape; self.offset = offset; self.count = count
    }
}

/// All parameters of a model in one contiguous `Float` buffer, all gradients in a second one
/// of the same layout.
///
/// Layers own ranges, not arrays. That is what makes the distributed step cheap: the gradient
/// allreduce is a few calls over contiguous memory, the clipping norm is one pass, the optimizer
/// is one fused loop, a checkpoint or a broadcast of the initial weights is one block.
public final class ParameterArena {
    /// Every parameter's place in the arena, in forward order.
    public let slots: [ParameterSlot]
    /// Total number of scalars in the arena: the end of the last slot.
    public let count: Int
    /// All parameter values, contiguous, laid out as `slots` says.
    public private(set) var values: UnsafeMutablePointer<Float>
    /// Where backward writes this rank's gradients.
    public private(set) var gradients: UnsafeMutablePointer<Float>
    /// Where the gradient of the *global* batch's loss lies once the ranks have summed it: what
    /// the clip decision, the optimizer and the health probe read. It is `gradients` itself (a
    /// single rank, or an allreduce in place) except on the shared arena, where the ranks sum
    /// into one shared block (see `SharedArena`).
    public private(set) var globalGradients: UnsafeMutablePointer<Float>
    /// False once the buffers live in memory the arena does not own (see `relocate`).
    private var ownsStorage = true
    /// Per slot: whether some layer has written its gradient since the last `beginGradients`.
    /// The first writer overwrites, later ones add: gradients accumulate without a pass that
    /// zeroes the whole arena every step.
    private var claimed: [Bool]
    /// Where a layer whose kernel can only overwrite computes a gradient that must be added.
    private let scratch = FloatBuffer()

    /// An arena for `slots` (contiguous, in order), with values and gradients all zero.
    public init(slots: [ParameterSlot]) {
        self.slots = slots
        count = slots.last.map { $0.offset + $0.count } ?? 0
        values = .allocate(capacity: max(count, 1))
        values.initialize(repeating: 0, count: max(count, 1))
        gradients = .allocate(capacity: max(count, 1))
        gradients.initialize(repeating: 0, count: max(count, 1))
        globalGradients = gradients
        claimed = [Bool](repeating: false, count: slots.count)
    }

    /// A new step's gradients begin: the next writer of each slot overwrites it.
    public func beginGradients() {
        for i in claimed.indices { claimed[i] = false }
    }

    /// Backward is over: a slot nobody wrote this step (a parameter the pass did not use) gets a
    /// zero gradient rather than last step's.
    public func finishGradients() {
        for (i, slot) in slots.enumerated() where !claimed[i] {
            (gradients + slot.offset).update(repeating: 0, count: slot.count)
            claimed[i] = true
        }
    }

    /// True for the first writer of slot `index`'s gradient since `beginGradients`.
    func claim(_ index: Int) -> Bool {
        defer { claimed[index] = true }
        return !claimed[index]
    }

    func scratch(_ count: Int) -> UnsafeMutablePointer<Float> {
        scratch.reserve(count)
        return scratch.pointer
    }

    deinit {
        guard ownsStorage else { return }
        values.deallocate()
        gradients.deallocate()
    }

    /// Moves the arena into memory owned by someone else (shared memory that outlives it),
    /// copying the gradients, and the values when `copyValues` (only one rank fills a copy
    /// that all ranks share). Layers reach the arena through `ParameterView`, never through a
    /// saved pointer, so they follow the move.
    /// `globalGradients` is where the ranks will sum their gradients.
    public func relocate(values newValues: UnsafeMutablePointer<Float>, gradients newGradients: UnsafeMutablePointer<Float>,
                         globalGradients newGlobal: UnsafeMutablePointer<Float>, copyValues: Bool) {
        if copyValues { newValues.update(from: values, count: count) }
        newGradients.update(from: gradients, count: count)
        if ownsStorage { values.deallocate(); gradients.deallocate() }
        values = newValues; gradients = newGradients; globalGradients = newGlobal
        ownsStorage = false
    }

    /// All values as a buffer, for passes over the whole arena.
    public var valueBuffer: UnsafeMutableBufferPointer<Float> { .init(start: values, count: count) }
    /// All of this rank's gradients as a buffer.
    public var gradientBuffer: UnsafeMutableBufferPointer<Float> { .init(start: gradients, count: count) }

    /// The slot with the full name `name` (e.g. "0.weight"), or nil.
    public func slot(named name: String) -> ParameterSlot? { slots.first { $0.name == name } }

    /// Copies of the values (for tests, checkpoints, comparisons).
    public var valueArray: [Float] { Array(valueBuffer) }
    /// A copy of this rank's gradients.
    public var gradientArray: [Float] { Array(gradientBuffer) }

    /// Overwrites every value from `array`, which must hold exactly `count` floats.
    public func setValues(_ array: [Float]) {
        precondition(array.count == count, "arena holds \(count) values, got \(array.count)")
        array.withUnsafeBufferPointer { values.update(from: $0.baseAddress!, count: count) }
    }
}

/// A layer's view of one of its parameters inside the arena (or, for a buffer, inside the
/// model's buffer store).
public struct ParameterView {
    /// The arena (or the model's buffer store) that holds the parameter.
    public let arena: ParameterArena
    /// Where the parameter lies in that arena, and its name and shape.
    public let slot: ParameterSlot
    /// The slot's index in `arena.slots`.
    public let index: Int
    /// The view of slot `index` of `arena`.
    public init(arena: ParameterArena, index: Int) {
        self.arena = arena; self.index = index; slot = arena.slots[index]
    }
    /// The parameter's first value; read through the arena each time, so it follows a `relocate`.
    public var value: UnsafeMutablePointer<Float> { arena.values + slot.offset }
    /// The parameter's gradient, at the same offset in the gradient arena.
    public var gradient: UnsafeMutablePointer<Float> { arena.gradients + slot.offset }
    /// Number of scalars in the parameter.
    public var count: Int { slot.count }

    /// The `beta` for a product that writes this gradient (`C = A·B + beta·C`): 0 for the
    /// step's first writer, which overwrites, 1 for any later one (a tied weight's second user),
    /// which adds. Call it once per write.
    public func gradientBeta() -> Float { arena.claim(index) ? 0 : 1 }

    /// Whether a write of this gradient must add to what is there (false for the first writer).
    /// Call it once per write, like `gradientBeta`.
    public func gradientAccumulates() -> Bool { !arena.claim(index) }

    /// For kernels that can only overwrite: `write` fills a destination of `count` floats,
    /// which is the gradient itself for the step's first writer, or a scratch block that is
    /// then added to it.
    public func writeGradient(_ write: (UnsafeMutablePointer<Float>) -> Void) {
        if arena.claim(index) { write(gradient); return }
        let temporary = arena.scratch(count)
        write(temporary)
        let g = gradient
        for i in 0..<count { g[i] += temporary[i] }
    }

    /// Marks the gradient as handled this step without writing it (someone else forms it,
    /// as the same-host path does for dense weights).
    public func claimGradientElsewhere() { _ = arena.claim(index) }
}
