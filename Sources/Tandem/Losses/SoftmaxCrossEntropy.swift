/// Softmax followed by negative log-likelihood, fused.
///
/// Fusing is what makes it stable: the loss is computed as logsumexp(z) − z_label with the
/// maximum subtracted inside logsumexp, so logits of magnitude 1e4 neither overflow nor lose
/// the answer; and the gradient is simply softmax(z) − onehot(label).
public final class SoftmaxCrossEntropy: Loss {
    private let probabilities = FloatBuffer()
    private let gradient = FloatBuffer()
    private var labels: [Int32] = []
    private var shape: [Int] = []

    /// A softmax cross-entropy loss; it keeps the last forward's probabilities for backward.
    public init() {}
    /// "cross-entropy".
    public var name: String { "cross-entropy" }

    /// `output` holds one row of class scores per label: [n, classes] for a label per sample,
    /// [n, T, classes] for a label per position.
    public func forward(_ output: Tensor, targets: Targets) -> LossResult {
        let labels = targets.classes
        precondition(!labels.isEmpty && output.count % labels.count == 0, "one row of class scores per label")
        shape = output.shape
        let rows = labels.count, classes = output.count / rows
        let p = probabilities.tensor(output.shape)
        if self.labels.count != labels.count { self.labels = Array(repeating: 0, count: labels.count) }
        var total = 0.0, correct = 0
        for r in 0..<rows {
            let logits = output.pointer + r * classes
            let label = Int(labels[r])
            self.labels[r] = labels[r]
            let logSumExp = Softmax.probabilities(logits, count: classes, into: p.pointer + r * classes)
            total += Double(logSumExp - logits[label])
            if Self.argmax(logits, count: classes) == label { correct += 1 }
        }
        return LossResult(sum: total, correct: correct)
    }

    /// Gradient (softmax(z) − onehot(label)) / normalizer of the last `forward`'s logits.
    public func backward(normalizer: Int) -> Tensor {
        let g = gradient.tensor(shape)
        let rows = labels.count, classes = g.count / rows
        let scale = 1 / Float(normalizer)
        for r in 0..<rows {
            let p = probabilities.pointer + r * classes, out = g.pointer + r * classes
            for j in 0..<classes { out[j] = p[j] * scale }
            out[Int(labels[r])] -= scale
        }
        return g
    }
}
