/// A growable block of `Float`s that layers reuse from step to step.
///
/// Training allocates its activation and gradient workspaces once, at the largest batch it
/// sees, and then only reads and writes them: `reserve` grows the block when a bigger batch
/// arrives and is free otherwise. That keeps allocation out of the step loop.
public final class FloatBuffer {
    /// Start of the storage; `reserve` replaces it (freeing the old block) whenever the buffer grows.
    public private(set) var pointer: UnsafeMutablePointer<Float>
    /// How many floats the storage holds now (always at least 1).
    public private(set) var capacity: Int

    /// A zero-filled buffer of `capacity` floats (at least one, so `pointer` is always valid).
    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Makes room for `count` floats. Contents are not preserved when the buffer grows.
    public func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        capacity = count
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
    }

    /// Sets the first `count` floats to `value`; `count` must not exceed `capacity`.
    public func fill(_ value: Float, count: Int) {
        precondition(count <= capacity)
        pointer.update(repeating: value, count: count)
    }
}
