import Foundation
import Tandem
import XCTest

/// Simulated ranks' collectives: a barrier that every rank reached has completed, whatever a
/// rank does after leaving it. (Ctrl-C on `--simulate-ranks 2` lost rank 0's checkpoint when
/// rank 1, stopping after the step's last collective, failed the group before rank 0 woke.)
final class ThreadGroupTests: XCTestCase {
    struct Stopped: Error { let rank: Int }

    func testACompletedBarrierStaysCompletedWhenARankFailsRightAfterIt() {
        for round in 0..<50 {
            let error = ThreadGroup(size: 2).run { communicator in
                // Rank 0 waits in the barrier; rank 1 completes it and fails at once.
                if communicator.rank == 1 { usleep(2_000) }
                try communicator.barrier()
                throw Stopped(rank: communicator.rank)
            }
            XCTAssertEqual((error as? Stopped)?.rank, 0, "round \(round): rank 0 must leave the barrier it completed, not fail in it (\(String(describing: error)))")
        }
    }
}
