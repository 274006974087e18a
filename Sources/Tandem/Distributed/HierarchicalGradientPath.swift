import CRuntime
import Foundation

/// The gradient path for ranks on several hosts with several ranks on each: the same-host path
/// inside every host, and between hosts only what each rank owns.
///
/// Within a host the ranks keep one shared copy of the model (`SharedArena`). The gradient arena
/// is cut into buckets (`GradientBuckets`, last layers first) and every bucket into one part per
/// rank of the host; rank i owns part i of every bucket, on every host alike. When backward has
/// finished a bucket, a rank raises that bucket's flag in shared memory; once every rank of its
/// host has raised it, the part's owner sums the host's gradients for its part (plain loads
/// from the other ranks' memory) and starts a non-blocking allreduce of that part with rank i
/// of every other host, while backward goes on. So each rank's connection carries only
/// 1/(ranks per host) of the gradient, the host's ranks send concurrently, and no gradient
/// is summed twice. Each rank then updates exactly its parts, and a host barrier makes the
/// update whole, as on one host.
///
/// Rank 0's clipping decision is unchanged: the squared norm's parts come from host 0's ranks
/// (every host holds the same sums, so the others add nothing).
public final class HierarchicalGradientPath: GradientPath {
    /// The ranks of this host and rank i of every host.
    public let split: HostSplit
    /// This host's shared copy of the model, whose summed ranges are this rank's parts.
    public let shared: SharedArena
    /// Per-channel sums over every rank of the job, as small double-precision allreduces.
    public let collectives: LayerCollectives
    /// This rank's part of every bucket (sorted): what it sums, reduces across hosts and updates.
    public let ownedRanges: [Range<Int>]
    /// Whether the buckets travel while backward runs (else all after backward).
    public let overlap: Bool
    /// This step's time accounting, reset by `beginStep`.
    public private(set) var timings = GradientPathTimings()

    private let buckets: GradientBuckets
    /// This rank's part of bucket b (the same on every host; empty when the bucket is small).
    private let parts: [Range<Int>]
    /// One 64-bit flag per bucket in every rank's segment: the step generation in which that
    /// rank's gradients for the bucket became final.
    private let flags: SharedMemory
    private var generation: Int64 = 0
    private var nextBucket = 0
    private var pending: [PendingReduction] = []
    private var firstStart: Double?

    /// Collective over the world: moves `model`'s arena and `optimizer` into this host's shared
    /// memory and cuts the buckets (of about `bucketBytes`) into the host's parts.
    public init(world: Communicator, split: HostSplit, model: Model, optimizer: Optimizer,
                bucketBytes: Int, overlap: Bool) throws {
        self.split = split; self.overlap = overlap
        let host = split.host
        buckets = GradientBuckets(layerRanges: model.units.map(\.range), bucketBytes: bucketBytes)
        parts = buckets.ranges.map { SharedArena.share(of: [$0], rank: host.rank, ranks: host.size) }
        ownedRanges = parts.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        guard let shared = try SharedArena.make(communicator: host, arena: model.arena, optimizer: optimizer,
                                                summedRanges: ownedRanges),
              let flags = try host.sharedMemory(floats: 2 * max(1, buckets.ranges.count)) else {
            throw CommunicationError("the hierarchical gradient path needs at least two ranks on every host")
        }
        self.shared = shared; self.flags = flags
        collectives = CommunicatorCollectives(world)
        for bucket in buckets.ranges.indices { tandem_atomic_store(flag(rank: host.rank, bucket: bucket), 0) }
        try flags.synchronize()
    }

    /// "hierarchical".
    public var name: String { "hierarchical" }
    /// Whether the parts travel while backward runs.
    public var overlapsBackward: Bool { overlap }

    /// Sums and starts what the host has finished, and polls the reductions in flight.
    public func progress() throws { if overlap { try advance(waiting: false) } }

    private func flag(rank: Int, bucket: Int) -> UnsafeMutablePointer<Int64> {
        UnsafeMutableRawPointer(flags.segment(rank)).assumingMemoryBound(to: Int64.self) + bucket
    }

    private func isFinalOnEveryRank(_ bucket: Int) -> Bool {
        (0..<split.host.size).allSatisfy { tandem_atomic_load(flag(rank: $0, bucket: bucket)) == generation }
    }

