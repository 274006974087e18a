import XCTest
import Tandem

final class BatchSamplerTests: XCTestCase {
    func testShardsCoverGlobalBatchExactlyOnce() {
        for (batch, world) in [(130, 4), (128, 2), (7, 3), (5, 5), (1, 1), (100, 7), (64, 1), (9, 8)] {
            let shards = (0..<world).map { BatchSampler.shard(globalBatch: batch, rank: $0, worldSize: world) }
            // Contiguous, in rank order, from 0 to B.
            XCTAssertEqual(shards.first?.lowerBound, 0, "B=\(batch) P=\(world)")
            XCTAssertEqual(shards.last?.upperBound, batch, "B=\(batch) P=\(world)")
            for (a, b) in zip(shards, shards.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, "B=\(batch) P=\(world)") }
            var seen = [Int](repeating: 0, count: batch)
            for s in shards { for i in s { seen[i] += 1 } }
            XCTAssertEqual(seen, [Int](repeating: 1, count: batch), "B=\(batch) P=\(world)")
            let sizes = shards.map(\.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "B=\(batch) P=\(world): \(sizes)")
            XCTAssertGreaterThan(sizes.min()!, 0, "every rank gets a sample when B ≥ P")
        }
    }

    func testShardSizesFor130OverFour() {
        let sizes = (0..<4).map { BatchSampler.shard(globalBatch: 130, rank: $0, worldSize: 4).count }
        XCTAssertEqual(sizes.reduce(0, +), 130)
        XCTAssertEqual(sizes.sorted(), [32, 32, 33, 33])
    }

    func testRankIndicesReassembleTheGlobalBatch() {
        let sampler = BatchSampler(datasetSize: 1000, globalBatch: 130, shuffle: true, seed: 3)
        let order = sampler.order(epoch: 2)
        for batch in [0, 1, 6] {
            var together: [Int] = []
            for rank in 0..<4 { together += BatchSampler.shard(of: sampler.globalBatch(order: order, batch: batch), rank: rank, worldSize: 4) }
            XCTAssertEqual(together, Array(order[(batch * 130)..<((batch + 1) * 130)]))
        }
    }

    func testPermutationDeterministicPerSeedAndEpoch() {
        let a = BatchSampler(datasetSize: 500, globalBatch: 32, shuffle: true, seed: 42)
        let b = BatchSampler(datasetSize: 500, globalBatch: 32, shuffle: true, seed: 42)
        let e0 = a.order(epoch: 0)
        XCTAssertEqual(e0.sorted(), Array(0..<500), "a permutation")
        XCTAssertNotEqual(e0, Array(0..<500), "actually shuffled")
        XCTAssertEqual(e0, b.order(epoch: 0), "same seed and epoch: same order, on every rank")
        XCTAssertEqual(a.order(epoch: 3), b.order(epoch: 3))
        XCTAssertNotEqual(e0, a.order(epoch: 1), "a new order every epoch")
        XCTAssertEqual(a.order(epoch: 1).sorted(), Array(0..<500))
        let other = BatchSampler(datasetSize: 500, globalBatch: 32, shuffle: true, seed: 43)
        XCTAssertNotEqual(e0, other.order(epoch: 0), "a different seed gives a different order")
    }

    func testNoShuffleGivesConsecutiveBatches() {
        let sampler = BatchSampler(datasetSize: 103, globalBatch: 10, shuffle: false, seed: 1)
        XCTAssertEqual(sampler.order(epoch: 0), Array(0..<103))
        XCTAssertEqual(sampler.order(epoch: 5), Array(0..<103))
        let order = sampler.order(epoch: 0)
        for k in 0..<sampler.stepsPerEpoch {
            let all = (0..<3).flatMap { BatchSampler.shard(of: sampler.globalBatch(order: order, batch: k), rank: $0, worldSize: 3) }
            XCTAssertEqual(all, Array((k * 10)..<(k * 10 + 10)), "batch \(k)")
        }
    }

    func testIncompleteLastBatchIsDropped() {
        XCTAssertEqual(BatchSampler(datasetSize: 103, globalBatch: 10, shuffle: true, seed: 0).stepsPerEpoch, 10)
        XCTAssertEqual(BatchSampler(datasetSize: 60_000, globalBatch: 128, shuffle: true, seed: 0).stepsPerEpoch, 468)
        XCTAssertEqual(BatchSampler(datasetSize: 100, globalBatch: 100, shuffle: true, seed: 0).stepsPerEpoch, 1)
    }
}

final class DatasetTests: XCTestCase {
    /// n samples whose single feature is the sample's index, labels index % 3.
    private func indexed(_ n: Int) -> Dataset {
        Dataset(name: "idx", sampleShape: [1], classCount: 3, storage: .floats((0..<n).map(Float.init)),
                labels: (0..<n).map { Int32($0 % 3) })
    }

