/// Mean squared error between the outputs and the one-hot encoding of the labels, averaged
/// over every output value as PyTorch's `MSELoss` does: Σ (y − t)² / (batch · outputs).
public final class MeanSquaredError: Loss {
    private let gradient = FloatBuffer()
    private var output: Tensor?
    private var labels: [Int32] = []

    public init() {}
    public var name: String { "mse" }

    public func forward(_ output: Tensor, labels: UnsafeBufferPointer<Int32>) -> LossResult {
        self.output = output
        self.labels = Array(labels)
        let d = output.featuresPerSample
        var total = 0.0, correct = 0
        for r in 0..<output.batch {
            let y = output.pointer + r * d
            for j in 0..<d {
                let e = Double(y[j]) - (j == Int(labels[r]) ? 1 : 0)
                total += e * e
            }
            if Self.argmax(y, count: d) == Int(labels[r]) { correct += 1 }
        }
        // Per sample, the loss is the mean over its outputs, so that Σ/B is PyTorch's MSELoss.
        return LossResult(sum: total / Double(d), correct: correct)
    }

    public func backward(normalizer: Int) -> Tensor {
        guard let output else { preconditionFailure("MeanSquaredError.backward before forward") }
        let d = output.featuresPerSample
        let g = gradient.tensor(output.shape)
        let scale = 2 / Float(normalizer * d)
        for r in 0..<output.batch {
            let y = output.pointer + r * d, out = g.pointer + r * d
            for j in 0..<d { out[j] = scale * (y[j] - (j == Int(labels[r]) ? 1 : 0)) }
        }
        return g
    }
}
