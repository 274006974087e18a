import Foundation
import XCTest
import Tandem

/// Conv2D against a direct, seven-loop convolution written here from the definition, plus the
/// model-spec grammar and the `cnn` preset's PyTorch parameter layout.
final class ConvolutionTests: XCTestCase {
    /// One convolution problem: NCHW input, PyTorch-layout weight [out, in, k, k] and bias.
    private struct Problem {
        let batch, inChannels, outChannels, height, width, kernel, stride, padding: Int
        var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
        var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
        var weightCount: Int { outChannels * inChannels * kernel * kernel }

        func xIndex(_ n: Int, _ c: Int, _ i: Int, _ j: Int) -> Int { ((n * inChannels + c) * height + i) * width + j }
        func wIndex(_ o: Int, _ c: Int, _ a: Int, _ b: Int) -> Int { ((o * inChannels + c) * kernel + a) * kernel + b }
        func yIndex(_ n: Int, _ o: Int, _ i: Int, _ j: Int) -> Int { ((n * outChannels + o) * outHeight + i) * outWidth + j }

        /// Calls `body(n, o, oh, ow, c, ih, iw, a, b)` for every (output, tap) pair that reads a real input value.
        func forEachTap(_ body: (Int, Int, Int, Int, Int, Int, Int, Int, Int) -> Void) {
            for n in 0..<batch { for o in 0..<outChannels { for oh in 0..<outHeight { for ow in 0..<outWidth {
                for c in 0..<inChannels { for a in 0..<kernel { for b in 0..<kernel {
                    let ih = oh * stride - padding + a, iw = ow * stride - padding + b
                    if ih >= 0 && ih < height && iw >= 0 && iw < width { body(n, o, oh, ow, c, ih, iw, a, b) }
                } } }
            } } } }
        }

        func forward(x: [Float], w: [Float], bias: [Float]) -> [Double] {
            var y = [Double](repeating: 0, count: batch * outChannels * outHeight * outWidth)
            for n in 0..<batch { for o in 0..<outChannels { for i in 0..<outHeight { for j in 0..<outWidth {
                y[yIndex(n, o, i, j)] = Double(bias[o])
            } } } }
            forEachTap { n, o, oh, ow, c, ih, iw, a, b in
                y[yIndex(n, o, oh, ow)] += Double(x[xIndex(n, c, ih, iw)]) * Double(w[wIndex(o, c, a, b)])
            }
            return y
        }

        /// (dW, db, dX) for upstream gradient dy.
        func backward(x: [Float], w: [Float], dy: [Float]) -> ([Double], [Double], [Double]) {
            var dw = [Double](repeating: 0, count: weightCount)
            var db = [Double](repeating: 0, count: outChannels)
            var dx = [Double](repeating: 0, count: x.count)
            for n in 0..<batch { for o in 0..<outChannels { for i in 0..<outHeight { for j in 0..<outWidth {
                db[o] += Double(dy[yIndex(n, o, i, j)])
            } } } }
            forEachTap { n, o, oh, ow, c, ih, iw, a, b in
                let g = Double(dy[yIndex(n, o, oh, ow)])
                dw[wIndex(o, c, a, b)] += g * Double(x[xIndex(n, c, ih, iw)])
                dx[xIndex(n, c, ih, iw)] += g * Double(w[wIndex(o, c, a, b)])
            }
            return (dw, db, dx)
        }
    }

    /// Kernel, stride and padding combinations, including strides that skip input and
    /// paddings as large as the kernel allows. Height and width differ to catch swapped axes.
    private let geometries: [(kernel: Int, stride: Int, padding: Int)] = [
        (1, 1, 0), (3, 1, 0), (3, 1, 1), (3, 2, 1), (5, 1, 2), (2, 2, 0), (4, 3, 2), (3, 3, 0), (5, 2, 4),
    ]

    private func makeLayer(_ p: Problem, workspaceLimit: Int = 1 << 25,
                           algorithm: Conv2D.Algorithm? = nil) throws -> (Model, Conv2D) {
        let conv = Conv2D(inChannels: p.inChannels, outChannels: p.outChannels, kernel: p.kernel,
                          stride: p.stride, padding: p.padding, workspaceLimit: workspaceLimit, algorithm: algorithm)
        let model = try Model([conv], inputShape: [p.inChannels, p.height, p.width])
        return (model, conv)
    }