    private func sampleIDs(_ d: Dataset) -> [Int] {
        var x = [Float](repeating: -1, count: d.count), y = [Int32](repeating: -1, count: d.count)
        d.fill(indices: 0..<d.count, into: &x, labels: &y)
        for (id, label) in zip(x, y) { XCTAssertEqual(Int(label), Int(id) % 3, "label travels with its sample") }
        return x.map { Int($0) }
    }

    func testSplitSizesAndDisjointness() {
        let data = indexed(100)
        let (train, validation) = data.split(validationFraction: 0.2, seed: 5)
        XCTAssertEqual(train.count, 80)
        XCTAssertEqual(validation.count, 20)
        let a = Set(sampleIDs(train)), b = Set(sampleIDs(validation))
        XCTAssertEqual(a.count, 80, "no duplicates")
        XCTAssertEqual(b.count, 20, "no duplicates")
        XCTAssertTrue(a.isDisjoint(with: b))
        XCTAssertEqual(a.union(b), Set(0..<100))
        XCTAssertNotEqual(sampleIDs(validation), Array(80..<100), "a random hold-out, not the tail")
        XCTAssertEqual(train.classCount, 3)
        XCTAssertEqual(validation.sampleShape, [1])
    }

    func testSplitDeterministicPerSeed() {
        let data = indexed(50)
        let v1 = sampleIDs(data.split(validationFraction: 0.3, seed: 9).validation)
        let v2 = sampleIDs(data.split(validationFraction: 0.3, seed: 9).validation)
        let v3 = sampleIDs(data.split(validationFraction: 0.3, seed: 10).validation)
        XCTAssertEqual(v1.count, 15)
        XCTAssertEqual(v1, v2)
        XCTAssertNotEqual(v1, v3)
    }

    func testSubsetOfByteStorage() {
        let data = Dataset(name: "b", sampleShape: [2], classCount: 4, storage: .bytes([0, 255, 10, 20, 30, 40], scale: 0.5),
                           labels: [1, 2, 3])
        let s = data.subset([2, 0], name: "s")
        XCTAssertEqual(s.count, 2)
        XCTAssertEqual(s.labels, [3, 1])
        var x = [Float](repeating: 0, count: 4), y = [Int32](repeating: 0, count: 2)
        s.fill(indices: [0, 1], into: &x, labels: &y)
        XCTAssertEqual(x, [15, 20, 0, 127.5])
        XCTAssertEqual(y, [3, 1])
    }

    /// Byte rows gathered at random indices (more of them than the kernel prefetches ahead,
    /// repeats included, rows of a length no vector width divides), from an array, a slice of
    /// one and a range, equal the rows scaled one by one.
    func testFillGathersByteRowsAtRandomIndices() {
        let features = 100, rows = 300
        let bytes = (0..<(rows * features)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 / 7) }
        let data = Dataset(name: "b", sampleShape: [features], classCount: 5, storage: .bytes(bytes, scale: 1.0 / 255),
                           labels: (0..<rows).map { Int32($0 % 5) })
        var generator = SplitMix64(seed: 11, stream: 0, 0)
        let order = (0..<70).map { _ in Int(generator.next() % UInt64(rows)) } + [3, 3, 299, 0]
        func expected(_ indices: [Int]) -> [Float] {
            indices.flatMap { i in (0..<features).map { Float(bytes[i * features + $0]) * (1.0 / 255) } }
        }
        for indices in [order, Array(order[5..<61]), Array(20..<45)] {
            var x = [Float](repeating: -1, count: indices.count * features), y = [Int32](repeating: -1, count: indices.count)
            data.fill(indices: indices, into: &x, labels: &y)
            XCTAssertEqual(x, expected(indices))
            XCTAssertEqual(y, indices.map { Int32($0 % 5) })
        }
        var x = [Float](repeating: -1, count: 56 * features), y = [Int32](repeating: -1, count: 56)
        data.fill(indices: order[5..<61], into: &x, labels: &y)
        XCTAssertEqual(x, expected(Array(order[5..<61])), "a slice keeps its own indices")
        data.fill(indices: 20..<76, into: &x, labels: &y)
        XCTAssertEqual(x, expected(Array(20..<76)), "a range")
    }

    func testFingerprintDistinguishesContents() {
        let a = indexed(20), b = indexed(20)
        XCTAssertEqual(a.fingerprint, b.fingerprint)
        let c = Dataset(name: "idx", sampleShape: [1], classCount: 3, storage: .floats((0..<20).map { Float($0) + ($0 == 7 ? 0.5 : 0) }),
                        labels: (0..<20).map { Int32($0 % 3) })
        XCTAssertNotEqual(a.fingerprint, c.fingerprint)
    }
}
