import Foundation

/// A dense layer whose work the ranks of one host divide by rows of the weight matrix (output
/// units), each rank computing its rows for the *whole* global batch, through shared memory.
///
/// The weight gradient first. Summed rank by rank, each rank forms a full-size product
/// dWᵣ = dYᵣᵀ·Xᵣ over its own samples (writing all of dW, whatever the batch: 12.8 MB a step
/// for the `cnn`'s 3136 → 1024 layer) and the sum dW = Σᵣ dWᵣ reads every rank's copy again.
/// But dW = dYᵀ·X is itself a sum over samples: with every rank's rows of X and dY side by side
/// in shared memory ("staging", a few hundred kB), rank r computes its rows of dW over the
/// whole global batch straight into the shared global gradient: the same multiply-adds in all,
/// each element written once, no separate sum, and every element the very product a single
/// process computes for the whole batch.
///
/// The forward pass too, for a model's first layer when its weights outweigh its activations
/// (an MLP's 784 → 256): each rank stages its samples' X, and after a barrier computes its rows
/// of Y = X·Wᵀ + b for the global batch; after a second barrier it takes its samples' rows of
/// Y. As the first layer needs no input gradient, a rank then hardly ever reads the rows of W
/// another rank updates, which on this machine is what a data-parallel step pays most for when
/// the two cores are far apart (a cache line updated on one core and read on the other costs a
/// round trip between them, 80–1,000 ns here). A later layer would still read all of W for its
/// input gradient dX = dY·W, so splitting its forward pass saves little, and its two barriers
/// make the ranks wait for each other mid-step (measured on the `cnn`: no gain in throughput,
/// and several ms a step more waiting).
public final class RowSplitDense: DenseProductDelegate {
    let layer: DenseProductLayer
    /// This rank's rows (output units) of dW, and of Y when the forward pass is split.
    let rows: Range<Int>
    private let inputs: Int, outputs: Int
    /// [global batch × inputs], [global batch × outputs] (dY) and, when the forward pass is
    /// split too, [global batch × outputs] (Y), row-major, in shared memory.
    private let stagedInput: UnsafeMutablePointer<Float>
    private let stagedGradOutput: UnsafeMutablePointer<Float>
    private let stagedOutput: UnsafeMutablePointer<Float>?
    private let globalBatch: Int
    private let memory: SharedMemory
    /// Time the forward pass spent exchanging rows (staging and copying) and, apart, waiting at
    /// barriers for the other ranks, since `takeForwardExchange`.
    private var exchangeSeconds = 0.0, waitingSeconds = 0.0

    /// The arena range of this rank's rows of the weight: the rank forms their gradient, so
    /// it updates them too (`SharedArena.ownedRanges`).
    var ownedWeights: Range<Int> {
        let start = layer.weight.slot.offset
        return (start + rows.lowerBound * inputs)..<(start + rows.upperBound * inputs)
    }

    /// Whether the ranks should split this layer's forward pass too: when it is the model's
    /// first layer and its weights outweigh the activations that splitting makes cross between
    /// the ranks.
    public static func splitsForward(_ layer: DenseProductLayer, isFirstTrainable: Bool, globalBatch: Int) -> Bool {
        isFirstTrainable && layer.inputs * layer.outputs > globalBatch * (layer.inputs + 2 * layer.outputs)
    }

    /// The floats of staging one layer needs for `globalBatch` samples, in whole cache lines.
    static func stagingFloats(for layer: DenseProductLayer, isFirstTrainable: Bool, globalBatch: Int) -> Int {
        CacheLine.roundUp(globalBatch * layer.inputs) + CacheLine.roundUp(globalBatch * layer.outputs)
            * (splitsForward(layer, isFirstTrainable: isFirstTrainable, globalBatch: globalBatch) ? 2 : 1)
    }

