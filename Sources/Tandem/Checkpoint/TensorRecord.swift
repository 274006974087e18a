/// One named tensor as stored in a checkpoint: a row-major shape and its Float32 values.
///
/// Names follow the model's parameter names (`0.weight`, `optim.m.0.weight`, ...); the
/// checkpoint layer does not interpret them.
public struct TensorRecord: Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

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
