/// Layer collectives over a communicator: one small allreduce per sum, in double precision so
/// that per-channel sums over a large batch keep their digits whatever the world size.
public struct CommunicatorCollectives: LayerCollectives {
    /// The group the sums run over.
    public let communicator: Communicator
    /// Collectives that sum over `communicator`'s ranks.
    public init(_ communicator: Communicator) { self.communicator = communicator }
    /// One in-place double-precision allreduce; nothing at all with a single rank.
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        if communicator.size > 1 { try communicator.allreduceSum(values) }
    }
    /// The communicator's size.
    public var ranks: Int { communicator.size }
}
