import XCTest
import Tandem

final class SequentialTests: XCTestCase {
    func testMLPParameterNamesFollowPyTorchSequential() throws {
        // nn.Sequential(Linear(4,3), ReLU(), Linear(3,2), ReLU(), Linear(2,5)) names its
        // parameters 0.weight, 0.bias, 2.weight, 2.bias, 4.weight, 4.bias.
        let model = try ModelSpec("mlp:4-3-2-5").build(inputShape: [4])
        XCTAssertEqual(model.layers.count, 5)
        XCTAssertTrue(model.layers[1] is Activation)
        XCTAssertTrue(model.layers[3] is Activation)
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        XCTAssertEqual(model.arena.slots.map(\.shape), [[3, 4], [3], [2, 3], [2], [5, 2], [5]])
        XCTAssertEqual(model.outputShape, [5])
        XCTAssertEqual(model.parameterCount, 12 + 3 + 6 + 2 + 10 + 5)
    }

    func testArenaOffsetsAreContiguous() throws {
        let model = try ModelSpec("mlp:784-256-128-10").build(inputShape: [1, 28, 28])
        var expectedOffset = 0
        for slot in model.arena.slots {
            XCTAssertEqual(slot.offset, expectedOffset, slot.name)
            XCTAssertEqual(slot.count, slot.shape.reduce(1, *), slot.name)
            expectedOffset += slot.count
        }
        XCTAssertEqual(model.arena.count, expectedOffset)
        XCTAssertEqual(model.arena.count, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
        XCTAssertEqual(model.arena.valueArray.count, model.arena.count)
        XCTAssertEqual(model.arena.gradientArray.count, model.arena.count)
    }

    func testParameterRangesPerLayer() throws {
        let model = try ModelSpec("mlp:4-3-2").build(inputShape: [4])
        // Linear(4,3): 15 values; ReLU: none; Linear(3,2): 8 values
        XCTAssertEqual(model.units.count, 3)
        XCTAssertEqual(model.units[0].range, 0..<15)
        XCTAssertTrue(model.units[1].range.isEmpty)
        XCTAssertEqual(model.units[2].range, 15..<23)
    }

    func testInitializeParametersIsDeterministicPerSeed() throws {
        let a = try ModelSpec("mlp:6-5-4").build(inputShape: [6])
        let b = try ModelSpec("mlp:6-5-4").build(inputShape: [6])
        a.initializeParameters(seed: 123)
        b.initializeParameters(seed: 123)
        XCTAssertEqual(a.arena.valueArray, b.arena.valueArray)
        b.initializeParameters(seed: 124)
        XCTAssertNotEqual(a.arena.valueArray, b.arena.valueArray)
        // Weights are drawn (all distinct); biases are declared ParameterInit.zeros by Linear.
        let w0 = a.arena.slot(named: "0.weight")!, b0 = a.arena.slot(named: "0.bias")!
        let values = a.arena.valueArray
        let weights = Array(values[w0.offset..<(w0.offset + w0.count)])
        XCTAssertEqual(Set(weights).count, weights.count, "weights should all differ")
        XCTAssertEqual(Array(values[b0.offset..<(b0.offset + b0.count)]), [Float](repeating: 0, count: 5))
    }

    func testKaimingAndXavierBounds() throws {
        // Kaiming uniform bound √(6/fanIn) for ReLU; Xavier √(6/(fanIn+fanOut)) for tanh.
        let relu = try ModelSpec("mlp:50-40", activation: .relu).build(inputShape: [50])
        relu.initializeParameters(seed: 1)
        let kaiming = (6.0 / 50).squareRoot()
        let rw = Array(relu.arena.valueArray.prefix(2000))
        XCTAssertLessThanOrEqual(rw.map { abs(Double($0)) }.max()!, kaiming)
        XCTAssertGreaterThan(rw.map { abs(Double($0)) }.max()!, 0.9 * kaiming, "should fill the range")

        let tanh = try ModelSpec("mlp:50-40", activation: .tanh).build(inputShape: [50])
        tanh.initializeParameters(seed: 1)
        let xavier = (6.0 / 90).squareRoot()
        let tw = Array(tanh.arena.valueArray.prefix(2000))
        XCTAssertLessThanOrEqual(tw.map { abs(Double($0)) }.max()!, xavier)
        XCTAssertGreaterThan(tw.map { abs(Double($0)) }.max()!, 0.9 * xavier)
        // Uniform: the mean is near 0.
        XCTAssertEqual(tw.reduce(0.0) { $0 + Double($1) } / 2000, 0, accuracy: 0.03)
    }

    func testForwardChainsLayers() throws {
        // Linear(2,2) → ReLU → Linear(2,1), by hand.
        let model = try ModelSpec("mlp:2-2-1").build(inputShape: [2])
        // W1 = [[1, −1], [2, 1]], b1 = [0, −1]; W2 = [[3, −2]], b2 = [0.5]
        model.arena.setValues([1, -1, 2, 1, 0, -1, 3, -2, 0.5])
        let y = try model.forward(Tensor(shape: [2, 2], values: [1, 2, -1, 3]), context: .evaluation)
        // x=[1,2]: h = relu([−1, 3]) = [0, 3]; y = −6 + 0.5 = −5.5
        // x=[−1,3]: h = relu([−4, 0]) = [0, 0]; y = 0.5
        XCTAssertEqual(y.scalars, [-5.5, 0.5])
    }

    func testBackwardReportsLayersInReverseOrder() throws {
        let model = try ModelSpec("mlp:3-4-2").build(inputShape: [3])
        model.initializeParameters(seed: 3)
        _ = try model.forward(Tensor(shape: [2, 3], values: [1, 2, 3, -1, 0, 1]), context: ForwardContext(training: true))
        var done: [Int] = []
        try model.backward(Tensor(shape: [2, 2], values: [1, -1, 0.5, 2])) { done.append($0) }
        XCTAssertEqual(done, [2, 1, 0])
        XCTAssertTrue(model.arena.gradientArray.contains { $0 != 0 })
    }

    func testSummaryListsLayers() throws {
        let model = try ModelSpec("mlp:4-3-2").build(inputShape: [4])
        let lines = model.summary.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[1].contains("ReLU"))
    }
}

