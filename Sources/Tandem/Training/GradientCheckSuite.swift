/// The gradient checks `tandem gradcheck` runs: every layer kind and every loss, each inside a
/// tiny model so that parameter and input gradients are both exercised.
public enum GradientCheckSuite {
    public static func models() -> [(name: String, inputShape: [Int], layers: () -> [Layer])] {
        var cases: [(String, [Int], () -> [Layer])] = [
            ("Linear", [5], { [Linear(5, 4)] }),
            ("Softmax", [5], { [Linear(5, 4), Softmax()] }),
        ]
        for function in [ActivationFunction.relu, .leakyReLU(slope: 0.01), .sigmoid, .tanh, .gelu] {
            cases.append((function.name, [5], { [Linear(5, 6), Activation(function), Linear(6, 3)] }))
        }
        return cases
    }

    public static func all() -> [GradientCheckResult] {
        var results: [GradientCheckResult] = []
        for (name, shape, layers) in models() {
            guard let model = try? Sequential(layers(), inputShape: shape) else { continue }
            results.append(GradientCheck.check(model: model, batch: 3, name: name))
        }
        results.append(GradientCheck.check(loss: SoftmaxCrossEntropy(), classes: 5, batch: 4))
        results.append(GradientCheck.check(loss: MeanSquaredError(), classes: 5, batch: 4))
        return results
    }
}
