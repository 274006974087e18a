/// A job's ranks seen as hosts: the ranks that share this rank's host, and the ranks that hold
/// this rank's place on every other host. A hierarchical reduction sums within `host` through
/// shared memory and across hosts through `across`, so that every rank's connection carries
/// only its share of the gradient.
public struct HostSplit {
    /// The ranks on this rank's host, in world-rank order (this rank is `host.rank` among them).
    public let host: Communicator
    /// Rank `host.rank` of every host, in host order (this rank's host is `across.rank`).
    public let across: Communicator
    /// How many ranks each host has, in host order.
    public let ranksPerHost: [Int]

    /// The split of ranks into `host` and `across`, with every host's rank count.
    public init(host: Communicator, across: Communicator, ranksPerHost: [Int]) {
        self.host = host; self.across = across; self.ranksPerHost = ranksPerHost
    }

    /// Number of hosts the job spans.
    public var hosts: Int { ranksPerHost.count }
    /// Every host has the same number of ranks (needed for ranks of one place on every host to
    /// own the same part of the model).
    public var isUniform: Bool { Set(ranksPerHost).count <= 1 }
}

extension Communicator {
    /// Default: a group that cannot tell its hosts apart (one process, simulated ranks) is one host.
    public func splitByHost() throws -> HostSplit? { nil }
}
