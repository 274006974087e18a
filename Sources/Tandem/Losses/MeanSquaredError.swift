/// Mean squared error between the outputs and the targets (real values, or the one-hot
/// encoding of class labels), averaged over every output value as PyTorch's `MSELoss` does:
/// Σ (y − t)² / (batch · outputs).
public final class MeanSquaredError: Loss {
    private let gradient = FloatBuffer()
    private var output: Tensor?
    private var labels: [Int32] = []
    private var values: [Float] = []

    /// A mean squared error loss; it keeps the last forward's output for backward.
    public init() {}
    /// "mse".
    public var name: String { "mse" }

    /// Sums each sample's mean squared error over its outputs; with class labels, counts argmax hits as correct.
    public func forward(_ output: Tensor, targets: Targets) -> LossResult {
        self.output = output
        labels = Array(targets.classes)
        values = Array(targets.values)
        let d = output.featuresPerSample
        var total = 0.0, correct = 0
        for r in 0..<output.batch {
            let y = output.pointer + r * d
            for j in 0..<d {
                let e = Double(y[j]) - Double(target(row: r, column: j, width: d))
                total += e * e
            }
            if !labels.isEmpty && Self.argmax(y, count: d) == Int(labels[r]) { correct += 1 }
        }
        // Per sample, the loss is the mean over its outputs, so that Σ/B is PyTorch's MSELoss.
        return LossResult(sum: total / Double(d), correct: correct)
    }

    /// Gradient 2·(y − t) / (normalizer · outputs per sample) of the last `forward`'s output.
    public func backward(normalizer: Int) -> Tensor {
        guard let output else { preconditionFailure("MeanSquaredError.backward before forward") }
        let d = output.featuresPerSample
        let g = gradient.tensor(output.shape)
        let scale = 2 / Float(normalizer * d)
        for r in 0..<output.batch {
            let y = output.pointer + r * d, out = g.pointer + r * d
            for j in 0..<d { out[j] = scale * (y[j] - target(row: r, column: j, width: d)) }
        }
        return g
    }

    /// The value output (row, column) is compared with: the given value, or the one-hot label.
    private func target(row: Int, column: Int, width: Int) -> Float {
        values.isEmpty ? (column == Int(labels[row]) ? 1 : 0) : values[row * width + column]
    }
}
