/// How the ranks turn their shard gradients into the gradient of the global batch, and who
/// updates what: the part of the step protocol that differs between ranks on one host and
/// ranks on several. `TrainingStep` calls the same hooks in the same order on every path:
///
///     beginStep → forward (layers may call `collectives`) → afterForward → backward, with
///     unitDone per finished unit → reduce → [rank 0's decision] → optimizer over
///     `ownedRanges` → finishUpdate
///
/// A path never learns a layer's type: layers reach it through capabilities (`DenseProductLayer`)
/// and through `LayerCollectives`.
public protocol GradientPath: AnyObject {
    /// "none" (one rank), "mpi", "shared-memory" or "hierarchical", as metrics and benchmarks report it.
    var name: String { get }
    /// Whether reductions travel while backward runs (as metrics and benchmarks report it).
    var overlapsBackward: Bool { get }
    /// How layers sum statistics over the global batch on this path.
    var collectives: LayerCollectives { get }
    /// The arena ranges this rank updates: all of it where every rank holds a full copy,
    /// its own part where the ranks share one copy.
    var ownedRanges: [Range<Int>] { get }
    /// Before forward: resets the step's timings.
    func beginStep()
    /// After forward: accounts for (or completes) any exchange that layers made with the other
    /// ranks during the forward pass.
    func afterForward() throws
    /// During backward: unit `index`'s gradients (and every later unit's) are final.
    func unitDone(_ index: Int) throws
    /// While this rank waits for something else (emulated compute): lets the reductions in
    /// flight advance, as a rank with a core to spare for communication would.
    func progress() throws
    /// After backward: completes the global gradient (`shardOffset` is this rank's first sample
    /// in the global batch of `globalBatch`). Returns this rank's part of the squared global
    /// norm; the parts add up, over the ranks, to the squared norm rank 0 decides on.
    func reduce(shardOffset: Int, globalBatch: Int) throws -> Double
    /// After the optimizer: returns once every rank sees the whole updated model.
    func finishUpdate() throws
    /// Where the path's time went this step (read after `finishUpdate`).
    var timings: GradientPathTimings { get }
    /// At start-up, after rank 0 has initialised or restored the model and the optimizer:
    /// every rank adopts rank 0's values.
    func adoptRankZeroState(model: Model, optimizer: Optimizer) throws
}

extension GradientPath {
    /// Default: no reduction travels on its own.
    public func progress() throws {}
}

/// The part of a step's time that a gradient path accounts for differently from where it is
/// spent: the step's phases are measured by `TrainingStep`, and these move seconds between them
/// so that communication and waiting count as the allreduce's, and work as compute.
public struct GradientPathTimings {
    /// Spent inside forward exchanging rows with other ranks (communication, not forward).
    public var inForward = 0.0
    /// Spent inside backward on communication (starting and polling reductions).
    public var inBackward = 0.0
    /// Spent inside `reduce` on backward's own work, only moved there (dense weight gradients).
    public var backwardWork = 0.0
    /// Spent inside `reduce` on the squared norm, which is clipping's work.
    public var clipWork = 0.0
    /// Of the communication, time spent waiting at barriers for slower ranks.
    public var waiting = 0.0
    /// The reduction's whole span, overlapped parts included; nil when it equals the exposed part.
    public var span: Double? = nil
    /// All timings zero, with no separate span.
    public init() {}
}
