import XCTest
import Tandem

final class LinearTests: XCTestCase {
    /// Linear(3 → 2) with weight [[1,2,3],[4,5,6]] (PyTorch layout [out, in]) and bias [0.5, −1].
    private func handModel() throws -> (Model, Linear) {
        let linear = Linear(3, 2)
        let model = try Model([linear], inputShape: [3])
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "0.bias"])
        XCTAssertEqual(model.arena.slot(named: "0.weight")?.shape, [2, 3])
        XCTAssertEqual(model.arena.slot(named: "0.bias")?.shape, [2])
        model.arena.setValues([1, 2, 3, 4, 5, 6, 0.5, -1])
        return (model, linear)
    }

    func testForwardByHand() throws {
        let (model, _) = try handModel()
        let x = Tensor(shape: [2, 3], values: [1, 0, -1,
                                               2, 1, 0])
        let y = try model.forward(x, context: .evaluation)
        // y = x·Wᵀ + b
        // row 0: [1·1 + 0·2 − 1·3 + 0.5, 1·4 + 0·5 − 1·6 − 1] = [−1.5, −3]
        // row 1: [2·1 + 1·2 + 0·3 + 0.5, 2·4 + 1·5 + 0·6 − 1] = [4.5, 12]
        XCTAssertEqual(y.shape, [2, 2])
        XCTAssertEqual(y.scalars, [-1.5, -3, 4.5, 12])
    }

    func testBackwardByHand() throws {
        let (model, linear) = try handModel()
        let x = Tensor(shape: [2, 3], values: [1, 0, -1, 2, 1, 0])
        _ = try model.forward(x, context: ForwardContext(training: true))
        let dy = Tensor(shape: [2, 2], values: [1, 0.5,
                                                -1, 2])
        let dx = try linear.backward(dy, needsInputGradient: true)
        // dW = dYᵀ·X: row 0 = 1·[1,0,−1] − 1·[2,1,0] = [−1,−1,−1]; row 1 = 0.5·[1,0,−1] + 2·[2,1,0] = [4.5,2,−0.5]
        // db = Σ rows dY = [0, 2.5]
        XCTAssertEqual(model.arena.gradientArray, [-1, -1, -1, 4.5, 2, -0.5, 0, 2.5])
        // dX = dY·W: row 0 = 1·[1,2,3] + 0.5·[4,5,6] = [3,4.5,6]; row 1 = −[1,2,3] + 2·[4,5,6] = [7,8,9]
        XCTAssertEqual(dx?.shape, [2, 3])
        XCTAssertEqual(dx?.scalars, [3, 4.5, 6, 7, 8, 9])
    }

    func testBackwardOverwritesGradientsAndCanSkipInputGradient() throws {
        let (model, linear) = try handModel()
        let x = Tensor(shape: [1, 3], values: [1, 1, 1])
        _ = try model.forward(x, context: ForwardContext(training: true))
        for i in 0..<model.arena.count { model.arena.gradients[i] = 1000 }
        let dx = try linear.backward(Tensor(shape: [1, 2], values: [1, 2]), needsInputGradient: false)
        XCTAssertNil(dx)
        // dW = [1,2]ᵀ·[1,1,1]; db = [1,2]; old contents replaced, not accumulated.
        XCTAssertEqual(model.arena.gradientArray, [1, 1, 1, 2, 2, 2, 1, 2])
    }

    func testRandomAgainstNaiveFormulas() throws {
        let (inputs, outputs, batch) = (7, 5, 4)
        let model = try Model([Linear(inputs, outputs)], inputShape: [inputs])
        var rng = TestRandom(seed: 21)
        let params = rng.floats(model.arena.count)
        model.arena.setValues(params)
        let w = Array(params[0..<(inputs * outputs)]), b = Array(params[(inputs * outputs)...])
        let xv = rng.floats(batch * inputs)
        let y = try model.forward(Tensor(shape: [batch, inputs], values: xv), context: .evaluation)
        var expected: [Double] = []
        for n in 0..<batch {
            for o in 0..<outputs {
                var s = Double(b[o])
                for i in 0..<inputs { s += Double(xv[n * inputs + i]) * Double(w[o * inputs + i]) }
                expected.append(s)
            }
        }
        assertClose(y.scalars, expected, relative: 1e-5)
    }

    func testImageInputIsFlattened() throws {
        let model = try Model([Linear(6, 2)], inputShape: [1, 2, 3])
        XCTAssertEqual(model.outputShape, [2])
        // weight row 0 all ones, row 1 = [1, 0, 0, 0, 0, −1]; bias [0.5, 0]
        model.arena.setValues([1, 1, 1, 1, 1, 1,
                               1, 0, 0, 0, 0, -1,
                               0.5, 0])
        let y = try model.forward(Tensor(shape: [1, 1, 2, 3], values: [1, 2, 3, 4, 5, 6]), context: .evaluation)
        XCTAssertEqual(y.shape, [1, 2])
        XCTAssertEqual(y.scalars, [21.5, -5])
    }

    func testInputMismatchThrowsClearError() {
        XCTAssertThrowsError(try Model([Linear(5, 3)], inputShape: [4])) { error in
            let text = "\(error)"
            XCTAssertTrue(error is ModelSpecError)
            XCTAssertTrue(text.contains("5"), text)
            XCTAssertTrue(text.contains("4"), text)
        }
    }

    func testSummary() {
        XCTAssertTrue(Linear(784, 256).summary.contains("784"))
        XCTAssertTrue(Linear(784, 256).summary.contains("256"))
    }
}
