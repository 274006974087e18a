import Foundation
import XCTest
import Tandem

private func evaluate(_ loss: Loss, _ logits: [Float], shape: [Int], labels: [Int32]) -> LossResult {
    let t = Tensor(shape: shape, values: logits)
    return labels.withUnsafeBufferPointer { loss.forward(t, labels: $0) }
}

final class SoftmaxCrossEntropyTests: XCTestCase {
    /// −log softmax(z)[label], in Double.
    private func crossEntropy(_ z: [Double], _ label: Int) -> Double {
        let m = z.max()!
        return m + log(z.map { exp($0 - m) }.reduce(0, +)) - z[label]
    }

    func testValueOnSmallHandExample() {
        let loss = SoftmaxCrossEntropy()
        // Row 0: logits [1, 2, 3], label 2 → log(e + e² + e³) − 3 = 0.40760596
        // Row 1: logits [0, 0, 0], label 1 → log 3 = 1.0986123
        let result = evaluate(loss, [1, 2, 3, 0, 0, 0], shape: [2, 3], labels: [2, 1])
        XCTAssertEqual(result.sum, 0.40760596 + 1.0986123, accuracy: 1e-5)
        XCTAssertEqual(result.sum, crossEntropy([1, 2, 3], 2) + crossEntropy([0, 0, 0], 1), accuracy: 1e-5)
    }

    func testGradientIsSoftmaxMinusOneHotOverNormalizer() {
        let loss = SoftmaxCrossEntropy()
        let z: [Float] = [1, 2, 3, -1, 0.5, 0]
        _ = evaluate(loss, z, shape: [2, 3], labels: [0, 2])
        // The trainer passes the global batch (here 8, larger than this shard of 2).
        let g = loss.backward(normalizer: 8)
        XCTAssertEqual(g.shape, [2, 3])
        var expected: [Double] = []
        for (r, label) in [0, 2].enumerated() {
            let row = z[(r * 3)..<(r * 3 + 3)].map(Double.init)
            let total = row.map(exp).reduce(0, +)
            for j in 0..<3 { expected.append((exp(row[j]) / total - (j == label ? 1 : 0)) / 8) }
        }
        assertClose(g.scalars, expected, relative: 1e-6)
    }

    func testGradientRowsSumToZero() {
        let loss = SoftmaxCrossEntropy()
        var rng = TestRandom(seed: 4)
        let z = rng.floats(5 * 7, -4, 4)
        _ = evaluate(loss, z, shape: [5, 7], labels: [0, 6, 3, 3, 1])
        let g = loss.backward(normalizer: 5).scalars
        for r in 0..<5 {
            XCTAssertEqual(g[(r * 7)..<(r * 7 + 7)].reduce(0, +), 0, accuracy: 1e-6, "row \(r)")
        }
    }

