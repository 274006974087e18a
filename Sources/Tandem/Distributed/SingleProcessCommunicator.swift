import Foundation

/// A world of one: every collective is the identity. This is the debug mode, run without
/// `mpirun`, with no MPI start-up cost.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var ranksOnThisHost: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        CompletedReduction()
    }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func allgather(_ value: UInt64) throws -> [UInt64] { [value] }
    public func barrier() throws {}
    public func abort(code: Int32) -> Never { exit(code) }
    public func sharedMemory(floats: Int) throws -> SharedMemory? { nil }
}
