/// What a loss reports for one shard of a batch.
public struct LossResult {
    /// The loss summed over the shard's samples (not yet divided by anything).
    public var sum: Double
    /// How many of the shard's samples the model classified correctly.
    public var correct: Int
}

/// A training objective over class labels.
///
/// The gradient is scaled by `1 / normalizer`, where the trainer passes the *global* batch
/// size: each rank's gradient is then its share of the gradient of the mean loss over the global
/// batch, and summing the ranks' gradients gives exactly that mean, with no rank-count weighting.
public protocol Loss: AnyObject {
    var name: String { get }
    func forward(_ output: Tensor, labels: UnsafeBufferPointer<Int32>) -> LossResult
    /// Gradient of (Σ shard losses) / normalizer with respect to the last `forward`'s output.
    func backward(normalizer: Int) -> Tensor
}

extension Loss {
    /// Index of the largest value in a row: the predicted class.
    static func argmax(_ row: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        for j in 1..<count where row[j] > row[best] { best = j }
        return best
    }
}

public func makeLoss(named name: String) -> Loss? {
    switch name.lowercased() {
    case "cross-entropy", "crossentropy", "ce": return SoftmaxCrossEntropy()
    case "mse": return MeanSquaredError()
    default: return nil
    }
}
