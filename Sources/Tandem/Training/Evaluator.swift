/// Loss and accuracy of a model on a dataset, shared among the ranks: each rank evaluates a
/// contiguous part, and one small allreduce adds up the results.
public struct Evaluation {
    public var loss: Double
    public var accuracy: Double
    public var count: Int
}

public final class Evaluator {
    public let communicator: Communicator
    public let chunk: Int
    private let input = FloatBuffer()
    private var labels: [Int32] = []

    public init(communicator: Communicator, chunk: Int = 256) {
        self.communicator = communicator; self.chunk = chunk
    }

    public func evaluate(_ model: Sequential, loss: Loss, on dataset: Dataset) throws -> Evaluation {
        let part = BatchSampler.shard(globalBatch: dataset.count, rank: communicator.rank, worldSize: communicator.size)
        var totals = [0.0, 0.0, Double(part.count)]
        var start = part.lowerBound
        while start < part.upperBound {
            let end = min(start + chunk, part.upperBound)
            let x = input.tensor([end - start] + dataset.sampleShape)
            if labels.count != end - start { labels = [Int32](repeating: 0, count: end - start) }
            labels.withUnsafeMutableBufferPointer { dataset.fill(indices: start..<end, into: x.pointer, labels: $0.baseAddress!) }
            let output = model.forward(x, context: .evaluation)
            let result = labels.withUnsafeBufferPointer { loss.forward(output, labels: $0) }
            totals[0] += result.sum; totals[1] += Double(result.correct)
            start = end
        }
        try communicator.allreduceSum(&totals)
        let n = max(totals[2], 1)
        return Evaluation(loss: totals[0] / n, accuracy: totals[1] / n, count: Int(totals[2]))
    }
}