final class ModelSpecTests: XCTestCase {
    private func message(_ spec: String, inputShape: [Int], activation: ActivationFunction = .relu) -> String? {
        do {
            _ = try ModelSpec(spec, activation: activation).build(inputShape: inputShape)
            return nil
        } catch {
            XCTAssertTrue(error is ModelSpecError, "\(type(of: error))")
            return "\(error)"
        }
    }

    func testBadWidths() {
        for spec in ["mlp:784-abc-10", "mlp:784-0-10", "mlp:784-10.5", "mlp:784", "mlp:"] {
            guard let text = message(spec, inputShape: [784]) else { XCTFail("\(spec) should fail"); continue }
            XCTAssertTrue(text.contains(spec), "message should quote the spec: \(text)")
            XCTAssertTrue(text.contains("positive widths"), text)
        }
    }

    func testInputMismatchNamesBothSizes() {
        guard let text = message("mlp:100-10", inputShape: [1, 28, 28]) else { return XCTFail("should fail") }
        XCTAssertTrue(text.contains("100"), text)
        XCTAssertTrue(text.contains("784"), text)
    }

    func testUnknownLayerAndEmptySpec() {
        guard let unknown = message("linear:10,frobnicate", inputShape: [4]) else { return XCTFail("should fail") }
        XCTAssertTrue(unknown.contains("frobnicate"), unknown)
        guard let zero = message("linear:0", inputShape: [4]) else { return XCTFail("should fail") }
        XCTAssertTrue(zero.contains("linear:0"), zero)
        guard let empty = message("", inputShape: [4]) else { return XCTFail("should fail") }
        XCTAssertTrue(empty.contains("no layers"), empty)
    }

    func testLayerListInfersInputs() throws {
        let model = try ModelSpec("linear:16, relu, linear:10, softmax").build(inputShape: [1, 28, 28])
        XCTAssertEqual(model.layers.count, 4)
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias"])
        XCTAssertEqual(model.arena.slot(named: "0.weight")?.shape, [16, 784])
        XCTAssertEqual(model.arena.slot(named: "2.weight")?.shape, [10, 16])
        XCTAssertEqual(model.outputShape, [10])
        XCTAssertTrue(model.layers[3] is Softmax)
    }

    func testPresetAndActivationChoice() throws {
        let model = try ModelSpec("mlp", activation: .gelu).build(inputShape: [784])
        XCTAssertEqual(model.arena.slots.map(\.shape), [[256, 784], [256], [128, 256], [128], [10, 128], [10]])
        XCTAssertEqual((model.layers[1] as? Activation)?.function, .gelu)
        XCTAssertEqual((model.layers[3] as? Activation)?.function, .gelu)
    }
}