    func testStableForHugeLogits() {
        let z: [Float] = [1e4, -1e4, 0]
        for (label, expected) in [(0, 0.0), (1, 2e4), (2, 1e4)] {
            let loss = SoftmaxCrossEntropy()
            let result = evaluate(loss, z, shape: [1, 3], labels: [Int32(label)])
            XCTAssertTrue(result.sum.isFinite, "label \(label)")
            XCTAssertEqual(result.sum, expected, accuracy: 1e-2, "label \(label)")
            let g = loss.backward(normalizer: 1).scalars
            XCTAssertTrue(g.allSatisfy(\.isFinite), "gradient \(g)")
            XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-6)
            // softmax(z) is [1, 0, 0] to float precision.
            let onehot = (0..<3).map { $0 == label ? 1.0 : 0.0 }
            assertClose(g, [1 - onehot[0], -onehot[1], -onehot[2]], relative: 1e-6)
        }
    }

    func testCorrectCountsArgmax() {
        let loss = SoftmaxCrossEntropy()
        let z: [Float] = [0.1, 0.9, 0.0,     // argmax 1
                          5, -1, 2,          // argmax 0
                          -3, -2, -1,        // argmax 2
                          0, 1, 0.5]         // argmax 1
        XCTAssertEqual(evaluate(loss, z, shape: [4, 3], labels: [1, 0, 0, 2]).correct, 2)
        XCTAssertEqual(evaluate(loss, z, shape: [4, 3], labels: [1, 0, 2, 1]).correct, 4)
        XCTAssertEqual(evaluate(loss, z, shape: [4, 3], labels: [0, 1, 1, 0]).correct, 0)
    }

    func testShardLossesAddUpToGlobalMean() {
        // Two shards of a global batch of 4, each scaled by 1/4, give the gradient of the mean.
        let z: [Float] = [1, 0, -1, 2, 0.5, 0.5, 0, 0, 3, -2, 1, 1]
        let labels: [Int32] = [0, 1, 2, 0]
        let whole = SoftmaxCrossEntropy()
        let full = evaluate(whole, z, shape: [4, 3], labels: labels)
        let gFull = whole.backward(normalizer: 4).scalars
        let a = SoftmaxCrossEntropy(), b = SoftmaxCrossEntropy()
        let ra = evaluate(a, Array(z[0..<6]), shape: [2, 3], labels: Array(labels[0..<2]))
        let rb = evaluate(b, Array(z[6...]), shape: [2, 3], labels: Array(labels[2...]))
        XCTAssertEqual(ra.sum + rb.sum, full.sum, accuracy: 1e-6)
        let gParts = a.backward(normalizer: 4).scalars + b.backward(normalizer: 4).scalars
        assertClose(gParts, gFull.map(Double.init), relative: 1e-7)
    }

    func testLossKinds() {
        XCTAssertTrue(LossKind.crossEntropy.make() is SoftmaxCrossEntropy)
        XCTAssertTrue(LossKind.mse.make() is MeanSquaredError)
        XCTAssertEqual(LossKind(rawValue: "cross-entropy"), .crossEntropy)
        XCTAssertNil(LossKind(rawValue: "hinge"))
    }
}

final class MeanSquaredErrorTests: XCTestCase {
    func testMatchesPyTorchMSELossMeanOnOneHotTargets() {
        // torch.nn.MSELoss()(y, one_hot(labels)) = Σ (y − t)² / (B · C)
        let y: [Float] = [0.2, 0.7, 0.1,
                          0.5, -0.1, 0.4]
        let labels: [Int32] = [1, 2]
        let t: [Double] = [0, 1, 0, 0, 0, 1]
        let squared = zip(y, t).map { (Double($0) - $1) * (Double($0) - $1) }.reduce(0, +)
        let torchMean = squared / 6
        let loss = MeanSquaredError()
        let result = evaluate(loss, y, shape: [2, 3], labels: labels)
        // The loss reports a sum over samples; divided by the batch it is PyTorch's mean.
        XCTAssertEqual(result.sum / 2, torchMean, accuracy: 1e-7)
        // By hand: (0.04 + 0.09 + 0.01 + 0.25 + 0.01 + 0.36) / 6 = 0.76 / 6
        XCTAssertEqual(result.sum / 2, 0.76 / 6, accuracy: 1e-6)
        // d/dy of the mean = 2 (y − t) / (B · C)
        let g = loss.backward(normalizer: 2).scalars
        assertClose(g, zip(y, t).map { 2 * (Double($0) - $1) / 6 }, relative: 1e-6)
    }

    func testRealValuedTargets() {
        // Targets given as values (a regression source, `TargetKind.values`), not labels.
        let y: [Float] = [0.5, -1, 2, 0]
        let t: [Float] = [1, -1, 0.5, 0.25]
        let loss = MeanSquaredError()
        let result = t.withUnsafeBufferPointer { loss.forward(Tensor(shape: [2, 2], values: y), targets: Targets(values: $0)) }
        // (0.25 + 0 + 2.25 + 0.0625) / 2 outputs per sample = 1.28125, summed over both samples
        XCTAssertEqual(result.sum, 1.28125, accuracy: 1e-6)
        XCTAssertEqual(result.correct, 0, "no classes, nothing to count")
        let g = loss.backward(normalizer: 2).scalars
        assertClose(g, zip(y, t).map { 2 * Double($0 - $1) / 4 }, relative: 1e-6)
    }

    func testCorrectCountsArgmax() {
        let loss = MeanSquaredError()
        let result = evaluate(loss, [0.9, 0.1, 0.3, 0.2, 0.8, 0.1], shape: [3, 2], labels: [0, 0, 1])
        // argmaxes: [0.9,0.1]→0 (label 0), [0.3,0.2]→0 (label 0), [0.8,0.1]→0 (label 1, wrong)
        XCTAssertEqual(result.correct, 2)
    }
}
