/// One named tensor as stored in a checkpoint: a row-major shape and its Float32 values.
///
/// Names follow the model's parameter names (`0.weight`, `optim.m.0.weight`, ...); the
/// checkpoint layer does not interpret them.
public struct TensorRecord: Equatable {
    /// The tensor's name in the checkpoint (a parameter path such as `0.weight`).
    public var name: String
    /// The dimensions, outermost first (`[]` for a scalar).
    public var shape: [Int]
    /// The values in row-major order; as many as `shape` calls for.
    public var values: [Float]

    /// A tensor named `name` of `shape`, holding `values`.
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// The number of values `shape` calls for (1 for a scalar, whose shape is `[]`), or nil
    /// when a dimension is negative or the product overflows `Int`.
    public static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }
}
