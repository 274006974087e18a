/// What a loss reports for one shard of a batch.
public struct LossResult {
    /// The loss summed over the shard's targets (not yet divided by anything).
    public var sum: Double
    /// How many of the shard's class targets (samples, or tokens) the model predicted correctly.
    public var correct: Int
}

/// A training objective over a batch's targets.
///
/// The gradient is scaled by `1 / normalizer`, where the trainer passes the number of targets
/// in the *global* batch (samples, or tokens; see `TargetKind.scoredPerSample`): each rank's
/// gradient is then its share of the gradient of the mean loss over the global batch, and
/// summing the ranks' gradients gives exactly that mean, with no rank-count weighting.
public protocol Loss: AnyObject {
    /// The loss's command-line name ("cross-entropy", "mse").
    var name: String { get }
    /// The loss summed over the rows of `output` that the targets score: with class targets, one
    /// row of class scores per target (a sample, or a position of a sequence).
    func forward(_ output: Tensor, targets: Targets) -> LossResult
    /// Gradient of (Σ shard losses) / normalizer with respect to the last `forward`'s output.
    func backward(normalizer: Int) -> Tensor
}

extension Loss {
    /// One class label per row.
    public func forward(_ output: Tensor, labels: UnsafeBufferPointer<Int32>) -> LossResult {
        forward(output, targets: Targets(classes: labels))
    }

    /// Index of the largest value in a row: the predicted class.
    static func argmax(_ row: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        for j in 1..<count where row[j] > row[best] { best = j }
        return best
    }
}
