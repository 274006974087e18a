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

    func testSlicesTileTheArenaOnCacheLines() throws {
        for (count, ranks) in [(1_000, 2), (1_001, 3), (37, 4), (5, 3)] {
            let group = ThreadGroup(size: ranks)
            let lock = NSLock()
            var ranges = [Range<Int>](repeating: 0..<0, count: ranks)
            let error = group.run { communicator in
                let arena = self.makeArena(count: count)
                let shared = try XCTUnwrap(try SharedArena.make(communicator: communicator, arena: arena,
                                                                optimizer: SGD(parameterCount: count)))
                lock.lock(); ranges[communicator.rank] = shared.ownedRange; lock.unlock()
            }
            XCTAssertNil(error)
            XCTAssertEqual(ranges.first?.lowerBound, 0)
            XCTAssertEqual(ranges.last?.upperBound, count, "\(count) on \(ranks)")
            for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
            for r in ranges.dropFirst() where r.lowerBound < count { XCTAssertEqual(r.lowerBound % CacheLine.floats, 0) }
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
            let share = shared.sumOwnedSlice()
            try communicator.barrier()
            lock.lock()
            shares[rank] = share
            for i in shared.ownedRange { summed[i] = arena.gradients[i] }
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

    func testOneRankHasNothingToShare() throws {
        let arena = makeArena(count: 10)
        XCTAssertNil(try SharedArena.make(communicator: SingleProcessCommunicator(), arena: arena, optimizer: SGD(parameterCount: 10)))
    }
}
