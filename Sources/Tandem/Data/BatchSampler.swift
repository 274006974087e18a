/// Turns an epoch into global batches and a global batch into this rank's shard.
///
/// Every rank computes the same permutation from (seed, epoch), so no indices are ever sent;
/// rank r of P takes the contiguous slice [⌊rB/P⌋, ⌊(r+1)B/P⌋) of each global batch of size B,
/// so shard sizes differ by at most one. An incomplete last batch is dropped: every step then
/// has exactly B samples, and the mathematics of a step never depends on where it falls.
public struct BatchSampler {
    public let datasetSize: Int
    public let globalBatch: Int
    public let shuffle: Bool
    public let seed: UInt64

    public init(datasetSize: Int, globalBatch: Int, shuffle: Bool, seed: UInt64) {
        self.datasetSize = datasetSize; self.globalBatch = globalBatch; self.shuffle = shuffle; self.seed = seed
    }

    public var stepsPerEpoch: Int { datasetSize / globalBatch }

    /// The order in which the epoch visits the samples.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<datasetSize) }
        var rng = SplitMix64(seed: seed, stream: 0x5EED, UInt64(epoch))
        return rng.permutation(datasetSize)
    }

    /// Positions within a global batch that rank `rank` of `worldSize` handles.
    public static func shard(globalBatch: Int, rank: Int, worldSize: Int) -> Range<Int> {
        (rank * globalBatch / worldSize)..<((rank + 1) * globalBatch / worldSize)
    }

    /// The global batch number `batch` of an epoch's `order`: every rank's samples, in rank order.
    public func globalBatch(order: [Int], batch: Int) -> ArraySlice<Int> {
        order[(batch * globalBatch)..<((batch + 1) * globalBatch)]
    }

    /// Rank `rank`'s part of a global batch's sample indices.
    public static func shard(of batch: ArraySlice<Int>, rank: Int, worldSize: Int) -> ArraySlice<Int> {
        let part = shard(globalBatch: batch.count, rank: rank, worldSize: worldSize)
        return batch[(batch.startIndex + part.lowerBound)..<(batch.startIndex + part.upperBound)]
    }
}
