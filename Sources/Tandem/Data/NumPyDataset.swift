/// Labelled samples from two NumPy arrays, as people save them: inputs `x` with one sample per
/// row (any further dimensions are the sample's shape) and integer class labels `y`, one per
/// row. Each is a `.npy` file or an array of a stored `.npz` archive ("data.npz:x"; a bare
/// "data.npz" means its arrays `x` and `y`).
///
/// The inputs stay in their memory-mapped file (`Dataset.Storage.array`), so the ranks of a
/// host share one copy of a large set. uint8 inputs are pixels and read as `v · (1/255)`, as
/// Fashion-MNIST's are; other types are read as they are. A sample of shape [H, W] is a grey
/// image, [1, H, W], so the convolutional presets take it.
public enum NumPyDataset {
    /// Loads a pair; `classCount` (a test set's, from its training set) bounds the labels,
    /// which otherwise give it (the largest label + 1).
    public static func load(x xReference: String, y yReference: String, classCount: Int? = nil, name: String? = nil) throws -> Dataset {
        let x = try NumPyArray.open(xReference, defaultKey: "x")
        let y = try NumPyArray.open(yReference, defaultKey: "y")
        guard x.shape.count >= 2 else {
            throw DataError(x.path, "holds an array of shape \(x.shape); inputs need one sample per row (at least two dimensions)")
        }
        guard x.rows > 0 else { throw DataError(x.path, "holds no samples") }
        guard x.rowSize > 0 else { throw DataError(x.path, "holds samples of shape \(Array(x.shape.dropFirst())), which have no values") }
        guard y.shape.count == 1 || (y.shape.count == 2 && y.shape[1] == 1) else {
            throw DataError(y.path, "holds labels of shape \(y.shape); class labels need one integer per sample (shape [N] or [N, 1])")
        }
        guard y.rows == x.rows else { throw DataError(y.path, "holds \(y.rows) labels but \(x.path) holds \(x.rows) samples") }
        let labels = try readLabels(y, classCount: classCount)
        // Float inputs are used as they are: a non-finite one would poison training.
        if x.dtype == .float32 || x.dtype == .float64 { try checkFinite(x) }
        let sampleShape = x.shape.count == 3 ? [1] + x.shape.dropFirst() : Array(x.shape.dropFirst())
        let classes = classCount ?? Int(labels.max()! + 1)
        return Dataset(name: name ?? xReference, sampleShape: sampleShape, classCount: classes,
                       storage: .array(x, rows: nil, scale: x.dtype == .uint8 ? 1 / 255 : 1), labels: labels)
    }

    /// Where the labels of inputs `x` are: `y` when given, else `x` itself when it is a bare
    /// `.npz` archive (which holds its own `y`); `option` names the missing option otherwise.
    public static func labels(for x: String, given y: String?, option: String) throws -> String {
        if let y { return y }
        guard x.hasSuffix(".npz") else {
            throw TrainingConfig.Invalid(description: "\(option) is needed for \(x) (only a bare .npz archive brings its own y)")
        }
        return x
    }

    /// The labels as class indices: whole numbers in 0..<classCount.
    static func readLabels(_ y: NumPyArray, classCount: Int?) throws -> [Int32] {
        var labels = [Int32](); labels.reserveCapacity(y.rows)
        for i in 0..<y.rows {
            let value = y.element(i)
            guard value == value.rounded(), value >= 0, value < Double(Int32.max) else {
                let text = value.isFinite && abs(value) < 1e15 && value == value.rounded() ? "\(Int64(value))" : "\(value)"
                throw DataError(y.path, "label \(text) at row \(i) is not a class index (a non-negative integer)")
            }
            if let classCount, Int(value) >= classCount {
                throw DataError(y.path, "label \(Int(value)) at row \(i) is out of range 0...\(classCount - 1) (the training labels' classes)")
            }
            labels.append(Int32(value))
        }
        return labels
    }

    /// Refuses NaN and infinite inputs, naming the first. Reads the whole array once (the
    /// pages stay in the shared page cache for training).
    static func checkFinite(_ x: NumPyArray) throws {
        var row = [Float](repeating: 0, count: x.rowSize)
        for r in 0..<x.rows {
            try row.withUnsafeMutableBufferPointer { buffer in
                x.copyRow(r, into: buffer.baseAddress!)
                if let bad = buffer.firstIndex(where: { !$0.isFinite }) {
                    throw DataError(x.path, "sample \(r) holds a non-finite value (\(buffer[bad]) at element \(bad))")
                }
            }
        }
    }
}
