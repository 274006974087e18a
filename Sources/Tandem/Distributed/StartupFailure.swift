/// An error that every rank of the job learned about together, so the job can end cleanly
/// (finalise, exit non-zero) instead of aborting, and print the problem once, not once per rank.
public struct StartupFailure: Error, CustomStringConvertible {
    /// The error on this rank, or nil when this rank was fine and another one failed.
    public let underlying: Error?
    /// The lowest failing rank prints; the others stay quiet.
    public let shouldReport: Bool
    /// The lowest rank that failed.
    public let failingRank: Int

    /// A failure as agreed among the ranks; see `agree(communicator:_:)`.
    public init(underlying: Error?, shouldReport: Bool, failingRank: Int) {
        self.underlying = underlying; self.shouldReport = shouldReport; self.failingRank = failingRank
    }

    /// This rank's own error, or which rank failed when this one did not.
    public var description: String {
        underlying.map { "\($0)" } ?? "rank \(failingRank) failed at start-up"
    }

    /// Runs `body` on this rank, then agrees with all ranks on whether every one succeeded.
    /// Throws a `StartupFailure` on every rank if any rank failed.
    public static func agree(communicator: Communicator, _ body: () throws -> Void) throws {
        var local: Error? = nil
        do { try body() } catch { local = error }
        let flags = try communicator.allgather(local == nil ? 0 : 1)
        guard let first = flags.firstIndex(of: 1) else { return }
        throw StartupFailure(underlying: local, shouldReport: communicator.rank == first, failingRank: first)
    }
}
