/// Turns an epoch into global batches and a global batch into this rank's shard.
///
/// Every rank computes the same permutation from (seed, epoch), so no indices are ever sent;
/// rank r of P takes the contiguous slice [⌊rB/P⌋, ⌊(r+1)B/P⌋) of each global batch of size B,
/// so shard sizes differ by at most one. An incomplete last batch is dropped: every step then
/// has exactly B samples, and the mathematics of a step never depends on where it falls.
public struct BatchSampler {
    /// Samples in the data set the epochs run over.
    public let datasetSize: Int
    /// Samples per step, summed over all ranks.
    public let globalBatch: Int
    /// Whether each epoch visits the samples in a fresh seeded order (else in index order).
    public let shuffle: Bool
    /// Seeds the shuffles; with the epoch it fixes each epoch's order.
    public let seed: UInt64

    /// A sampler for a data set of `datasetSize` samples in global batches of `globalBatch`.
    public init(datasetSize: Int, globalBatch: Int, shuffle: Bool, seed: UInt64) {
        self.datasetSize = datasetSize; self.globalBatch = globalBatch; self.shuffle = shuffle; self.seed = seed
    }

    /// Complete global batches per epoch; the samples left over are dropped for that epoch.
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