    func testForwardMatchesDirectConvolution() throws {
        var rng = TestRandom(seed: 1)
        for (k, s, pad) in geometries {
            let p = Problem(batch: 2, inChannels: 3, outChannels: 4, height: 7, width: 9, kernel: k, stride: s, padding: pad)
            let (model, _) = try makeLayer(p)
            let params = rng.floats(model.arena.count)
            model.arena.setValues(params)
            let w = Array(params[0..<p.weightCount]), b = Array(params[p.weightCount...])
            let x = rng.floats(p.batch * p.inChannels * p.height * p.width)
            let y = try model.forward(Tensor(shape: [p.batch, p.inChannels, p.height, p.width], values: x), context: .evaluation)
            XCTAssertEqual(y.shape, [p.batch, p.outChannels, p.outHeight, p.outWidth], "k\(k) s\(s) p\(pad)")
            assertClose(y.scalars, p.forward(x: x, w: w, bias: b), relative: 1e-5, "k\(k) s\(s) p\(pad)")
        }
    }

    func testBackwardMatchesDirectFormulas() throws {
        var rng = TestRandom(seed: 2)
        for (k, s, pad) in geometries {
            let p = Problem(batch: 3, inChannels: 2, outChannels: 3, height: 8, width: 6, kernel: k, stride: s, padding: pad)
            let (model, conv) = try makeLayer(p)
            let params = rng.floats(model.arena.count)
            model.arena.setValues(params)
            let w = Array(params[0..<p.weightCount])
            let x = rng.floats(p.batch * p.inChannels * p.height * p.width)
            _ = try model.forward(Tensor(shape: [p.batch, p.inChannels, p.height, p.width], values: x),
                              context: ForwardContext(training: true))
            let dy = rng.floats(p.batch * p.outChannels * p.outHeight * p.outWidth)
            let dx = try conv.backward(Tensor(shape: [p.batch, p.outChannels, p.outHeight, p.outWidth], values: dy),
                                   needsInputGradient: true)
            let (dwExpected, dbExpected, dxExpected) = p.backward(x: x, w: w, dy: dy)
            let label = "k\(k) s\(s) p\(pad)"
            assertClose(model.arena.gradientArray, dwExpected + dbExpected, relative: 1e-5, label)
            XCTAssertEqual(dx?.shape, [p.batch, p.inChannels, p.height, p.width], label)
            assertClose(dx?.scalars ?? [], dxExpected, relative: 1e-5, label)
        }
    }

    /// Stride 2 moves eight values of a row at a time (`stride2.c`) once rows are longer than a
    /// vector: output rows of 14 (the resnet's 28 → 14), 19 and 1×1 windows, checked both ways.
    func testStrideTwoRowsLongerThanAVectorMatchDirectFormulas() throws {
        var rng = TestRandom(seed: 3)
        for (width, k, pad) in [(28, 3, 1), (37, 3, 1), (40, 1, 0)] {
            let p = Problem(batch: 2, inChannels: 2, outChannels: 3, height: 5, width: width, kernel: k, stride: 2, padding: pad)
            let (model, conv) = try makeLayer(p, algorithm: .im2col)
            let params = rng.floats(model.arena.count)
            model.arena.setValues(params)
            let w = Array(params[0..<p.weightCount]), b = Array(params[p.weightCount...])
            let x = rng.floats(p.batch * p.inChannels * p.height * p.width)
            let y = try model.forward(Tensor(shape: [p.batch, p.inChannels, p.height, p.width], values: x),
                                      context: ForwardContext(training: true))
            let label = "width \(width) k\(k)"
            XCTAssertGreaterThan(p.outWidth, 8, label)
            assertClose(y.scalars, p.forward(x: x, w: w, bias: b), relative: 1e-5, label)
            let dy = rng.floats(p.batch * p.outChannels * p.outHeight * p.outWidth)
            let dx = try conv.backward(Tensor(shape: [p.batch, p.outChannels, p.outHeight, p.outWidth], values: dy),
                                       needsInputGradient: true)
            let (dwExpected, dbExpected, dxExpected) = p.backward(x: x, w: w, dy: dy)
            assertClose(model.arena.gradientArray, dwExpected + dbExpected, relative: 1e-5, label)
            assertClose(dx?.scalars ?? [], dxExpected, relative: 1e-5, label)
        }
    }

