/// The gradient checks `tandem gradcheck` runs: every layer kind and every loss, each inside a
/// tiny model so that parameter and input gradients are both exercised.
public enum GradientCheckSuite {
    /// The layer cases: a name, a sample shape, and a builder of a tiny model's layers around the layer checked.
    public static func models() -> [(name: String, inputShape: [Int], layers: () -> [Layer])] {
        var cases: [(String, [Int], () -> [Layer])] = [
            ("Linear", [5], { [Linear(5, 4)] }),
            ("Softmax", [5], { [Linear(5, 4), Softmax()] }),
        ]
        for function in [ActivationFunction.relu, .leakyReLU(slope: 0.01), .sigmoid, .tanh, .gelu] {
            cases.append((function.name, [5], { [Linear(5, 6), Activation(function), Linear(6, 3)] }))
        }
        // Convolutional layers on small [C, H, W] samples.
        // Max pooling has a kink wherever two values of a window tie, and a finite difference
        // across a kink is meaningless. The max-pooling cases therefore read the random inputs
        // directly, and their shapes are chosen so that, with the check's fixed seed, no checked
        // input lies within 4·h of a tie in its window (found by replaying the seed). Routing
        // is also tested exactly, and with a small step, in PoolingTests.
        cases += [
            ("Conv2D (3×3, stride 2, padding 1)", [2, 6, 6],
             { [Conv2D(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1), Flatten(), Linear(27, 4)] }),
            ("Conv2D (2×2, stride 1, no padding)", [2, 5, 6],
             { [Conv2D(inChannels: 2, outChannels: 3, kernel: 2), Activation(.tanh),
                Conv2D(inChannels: 3, outChannels: 2, kernel: 3, stride: 2, padding: 2)] }),
            ("MaxPool2D", [1, 8, 8], { [MaxPool2D(kernel: 2), Flatten(), Linear(16, 4)] }),
            ("MaxPool2D (3×3, stride 2)", [1, 7, 7], { [MaxPool2D(kernel: 3, stride: 2), Flatten(), Linear(9, 2)] }),
            ("AvgPool2D", [2, 6, 6], { [AvgPool2D(kernel: 2), Flatten(), Linear(18, 3)] }),
            ("AvgPool2D (3×3, stride 2)", [2, 7, 7], { [AvgPool2D(kernel: 3, stride: 2), Flatten(), Linear(18, 3)] }),
            ("Flatten", [2, 3, 4], { [Flatten(), Linear(24, 3)] }),
            ("Dropout (training)", [2, 6, 6], { [Flatten(), Dropout(0.5), Linear(72, 4)] }),
            // A ReLU after a convolution is fused into it (see `FusingLayer`): check the fused pair.
            ("Conv2D + ReLU (fused)", [2, 6, 6],
             { [Conv2D(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1), Activation(.relu),
                Flatten(), Linear(27, 4)] }),
            // Stride-1 5×5 convolutions over eight or more channels run Winograd's F(4×4, 5×5);
            // an output of 7×5 makes the last tiles overhang. (Its fused ReLU is checked
            // exactly in ConvolutionTests: with 200 inputs per output, a step of h crosses ReLU
            // kinks often enough to fail this check for im2col and Winograd alike.)
            ("Conv2D Winograd (5×5, padding 2)", [8, 6, 6],
             { [Conv2D(inChannels: 8, outChannels: 3, kernel: 5, padding: 2), Activation(.tanh),
                Flatten(), Linear(108, 4)] }),
            ("Conv2D Winograd (5×5, padding 1, odd output)", [8, 9, 7],
             { [Conv2D(inChannels: 8, outChannels: 2, kernel: 5, padding: 1), Flatten(), Linear(70, 3)] }),
            // Stride-1 3×3 convolutions over eight or more channels run F(4×4, 3×3), with or
            // without a bias.
            ("Conv2D Winograd (3×3, padding 1, no bias)", [8, 6, 5],
             { [Conv2D(inChannels: 8, outChannels: 3, kernel: 3, padding: 1, bias: false), Activation(.tanh),
                Flatten(), Linear(90, 4)] }),
            ("Conv2D Winograd (3×3, padding 0)", [8, 7, 6],
             { [Conv2D(inChannels: 8, outChannels: 2, kernel: 3), Flatten(), Linear(40, 3)] }),
            ("CNN", [1, 6, 6],
             { [Conv2D(inChannels: 1, outChannels: 4, kernel: 3, padding: 1), Activation(.tanh), MaxPool2D(kernel: 2),
                Flatten(), Dropout(0.25), Linear(36, 3)] }),
            // Layers made of layers: a residual block around a Sequential (identity shortcut) and
            // one with a projection shortcut, and a head whose weight is the first layer's.
            ("Residual (identity, projection, tied weight)", [6], {
                let first = Linear(6, 6)
                return [first, Activation(.tanh),
                        Residual(Sequential(Linear(6, 6), Activation(.tanh), Linear(6, 6))),
                        Residual(Sequential(Linear(6, 4), Activation(.sigmoid)), shortcut: Linear(6, 4)),
                        Linear(4, 6), Activation(.tanh),
                        Linear(6, 6, weightTiedTo: ParameterTie(owner: first, name: "weight"))]
            }),
            // Batch normalisation in training mode: the statistics come from the batch, so every
            // input's gradient runs through the mean and variance of all the others too.
            ("BatchNorm (2-D, training)", [3, 4, 4],
             { [BatchNorm(3), Activation(.tanh), Flatten(), Linear(48, 4)] }),
            ("BatchNorm (1-D, training)", [5], { [Linear(5, 6), BatchNorm(6), Activation(.tanh), Linear(6, 3)] }),
            ("GlobalAveragePool", [3, 4, 5], { [Conv2D(inChannels: 3, outChannels: 4, kernel: 3, padding: 1), GlobalAveragePool(), Linear(4, 3)] }),
            // A basic residual block with a projection shortcut: conv-BN-ReLU-conv-BN, plus a
            // strided 1×1 convolution and BN on the shortcut, then ReLU.
            ("Residual block (projection shortcut, BatchNorm)", [2, 6, 6], {
                [Residual(Sequential(Conv2D(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1), BatchNorm(3),
                                     Activation(.tanh), Conv2D(inChannels: 3, outChannels: 3, kernel: 3, padding: 1), BatchNorm(3)),
                          shortcut: Sequential(Conv2D(inChannels: 2, outChannels: 3, kernel: 1, stride: 2), BatchNorm(3))),
                 Activation(.tanh), GlobalAveragePool(), Linear(3, 2)]
            }),
            // torchvision's basic block, ReLUs included: the inputs are drawn in ±1 and the block
            // is small, so few checked coordinates sit within a step of a ReLU kink.
            ("BasicBlock (stride 2, projection)", [2, 5, 5],
             { [BasicBlock(inChannels: 2, outChannels: 3, stride: 2), GlobalAveragePool(), Linear(3, 2)] }),
            // Eight channels: both convolutions by Winograd's F(4×4, 3×3), identity shortcut.
            ("BasicBlock (8 channels, Winograd, identity)", [8, 5, 5],
             { [BasicBlock(inChannels: 8, outChannels: 8), GlobalAveragePool(), Linear(8, 2)] }),
        ]
        return cases
    }

