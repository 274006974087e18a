/// A token embedding, as PyTorch's `nn.Embedding(V, C)`: each input value is a token id in
/// 0..<V (a byte, for a byte-level model) and becomes row `id` of the weight [V, C].
///
/// Its input is a sequence of ids per sample, shape [T], held as floats (exact up to 2^24);
/// its output is [T, C]. The input needs no gradient (ids are not differentiable); the
/// weight's gradient adds each position's output gradient to its token's row.
public final class Embedding: Layer {
    /// Number of distinct token ids V (256 for bytes).
    public let vocabulary: Int
    /// Channels C of each embedding vector.
    public let dimension: Int
    private let std: Float
    private var weightView: ParameterView?
    /// The embedding table [V, C]; row `id` is token `id`'s vector.
    public var weight: ParameterView { weightView! }
    private var ids: [Int32] = []
    private let output = FloatBuffer()

    /// `std`: the normal distribution the weight starts from (GPT-2's 0.02).
    public init(vocabulary: Int, dimension: Int, std: Float = 0.02) {
        self.vocabulary = vocabulary; self.dimension = dimension; self.std = std
    }

    /// "Embedding(V × C)".
    public var summary: String { "Embedding(\(vocabulary) × \(dimension))" }

    /// [T, C] for an input of T token ids.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 1 else {
            throw ModelSpecError("Embedding takes a sequence of token ids per sample (shape [T]) but receives shape \(shape)")
        }
        return shape + [dimension]
    }

    /// The table [V, C], drawn from a normal distribution with standard deviation `std`.
    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "weight", shape: [vocabulary, dimension], initializer: .normal(std: std))]
    }

    /// Takes the table's view.
    public func bind(_ parameters: [ParameterView]) { weightView = parameters[0] }

    /// Copies row `id` of the table for every input id; throws on a value that is not an id in 0..<V.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let n = input.count, c = dimension
        if ids.count < n { ids = [Int32](repeating: 0, count: n) }
        let y = output.tensor(input.shape + [c])
        let table = weight.value
        for i in 0..<n {
            let value = input.pointer[i]
            guard value >= 0, value < Float(vocabulary), value == value.rounded() else {
                throw ModelSpecError("Embedding(\(vocabulary) × \(dimension)): input \(value) is not a token id in 0..<\(vocabulary)")
            }
            ids[i] = Int32(value)
            (y.pointer + i * c).update(from: table + Int(ids[i]) * c, count: c)
        }
        return y
    }

    /// Adds each position's output gradient to its token's row; returns nil, as ids have no gradient.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let c = dimension, n = gradOutput.count / c
        let g = weight.gradient
        // A scatter can only add: the step's first writer clears the gradient first.
        if !weight.gradientAccumulates() { g.update(repeating: 0, count: vocabulary * c) }
        for i in 0..<n {
            let row = g + Int(ids[i]) * c, dy = gradOutput.pointer + i * c
            for j in 0..<c { row[j] += dy[j] }
        }
        return nil
    }
}
