import Foundation
import Tandem
import XCTest

/// Crops and flips: drawn from (seed, epoch, index) alone, shape-preserving, and only for the
/// training set's training fills.
final class ImageAugmentationTests: XCTestCase {
    /// A 1×6×5 image with one bright pixel at (row 2, column 1).
    func image() -> [Float] { var x = [Float](repeating: 0, count: 30); x[2 * 5 + 1] = 1; return x }

    func testAFlipMirrorsAndACropMovesByAtMostThePadding() {
        var rng = SplitMix64(seed: 1)
        _ = rng.next()
        var seenFlip = false, seenMove = false
        for index in 0..<200 {
            var x = image()
            x.withUnsafeMutableBufferPointer {
                ImageAugmentation(padding: 2, flip: true).apply($0.baseAddress!, channels: 1, height: 6, width: 5, seed: 3, epoch: 0, index: index)
            }
            XCTAssertLessThanOrEqual(x.reduce(0, +), 1, "nothing is invented")
            if let at = x.firstIndex(of: 1) {
                let (row, column) = (at / 5, at % 5)
                XCTAssertLessThanOrEqual(abs(row - 2), 2, "moved by at most the padding")
                if column != 1 { seenMove = true }
                if abs(column - 3) <= 2 && abs(column - 1) > 2 { seenFlip = true }   // only a mirror reaches column 4
            }
            // The same (seed, epoch, index) gives the same image.
            var again = image()
            again.withUnsafeMutableBufferPointer {
                ImageAugmentation(padding: 2, flip: true).apply($0.baseAddress!, channels: 1, height: 6, width: 5, seed: 3, epoch: 0, index: index)
            }
            XCTAssertEqual(x, again)
        }
        XCTAssertTrue(seenFlip && seenMove)
        // Flip alone mirrors exactly (about half the images).
        var mirrored = 0
        for index in 0..<100 {
            var x = image()
            x.withUnsafeMutableBufferPointer {
                ImageAugmentation(padding: 0, flip: true).apply($0.baseAddress!, channels: 1, height: 6, width: 5, seed: 3, epoch: 1, index: index)
            }
            if x[2 * 5 + 3] == 1 { mirrored += 1 } else { XCTAssertEqual(x, image()) }
        }
        XCTAssertTrue((30...70).contains(mirrored), "\(mirrored) of 100 flipped")
    }

    func testOnlyTheTrainingSetsTrainingFillsAreAugmented() throws {
        var config = TrainingConfig()
        config.augment = [.crop, .flip]
        config.trainSubset = 512
        let data = try TrainingData.load(config)
        let train = try XCTUnwrap(data.train as? Dataset), test = try XCTUnwrap(data.test as? Dataset)
        XCTAssertEqual(train.augmentation, ImageAugmentation(padding: 4, flip: true))
        XCTAssertNil(test.augmentation)
        func fill(_ source: Dataset, _ indices: ArraySlice<Int>, epoch: Int?) -> [Float] {
            var x = [Float](repeating: 0, count: indices.count * 784), y = [Int32](repeating: 0, count: indices.count)
            x.withUnsafeMutableBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
                source.fill(indices: indices, inputs: xb.baseAddress!, targets: TargetStorage(classes: yb.baseAddress, values: nil),
                            draw: epoch.map { TrainingDraw(seed: 42, step: 0, epoch: $0, firstPosition: 0) })
            } }
            return x
        }
        let indices = Array([5, 99, 300, 7])[...]
        let plain = fill(train, indices, epoch: nil)
        let epoch0 = fill(train, indices, epoch: 0)
        XCTAssertNotEqual(plain, epoch0)
        XCTAssertNotEqual(epoch0, fill(train, indices, epoch: 1), "another epoch, other crops")
        // By the index, not the place in the batch or the shard.
        let reversed = fill(train, Array(indices.reversed())[...], epoch: 0)
        XCTAssertEqual(Array(reversed[(3 * 784)...]), Array(epoch0[..<784]))
        XCTAssertEqual(fill(test, indices, epoch: 0), fill(test, indices, epoch: nil), "the test set is as it is")
        // The fingerprint of a run names the augmentation; the default run's is unchanged.
        XCTAssertTrue(config.fingerprintText.hasSuffix("augment=crop,flip"))
        XCTAssertFalse(TrainingConfig().fingerprintText.contains("augment"))
    }
}
