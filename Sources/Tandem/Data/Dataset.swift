import CKernels

/// Labelled samples, stored as compactly as they came: a `DataSource` with one class per
/// sample (Fashion-MNIST, CSV files, NumPy arrays, image folders).
///
/// Images stay as bytes and are scaled to [0, 1] only when a batch is filled, so the training
/// set costs 47 MB instead of 188 MB per rank. CSV features are kept as floats. A NumPy array
/// stays in its memory-mapped file: the ranks of a host share its pages, and each batch
/// converts only its own rows.
public final class Dataset: DataSource {
    /// How the samples' inputs are held: bytes scaled when read, floats, or rows of a mapped NumPy array.
    public enum Storage {
        case bytes([UInt8], scale: Float)
        case floats([Float])
        /// Rows of a memory-mapped NumPy array; sample i is row `rows[i]` (all rows in order
        /// when nil), its elements times `scale`.
        case array(NumPyArray, rows: [Int]?, scale: Float)
    }

    /// Names the data set in messages and metrics (usually its path or split).
    public let name: String
    /// Shape of one sample's input, without the batch dimension ([1, 28, 28] for Fashion-MNIST).
    public let sampleShape: [Int]
    /// Number of classes; labels lie in 0..<classCount.
    public let classCount: Int
    /// A name for each class, for reports such as the confusion matrix.
    public let classNames: [String]
    /// The samples' inputs, in the form they were loaded in.
    public let storage: Storage
    /// Each sample's class label.
    public let labels: [Int32]
    /// Crops and flips for training (nil: images as they are); only a training set has it.
    public var augmentation: ImageAugmentation?

    /// A data set of `labels.count` samples; `storage` must hold exactly that many samples of `sampleShape`.
    /// `classNames` defaults to "class 0", "class 1", ….
    public init(name: String, sampleShape: [Int], classCount: Int, classNames: [String]? = nil,
                storage: Storage, labels: [Int32]) {
        self.name = name; self.sampleShape = sampleShape; self.classCount = classCount
        self.classNames = classNames ?? (0..<classCount).map { "class \($0)" }
        self.storage = storage; self.labels = labels
        let values: Int
        switch storage {
        case .bytes(let b, _): values = b.count
        case .floats(let f): values = f.count
        case .array(let a, let rows, _): values = (rows?.count ?? a.rows) * a.rowSize
        }
        precondition(values == labels.count * featuresPerSample, "dataset storage does not match its labels")
    }

    /// Samples in the data set.
    public var count: Int { labels.count }
    /// Input values per sample: the product of `sampleShape`.
    public var featuresPerSample: Int { sampleShape.reduce(1, *) }
    /// One class label per sample, out of `classCount`.
    public var targetKind: TargetKind { .classes(count: classCount, perSample: 1) }

