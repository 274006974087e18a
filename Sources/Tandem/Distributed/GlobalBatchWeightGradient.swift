/// The weight gradient of one dense layer, summed over the ranks of one host *inside* a single
/// matrix product over the global batch.
///
/// Summed rank by rank, a dense layer's weight gradient costs each rank a full-size product
/// dWᵣ = dYᵣᵀ·Xᵣ over its own samples (writing all of dW, whatever the batch), and then the
/// sum dW = Σᵣ dWᵣ reads every rank's copy again. For the `cnn`'s 3136 → 1024 layer that is
/// 12.8 MB written per rank and step, plus the sum, for a product whose inner dimension is only
/// the shard's 64 samples. But dW = dYᵀ·X is itself a sum over samples: with every rank's rows
/// of X and dY side by side in shared memory ("staging", a few hundred kB), rank r computes the
/// rows of dW it is given, over the *whole* global batch, straight into the shared global
/// gradient: the same multiply-adds in all, each element written once by one rank, no
/// separate sum, and an inner dimension as long as the global batch. Every element of dW is
/// then the very product a single process computes for the whole batch.
final class GlobalBatchWeightGradient {
    let layer: Linear
    /// This rank's rows of dW (of the layer's output units).
    let rows: Range<Int>
    private let inputs: Int, outputs: Int
    /// [global batch × inputs] and [global batch × outputs], row-major, in shared memory.
    private let stagedInput: UnsafeMutablePointer<Float>
    private let stagedGradOutput: UnsafeMutablePointer<Float>
    private let globalBatch: Int

    /// The floats of staging one layer needs for `globalBatch` samples, in whole cache lines.
    static func stagingFloats(for layer: Linear, globalBatch: Int) -> Int {
        CacheLine.roundUp(globalBatch * layer.inputs) + CacheLine.roundUp(globalBatch * layer.outputs)
    }

    init(layer: Linear, staging: UnsafeMutablePointer<Float>, globalBatch: Int, rank: Int, ranks: Int) {
        self.layer = layer; self.globalBatch = globalBatch
        inputs = layer.inputs; outputs = layer.outputs
        stagedInput = staging
        stagedGradOutput = staging + CacheLine.roundUp(globalBatch * layer.inputs)
        rows = (rank * outputs / ranks)..<((rank + 1) * outputs / ranks)
        layer.defersWeightGradient = true
    }

    /// After this rank's backward: copies its samples' rows of X and dY to their place in the
    /// global batch (rows `shardOffset...`).
    func stage(shardOffset: Int) {
        guard let input = layer.input, let gradOutput = layer.gradOutput else {
            preconditionFailure("GlobalBatchWeightGradient.stage before the layer's backward")
        }
        let n = gradOutput.batch
        precondition(shardOffset + n <= globalBatch, "a shard outside the global batch the staging was made for")
        (stagedInput + shardOffset * inputs).update(from: input.pointer, count: n * inputs)
        (stagedGradOutput + shardOffset * outputs).update(from: gradOutput.pointer, count: n * outputs)
    }

    /// After every rank has staged (a barrier): dW[rows] = dY[:, rows]ᵀ · X over the global
    /// batch of `samples`, written into `globalGradients`. Returns the sum of squares of those
    /// rows, this rank's share of the squared global norm.
    func compute(samples: Int, into globalGradients: UnsafeMutablePointer<Float>) -> Double {
        guard !rows.isEmpty else { return 0 }
        let destination = globalGradients + layer.weightSlot.offset + rows.lowerBound * inputs
        Kernels.gemm(.yes, .no, m: rows.count, n: inputs, k: samples,
                     a: stagedGradOutput + rows.lowerBound, lda: outputs, b: stagedInput, ldb: inputs,
                     beta: 0, c: destination, ldc: inputs)
        return Kernels.sumOfSquares(destination, count: rows.count * inputs)
    }
}