    /// The GPT's layers, a whole block and a whole small GPT. Their parameters are drawn in
    /// ±0.5 (see `GradientCheck.check`'s `spread`): at GPT-2's initial 0.02 their gradients
    /// would be too small for a mistake to show.
    public static func transformerChecks() -> [GradientCheckResult] {
        let c = 8, gpt = GPTConfiguration(layers: 2, heads: 2, dimension: c, context: 6, vocabulary: 11)
        var rng = SplitMix64(seed: 5)
        let ids = Tensor(shape: [3, gpt.context], values: (0..<(3 * gpt.context)).map { _ in Float(rng.next() % UInt64(gpt.vocabulary)) })
        let cases: [(String, () throws -> Model, Tensor?)] = [
            ("LayerNorm", { try Model(LayerNorm(c), inputShape: [5, c]) }, nil),
            ("PositionEmbedding", { try Model(PositionEmbedding(context: 5, dimension: c), inputShape: [5, c]) }, nil),
            ("Linear (position-wise, no bias)", { try Model(Linear(c, 3, positionwise: true, bias: false), inputShape: [5, c]) }, nil),
            ("Embedding", { try Model(Embedding(vocabulary: gpt.vocabulary, dimension: c), inputShape: [gpt.context]) }, ids),
            ("CausalSelfAttention (37 positions, 2 heads)", { try Model(CausalSelfAttention(dimension: c, heads: 2), inputShape: [37, c]) }, nil),
            ("TransformerBlock", { try Model(TransformerBlock(dimension: c, heads: 2), inputShape: [6, c]) }, nil),
            ("GPT (2 blocks, tied head)", { try Model(GPT(gpt), inputShape: [gpt.context]) }, ids),
        ]
        return cases.compactMap { name, build, input in
            guard let model = try? build() else { return nil }
            return GradientCheck.check(model: model, batch: 3, name: name, input: input, spread: 0.5, maxCoordinates: 200)
        }
    }

    /// Runs every check: the layer cases, the transformer checks and both losses.
    public static func all() -> [GradientCheckResult] {
        var results: [GradientCheckResult] = []
        for (name, shape, layers) in models() {
            guard let model = try? Model(layers(), inputShape: shape) else { continue }
            results.append(GradientCheck.check(model: model, batch: 3, name: name))
        }
        results += transformerChecks()
        results.append(GradientCheck.check(loss: SoftmaxCrossEntropy(), classes: 5, batch: 4))
        results.append(GradientCheck.check(loss: MeanSquaredError(), classes: 5, batch: 4))
        return results
    }
}
