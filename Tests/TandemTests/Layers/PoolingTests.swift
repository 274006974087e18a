import XCTest
import Tandem

/// MaxPool2D and AvgPool2D by hand and against direct loops; Flatten as a pure reshape.
final class PoolingTests: XCTestCase {
    // MARK: - MaxPool2D

    func testMaxPoolForwardAndBackwardByHand() throws {
        let pool = MaxPool2D(kernel: 2)
        XCTAssertEqual(pool.stride, 2, "stride defaults to the kernel")
        XCTAssertEqual(try pool.outputShape(forInput: [2, 4, 4]), [2, 2, 2])
        // One sample, two channels of 4×4.
        let x = Tensor(shape: [1, 2, 4, 4], values: [
            1, 5, 2, 0,
            3, 4, 8, 1,
            -1, -2, 0, 7,
            -3, -9, 6, 2,

            9, 0, 1, 1,
            0, 0, 1, 3,
            2, 2, 4, -1,
            2, 5, -1, 4,
        ])
        let y = pool.forward(x, context: .evaluation)
        XCTAssertEqual(y.shape, [1, 2, 2, 2])
        XCTAssertEqual(y.scalars, [5, 8, -1, 7,
                                   9, 3, 5, 4])
        let dx = try XCTUnwrap(try pool.backward(Tensor(shape: [1, 2, 2, 2], values: [10, 20, 30, 40, 50, 60, 70, 80]),
                                             needsInputGradient: true))
        XCTAssertEqual(dx.shape, [1, 2, 4, 4])
        // Each gradient goes to its window's maximum; the tie 4, 4 in the last window goes to
        // the first in row-major order (as PyTorch).
        XCTAssertEqual(dx.scalars, [
            0, 10, 0, 0,
            0, 0, 20, 0,
            30, 0, 0, 40,
            0, 0, 0, 0,

            50, 0, 0, 0,
            0, 0, 0, 60,
            0, 0, 80, 0,
            0, 70, 0, 0,
        ])
        XCTAssertNil(try pool.backward(Tensor(shape: [1, 2, 2, 2], values: [Float](repeating: 1, count: 8)),
                                   needsInputGradient: false))
    }

