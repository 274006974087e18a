/// Layer collectives over a communicator: one small allreduce per sum, in double precision so
/// that per-channel sums over a large batch keep their digits whatever the world size.
public struct CommunicatorCollectives: LayerCollectives {
    public let communicator: Communicator
    public init(_ communicator: Communicator) { self.communicator = communicator }
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        if communicator.size > 1 { try communicator.allreduceSum(values) }
    }
    public var ranks: Int { communicator.size }
}
