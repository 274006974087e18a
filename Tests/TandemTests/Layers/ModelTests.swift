import XCTest
import Tandem

/// A model is a tree of layers: parameters are laid out in forward order under their paths,
/// tied parameters are stored once, buffers live outside the arena, and a malformed tree is
/// refused with a message that names the problem.
final class ModelTests: XCTestCase {
    func testNestedLayersAreNamedByTheirPaths() throws {
        let model = try Model(Sequential(
            Linear(4, 6), Activation(.tanh),
            Residual(Sequential(Linear(6, 6), Activation(.relu), Linear(6, 6))),
            Residual(Sequential(Linear(6, 3)), shortcut: Linear(6, 3))), inputShape: [4])
        XCTAssertEqual(model.arena.slots.map(\.name), [
            "0.weight", "0.bias", "2.body.0.weight", "2.body.0.bias", "2.body.2.weight", "2.body.2.bias",
            "3.body.0.weight", "3.body.0.bias", "3.shortcut.weight", "3.shortcut.bias"])
        XCTAssertEqual(model.outputShape, [3])
        XCTAssertEqual(model.units.map(\.path), ["0", "1", "2.body.0", "2.body.1", "2.body.2", "3.body.0", "3.shortcut"])
        XCTAssertEqual(model.units.map(\.isFirstTrainable), [true, false, false, false, false, false, false])
        XCTAssertEqual(model.parameterCount, 30 + 42 + 42 + 21 + 21)
    }

    func testATiedWeightIsOneTensorWithTheSumOfBothGradients() throws {
        let owner = Linear(3, 3), user = Linear(3, 3, weightTiedTo: ParameterTie(owner: owner, name: "weight"))
        let model = try Model([owner, Activation(.tanh), user], inputShape: [3])
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "0.bias", "2.bias"])
        XCTAssertTrue(model.isShared(slot: 0))
        XCTAssertFalse(model.isShared(slot: 1))
        model.initializeParameters(seed: 3)
        let x = Tensor(shape: [2, 3], values: [0.5, -1, 0.25, 1, 0.5, -0.75])
        _ = try model.forward(x, context: ForwardContext(training: true))
        try model.backward(Tensor(shape: [2, 3], values: [1, -1, 0.5, 0.25, 2, -0.5]))
        let both = Array(model.arena.gradientArray[0..<9])
        // The same gradient, one use at a time: the owner's use alone (the user's weight held
        // fixed) and the user's alone, summed, must give the tied gradient.
        func gradient(ofUse use: Int) throws -> [Float] {
            let a = Linear(3, 3), b = Linear(3, 3)
            let separate = try Model([a, Activation(.tanh), b], inputShape: [3])
            var values = model.arena.valueArray
            values.insert(contentsOf: values[0..<9], at: 12)   // b.weight = the tied weight
            separate.arena.setValues(values)
            _ = try separate.forward(x, context: ForwardContext(training: true))
            try separate.backward(Tensor(shape: [2, 3], values: [1, -1, 0.5, 0.25, 2, -0.5]))
            let g = separate.arena.gradientArray
            return use == 0 ? Array(g[0..<9]) : Array(g[12..<21])
        }
        let expected = zip(try gradient(ofUse: 0), try gradient(ofUse: 1)).map { $0 + $1 }
        for (got, want) in zip(both, expected) { XCTAssertEqual(got, want, accuracy: 1e-6) }
    }

    func testGradientsStartAfreshEveryStep() throws {
        let model = try Model([Linear(3, 2)], inputShape: [3])
        model.initializeParameters(seed: 1)
        let x = Tensor(shape: [1, 3], values: [1, 2, 3]), dy = Tensor(shape: [1, 2], values: [1, -1])
        _ = try model.forward(x, context: ForwardContext(training: true))
        try model.backward(dy)
        let first = model.arena.gradientArray
        _ = try model.forward(x, context: ForwardContext(training: true))
        try model.backward(dy)
        XCTAssertEqual(model.arena.gradientArray, first, "a second step overwrites, it does not add")
    }

    func testAConvolutionFusesTheReLUAfterItInsideNestedBlocks() throws {
        let inner = Conv2D(inChannels: 2, outChannels: 2, kernel: 3, padding: 1), relu = Activation(.relu)
        let outer = Conv2D(inChannels: 2, outChannels: 2, kernel: 3, padding: 1), tanh = Activation(.tanh)
        _ = try Model(Sequential(outer, tanh, Residual(Sequential(inner, relu))), inputShape: [2, 5, 5])
        XCTAssertTrue(inner.appliesReLU && relu.isFusedIntoPrevious, "fused inside a residual block")
        XCTAssertFalse(outer.appliesReLU || tanh.isFusedIntoPrevious, "only a ReLU is fused")
    }

    func testMalformedTreesAreRefused() {
        let owner = Linear(3, 3)
        let early = Linear(3, 3, weightTiedTo: ParameterTie(owner: owner, name: "weight"))
        XCTAssertThrowsError(try Model([early, owner], inputShape: [3])) { error in
            XCTAssertTrue("\(error)".contains("must come first"), "\(error)")
        }
        let wrongShape = Linear(3, 4, weightTiedTo: ParameterTie(owner: owner, name: "weight"))
        XCTAssertThrowsError(try Model([owner, Linear(3, 3), wrongShape], inputShape: [3])) { error in
            XCTAssertTrue("\(error)".contains("shape"), "\(error)")
        }
        let twice = Linear(3, 3)
        XCTAssertThrowsError(try Model([twice, twice], inputShape: [3])) { error in
            XCTAssertTrue("\(error)".contains("appears twice"), "\(error)")
        }
        XCTAssertThrowsError(try Model([Residual(Linear(3, 2))], inputShape: [3])) { error in
            XCTAssertTrue("\(error)".contains("shortcut"), "\(error)")
        }
    }

    func testBuffersLiveOutsideTheParameterArena() throws {
        final class Counter: Layer {
            var count: ParameterView!
            var summary: String { "Counter" }
            func outputShape(forInput shape: [Int]) throws -> [Int] { shape }
            var parameterSpecs: [ParameterSpec] {
                [ParameterSpec(name: "seen", shape: [1], initializer: .constant(0), trainable: false)]
            }
            func bind(_ parameters: [ParameterView]) { count = parameters[0] }
            func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
                if context.training { count.value[0] += Float(input.batch) }
                return input
            }
            func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
                needsInputGradient ? gradOutput : nil
            }
        }
        let counter = Counter()
        let model = try Model([Linear(2, 2), counter], inputShape: [2])
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "0.bias"])
        XCTAssertEqual(model.buffers.slots.map(\.name), ["1.seen"])
        _ = try model.forward(Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6]), context: ForwardContext(training: true))
        XCTAssertEqual(model.buffers.valueArray, [3])
        XCTAssertFalse(counter.containsParameters, "a buffer is not a trainable parameter")
    }
}