    init(layer: DenseProductLayer, isFirstTrainable: Bool, staging: UnsafeMutablePointer<Float>, globalBatch: Int,
         memory: SharedMemory, rank: Int, ranks: Int) {
        self.layer = layer; self.globalBatch = globalBatch; self.memory = memory
        inputs = layer.inputs; outputs = layer.outputs
        stagedInput = staging
        stagedGradOutput = staging + CacheLine.roundUp(globalBatch * layer.inputs)
        stagedOutput = Self.splitsForward(layer, isFirstTrainable: isFirstTrainable, globalBatch: globalBatch)
            ? stagedGradOutput + CacheLine.roundUp(globalBatch * layer.outputs) : nil
        rows = (rank * outputs / ranks)..<((rank + 1) * outputs / ranks)
        layer.delegate = self
    }

    /// True when the ranks split this layer's training forward product (staging space for Y exists).
    public var computesForward: Bool { stagedOutput != nil }

    /// The training forward pass, split by rows: stage X, then (all ranks) Y[:, rows] =
    /// X·W[rows]ᵀ + b[rows] over the global batch, then (all ranks) take this rank's rows of Y.
    public func forward(_ input: Tensor, sampleOffset: Int, into y: UnsafeMutablePointer<Float>) throws {
        guard let stagedOutput else { preconditionFailure("RowSplitDense.forward on a layer whose forward is not split") }
        let n = input.batch
        precondition(sampleOffset + n <= globalBatch, "a shard outside the global batch the staging was made for")
        var clock = Stopwatch()
        (stagedInput + sampleOffset * inputs).update(from: input.pointer, count: n * inputs)
        exchangeSeconds += clock.lap()
        try memory.synchronize()
        waitingSeconds += clock.lap()
        if !rows.isEmpty {
            for s in 0..<globalBatch {
                let row = stagedOutput + s * outputs + rows.lowerBound
                if let bias = layer.bias { row.update(from: bias.value + rows.lowerBound, count: rows.count) } else { row.update(repeating: 0, count: rows.count) }
            }
            Kernels.gemm(.no, .yes, m: globalBatch, n: rows.count, k: inputs,
                         a: stagedInput, lda: inputs, b: layer.weight.value + rows.lowerBound * inputs, ldb: inputs,
                         beta: 1, c: stagedOutput + rows.lowerBound, ldc: outputs)
        }
        _ = clock.lap()   // the product is forward computation
        try memory.synchronize()
        waitingSeconds += clock.lap()
        y.update(from: stagedOutput + sampleOffset * outputs, count: n * outputs)
        exchangeSeconds += clock.lap()
    }

    /// The forward pass's exchange time since the last call: all of it, and the waiting in it.
    func takeForwardExchange() -> (seconds: Double, waiting: Double) {
        defer { exchangeSeconds = 0; waitingSeconds = 0 }
        return (exchangeSeconds + waitingSeconds, waitingSeconds)
    }

    /// After this rank's backward: copies its samples' rows of X (unless the training forward
    /// pass, split, staged them already) and of dY to their place in the global batch (rows
    /// `shardOffset...`).
    func stage(shardOffset: Int) {
        guard let input = layer.lastInput, let gradOutput = layer.lastGradOutput else {
            preconditionFailure("RowSplitDense.stage before the layer's backward")
        }
        let n = gradOutput.batch
        precondition(shardOffset + n <= globalBatch, "a shard outside the global batch the staging was made for")
        if stagedOutput == nil { (stagedInput + shardOffset * inputs).update(from: input.pointer, count: n * inputs) }
        (stagedGradOutput + shardOffset * outputs).update(from: gradOutput.pointer, count: n * outputs)
    }

    /// After every rank has staged (a barrier): dW[rows] = dY[:, rows]ᵀ · X over the global
    /// batch of `samples`, written into `globalGradients`. Returns the sum of squares of those
    /// rows, this rank's share of the squared global norm.
    func compute(samples: Int, into globalGradients: UnsafeMutablePointer<Float>) -> Double {
        guard !rows.isEmpty else { return 0 }
        let destination = globalGradients + layer.weight.slot.offset + rows.lowerBound * inputs
        Kernels.gemm(.yes, .no, m: rows.count, n: inputs, k: samples,
                     a: stagedGradOutput + rows.lowerBound, lda: outputs, b: stagedInput, ldb: inputs,
                     beta: 0, c: destination, ldc: inputs)
        return Kernels.sumOfSquares(destination, count: rows.count * inputs)
    }
}
