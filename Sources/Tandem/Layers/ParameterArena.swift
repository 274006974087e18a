/// How a parameter starts before training.
public enum ParameterInit: Equatable {
    case zeros
    /// Uniform in ±bound.
    case uniform(bound: Float)
    /// Normal with this standard deviation.
    case normal(std: Float)
}

/// What a layer asks the arena for: a named block of a given shape.
public struct ParameterSpec: Equatable {
    public var name: String          // "weight", "bias"
    public var shape: [Int]
    public var initializer: ParameterInit
    public init(name: String, shape: [Int], initializer: ParameterInit) {
        self.name = name; self.shape = shape; self.initializer = initializer
    }
    public var count: Int { shape.reduce(1, *) }
}

/// Where one parameter lives: a range of the arena, the same range in the gradient arena.
public struct ParameterSlot: Equatable {
    public var name: String          // full name, PyTorch style: "0.weight"
    public var shape: [Int]
    public var offset: Int
    public var count: Int
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
    public let slots: [ParameterSlot]
    public let count: Int
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

    public init(slots: [ParameterSlot]) {
        self.slots = slots
        count = slots.last.map { $0.offset + $0.count } ?? 0
        values = .allocate(capacity: max(count, 1))
        values.initialize(repeating: 0, count: max(count, 1))
        gradients = .allocate(capacity: max(count, 1))
        gradients.initialize(repeating: 0, count: max(count, 1))
        globalGradients = gradients
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

    public var valueBuffer: UnsafeMutableBufferPointer<Float> { .init(start: values, count: count) }
    public var gradientBuffer: UnsafeMutableBufferPointer<Float> { .init(start: gradients, count: count) }

    public func slot(named name: String) -> ParameterSlot? { slots.first { $0.name == name } }

    /// Copies of the values (for tests, checkpoints, comparisons).
    public var valueArray: [Float] { Array(valueBuffer) }
    public var gradientArray: [Float] { Array(gradientBuffer) }

    public func setValues(_ array: [Float]) {
        precondition(array.count == count, "arena holds \(count) values, got \(array.count)")
        array.withUnsafeBufferPointer { values.update(from: $0.baseAddress!, count: count) }
    }
}

/// A layer's view of one of its parameters inside the arena.
public struct ParameterView {
    public let arena: ParameterArena
    public let slot: ParameterSlot
    public var value: UnsafeMutablePointer<Float> { arena.values + slot.offset }
    public var gradient: UnsafeMutablePointer<Float> { arena.gradients + slot.offset }
    public var count: Int { slot.count }
}
