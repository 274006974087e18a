/// What the data-parallel step needs from the group of ranks. Three implementations share it:
/// real MPI across processes, a single process (size 1, for debugging without `mpirun`), and a
/// group of threads that simulates N ranks inside one process.
public protocol Communicator: AnyObject {
    /// This process's index in the group, 0..<size; rank 0 decides and reports.
    var rank: Int { get }
    /// Number of ranks in the group (the world size).
    var size: Int { get }
    /// In-place sum across ranks; every rank ends with the same values.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// In-place sum across ranks in double precision; every rank ends with the same values.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Starts an in-place sum and returns at once; the buffer must not be touched until the
    /// returned reduction completes.
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction
    /// Copies `root`'s bytes into every other rank's buffer of the same size.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Every rank's value, in rank order.
    func allgather(_ value: UInt64) throws -> [UInt64]
    /// Returns once every rank has called it.
    func barrier() throws
    /// Ends the whole job after an unrecoverable error on this rank, so no other rank waits forever.
    func abort(code: Int32) -> Never
    /// How many ranks share this host (to divide the cores among them).
    var ranksOnThisHost: Int { get }
    /// Collective: every rank asks for a segment of `floats` floats (sizes may differ) in memory
    /// that all ranks address directly. Nil, on every rank alike, when the ranks do not all
    /// share one host (or the group has a single rank, which has nothing to share); throws
    /// `SharedMemoryUnavailable`, on every rank alike, when the host cannot hold it.
    func sharedMemory(floats: Int) throws -> SharedMemory?
    /// Collective: the ranks grouped by host (see `HostSplit`); nil where the group cannot tell
    /// its hosts apart, which then counts as one host.
    func splitByHost() throws -> HostSplit?
    /// Tells the collective watchdog (where there is one) what this rank does now, so that a
    /// rank that waits for it can say so.
    func note(step: Int, phase: RankPhase)
}

/// A non-blocking reduction in flight.
public protocol PendingReduction: AnyObject {
    /// Lets the reduction advance; true once it has completed.
    func test() throws -> Bool
    /// Blocks until the reduction has completed and the buffer holds the sum.
    func wait() throws
}

/// A reduction that was already complete when it was returned.
final class CompletedReduction: PendingReduction {
    func test() throws -> Bool { true }
    func wait() throws {}
}

/// A failure of communication between ranks.
public struct CommunicationError: Error, CustomStringConvertible {
    /// What failed, with the underlying library's own message where there is one.
    public var description: String
    /// An error with the message `description`.
    public init(_ description: String) { self.description = description }
}

extension Communicator {
    /// Sums an array over all ranks in place (see `allreduceSum(_:)` on a buffer).
    public func allreduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    /// Copies `root`'s array into every other rank's array, which must have the same count.
    public func broadcast(_ values: inout [Float], root: Int) throws {
        try values.withUnsafeMutableBytes { try broadcast($0, root: root) }
    }

    /// Copies `root`'s array into every other rank's array, which must have the same count.
    public func broadcast(_ values: inout [Double], root: Int) throws {
        try values.withUnsafeMutableBytes { try broadcast($0, root: root) }
    }

    /// True on rank 0, the rank that decides, logs and writes checkpoints.
    public var isRoot: Bool { rank == 0 }

    /// Default: no watchdog to tell, so nothing is recorded.
    public func note(step: Int, phase: RankPhase) {}
}
