/// A learned position embedding (GPT-2's `wpe`): adds row t of the weight [T, C] to position
/// t of every sample, so that attention, which by itself ignores order, can tell positions
/// apart. Its input and output are [T, C].
public final class PositionEmbedding: Layer {
    /// The most positions T the table holds.
    public let context: Int
    /// Channels C of each position's vector.
    public let dimension: Int
    private let std: Float
    private var weightView: ParameterView?
    private let output = FloatBuffer()

    /// An embedding for up to `context` positions of `dimension` channels; `std` is the spread of its initial normal values.
    public init(context: Int, dimension: Int, std: Float = 0.02) {
        self.context = context; self.dimension = dimension; self.std = std
    }

    /// "PositionEmbedding(T × C)".
    public var summary: String { "PositionEmbedding(\(context) × \(dimension))" }

    /// Unchanged: [T, C] with T ≤ `context`.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[1] == dimension, shape[0] <= context else {
            throw ModelSpecError("PositionEmbedding(\(context) × \(dimension)) takes [T ≤ \(context), \(dimension)] per sample but receives shape \(shape)")
        }
        return shape
    }

    /// The table [context, dimension], drawn from a normal distribution with standard deviation `std`.
    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "weight", shape: [context, dimension], initializer: .normal(std: std))]
    }

    /// Takes the table's view.
    public func bind(_ parameters: [ParameterView]) { weightView = parameters[0] }

    /// Adds row t of the table to position t of every sample.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let y = output.tensor(input.shape)
        let perSample = input.featuresPerSample, table = weightView!.value
        for b in 0..<input.batch {
            let x = input.pointer + b * perSample, out = y.pointer + b * perSample
            for i in 0..<perSample { out[i] = x[i] + table[i] }
        }
        return y
    }

    /// The input gradient is the output gradient; the weight's is its sum over the samples.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let weight = weightView!, perSample = gradOutput.featuresPerSample
        let accumulate = weight.gradientAccumulates()
        // Positions past a shorter sequence get no gradient.
        if !accumulate { (weight.gradient + perSample).update(repeating: 0, count: weight.count - perSample) }
        Kernels.sumRows(gradOutput.pointer, rows: gradOutput.batch, columns: perSample, into: weight.gradient,
                        accumulate: accumulate)
        return needsInputGradient ? gradOutput : nil
    }
}
