/// A batch of samples: a shape and a view of contiguous, row-major `Float` storage.
///
/// The first dimension is always the batch. A `Tensor` does not own a private copy of its
/// values: it is a window onto a `FloatBuffer` that some layer reuses every step, which is
/// what lets the step loop run without allocating. Read it before the owning layer runs again.
public struct Tensor {
    /// Dimensions, batch first; their product is the number of values in use.
    public var shape: [Int]
    /// The buffer the values live in: shared with the layer that owns it, and possibly larger than `count`.
    public let storage: FloatBuffer

    /// A view of `storage` with `shape`; the storage must hold at least as many floats as the shape has values.
    public init(shape: [Int], storage: FloatBuffer) {
        precondition(shape.reduce(1, *) <= storage.capacity, "tensor larger than its storage")
        self.shape = shape
        self.storage = storage
    }

    /// A fresh tensor with its own storage (used outside the hot path: tests, evaluation).
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        let buffer = FloatBuffer(capacity: values.count)
        values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: values.count) }
        self.init(shape: shape, storage: buffer)
    }

    /// A fresh tensor of `shape`, filled with zeros, with storage of its own.
    public static func zeros(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Total number of values: the product of all dimensions.
    public var count: Int { shape.reduce(1, *) }
    /// Number of samples: the first dimension.
    public var batch: Int { shape[0] }
    /// Values per sample: the product of every dimension after the batch.
    public var featuresPerSample: Int { shape.dropFirst().reduce(1, *) }
    /// The first value of the row-major storage; valid until the storage next grows.
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }

    /// A copy of the values in row-major order (for tests and reporting, not the hot path).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    /// One value by its row-major position, bounds-checked; setting it writes through to the shared storage.
    public subscript(flat index: Int) -> Float {
        get { precondition(index >= 0 && index < count); return storage.pointer[index] }
        nonmutating set { precondition(index >= 0 && index < count); storage.pointer[index] = newValue }
    }

    /// The same values seen with another shape of equal size (Flatten, reshapes).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }
}

extension FloatBuffer {
    /// A tensor of `shape` over this buffer, growing it first if needed.
    public func tensor(_ shape: [Int]) -> Tensor {
        reserve(shape.reduce(1, *))
        return Tensor(shape: shape, storage: self)
    }
}