    func testBackwardOverwritesGradientsAndCanSkipInputGradient() throws {
        var rng = TestRandom(seed: 3)
        let p = Problem(batch: 2, inChannels: 2, outChannels: 3, height: 5, width: 5, kernel: 3, stride: 1, padding: 1)
        let (model, conv) = try makeLayer(p)
        model.arena.setValues(rng.floats(model.arena.count))
        let x = rng.floats(p.batch * p.inChannels * 25)
        _ = try model.forward(Tensor(shape: [2, 2, 5, 5], values: x), context: ForwardContext(training: true))
        for i in 0..<model.arena.count { model.arena.gradients[i] = 1000 }
        let dy = rng.floats(p.batch * p.outChannels * 25)
        let dx = try conv.backward(Tensor(shape: [2, 3, 5, 5], values: dy), needsInputGradient: false)
        XCTAssertNil(dx)
        let (dw, db, _) = p.backward(x: x, w: Array(model.arena.valueArray[0..<p.weightCount]), dy: dy)
        assertClose(model.arena.gradientArray, dw + db, relative: 1e-5, "old gradients must be replaced, not added to")
    }

    func testSlicedWorkspaceGivesTheSameResults() throws {
        // A workspace limit of one float forces one sample per matrix product; the results must
        // not change (up to summation order).
        var rng = TestRandom(seed: 4)
        let p = Problem(batch: 5, inChannels: 3, outChannels: 4, height: 6, width: 7, kernel: 3, stride: 2, padding: 1)
        let (whole, wholeConv) = try makeLayer(p)
        let (sliced, slicedConv) = try makeLayer(p, workspaceLimit: 1)
        let params = rng.floats(whole.arena.count)
        whole.arena.setValues(params); sliced.arena.setValues(params)
        let x = rng.floats(p.batch * p.inChannels * p.height * p.width)
        let dy = rng.floats(p.batch * p.outChannels * p.outHeight * p.outWidth)
        var results: [([Float], [Float], [Float])] = []
        for (model, conv) in [(whole, wholeConv), (sliced, slicedConv)] {
            let y = try model.forward(Tensor(shape: [p.batch, p.inChannels, p.height, p.width], values: x),
                                  context: ForwardContext(training: true)).scalars
            let dx = try conv.backward(Tensor(shape: [p.batch, p.outChannels, p.outHeight, p.outWidth], values: dy),
                                   needsInputGradient: true)!.scalars
            results.append((y, model.arena.gradientArray, dx))
        }
        let (dw, db, dx) = p.backward(x: x, w: Array(params[0..<p.weightCount]), dy: dy)
        assertClose(results[1].0, results[0].0.map(Double.init), relative: 1e-6, "forward")
        assertClose(results[1].1, dw + db, relative: 1e-5, "parameter gradients, sliced")
        assertClose(results[0].1, dw + db, relative: 1e-5, "parameter gradients, whole")
        assertClose(results[1].2, dx, relative: 1e-5, "input gradient, sliced")
    }

    // MARK: - Winograd F(4×4, 5×5) and F(4×4, 3×3)

