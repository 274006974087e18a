import Foundation

/// A world of one: every collective is the identity. This is the debug mode, run without
/// `mpirun`, with no MPI start-up cost.
public final class SingleProcessCommunicator: Communicator {
    /// The one-rank world; it needs no set-up.
    public init() {}
    /// Always 0.
    public var rank: Int { 0 }
    /// Always 1.
    public var size: Int { 1 }
    /// Always 1.
    public var ranksOnThisHost: Int { 1 }
    /// Nothing to do: one rank's values are already the sum.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    /// Nothing to do: one rank's values are already the sum.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    /// A reduction that is already complete.
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        CompletedReduction()
    }
    /// Nothing to do: the root's buffer is the only one.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    /// The value alone.
    public func allgather(_ value: UInt64) throws -> [UInt64] { [value] }
    /// Returns at once: there is no one to wait for.
    public func barrier() throws {}
    /// Exits the process with `code`.
    public func abort(code: Int32) -> Never { exit(code) }
    /// Always nil: a single rank has nothing to share.
    public func sharedMemory(floats: Int) throws -> SharedMemory? { nil }
}
