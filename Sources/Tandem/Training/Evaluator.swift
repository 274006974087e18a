import Foundation

/// Loss and accuracy of a model on a dataset, shared among the ranks: each rank evaluates a
/// contiguous part, and one small allreduce adds up the results.
public struct Evaluation {
    /// Mean loss per target (per sample, or per token for text).
    public var loss: Double
    /// Fraction of targets predicted correctly, in [0, 1].
    public var accuracy: Double
    /// Targets scored, over all ranks.
    public var count: Int
    /// A result from its three numbers.
    public init(loss: Double, accuracy: Double, count: Int) { self.loss = loss; self.accuracy = accuracy; self.count = count }
}

extension Evaluation {
    /// Bits per token: the loss in nats divided by ln 2.
    public var bitsPerToken: Double { loss / log(2.0) }

    /// "validation loss 1.5577 nats/byte (2.247 bits/byte), next-byte accuracy 0.5327", as the
    /// command line reports a language model.
    public func perTokenSummary(_ token: String) -> String {
        String(format: "validation loss %.4f nats/%@ (%.3f bits/%@), next-%@ accuracy %.4f",
               loss, token, bitsPerToken, token, token, accuracy)
    }
}

/// Evaluates a model on a data set with every rank's help: each rank takes a contiguous share and runs it
/// through the model in evaluation mode, in chunks; one allreduce adds up the results.
public final class Evaluator {
    /// The ranks that share the work.
    public let communicator: Communicator
    /// Samples per forward pass (fewer for text windows, to keep about 4,096 targets per pass).
    public let chunk: Int
    private let batch = BatchBuffer()

    /// `chunk`: samples per forward pass, which bounds the memory an evaluation needs.
    public init(communicator: Communicator, chunk: Int = 256) {
        self.communicator = communicator; self.chunk = chunk
    }

    /// Loss and accuracy per target (per sample, or per token).
    public func evaluate(_ model: Model, loss: Loss, on data: DataSource) throws -> Evaluation {
        let part = BatchSampler.shard(globalBatch: data.count, rank: communicator.rank, worldSize: communicator.size)
        var totals = [0.0, 0.0, Double(part.count * data.targetKind.scoredPerSample)]
        var start = part.lowerBound
        let all = Array(0..<data.count)
        // A window of T positions holds T targets, and every layer's buffers grow with the
        // rows they see: chunks of text windows are kept to about 4,096 targets.
        let chunk = max(1, min(self.chunk, 4096 / data.targetKind.scoredPerSample))
        while start < part.upperBound {
            let end = min(start + chunk, part.upperBound)
            let result = try batch.fill(from: data, indices: all[start..<end]) { x, targets in
                loss.forward(try model.forward(x, context: .evaluation), targets: targets)
            }
            totals[0] += result.sum; totals[1] += Double(result.correct)
            start = end
        }
        try communicator.allreduceSum(&totals)
        let n = max(totals[2], 1)
        return Evaluation(loss: totals[0] / n, accuracy: totals[1] / n, count: Int(totals[2]))
    }
}
