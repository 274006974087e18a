import Foundation

/// The allreduce layer: sums the gradient arena across ranks so that every rank holds the
/// gradient of the mean loss over the global batch.
///
/// The arena is cut into contiguous buckets of whole layers, from the last layer backwards,
/// because backward finishes the last layer first. With overlap on, a bucket's non-blocking
/// allreduce starts the moment backward has finished its first (lowest) layer, and earlier
/// layers' backward runs while it travels; `finish` waits for the rest. Open MPI makes no
/// progress on its own here, so `layerDone` also polls the reductions in flight.
public final class GradientAllreduce {
    /// The group the gradients are summed over.
    public let communicator: Communicator
    /// The parameter arena whose gradients are summed.
    public let arena: ParameterArena
    /// Whether buckets are reduced during backward (non-blocking) or one after another in `finish`.
    public let overlap: Bool
    /// Arena ranges, in the order they are reduced (last layers first).
    public let buckets: [Range<Int>]
    /// For each layer index, the buckets that become ready when that layer's backward is done.
    private let bucketReadyAtLayer: [Int: [Int]]
    private var pending: [PendingReduction] = []
    private var started = 0
    /// Seconds spent inside the reduction calls this step: all of it without overlap, only the
    /// exposed waiting (plus start-up calls) with it.
    public private(set) var exposedSeconds = 0.0
    /// Seconds from the start of the first bucket's reduction to the end of the last: the
    /// allreduce's whole span, of which `exposedSeconds` is the part backward did not hide.
    public private(set) var totalSeconds = 0.0
    private var firstStart: Double?

    /// Cuts the arena into buckets of whole layers of about `bucketBytes`, last layer first
    /// (`GradientBuckets`); `layerRanges` gives each layer's arena range in forward order.
    public init(communicator: Communicator, arena: ParameterArena, layerRanges: [Range<Int>],
                bucketBytes: Int, overlap: Bool) {
        self.communicator = communicator
        self.arena = arena
        self.overlap = overlap
        let plan = GradientBuckets(layerRanges: layerRanges, bucketBytes: bucketBytes)
        buckets = plan.ranges
        bucketReadyAtLayer = plan.readyAtUnit
    }

    /// Called by backward after each layer. Starts the bucket that this layer completes, and
    /// gives the reductions in flight a chance to progress.
    public func layerDone(_ layer: Int) throws {
        guard overlap, communicator.size > 1 else { return }
        let t0 = Date.timeIntervalSinceReferenceDate
        for bucket in bucketReadyAtLayer[layer] ?? [] {
            if firstStart == nil { firstStart = t0 }
            let range = buckets[bucket]
            pending.append(try communicator.startAllreduceSum(
                UnsafeMutableBufferPointer(start: arena.gradients + range.lowerBound, count: range.count)))
            started += 1
        }
        for request in pending { _ = try request.test() }
        exposedSeconds += Date.timeIntervalSinceReferenceDate - t0
    }

    /// Gives the reductions in flight a chance to progress.
    public func poll() throws {
        for request in pending { _ = try request.test() }
    }

    /// Completes the sum of the whole arena. After it, every rank's gradients are identical sums.
    public func finish() throws {
        let t0 = Date.timeIntervalSinceReferenceDate
        defer {
            let end = Date.timeIntervalSinceReferenceDate
            exposedSeconds += end - t0
            totalSeconds = end - (firstStart ?? t0)
            pending.removeAll(keepingCapacity: true)
            started = 0
            firstStart = nil
        }
        guard communicator.size > 1 else { return }
        for request in pending { try request.wait() }
        // Buckets not started during backward (all of them without overlap) are reduced now,
        // one bucket at a time: single reductions of several MB run slower than bucket-sized
        // ones, here and over slow links (see `bench --allreduce`).
        for bucket in started..<buckets.count {
            let range = buckets[bucket]
            try communicator.allreduceSum(UnsafeMutableBufferPointer(start: arena.gradients + range.lowerBound, count: range.count))
        }
    }

    /// Resets the per-step time counter.
    public func resetTiming() { exposedSeconds = 0; totalSeconds = 0; firstStart = nil }
}