    func testWinogradIsChosenForWideStrideOneConvolutionsOnly() throws {
        XCTAssertEqual(Conv2D(inChannels: 32, outChannels: 64, kernel: 5, padding: 2).algorithm, .winograd)
        XCTAssertEqual(Conv2D(inChannels: 1, outChannels: 32, kernel: 5, padding: 2).algorithm, .im2col,
                       "one input channel: the transforms would cost more than they save")
        XCTAssertEqual(Conv2D(inChannels: 32, outChannels: 64, kernel: 5, stride: 2, padding: 2).algorithm, .im2col)
        XCTAssertEqual(Conv2D(inChannels: 32, outChannels: 64, kernel: 3, padding: 1).algorithm, .winograd)
        XCTAssertEqual(Conv2D(inChannels: 16, outChannels: 16, kernel: 3, padding: 1, bias: false).algorithm, .winograd)
        XCTAssertEqual(Conv2D(inChannels: 16, outChannels: 32, kernel: 3, stride: 2, padding: 1).algorithm, .im2col)
        XCTAssertEqual(Conv2D(inChannels: 16, outChannels: 32, kernel: 1).algorithm, .im2col)
        let cnn = try ModelSpec("cnn").build(inputShape: [1, 28, 28])
        XCTAssertEqual(cnn.layers.compactMap { $0 as? Conv2D }.map(\.algorithm), [.im2col, .winograd])
        // --convolution: im2col everywhere; winograd wherever the kernel is 5×5 or 3×3 at stride 1.
        let plain = try ModelSpec("cnn", convolution: .im2col).build(inputShape: [1, 28, 28])
        XCTAssertEqual(plain.layers.compactMap { $0 as? Conv2D }.map(\.algorithm), [.im2col, .im2col])
        let forced = try ModelSpec("conv:4x5p2,conv:4x3p1,conv:4x3s2p1", convolution: .winograd).build(inputShape: [1, 8, 8])
        XCTAssertEqual(forced.layers.compactMap { $0 as? Conv2D }.map(\.algorithm), [.winograd, .winograd, .im2col])
        // The residual network's blocks: stride-1 3×3 convolutions by Winograd, the strided first
        // convolution of a stage and the 1×1 projection by im2col; --convolution reaches inside.
        func blockMethods(_ convolution: Conv2D.Algorithm?) throws -> [[Conv2D.Algorithm]] {
            let resnet = try ModelSpec("conv:16x3p1,bn,relu,resblock:16,resblock:32s2", convolution: convolution)
                .build(inputShape: [1, 28, 28])
            return resnet.layers.compactMap { $0 as? BasicBlock }.map { block in
                [block.conv1.algorithm, block.conv2.algorithm]
                    + ((block.downsample?.layers.first as? Conv2D).map { [$0.algorithm] } ?? [])
            }
        }
        XCTAssertEqual(try blockMethods(nil), [[.winograd, .winograd], [.im2col, .winograd, .im2col]])
        XCTAssertEqual(try blockMethods(.im2col), [[.im2col, .im2col], [.im2col, .im2col, .im2col]])
    }