    func testOverlappingWindowsAddTheirGradients() throws {
        // 3×3 windows with stride 2 over 5×5: the centre belongs to all four windows. Make it the
        // maximum and it must collect all four gradients.
        let pool = MaxPool2D(kernel: 3, stride: 2)
        var values = (0..<25).map { Float($0) * 0.01 }
        values[12] = 10
        let y = pool.forward(Tensor(shape: [1, 1, 5, 5], values: values), context: .evaluation)
        XCTAssertEqual(y.scalars, [10, 10, 10, 10])
        let dx = try XCTUnwrap(try pool.backward(Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4]), needsInputGradient: true))
        var expected = [Float](repeating: 0, count: 25)
        expected[12] = 10
        XCTAssertEqual(dx.scalars, expected)
    }

    func testFloorModeIgnoresTheRemainder() throws {
        // 5×5 with 2×2 windows: the last row and column are in no window and get no gradient.
        let pool = MaxPool2D(kernel: 2)
        XCTAssertEqual(try pool.outputShape(forInput: [1, 5, 5]), [1, 2, 2])
        let values = (0..<25).map(Float.init)   // increasing: every window's maximum is its bottom-right
        let y = pool.forward(Tensor(shape: [1, 1, 5, 5], values: values), context: .evaluation)
        XCTAssertEqual(y.scalars, [6, 8, 16, 18])
        let dx = try XCTUnwrap(try pool.backward(Tensor(shape: [1, 1, 2, 2], values: [1, 1, 1, 1]), needsInputGradient: true))
        XCTAssertEqual(dx.scalars.enumerated().filter { $0.element != 0 }.map(\.offset), [6, 8, 16, 18])
    }

    func testMaxPoolPropagatesNaN() {
        let pool = MaxPool2D(kernel: 2)
        let y = pool.forward(Tensor(shape: [1, 1, 2, 2], values: [1, .nan, 3, 2]), context: .evaluation)
        XCTAssertTrue(y.scalars[0].isNaN, "a NaN must not be hidden by the maximum")
    }

    /// Direct max pooling: for each window, the first maximum in row-major order.
    private func naiveMaxPool(_ x: [Float], batch: Int, channels: Int, height: Int, width: Int,
                              kernel k: Int, stride s: Int, dy: [Float]) -> (y: [Float], dx: [Float]) {
        let oh = (height - k) / s + 1, ow = (width - k) / s + 1
        var y: [Float] = [], dx = [Float](repeating: 0, count: x.count)
        var o = 0
        for plane in 0..<(batch * channels) {
            for i in 0..<oh {
                for j in 0..<ow {
                    var best = -Float.infinity, at = -1
                    for a in 0..<k { for b in 0..<k {
                        let index = plane * height * width + (i * s + a) * width + (j * s + b)
                        if x[index] > best { best = x[index]; at = index }
                    } }
                    y.append(best)
                    dx[at] += dy[o]
                    o += 1
                }
            }
        }
        return (y, dx)
    }

    func testMaxPoolMatchesDirectLoops() throws {
        var rng = TestRandom(seed: 31)
        for (k, s) in [(2, 2), (3, 2), (2, 1), (3, 3), (1, 1)] {
            let (batch, channels, height, width) = (3, 4, 9, 7)
            let pool = MaxPool2D(kernel: k, stride: s)
            let x = rng.floats(batch * channels * height * width)
            let y = pool.forward(Tensor(shape: [batch, channels, height, width], values: x), context: .evaluation)
            let outShape = try pool.outputShape(forInput: [channels, height, width])
            let dy = rng.floats(batch * outShape.reduce(1, *))
            let dx = try XCTUnwrap(try pool.backward(Tensor(shape: [batch] + outShape, values: dy), needsInputGradient: true))
            let expected = naiveMaxPool(x, batch: batch, channels: channels, height: height, width: width,
                                        kernel: k, stride: s, dy: dy)
            XCTAssertEqual(y.shape, [batch] + outShape)
            XCTAssertEqual(y.scalars, expected.y, "k\(k) s\(s)")
            assertClose(dx.scalars, expected.dx.map(Double.init), relative: 1e-6, "k\(k) s\(s)")
        }
    }

    func testMaxPoolGradientCheckWithSmallStep() throws {
        // A small finite-difference step keeps the check away from the max's kinks.
        let model = try Model([Conv2D(inChannels: 2, outChannels: 3, kernel: 3, padding: 1), MaxPool2D(kernel: 2),
                                    Flatten(), Linear(27, 4)], inputShape: [2, 6, 6])
        let result = GradientCheck.check(model: model, batch: 3, name: "maxpool", step: 1e-3, tolerance: 1e-2, maxCoordinates: 200)
        XCTAssertTrue(result.passed, "\(result)")
    }

    // MARK: - AvgPool2D

    func testAvgPoolForwardAndBackwardByHand() throws {
        let pool = AvgPool2D(kernel: 2)
        let x = Tensor(shape: [1, 1, 4, 4], values: [
            1, 3, 0, 0,
            5, 7, 4, 8,
            2, 2, -4, 4,
            2, 2, 0, 8,
        ])
        let y = pool.forward(x, context: .evaluation)
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.scalars, [4, 3, 2, 2])
        let dx = try XCTUnwrap(try pool.backward(Tensor(shape: [1, 1, 2, 2], values: [4, 8, -4, 2]), needsInputGradient: true))
        XCTAssertEqual(dx.scalars, [
            1, 1, 2, 2,
            1, 1, 2, 2,
            -1, -1, 0.5, 0.5,
            -1, -1, 0.5, 0.5,
        ])
    }

    func testAvgPoolMatchesDirectLoops() throws {
        var rng = TestRandom(seed: 32)
        for (k, s) in [(2, 2), (3, 2), (2, 1), (3, 3)] {
            let (batch, channels, height, width) = (2, 3, 8, 7)
            let pool = AvgPool2D(kernel: k, stride: s)
            let oh = (height - k) / s + 1, ow = (width - k) / s + 1
            let x = rng.floats(batch * channels * height * width)
            let dy = rng.floats(batch * channels * oh * ow)
            let y = pool.forward(Tensor(shape: [batch, channels, height, width], values: x), context: .evaluation)
            let dx = try XCTUnwrap(try pool.backward(Tensor(shape: [batch, channels, oh, ow], values: dy), needsInputGradient: true))
            var expectedY: [Double] = [], expectedDx = [Double](repeating: 0, count: x.count)
            var o = 0
            for plane in 0..<(batch * channels) { for i in 0..<oh { for j in 0..<ow {
                var total = 0.0
                for a in 0..<k { for b in 0..<k {
                    let index = plane * height * width + (i * s + a) * width + (j * s + b)
                    total += Double(x[index])
                    expectedDx[index] += Double(dy[o]) / Double(k * k)
                } }
                expectedY.append(total / Double(k * k))
                o += 1
            } } }
            XCTAssertEqual(y.shape, [batch, channels, oh, ow])
            assertClose(y.scalars, expectedY, relative: 1e-6, "k\(k) s\(s)")
            assertClose(dx.scalars, expectedDx, relative: 1e-6, "k\(k) s\(s)")
        }
    }

    func testPoolingRejectsFlatOrTooSmallInputs() {
        XCTAssertThrowsError(try MaxPool2D(kernel: 2).outputShape(forInput: [16]))
        XCTAssertThrowsError(try AvgPool2D(kernel: 3).outputShape(forInput: [1, 2, 8]))
        XCTAssertEqual(try AvgPool2D(kernel: 3, stride: 1).outputShape(forInput: [2, 3, 8]), [2, 1, 6])
    }

    // MARK: - Flatten

    func testFlattenIsAReshapeWithoutCopy() throws {
        let flatten = Flatten()
        XCTAssertEqual(try flatten.outputShape(forInput: [3, 4, 5]), [60])
        let values = (0..<120).map(Float.init)
        let x = Tensor(shape: [2, 3, 4, 5], values: values)
        let y = flatten.forward(x, context: .evaluation)
        XCTAssertEqual(y.shape, [2, 60])
        XCTAssertEqual(y.scalars, values)
        XCTAssertTrue(y.storage === x.storage, "flatten must not copy")
        let dy = Tensor(shape: [2, 60], values: values.map { -$0 })
        let dx = try XCTUnwrap(try flatten.backward(dy, needsInputGradient: true))
        XCTAssertEqual(dx.shape, [2, 3, 4, 5])
        XCTAssertEqual(dx.scalars, values.map { -$0 })
        XCTAssertTrue(dx.storage === dy.storage)
        XCTAssertNil(try flatten.backward(dy, needsInputGradient: false))
    }
}