    /// Writes the samples at `indices` into `inputs` and their labels into `targets.classes`, without augmentation.
    public func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage) {
        guard let labels = targets.classes else { preconditionFailure("a Dataset's targets are classes") }
        fill(indices: indices, into: inputs, labels: labels)
    }

    /// Training's fill: the images, then each one's crop and flip (by seed, epoch and index).
    public func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage, draw: TrainingDraw?) {
        fill(indices: indices, inputs: inputs, targets: targets)
        guard let augmentation, let draw, sampleShape.count == 3 else { return }
        let (c, h, w) = (sampleShape[0], sampleShape[1], sampleShape[2])
        for (row, index) in indices.enumerated() {
            augmentation.apply(inputs + row * featuresPerSample, channels: c, height: h, width: w,
                               seed: draw.seed, epoch: draw.epoch, index: index)
        }
    }

    /// Writes the samples at `indices` into `x` (row after row) and their labels into `y`.
    public func fill<C: Collection>(indices: C, into x: UnsafeMutablePointer<Float>, labels y: UnsafeMutablePointer<Int32>)
    where C.Element == Int {
        let d = featuresPerSample
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < count, "sample \(index) outside a data set of \(count)")
            y[row] = labels[index]
        }
        switch storage {
        case .bytes(let bytes, let scale):
            // Random rows of a large byte array: the C kernel keeps a few rows in flight.
            func gather(_ rows: UnsafeBufferPointer<Int>) {
                bytes.withUnsafeBufferPointer { b in
                    tandem_gather_bytes(b.baseAddress, rows.baseAddress, rows.count, d, scale, x)
                }
            }
            if indices.withContiguousStorageIfAvailable(gather) == nil { Array(indices).withUnsafeBufferPointer(gather) }
        case .floats(let floats):
            floats.withUnsafeBufferPointer { f in
                for (row, index) in indices.enumerated() { (x + row * d).update(from: f.baseAddress! + index * d, count: d) }
            }
        case .array(let array, let rows, let scale):
            for (row, index) in indices.enumerated() { array.copyRow(rows?[index] ?? index, scale: scale, into: x + row * d) }
        }
    }

    /// The samples at `indices`, as a new dataset (validation hold-outs, small subsets).
    public func subset(_ indices: [Int], name: String) -> Dataset {
        let d = featuresPerSample
        let newStorage: Storage
        switch storage {
        case .bytes(let bytes, let scale):
            var out = [UInt8](); out.reserveCapacity(indices.count * d)
            for i in indices { out.append(contentsOf: bytes[(i * d)..<((i + 1) * d)]) }
            newStorage = .bytes(out, scale: scale)
        case .floats(let floats):
            var out = [Float](); out.reserveCapacity(indices.count * d)
            for i in indices { out.append(contentsOf: floats[(i * d)..<((i + 1) * d)]) }
            newStorage = .floats(out)
        case .array(let array, let rows, let scale):
            // Still the same mapped file: a subset is a list of its rows, not a copy.
            newStorage = .array(array, rows: indices.map { rows?[$0] ?? $0 }, scale: scale)
        }
        return Dataset(name: name, sampleShape: sampleShape, classCount: classCount, classNames: classNames,
                       storage: newStorage, labels: indices.map { labels[$0] })
    }

    /// Splits off the last `fraction` of a seeded permutation as a validation set.
    public func split(validationFraction fraction: Double, seed: UInt64) -> (train: Dataset, validation: Dataset) {
        var rng = SplitMix64(seed: seed, stream: 0x5A11D)
        let order = rng.permutation(count)
        let held = Int((Double(count) * fraction).rounded())
        let train = Array(order[..<(count - held)]).sorted()
        let validation = Array(order[(count - held)...]).sorted()
        return (subset(train, name: name + "/train"), subset(validation, name: name + "/validation"))
    }

    /// A 64-bit fingerprint of the contents, so ranks can confirm they loaded the same data.
    public var fingerprint: UInt64 {
        var h = FNV1a()
        func mix(_ v: UInt64) { h.mix(v) }
        mix(UInt64(count)); mix(UInt64(featuresPerSample)); mix(UInt64(classCount))
        switch storage {
        case .bytes(let b, _):
            // Every sample's first and middle byte plus all labels: cheap, and any different file differs.
            for i in stride(from: 0, to: b.count, by: 97) { mix(UInt64(b[i])) }
        case .floats(let f):
            for i in stride(from: 0, to: f.count, by: 7) { mix(UInt64(f[i].bitPattern)) }
        case .array(let array, let rows, _):
            // At most 4,096 elements, spread over the samples: reading every 97th byte would
            // touch every page of a large file in every rank before training starts.
            let total = count * featuresPerSample, step = max(1, total / 4096)
            var value = [Float](repeating: 0, count: featuresPerSample)
            var lastSample = -1
            for i in stride(from: 0, to: total, by: step) {
                let sample = i / featuresPerSample
                if sample != lastSample {
                    value.withUnsafeMutableBufferPointer { array.copyRow(rows?[sample] ?? sample, into: $0.baseAddress!) }
                    lastSample = sample
                }
                mix(UInt64(value[i % featuresPerSample].bitPattern))
            }
        }
        for l in labels { mix(UInt64(UInt32(bitPattern: l))) }
        return h.value
    }
}
