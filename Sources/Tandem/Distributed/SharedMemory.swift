import Glibc

/// Memory that every rank of a group can read and write directly: one segment per rank,
/// sized by that rank. Ranks on one host get it from the operating system (an MPI shared
/// window); simulated ranks simply share their process's heap.
///
/// It is what lets ranks on one host skip message passing for the gradient sum: each rank
/// reads every other rank's gradients where they lie (see `SharedArena`).
public protocol SharedMemory: AnyObject {
    /// The start of `rank`'s segment; every segment starts on a 64-byte boundary.
    func segment(_ rank: Int) -> UnsafeMutablePointer<Float>
    /// Waits until every rank has arrived, and makes every rank's writes before it visible to
    /// every rank's reads after it.
    func synchronize() throws
    /// Waits, yielding the core, until `condition` holds: for flags that other ranks set in
    /// the shared segments (read them with acquire loads). Watched like a barrier where there
    /// is a watchdog, so a rank that never sets its flag cannot make this rank wait silently.
    func wait(until condition: () throws -> Bool) throws
}

extension SharedMemory {
    /// Default: spin, yielding the core between looks (simulated ranks have no watchdog).
    public func wait(until condition: () throws -> Bool) throws {
        while try !condition() { sched_yield() }
    }
}

/// Shared memory exists on this host but cannot hold what was asked for.
public struct SharedMemoryUnavailable: Error, CustomStringConvertible {
    /// How much was asked for and why it did not fit, in words fit to show the user.
    public var description: String
    /// An error with the message `description`.
    public init(_ description: String) { self.description = description }
}

/// Sizes in shared memory are rounded to whole cache lines, so that no two ranks ever write
/// to the same line (false sharing would cost more than the reduction itself).
public enum CacheLine {
    /// Floats per 64-byte cache line.
    public static let floats = 16
    /// `count` rounded up to a whole number of cache lines.
    public static func roundUp(_ count: Int) -> Int { (count + floats - 1) / floats * floats }
}
