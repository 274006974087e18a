import Foundation
import Tandem
import XCTest

/// The same-host path of the allreduce layer, on simulated ranks: slices tile the arena on
/// cache-line boundaries, the sum of a slice equals the sum of every rank's gradients, the
/// norm shares add up to the global norm, and the weights are one copy.
final class SharedArenaTests: XCTestCase {
    func makeArena(count: Int) -> ParameterArena {
        ParameterArena(slots: [ParameterSlot(name: "0.weight", shape: [count], offset: 0, count: count)])
    }

    /// All ranks' owned ranges, sorted, must cover 0..<count without gaps or overlaps.
    func assertTiles(_ ranges: [Range<Int>], count: Int, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let pieces = ranges.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        XCTAssertEqual(pieces.first?.lowerBound, 0, message, file: file, line: line)
        XCTAssertEqual(pieces.last?.upperBound, count, message, file: file, line: line)
        for (a, b) in zip(pieces, pieces.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, message, file: file, line: line) }
    }

    func testSlicesTileTheArenaOnCacheLines() throws {
        for (count, ranks) in [(1_000, 2), (1_001, 3), (37, 4), (5, 3)] {
            let group = ThreadGroup(size: ranks)
            let lock = NSLock()
            var ranges = [Range<Int>]()
            let error = group.run { communicator in
                let arena = self.makeArena(count: count)
                let shared = try XCTUnwrap(try SharedArena.make(communicator: communicator, arena: arena,
                                                                optimizer: SGD(parameterCount: count)))
                XCTAssertLessThanOrEqual(shared.ownedRanges.count, 1, "one piece without dense layers")
                lock.lock(); ranges += shared.ownedRanges; lock.unlock()
            }
            XCTAssertNil(error)
            assertTiles(ranges, count: count, "\(count) on \(ranks)")
            for r in ranges where r.lowerBound > 0 { XCTAssertEqual(r.lowerBound % CacheLine.floats, 0) }
        }
    }

    /// The hierarchical path cuts every bucket, wherever it starts in the arena, into one part per
    /// rank of a host: the parts of one bucket tile exactly that bucket, with inner ends on cache
    /// lines where the bucket allows (rank 0's part once began at the arena's start, so its parts of later buckets
    /// covered earlier buckets too).
    func testSharesOfARangeAnywhereTileExactlyThatRange() {
        for (range, ranks) in [(5_000..<9_000, 2), (37..<1_037, 3), (100..<117, 4), (0..<64, 2), (262_144..<524_288, 2)] {
            let parts = (0..<ranks).map { SharedArena.share(of: [range], rank: $0, ranks: ranks) }
            let pieces = parts.filter { !$0.isEmpty }
            XCTAssertEqual(pieces.first?.lowerBound, range.lowerBound, "\(range) on \(ranks): \(parts)")
            XCTAssertEqual(pieces.last?.upperBound, range.upperBound, "\(range) on \(ranks): \(parts)")
            for (a, b) in zip(pieces, pieces.dropFirst()) {
                XCTAssertEqual(a.upperBound, b.lowerBound, "\(range) on \(ranks): \(parts)")
                XCTAssertTrue(b.lowerBound % CacheLine.floats == 0 || b.lowerBound == range.lowerBound, "\(range) on \(ranks): \(parts)")
            }
        }
    }

    func testSlicesSumEveryRanksGradientsAndTheSharesMakeTheNorm() throws {
        let count = 1_003, ranks = 3
        let group = ThreadGroup(size: ranks)
        let lock = NSLock()
        var shares = [Double](repeating: 0, count: ranks)
        var summed = [Float](repeating: .nan, count: count)
        var valuesSeenByRank = [[Float]](repeating: [], count: ranks)
        func gradient(rank: Int, _ i: Int) -> Float { Float((i * 7 + rank * 13) % 11) - 5 + 0.25 * Float(rank) }
        let error = group.run { communicator in
            let arena = self.makeArena(count: count)
            let shared = try XCTUnwrap(try SharedArena.make(communicator: communicator, arena: arena,
                                                            optimizer: Adam(parameterCount: count)))
            let rank = communicator.rank
            if rank == 0 { for i in 0..<count { arena.values[i] = Float(i) } }
            try shared.finishUpdate()   // rank 0's values are now everyone's
            for i in 0..<count { arena.gradients[i] = gradient(rank: rank, i) }
            try shared.waitForAllGradients()
            let share = shared.sumShare()
            try communicator.barrier()
            lock.lock()
            shares[rank] = share
            for range in shared.summedRanges { for i in range { summed[i] = arena.globalGradients[i] } }
            valuesSeenByRank[rank] = arena.valueArray
            lock.unlock()
        }
        XCTAssertNil(error)
        var expectedSquares = 0.0
        for i in 0..<count {
            let total = gradient(rank: 0, i) + gradient(rank: 1, i) + gradient(rank: 2, i)
            XCTAssertEqual(summed[i], total, "element \(i)")
            expectedSquares += Double(total) * Double(total)
        }
        XCTAssertEqual(shares.reduce(0, +), expectedSquares, accuracy: 1e-9 * expectedSquares)
        for values in valuesSeenByRank { XCTAssertEqual(values, (0..<count).map(Float.init)) }
    }

    /// Dense layers' weight gradients are formed once, over the global batch, in rows shared
    /// out among the ranks, and so is the forward pass of the first (large) one; everything
    /// else is summed in shares. Every rank's output must be its rows of what one process
    /// computes for the whole batch, the gradient that process's gradient, and the norm shares
    /// its norm.
    func testDenseLayersAreSplitByRowsOverTheGlobalBatch() throws {
        let ranks = 3, globalBatch = 10, inputs = 37, outputs = 7   // shards of 3, 3 and 4 samples
        func model() throws -> Model {
            try Model([Linear(inputs, 29), Activation(.tanh), Linear(29, outputs)], inputShape: [inputs])
        }
        let layers = try model().layers.compactMap { $0 as? Linear }
        let units = try model().units.filter { $0.layer is Linear }
        XCTAssertEqual(units.map(\.isFirstTrainable), [true, false])
        XCTAssertTrue(RowSplitDense.splitsForward(layers[0], isFirstTrainable: true, globalBatch: globalBatch))
        XCTAssertFalse(RowSplitDense.splitsForward(layers[1], isFirstTrainable: false, globalBatch: globalBatch))
        XCTAssertFalse(RowSplitDense.splitsForward(Linear(inputs, 29), isFirstTrainable: false, globalBatch: globalBatch),
                       "not first in a model")
        func sample(_ s: Int, _ i: Int) -> Float { Float((s * 31 + i * 17) % 23) / 11 - 1 }
        func outputGradient(_ s: Int, _ o: Int) -> Float { Float((s * 13 + o * 5) % 9) / 4 - 1 }
        func batch(_ samples: Range<Int>) -> (x: Tensor, dy: Tensor) {
            (Tensor(shape: [samples.count, inputs], values: samples.flatMap { s in (0..<inputs).map { sample(s, $0) } }),
             Tensor(shape: [samples.count, outputs], values: samples.flatMap { s in (0..<outputs).map { outputGradient(s, $0) } }))
        }

        // One process, the whole batch.
        let single = try model()
        single.initializeParameters(seed: 7)
        let whole = batch(0..<globalBatch)
        let expectedOutput = try single.forward(whole.x, context: ForwardContext(training: true)).scalars
        try single.backward(whole.dy)
        let expected = single.arena.gradientArray

        let group = ThreadGroup(size: ranks)
        let lock = NSLock()
        var global = [Float](), shares = [Double](repeating: 0, count: ranks)
        var rankOutputs = [[Float]](repeating: [], count: ranks)
        var owned = [Range<Int>](), parameterCount = 0
        let error = group.run { communicator in
            let rank = communicator.rank
            let net = try model()
            if rank == 0 { net.initializeParameters(seed: 7) }
            let shared = try XCTUnwrap(try SharedArena.make(communicator: communicator, model: net,
                                                            optimizer: SGD(parameterCount: net.parameterCount),
                                                            globalBatch: globalBatch))
            let shard = BatchSampler.shard(globalBatch: globalBatch, rank: rank, worldSize: ranks)
            let part = batch(shard)
            let output = try net.forward(part.x, context: ForwardContext(training: true, globalSampleOffset: shard.lowerBound))
            _ = shared.takeForwardExchange()
            try net.backward(part.dy)
            shared.stage(shardOffset: shard.lowerBound)
            try shared.waitForAllGradients()
            let share = shared.formDenseWeightGradients(samples: globalBatch) + shared.sumShare()
            try communicator.barrier()
            lock.lock()
            shares[rank] = share
            rankOutputs[rank] = output.scalars
            owned += shared.ownedRanges; parameterCount = net.parameterCount
            // A rank updates the rows whose gradient it formed and whose product it computed.
            let first = net.layers[0] as! Linear
            let rows = (rank * 29 / ranks)..<((rank + 1) * 29 / ranks)
            let weights = (first.weight.slot.offset + rows.lowerBound * inputs)..<(first.weight.slot.offset + rows.upperBound * inputs)
            XCTAssertTrue(shared.ownedRanges.contains { $0 == weights }, "rank \(rank) owns its rows of the first layer")
            if rank == 0 { global = Array(UnsafeBufferPointer(start: net.arena.globalGradients, count: net.parameterCount)) }
            lock.unlock()
        }
        XCTAssertNil(error)
        assertTiles(owned, count: parameterCount, "owned ranges with dense layers")
        XCTAssertEqual(rankOutputs.flatMap { $0 }.count, expectedOutput.count)
        for (i, (a, b)) in zip(rankOutputs.flatMap { $0 }, expectedOutput).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-6 * max(1, abs(b)), "output \(i)")
        }
        XCTAssertEqual(global.count, expected.count)
        let scale = expected.map(abs).max() ?? 1
        for (i, (a, b)) in zip(global, expected).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-6 * scale, "element \(i)")
        }
        let squares = expected.reduce(0.0) { $0 + Double($1) * Double($1) }
        XCTAssertEqual(shares.reduce(0, +), squares, accuracy: 1e-5 * squares)
    }

    func testOneRankHasNothingToShare() throws {
        let arena = makeArena(count: 10)
        XCTAssertNil(try SharedArena.make(communicator: SingleProcessCommunicator(), arena: arena, optimizer: SGD(parameterCount: 10)))
    }
}
