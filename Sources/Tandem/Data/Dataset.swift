import CKernels

/// Labelled samples held in memory, as compactly as they came: a `DataSource` with one class
/// per sample (Fashion-MNIST, CSV files).
///
/// Images stay as bytes and are scaled to [0, 1] only when a batch is filled, so the training
/// set costs 47 MB instead of 188 MB per rank. CSV features are kept as floats.
public final class Dataset: DataSource {
    public enum Storage {
        case bytes([UInt8], scale: Float)
        case floats([Float])
    }

    public let name: String
    public let sampleShape: [Int]
    public let classCount: Int
    public let classNames: [String]
    public let storage: Storage
    public let labels: [Int32]
    /// Crops and flips for training (nil: images as they are); only a training set has it.
    public var augmentation: ImageAugmentation?

    public init(name: String, sampleShape: [Int], classCount: Int, classNames: [String]? = nil,
                storage: Storage, labels: [Int32]) {
        self.name = name; self.sampleShape = sampleShape; self.classCount = classCount
        self.classNames = classNames ?? (0..<classCount).map { "class \($0)" }
        self.storage = storage; self.labels = labels
        let values: Int
        switch storage {
        case .bytes(let b, _): values = b.count
        case .floats(let f): values = f.count
        }
        precondition(values == labels.count * featuresPerSample, "dataset storage does not match its labels")
    }

    public var count: Int { labels.count }
    public var featuresPerSample: Int { sampleShape.reduce(1, *) }
    public var targetKind: TargetKind { .classes(count: classCount, perSample: 1) }

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
        }
        for l in labels { mix(UInt64(UInt32(bitPattern: l))) }
        return h.value
    }
}
