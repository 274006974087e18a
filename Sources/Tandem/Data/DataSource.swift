/// What one sample's target is.
public enum TargetKind: Equatable {
    /// Class indices in 0..<classes: one per sample (`perSample` 1, an image's label) or one
    /// per position (`perSample` T, the next byte at each of a text window's T positions).
    case classes(count: Int, perSample: Int)
    /// A vector of `perSample` real values per sample (regression).
    case values(perSample: Int)

    /// How many values a model must output per sample to be scored against these targets.
    public var outputsPerSample: Int {
        switch self {
        case .classes(let count, let perSample): return count * perSample
        case .values(let perSample): return perSample
        }
    }

    /// What the loss is averaged over, per sample: one for a label or a vector, T for one class
    /// per position (the loss is the mean over every predicted token of the global batch).
    public var scoredPerSample: Int {
        switch self {
        case .classes(_, let perSample): return perSample
        case .values: return 1
        }
    }
}

/// A batch's targets as a loss reads them: class indices, or real values, row after row.
public struct Targets {
    /// Class indices, `scoredPerSample` per sample (empty for value targets).
    public var classes: UnsafeBufferPointer<Int32>
    /// Real target values, row after row (empty for class targets).
    public var values: UnsafeBufferPointer<Float>
    /// Targets of either kind; the other kind is left empty.
    public init(classes: UnsafeBufferPointer<Int32> = .init(start: nil, count: 0),
                values: UnsafeBufferPointer<Float> = .init(start: nil, count: 0)) {
        self.classes = classes; self.values = values
    }
}

/// Where training samples come from: inputs of any per-sample shape, targets of any kind.
///
/// The trainer asks for samples by index: the global batch's indices are drawn from (seed,
/// epoch) alone, and each rank fills its shard of them, so the world size never changes which
/// samples a step sees. Sources hold their data however suits them (bytes converted per batch,
/// a memory map, samples generated from the index).
public protocol DataSource: AnyObject {
    /// Names the data in messages and metrics.
    var name: String { get }
    /// Number of samples; valid indices are 0..<count.
    var count: Int { get }
    /// Shape of one sample's input, without the batch dimension.
    var sampleShape: [Int] { get }
    /// What each sample's target is: classes (per sample or per position) or real values.
    var targetKind: TargetKind { get }
    /// A 64-bit digest of the contents: ranks compare it to confirm they hold the same data.
    var fingerprint: UInt64 { get }
    /// What one class target per position is ("byte"), for the units of reports (bits per
    /// byte, tokens per second); nil (the default) for one target per sample.
    var tokenName: String? { get }
    /// Writes the inputs of the samples at `indices`, row after row, into `inputs`, and their
    /// targets into `targets` (`scoredPerSample` class indices per sample for `.classes`, or
    /// `perSample` values for `.values`, row after row).
    func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage)
    /// Training's `fill`: `draw` says which step these samples are for and where they sit in
    /// the global batch, so a source that varies its samples (noise, shifts, crops) decides by
    /// (seed, step, position) and never by rank. The default ignores it.
    func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage, draw: TrainingDraw?)
    /// Names of the classes, for reports (a confusion matrix); by default "class 0", "class 1", ….
    var classNames: [String] { get }
}

extension DataSource {
    /// Input values per sample: the product of `sampleShape`.
    public var featuresPerSample: Int { sampleShape.reduce(1, *) }
    /// By default nil: one target per sample, no tokens.
    public var tokenName: String? { nil }
    /// "class 0", "class 1", … for class targets; none for value targets.
    public var classNames: [String] {
        guard case .classes(let count, _) = targetKind else { return [] }
        return (0..<count).map { "class \($0)" }
    }
    /// Ignores `draw` and fills the samples as they are: a source that varies nothing needs no more.
    public func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage, draw: TrainingDraw?) {
        fill(indices: indices, inputs: inputs, targets: targets)
    }
}

/// Which training step (and epoch) a batch is filled for, and where its first sample sits in
/// the global batch (sample k of the shard is at `firstPosition + k`).
public struct TrainingDraw: Equatable, Sendable {
    /// The run's seed.
    public var seed: UInt64
    /// The training step, counted from 0 over the whole run.
    public var step: Int
    /// The epoch the step belongs to.
    public var epoch: Int
    /// Position in the global batch of the shard's first sample.
    public var firstPosition: Int
    /// The draw for a shard starting at `firstPosition` of step `step`'s global batch.
    public init(seed: UInt64, step: Int, epoch: Int = 0, firstPosition: Int) {
        self.seed = seed; self.step = step; self.epoch = epoch; self.firstPosition = firstPosition
    }
}

/// Where a source writes a batch's targets.
public struct TargetStorage {
    /// Where class indices go, or nil when the targets are values.
    public var classes: UnsafeMutablePointer<Int32>?
    /// Where target values go, or nil when the targets are classes.
    public var values: UnsafeMutablePointer<Float>?
    /// Storage for one kind of target; the other is nil.
    public init(classes: UnsafeMutablePointer<Int32>?, values: UnsafeMutablePointer<Float>?) {
        self.classes = classes; self.values = values
    }
}

/// A batch's inputs and targets, in buffers reused from step to step.
public final class BatchBuffer {
    private let inputs = FloatBuffer()
    private var classes: [Int32] = []
    private let values = FloatBuffer()

    /// Empty buffers; they grow to the largest batch filled.
    public init() {}

    /// Fills this buffer with the samples at `indices` of `source`; returns the input tensor
    /// and calls `body` with the targets (valid only inside it).
    public func fill<R>(from source: DataSource, indices: ArraySlice<Int>, draw: TrainingDraw? = nil,
                        _ body: (Tensor, Targets) throws -> R) rethrows -> R {
        let n = indices.count
        let x = inputs.tensor([n] + source.sampleShape)
        switch source.targetKind {
        case .classes(_, let perSample):
            if classes.count != n * perSample { classes = [Int32](repeating: 0, count: n * perSample) }
            return try classes.withUnsafeMutableBufferPointer { labels in
                source.fill(indices: indices, inputs: x.pointer, targets: TargetStorage(classes: labels.baseAddress, values: nil), draw: draw)
                return try body(x, Targets(classes: UnsafeBufferPointer(labels)))
            }
        case .values(let perSample):
            values.reserve(n * perSample)
            source.fill(indices: indices, inputs: x.pointer, targets: TargetStorage(classes: nil, values: values.pointer), draw: draw)
            return try body(x, Targets(values: UnsafeBufferPointer(start: values.pointer, count: n * perSample)))
        }
    }
}