    /// A new step: a new generation of flags, no bucket summed yet.
    public func beginStep() {
        timings = GradientPathTimings()
        generation += 1
        nextBucket = 0
        pending.removeAll(keepingCapacity: true)
        firstStart = nil
    }

    /// Nothing to do: layers exchanged only their own collectives in forward.
    public func afterForward() throws {}

    /// Raises the flags of the buckets unit `index` completes; with overlap, sums and starts
    /// every bucket that is final on the whole host, and lets the reductions in flight progress.
    public func unitDone(_ index: Int) throws {
        let t0 = Date.timeIntervalSinceReferenceDate
        for bucket in buckets.readyAtUnit[index] ?? [] {
            // Release: the gradients written before the flag are visible to whoever sees it.
            tandem_atomic_store(flag(rank: split.host.rank, bucket: bucket), generation)
        }
        guard overlap else { return }
        try advance(waiting: false)
        timings.inBackward += Date.timeIntervalSinceReferenceDate - t0
    }

    /// Sums this rank's part of each bucket, in bucket order, and starts (with overlap) or runs
    /// its reduction across hosts. Every host's rank i starts the same reductions in the same
    /// order, as non-blocking collectives require. With `waiting`, waits for the host's slower
    /// ranks to finish each bucket; otherwise stops at the first bucket that is not yet final.
    private func advance(waiting: Bool) throws {
        while nextBucket < buckets.ranges.count {
            let bucket = nextBucket
            if !isFinalOnEveryRank(bucket) {
                guard waiting else { break }
                var clock = Stopwatch()
                try flags.wait { try poll(); return isFinalOnEveryRank(bucket) }
                timings.waiting += clock.lap()
            }
            let part = parts[bucket]
            if !part.isEmpty {
                if firstStart == nil { firstStart = Date.timeIntervalSinceReferenceDate }
                _ = shared.sum(part)
                let values = UnsafeMutableBufferPointer(start: shared.arena.globalGradients + part.lowerBound, count: part.count)
                if overlap {
                    pending.append(try split.across.startAllreduceSum(values))
                } else {
                    try split.across.allreduceSum(values)
                }
            }
            nextBucket += 1
        }
        try poll()
    }

    private func poll() throws {
        for request in pending { _ = try request.test() }
    }

    /// Finishes every bucket's sum across hosts; returns this rank's part of the squared global
    /// norm (host 0's ranks only: the other hosts hold the same sums).
    public func reduce(shardOffset: Int, globalBatch: Int) throws -> Double {
        let t0 = Date.timeIntervalSinceReferenceDate
        try advance(waiting: true)
        for request in pending { try request.wait() }
        let end = Date.timeIntervalSinceReferenceDate
        timings.span = end - (firstStart ?? t0)
        guard split.across.rank == 0 else { return 0 }
        var clock = Stopwatch()
        let squares = ownedRanges.reduce(0.0) { $0 + Kernels.sumOfSquares(shared.arena.globalGradients + $1.lowerBound, count: $1.count) }
        timings.clipWork = clock.lap()
        return squares
    }

    /// Waits until every rank of this host has updated its parts, so the next forward sees the
    /// whole model (every host updated the same parts identically).
    public func finishUpdate() throws {
        var clock = Stopwatch()
        try shared.finishUpdate()
        timings.waiting += clock.lap()
    }

    /// Every host adopts host 0's copy: rank i of every host receives rank i of host 0's parts
    /// of the values and of every optimizer state.
    public func adoptRankZeroState(model: Model, optimizer: Optimizer) throws {
        try shared.memory.synchronize()
        for part in ownedRanges {
            try split.across.broadcast(UnsafeMutableRawBufferPointer(
                UnsafeMutableBufferPointer(start: model.arena.valueBuffer.baseAddress! + part.lowerBound, count: part.count)), root: 0)
            for state in optimizer.stateNames {
                try split.across.broadcast(UnsafeMutableRawBufferPointer(
                    UnsafeMutableBufferPointer(start: optimizer.state(named: state).baseAddress! + part.lowerBound, count: part.count)),
                    root: 0)
            }
        }
        try shared.memory.synchronize()
    }
}
