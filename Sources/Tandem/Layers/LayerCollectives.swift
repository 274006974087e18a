/// How a layer talks to the other ranks while it runs: sums of small per-channel statistics
/// over the *global* batch (a batch normalisation's sums and sums of squares in forward, its two
/// gradient sums in backward). Every rank calls the same sums in the same order, like any
/// collective; a rank that fails to arrive makes the others throw, never hang.
///
/// The layer decides what to sum; the gradient path decides how (a process alone sums nothing,
/// ranks sum through their communicator). So a layer that needs the global batch works the same
/// under `mpirun`, with simulated ranks and in one process, without knowing which.
public protocol LayerCollectives {
    /// Replaces `values` on every rank by their sum over all ranks.
    func sum(_ values: UnsafeMutableBufferPointer<Double>) throws
    /// The number of ranks whose shards make up the global batch.
    var ranks: Int { get }
}

extension LayerCollectives {
    /// Sums an array of values over all ranks in place (see `sum(_:)` on a buffer).
    public func sum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try sum($0) }
    }
}

/// One process holding the whole batch: every sum is already complete.
public struct LocalCollectives: LayerCollectives {
    /// A stand-in for collectives when one process holds the whole batch.
    public init() {}
    /// Does nothing: with a single rank, every value already is its own sum.
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {}
    /// Always 1.
    public var ranks: Int { 1 }
}
