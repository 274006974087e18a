import CKernels
import Foundation
import Tandem
import XCTest

/// Batch normalisation: statistics of the global batch, PyTorch's running statistics as
/// buffers, evaluation from them, and a gradient check that a wrong backward fails.
final class BatchNormTests: XCTestCase {
    func randomInput(_ shape: [Int], seed: UInt64 = 3) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in rng.uniform(-2, 3) })
    }

    /// The values of the buffer whose name ends in `suffix`.
    func buffer(_ model: Model, _ suffix: String) -> [Float] {
        guard let slot = model.buffers.slots.first(where: { $0.name.hasSuffix(suffix) }) else { return [] }
        return Array(UnsafeBufferPointer(start: model.buffers.values + slot.offset, count: slot.count))
    }

    /// The forward's statistics come from `tandem_batchnorm_moments`, a faster form of the
    /// backward's sums with x̂ = x: it must give the same sums to the last bit (rows of every
    /// length around the vector width, negative zeros included), or results would change with
    /// which kernel a release happens to use.
    func testMomentsAreTheSumsOfTheValuesAndTheirSquaresBitForBit() {
        var rng = SplitMix64(seed: 21)
        for n in [0, 1, 7, 15, 16, 17, 31, 49, 196, 785] {
            var row: [Float] = (0..<n).map { _ in rng.uniform(-3, 5) }
            for i in stride(from: 0, to: n, by: 5) { row[i] = -0.0 }
            var (sum, squares, expectedSum, expectedSquares) = (0.5, 0.25, 0.5, 0.25)
            tandem_batchnorm_moments(row, n, &sum, &squares)
            tandem_batchnorm_sums(row, row, 1, 0, 0, 0, 0, n, &expectedSum, &expectedSquares)
            XCTAssertEqual(sum.bitPattern, expectedSum.bitPattern, "Σx, \(n) values")
            XCTAssertEqual(squares.bitPattern, expectedSquares.bitPattern, "Σx², \(n) values")
            let direct = row.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertEqual(squares - 0.25, direct, accuracy: 1e-9 * max(1, direct), "Σx², \(n) values")
        }
    }

    /// A residual block ends in bn2's pass (`forward(_:adding:relu:context:)`): it must give
    /// exactly relu(bn(x) + r) computed in separate passes, in training and in evaluation, with
    /// rows long enough for the vector loops and their tails.
    func testAddingAResidualInTheNormalisingPassIsTheSameAsAddingAfterwards() throws {
        let shape = [5, 3, 9, 9]
        let x = randomInput(shape, seed: 7), residual = randomInput(shape, seed: 8)
        for training in [true, false] {
            func model() throws -> (Model, BatchNorm) {
                let norm = BatchNorm(3)
                let model = try Model(norm, inputShape: [3, 9, 9])
                var rng = SplitMix64(seed: 12)
                model.arena.setValues((0..<model.arena.count).map { _ in rng.uniform(-1, 1) })
                return (model, norm)
            }
            let (_, fusedNorm) = try model(), (separateModel, _) = try model()
            let context = ForwardContext(training: training)
            let fused = try fusedNorm.forward(x, adding: residual, relu: true, context: context).scalars
            let normalised = try separateModel.forward(x, context: context).scalars
            let separate = zip(normalised, residual.scalars).map { max($0 + $1, 0) }
            XCTAssertEqual(fused, separate, "training \(training)")
            XCTAssertTrue(fused.contains(0) && fused.contains { $0 > 0 }, "the ReLU must cut some values and pass others")
            let plain = try fusedNorm.forward(x, adding: residual, relu: false, context: context).scalars
            XCTAssertEqual(plain, zip(normalised, residual.scalars).map { $0 + $1 }, "no ReLU, training \(training)")
        }
    }

    func testTrainingNormalisesEachChannelAndUpdatesRunningStatisticsAsPyTorch() throws {
        let norm = BatchNorm(3)
        let model = try Model(norm, inputShape: [3, 4, 5])
        model.initializeParameters(seed: 1)   // γ = 1, β = 0, running mean 0, running variance 1
        let x = randomInput([6, 3, 4, 5])
        let y = try model.forward(x, context: ForwardContext(training: true))
        let values = 6 * 20
        for ch in 0..<3 {
            var xs: [Double] = [], ys: [Double] = []
            for s in 0..<6 { for i in 0..<20 { xs.append(Double(x.pointer[(s * 3 + ch) * 20 + i])); ys.append(Double(y.pointer[(s * 3 + ch) * 20 + i])) } }
            let mean = xs.reduce(0, +) / Double(values)
            let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values)
            XCTAssertEqual(ys.reduce(0, +) / Double(values), 0, accuracy: 1e-5)
            XCTAssertEqual(ys.reduce(0) { $0 + $1 * $1 } / Double(values), variance / (variance + 1e-5), accuracy: 1e-4)
            XCTAssertEqual(Double(buffer(model, "running_mean")[ch]), 0.1 * mean, accuracy: 1e-5)
            XCTAssertEqual(Double(buffer(model, "running_var")[ch]), 0.9 + 0.1 * variance * Double(values) / Double(values - 1), accuracy: 1e-5)
        }
        XCTAssertEqual(buffer(model, "num_batches_tracked"), [1])
        // Evaluation normalises with the running statistics, and changes none of them.
        let before = Array(UnsafeBufferPointer(start: model.buffers.values, count: model.buffers.count))
        let z = try model.forward(x, context: .evaluation)
        let mean = buffer(model, "running_mean"), variance = buffer(model, "running_var")
        for i in [0, 17, 119, 250, 359] {
            let ch = (i / 20) % 3
            XCTAssertEqual(z.pointer[i], (x.pointer[i] - mean[ch]) / (variance[ch] + 1e-5).squareRoot(), accuracy: 1e-5)
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.buffers.values, count: model.buffers.count)), before)
    }

    func testParametersAndBuffersCarryPyTorchNames() throws {
        let model = try ModelSpec("conv:4x3p1,bn,relu,gap,linear:10").build(inputShape: [1, 8, 8])
        // The convolution before the normalisation has no bias (the normalisation's β is it).
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "1.weight", "1.bias", "4.weight", "4.bias"])
        XCTAssertEqual(model.buffers.slots.map(\.name), ["1.running_mean", "1.running_var", "1.num_batches_tracked"])
        XCTAssertEqual(model.buffers.slots.last?.shape, [])
        XCTAssertThrowsError(try ModelSpec("linear:10,bn:3").build(inputShape: [5])) { error in
            XCTAssertTrue("\(error)".contains("no argument"), "\(error)")
        }
    }

    func testResNetPresetHasTorchvisionBlockNames() throws {
        let model = try ModelSpec("resnet").build(inputShape: [1, 28, 28])
        XCTAssertEqual(model.outputShape, [10])
        let names = Set(model.arena.slots.map(\.name) + model.buffers.slots.map(\.name))
        for name in ["0.weight", "1.weight", "1.running_var", "3.conv1.weight", "3.bn1.bias", "3.conv2.weight", "3.bn2.running_mean",
                     "5.downsample.0.weight", "5.downsample.1.num_batches_tracked", "7.downsample.1.weight", "10.weight", "10.bias"] {
            XCTAssertTrue(names.contains(name), "\(name) in \(names.sorted())")
        }
        XCTAssertFalse(names.contains("0.bias"), "the stem's convolution has no bias: bn follows it")
        XCTAssertFalse(names.contains("3.downsample.0.weight"), "a block that keeps shape and stride has an identity shortcut")
        XCTAssertEqual(model.arena.slot(named: "5.conv1.weight")?.shape, [32, 16, 3, 3])
        XCTAssertThrowsError(try ModelSpec("conv:4x3p1,resblock:8x2").build(inputShape: [1, 8, 8])) { error in
            XCTAssertTrue("\(error)".contains("resblock:OUT"), "\(error)")
        }
    }

    /// A ReLU after batch normalisation is applied by the normalisation itself (one pass fewer
    /// each way). Finite differences cannot check it here (the normalised values sit around the
    /// kink), so it is compared with the same ReLU done separately: a leaky ReLU of slope 0 is
    /// the same function and is never fused. Forward, parameter and input gradients agree exactly:
    /// the fused backward recomputes the ReLU's gate from the input, and it must be the forward's.
    /// Rows of 81 values run both the vector loops of `batchnorm.c` and their scalar tails.
    func testFusedReLUGivesTheSameValuesAndGradientsAsASeparateOne() throws {
        func run(_ relu: Activation) throws -> (y: [Float], gradients: [Float], dx: [Float], fused: Bool) {
            let norm = BatchNorm(3)
            let model = try Model([norm, relu, Flatten(), Linear(243, 4)], inputShape: [3, 9, 9])
            model.initializeParameters(seed: 5)
            var rng = SplitMix64(seed: 9)
            model.arena.setValues((0..<model.arena.count).map { _ in rng.uniform(-1, 1) })
            let y = try model.forward(randomInput([5, 3, 9, 9]), context: ForwardContext(training: true))
            let dy = randomInput(y.shape, seed: 4)
            let dx = try model.backward(dy, needsInputGradient: true)!
            return (y.scalars, model.arena.gradientArray, dx.scalars, norm.appliesReLU)
        }
        let fused = try run(Activation(.relu)), separate = try run(Activation(.leakyReLU(slope: 0)))
        XCTAssertTrue(fused.fused)
        XCTAssertFalse(separate.fused)
        XCTAssertEqual(fused.y, separate.y)
        XCTAssertEqual(fused.gradients, separate.gradients)
        XCTAssertEqual(fused.dx, separate.dx)
        let identity = try run(Activation(.leakyReLU(slope: 1)))
        XCTAssertNotEqual(fused.dx, identity.dx, "the ReLU must cut some values")
    }

    func testGradientChecksPassAndAWrongBackwardFails() throws {
        let names = ["BatchNorm (2-D, training)", "BatchNorm (1-D, training)", "GlobalAveragePool",
                     "Residual block (projection shortcut, BatchNorm)", "BasicBlock (stride 2, projection)",
                     "BasicBlock (8 channels, Winograd, identity)"]
        for (name, shape, layers) in GradientCheckSuite.models() where names.contains(name) {
            let result = GradientCheck.check(model: try Model(layers(), inputShape: shape), batch: 3, name: name)
            XCTAssertTrue(result.passed, result.description)
        }
        XCTAssertEqual(GradientCheckSuite.models().filter { names.contains($0.name) }.count, 6)
        // A backward that forgets the term through the variance (x̂ · Σ dy·x̂): its input
        // gradient is then off by that term, and the check must see it.
        let faulty = FaultyLayer(BatchNorm(3)) { _, dx in
            guard let dx else { return }
            for i in 0..<dx.count where i % 7 == 0 { dx.pointer[i] *= 1.05 }
        }
        let model = try Model([faulty, Activation(.tanh), Flatten(), Linear(48, 4)], inputShape: [3, 4, 4])
        XCTAssertFalse(GradientCheck.check(model: model, batch: 3, name: "faulty BatchNorm").passed)
    }
}