    /// Winograd's transforms scale values up and back down, so its rounding error is a fraction of
    /// the largest value of a result (measured: ~5e-6) rather than of each entry; a wrong
    /// transform entry or index gives errors of order one.
    private func assertWithinRounding(_ actual: [Float], _ expected: [Double], _ label: String,
                                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, label, file: file, line: line)
        let scale = max(expected.map(abs).max() ?? 0, 1e-30)
        let error = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertLessThan(error / scale, 2e-5, "\(label): max error \(error) of largest value \(scale)", file: file, line: line)
    }

    func testWinogradMatchesDirectConvolution() throws {
        // Every padding each kernel allows, output sizes that are and are not multiples of four
        // (the others make the last tiles overhang), 19 samples (two full blocks of eight vector
        // lanes and a partial one), the automatic choice (9 channels) and a forced one (3
        // channels; slices of eight samples, so three slices, the last one partial), with and
        // without the fused ReLU, with and without a bias (a convolution that batch
        // normalisation follows has none).
        var rng = TestRandom(seed: 11)
        let cases: [(kernel: Int, channels: Int, height: Int, width: Int, padding: Int, relu: Bool, bias: Bool)] = [
            (5, 9, 8, 8, 2, false, true), (5, 9, 7, 9, 2, true, true), (5, 3, 9, 6, 0, false, true),
            (5, 9, 5, 5, 1, true, false), (5, 3, 6, 10, 3, false, true), (5, 9, 11, 7, 4, true, true),
            (3, 9, 8, 8, 1, false, false), (3, 9, 7, 9, 1, true, true), (3, 3, 9, 6, 0, false, true),
            (3, 9, 5, 6, 2, true, false), (3, 16, 14, 14, 1, false, false),
        ]
        for (kernel, channels, height, width, padding, relu, bias) in cases {
            let p = Problem(batch: 19, inChannels: channels, outChannels: 5, height: height, width: width,
                            kernel: kernel, stride: 1, padding: padding)
            let label = "\(kernel)×\(kernel), in \(channels), \(height)×\(width), padding \(padding), relu \(relu), bias \(bias)"
            let conv = Conv2D(inChannels: channels, outChannels: p.outChannels, kernel: kernel, padding: padding,
                              algorithm: .winograd, bias: bias)
            let model = try Model(relu ? [conv, Activation(.relu)] : [conv], inputShape: [channels, height, width])
            let params = rng.floats(model.arena.count)
            model.arena.setValues(params)
            let w = Array(params[0..<p.weightCount])
            let b = bias ? Array(params[p.weightCount...]) : [Float](repeating: 0, count: p.outChannels)
            let x = rng.floats(p.batch * channels * height * width)
            let xTensor = Tensor(shape: [p.batch, channels, height, width], values: x)
            let y = try model.forward(xTensor, context: ForwardContext(training: true))
            var expected = p.forward(x: x, w: w, bias: b)
            if relu { expected = expected.map { max($0, 0) } }
            XCTAssertEqual(y.shape, [p.batch, p.outChannels, p.outHeight, p.outWidth], label)
            assertWithinRounding(y.scalars, expected, "forward, \(label)")

            let dyRaw = rng.floats(y.count), yValues = y.scalars
            // What reaches the convolution: dY masked where the ReLU's output is zero (the layer's
            // own output: an output within rounding of zero may fall on either side).
            let dy = relu ? zip(dyRaw, yValues).map { $1 > 0 ? $0 : 0 } : dyRaw
            var upstream = Tensor(shape: y.shape, values: dyRaw)
            if relu { upstream = try model.layers[1].backward(upstream, needsInputGradient: true)! }
            let dx = try conv.backward(upstream, needsInputGradient: true)!
            let (dw, db, dxExpected) = p.backward(x: x, w: w, dy: dy)
            assertWithinRounding(model.arena.gradientArray, bias ? dw + db : dw, "parameter gradients, \(label)")
            assertWithinRounding(dx.scalars, dxExpected, "input gradient, \(label)")
        }
    }

    func testWinogradTablesAreTheDerivedOnes() throws {
        // The C kernel's matrices must be exactly what scripts/winograd-matrices derives (and
        // checks in rational arithmetic); a hand edit of one entry must fail here.
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        script.arguments = ["python3", TandemBinary.packageRoot.appendingPathComponent("scripts/winograd-matrices").path]
        let pipe = Pipe()
        script.standardOutput = pipe
        try script.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        XCTAssertEqual(script.terminationStatus, 0)
        let source = try String(contentsOf: TandemBinary.packageRoot.appendingPathComponent("Sources/CKernels/winograd.c"),
                                encoding: .utf8)
        let tables = output.split(separator: "\n").filter { !$0.hasPrefix("/*") }
        XCTAssertEqual(tables.filter { $0.hasPrefix("static const float") }.count, 6, output)
        for line in tables { XCTAssertTrue(source.contains(line), "winograd.c lacks: \(line)") }
    }

    func testWinogradOnTheCNNSecondLayerIsAsAccurateAsFloatAllows() throws {
        // The layer the method exists for, at its real size (32 → 64 channels over 14×14), against
        // the double-precision definition. Winograd rounds more than im2col (its transforms scale
        // values up and back down), so its error is bounded relative to the largest value of
        // result (measured: forward 2.9e-6, weight gradient 8.1e-6, input gradient 3.6e-6 of
        // the largest value; a wrong transform entry gives errors of order 1).
        var rng = TestRandom(seed: 12)
        let p = Problem(batch: 2, inChannels: 32, outChannels: 64, height: 14, width: 14, kernel: 5, stride: 1, padding: 2)
        let (model, conv) = try makeLayer(p, workspaceLimit: 1 << 20, algorithm: .winograd)
        let params = rng.floats(model.arena.count).map { $0 * 0.05 }
        model.arena.setValues(params)
        let w = Array(params[0..<p.weightCount]), b = Array(params[p.weightCount...])
        let x = rng.floats(p.batch * 32 * 196), dy = rng.floats(p.batch * 64 * 196)
        let y = try model.forward(Tensor(shape: [p.batch, 32, 14, 14], values: x), context: ForwardContext(training: true)).scalars
        let dx = try conv.backward(Tensor(shape: [p.batch, 64, 14, 14], values: dy), needsInputGradient: true)!.scalars
        let (dw, db, dxExpected) = p.backward(x: x, w: w, dy: dy)
        func normwise(_ actual: [Float], _ expected: [Double]) -> Double {
            let scale = expected.map(abs).max() ?? 1
            return zip(actual, expected).map { abs(Double($0) - $1) }.max()! / scale
        }
        let errors = [("forward", normwise(y, p.forward(x: x, w: w, bias: b))),
                      ("parameter gradients", normwise(model.arena.gradientArray, dw + db)),
                      ("input gradient", normwise(dx, dxExpected))]
        for (name, error) in errors {
            XCTAssertLessThan(error, 2e-5, "\(name): max error relative to the largest value")
            print("Winograd \(name): max error \(error) of the largest value")
        }
    }

    func testOutputBufferIsReusedAcrossSteps() throws {
        let p = Problem(batch: 2, inChannels: 1, outChannels: 2, height: 4, width: 4, kernel: 3, stride: 1, padding: 1)
        let (model, _) = try makeLayer(p)
        let x = Tensor(shape: [2, 1, 4, 4], values: (0..<32).map(Float.init))
        let first = try model.forward(x, context: .evaluation)
        let second = try model.forward(x, context: .evaluation)
        XCTAssertTrue(first.storage === second.storage, "the step loop must not allocate a new output each time")
    }

    func testParameterLayoutAndKaimingInitialisation() throws {
        let conv = Conv2D(inChannels: 3, outChannels: 16, kernel: 5, stride: 1, padding: 2)
        let model = try Model([conv], inputShape: [3, 8, 8])
        XCTAssertEqual(model.arena.slots.map(\.name), ["0.weight", "0.bias"])
        XCTAssertEqual(model.arena.slot(named: "0.weight")?.shape, [16, 3, 5, 5])
        XCTAssertEqual(model.arena.slot(named: "0.bias")?.shape, [16])
        model.initializeParameters(seed: 9)
        let bound = (6.0 / Float(3 * 5 * 5)).squareRoot()
        let weights = Array(model.arena.valueArray[0..<(16 * 75)])
        XCTAssertTrue(weights.allSatisfy { abs($0) <= bound }, "Kaiming-uniform weights lie within ±√(6/fanIn)")
        XCTAssertGreaterThan(weights.map(abs).max()!, 0.95 * bound, "and fill that range")
        XCTAssertEqual(Array(model.arena.valueArray[(16 * 75)...]), [Float](repeating: 0, count: 16))
    }

    // MARK: - Model specs

    func testCNNPresetHasPyTorchParameterNamesAndShapes() throws {
        let model = try ModelSpec("cnn").build(inputShape: [1, 28, 28])
        let expected: [(String, [Int])] = [
            ("0.weight", [32, 1, 5, 5]), ("0.bias", [32]),
            ("3.weight", [64, 32, 5, 5]), ("3.bias", [64]),
            ("7.weight", [1024, 3136]), ("7.bias", [1024]),
            ("9.weight", [10, 1024]), ("9.bias", [10]),
        ]
        XCTAssertEqual(model.arena.slots.map(\.name), expected.map(\.0))
        XCTAssertEqual(model.arena.slots.map(\.shape), expected.map(\.1))
        XCTAssertEqual(model.parameterCount, 3_274_634)
        XCTAssertEqual(model.outputShape, [10])
        XCTAssertEqual(model.layers.count, 10)
        XCTAssertTrue(model.layers[2] is MaxPool2D && model.layers[6] is Flatten)
    }

    func testCNNSmallPresetRuns() throws {
        let model = try ModelSpec("cnn-small").build(inputShape: [1, 28, 28])
        model.initializeParameters(seed: 1)
        XCTAssertTrue(model.layers.contains { $0 is Dropout })
        var rng = TestRandom(seed: 5)
        let x = Tensor(shape: [3, 1, 28, 28], values: rng.floats(3 * 784, 0, 1))
        let y = try model.forward(x, context: ForwardContext(training: true, seed: 1, step: 0))
        XCTAssertEqual(y.shape, [3, 10])
        XCTAssertTrue(y.scalars.allSatisfy(\.isFinite))
        try model.backward(Tensor(shape: [3, 10], values: rng.floats(30)))
        XCTAssertTrue(model.arena.gradientArray.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(model.arena.gradientArray.map(abs).max()!, 0)
    }

    func testSpecGrammar() throws {
        let layers = try ModelSpec("conv:16x3s2p1,relu,Conv:8X3P1S1,maxpool:3s2,avgpool:2,flatten,dropout:0.2,linear:5")
            .layers(inputShape: [3, 17, 17])
        let first = try XCTUnwrap(layers[0] as? Conv2D)
        XCTAssertEqual([first.inChannels, first.outChannels, first.kernel, first.stride, first.padding], [3, 16, 3, 2, 1])
        let second = try XCTUnwrap(layers[2] as? Conv2D)
        XCTAssertEqual([second.inChannels, second.outChannels, second.kernel, second.stride, second.padding], [16, 8, 3, 1, 1])
        let maxPool = try XCTUnwrap(layers[3] as? MaxPool2D)
        XCTAssertEqual([maxPool.kernel, maxPool.stride], [3, 2])
        let avgPool = try XCTUnwrap(layers[4] as? AvgPool2D)
        XCTAssertEqual([avgPool.kernel, avgPool.stride], [2, 2])
        XCTAssertTrue(layers[5] is Flatten)
        XCTAssertEqual((layers[6] as? Dropout)?.probability, 0.2)
        // 17 → conv s2 p1: 9 → conv p1: 9 → maxpool 3s2: 4 → avgpool 2: 2; 8·2·2 = 32 features.
        XCTAssertEqual((layers[7] as? Linear)?.inputs, 32)
        XCTAssertEqual((try ModelSpec("dropout").layers(inputShape: [4]).first as? Dropout)?.probability, 0.5)
    }

    func testBadSpecsThrowClearErrors() {
        let image = [1, 28, 28]
        let cases: [(spec: String, shape: [Int], mentions: String)] = [
            ("conv:32x5", [1, 3, 3], "larger"),
            ("conv:8x5p1", [1, 2, 9], "larger"),
            ("maxpool:5", [1, 4, 4], "larger"),
            ("conv:32", image, "conv:OUTxK"),
            ("conv", image, "conv:OUTxK"),
            ("conv:0x3", image, "conv:OUTxK"),
            ("conv:8x3q1", image, "conv:OUTxK"),
            ("conv:8x3s0", image, "stride"),
            ("conv:8x3p", image, "conv:OUTxK"),
            ("conv:8x3s1s2", image, "conv:OUTxK"),
            ("conv:8x3p-1", image, "conv:OUTxK"),
            ("linear:10,conv:8x3", image, "[channels, height, width]"),
            ("conv:8x3", [784], "[channels, height, width]"),
            ("conv:8x3", [3, 28, 28, 1], "[channels, height, width]"),
            ("maxpool:0", image, "maxpool:K"),
            ("maxpool:2p1", image, "maxpool:K"),
            ("avgpool:x", image, "avgpool:K"),
            ("flatten:3", image, "flatten"),
            ("dropout:1", image, "dropout:P"),
            ("dropout:-0.1", image, "dropout:P"),
            ("dropout:half", image, "dropout:P"),
        ]
        for (spec, shape, mention) in cases {
            XCTAssertThrowsError(try ModelSpec(spec).build(inputShape: shape), spec) { error in
                guard let error = error as? ModelSpecError else { return XCTFail("\(spec): \(error) is not a ModelSpecError") }
                XCTAssertTrue(error.description.contains(mention), "\(spec): '\(error.description)' should mention \(mention)")
            }
        }
    }

    // MARK: - Gradient checks

    func testGradientCheckSuiteCoversAndPassesConvolutionalLayers() {
        let results = GradientCheckSuite.all()
        for kind in ["Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Dropout"] {
            let mine = results.filter { $0.name.hasPrefix(kind) }
            XCTAssertFalse(mine.isEmpty, "the suite should check \(kind)")
            for result in mine { XCTAssertTrue(result.passed, "\(result)") }
        }
        for result in results { XCTAssertTrue(result.passed, "\(result)") }
    }

    func testGradientCheckCatchesAWrongConvolutionGradient() throws {
        // The checker is only evidence if it can fail: a convolution whose weight gradient is
        // 10% off must be caught.
        let skewed = FaultyLayer(Conv2D(inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1)) { parameters, _ in
            for i in 0..<parameters[0].count { parameters[0].gradient[i] *= 1.1 }
        }
        let good = try Model([Conv2D(inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1)], inputShape: [2, 5, 5])
        XCTAssertTrue(GradientCheck.check(model: good, batch: 2, name: "good").passed)
        let bad = try Model([skewed], inputShape: [2, 5, 5])
        XCTAssertFalse(GradientCheck.check(model: bad, batch: 2, name: "bad").passed)
    }
}
