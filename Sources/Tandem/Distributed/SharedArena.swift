import CKernels

/// The allreduce layer's same-host path: when every rank of the job runs on one host, the ranks
/// keep **one** copy of the weights, of the optimizer state and of the global gradient in
/// shared memory, and each rank owns a part of it (the ranges whose global gradient it forms).
///
/// After backward, the ranks sum their gradients straight out of each other's memory (one pass,
/// no messages, no copies) into the one global gradient, each rank a share of the elements, and
/// measure their share of the global norm in the same pass; rank 0 turns the shares into the
/// clip decision; then each rank runs the optimizer over the ranges it formed only, and one
/// barrier later every rank sees the whole updated model. Compared with an MPI allreduce
/// followed by every rank updating every weight, no gradient is copied into a message, each
/// value is read once where it lies, and the optimizer's work is divided instead of repeated
/// (measured on the 2-core target: the MLP's gradient sum 0.05-0.1 ms instead of 0.35-0.9 ms,
/// its optimizer 0.08 instead of 0.19 ms).
///
/// Dense layers' weights, most of a model's parameters, skip the per-rank gradient altogether:
/// each rank stages its samples' rows of X and dY, and the ranks share out the rows of
/// dW = dYᵀ·X over the global batch; for a large first layer they share out the rows of the
/// forward product the same way (`RowSplitDense`).
///
/// Open MPI keeps the memory in /dev/shm; when that cannot hold the model (containers often
/// give it 64 MB), `Communicator.sharedMemory` says so and the trainer falls back to MPI.
///
/// Layout of the shared memory (every block a whole number of cache lines):
///
///     rank 0's segment:  values | optimizer state 1 … k | global gradient | rank 0's gradients | staging
///     rank r's segment:  rank r's gradients
public final class SharedArena {
    /// The group that shares the memory.
    public let communicator: Communicator
    /// The shared segments: rank 0's holds the model, the optimizer state and the global gradient.
    public let memory: SharedMemory
    /// The model's arena, relocated into `memory`.
    public let arena: ParameterArena
    /// The arena ranges this rank updates (sorted): exactly those whose global gradient it
    /// forms, its rows of the dense layers' weights and its `summedRanges`. A rank thus reads
    /// back only gradients it wrote itself, and the first layer's rows that it multiplies in
    /// the split forward pass are the rows it updates: on a host whose cores are far apart,
    /// every line of memory that goes from one core to the other and back costs a round trip.
    /// All ranks' ranges together tile the arena.
    public let ownedRanges: [Range<Int>]
    /// The arena ranges whose gradients this rank sums from every rank's gradients: its share
    /// of everything but the dense layers' weights.
    public let summedRanges: [Range<Int>]
    private let gradientSegments: [UnsafeMutablePointer<Float>]
    private let denseLayers: [RowSplitDense]

    /// Collective. Moves `model`'s arena and `optimizer` into shared memory, or returns nil (on
    /// every rank alike) when the ranks do not all share one host; throws
    /// `SharedMemoryUnavailable` (on every rank alike) when the host's shared memory cannot hold
    /// them. With `globalBatch` > 0 the weight gradients of the model's dense layers
    /// (`DenseProductLayer`s with one row per sample, whose weight no other layer uses) are formed over the global batch,
    /// which can then be at most `globalBatch` samples.
    public static func make(communicator: Communicator, model: Model, optimizer: Optimizer,
                            globalBatch: Int = 0) throws -> SharedArena? {
        let dense = model.units(conformingTo: DenseProductLayer.self).filter { entry in
            entry.layer.productOverSamples && !model.isShared(slot: entry.layer.weight.index)
        }.map { (layer: $0.layer, isFirstTrainable: $0.unit.isFirstTrainable) }
        return try make(communicator: communicator, arena: model.arena, optimizer: optimizer, denseLayers: dense,
                        globalBatch: globalBatch)
    }

    /// The same for an arena alone, with the dense layers given (and whether each is the first
    /// layer with parameters, whose forward product the ranks may split). `summedRanges`, when
    /// given, is this rank's part of the summed ranges (every rank's parts together must tile
    /// what the dense layers leave); by default each rank sums one interval of about equal size.
    public static func make(communicator: Communicator, arena: ParameterArena, optimizer: Optimizer,
                            denseLayers: [(layer: DenseProductLayer, isFirstTrainable: Bool)] = [],
                            globalBatch: Int = 0, summedRanges: [Range<Int>]? = nil) throws -> SharedArena? {
        let padded = CacheLine.roundUp(max(arena.count, 1))
        let states = optimizer.stateNames.count
        let dense = globalBatch > 0 ? denseLayers : []
        let staging = dense.map {
            RowSplitDense.stagingFloats(for: $0.layer, isFirstTrainable: $0.isFirstTrainable, globalBatch: globalBatch)
        }
        let floats = communicator.isRoot ? (1 + states + 2) * padded + staging.reduce(0, +) : padded
        guard let memory = try communicator.sharedMemory(floats: floats) else { return nil }
        return try SharedArena(communicator: communicator, memory: memory, arena: arena, optimizer: optimizer,
                               padded: padded, dense: dense, staging: staging, globalBatch: globalBatch, summed: summedRanges)
    }

    private init(communicator: Communicator, memory: SharedMemory, arena: ParameterArena, optimizer: Optimizer,
                 padded: Int, dense: [(layer: DenseProductLayer, isFirstTrainable: Bool)], staging: [Int], globalBatch: Int,
                 summed given: [Range<Int>]?) throws {
        self.communicator = communicator; self.memory = memory; self.arena = arena
        let size = communicator.size, rank = communicator.rank
        let values = memory.segment(0)
        let states = optimizer.stateNames.count
        let global = values + (1 + states) * padded
        gradientSegments = (0..<size).map { $0 == 0 ? global + padded : memory.segment($0) }
        // Rank 0 brings its values and (zero) state; the others adopt what rank 0 put there.
        arena.relocate(values: values, gradients: gradientSegments[rank], globalGradients: global, copyValues: rank == 0)
        optimizer.relocateState(to: values + padded, copying: rank == 0)
        var next = global + 2 * padded
        denseLayers = zip(dense, staging).map { entry, floats in
            defer { next += floats }
            return RowSplitDense(layer: entry.layer, isFirstTrainable: entry.isFirstTrainable, staging: next,
                                 globalBatch: globalBatch, memory: memory, rank: rank, ranks: size)
        }
        // Shares of the summed ranges end on cache lines, so no two ranks write the same line.
        // (Where one rank's rows of a dense layer meet another's, or a summed range, two ranks
        // may write one line: different floats of it, which is correct, merely not the fastest.)
        let weights = dense.map { $0.layer.weight.slot.offset..<($0.layer.weight.slot.offset + $0.layer.weight.slot.count) }
        let summed = Self.complement(of: weights, in: 0..<arena.count)
        let cut = Self.share(of: summed, rank: rank, ranks: size)
        summedRanges = given?.filter { !$0.isEmpty } ?? summed.compactMap { range in
            let part = range.clamped(to: cut)
            return part.isEmpty ? nil : part
        }
        ownedRanges = (denseLayers.map(\.ownedWeights) + summedRanges).filter { !$0.isEmpty }
            .sorted { $0.lowerBound < $1.lowerBound }
        try memory.synchronize()
    }

    /// Rank `rank`'s part of the elements of `ranges` (sorted, disjoint): an arena interval
    /// holding about an equal count of them, its inner ends on cache lines (or at a range's start).
    public static func share(of ranges: [Range<Int>], rank: Int, ranks: Int) -> Range<Int> {
        let total = ranges.reduce(0) { $0 + $1.count }
        let end = ranges.last?.upperBound ?? 0
        func offset(holding target: Int) -> Int {
            if target >= total { return end }
            var before = 0
            for range in ranges {
                if target < before + range.count {
                    return max(range.lowerBound, (range.lowerBound + target - before) / CacheLine.floats * CacheLine.floats)
                }
                before += range.count
            }
            return end
        }
        let lower = rank == 0 ? (ranges.first?.lowerBound ?? 0) : offset(holding: rank * total / ranks)
        let upper = rank == ranks - 1 ? end : offset(holding: (rank + 1) * total / ranks)
        return lower..<max(lower, upper)
    }

    /// The parts of `whole` outside every range of `holes` (sorted, disjoint).
    static func complement(of holes: [Range<Int>], in whole: Range<Int>) -> [Range<Int>] {
        var parts: [Range<Int>] = [], start = whole.lowerBound
        for hole in holes.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if hole.lowerBound > start { parts.append(start..<hole.lowerBound) }
            start = max(start, hole.upperBound)
        }
        if start < whole.upperBound { parts.append(start..<whole.upperBound) }
        return parts
    }

    /// Step 4 begins, after this rank's backward: puts this rank's samples' rows of every
    /// dense layer's X and dY in place (rows `shardOffset...` of the global batch).
    public func stage(shardOffset: Int) {
        for layer in denseLayers { layer.stage(shardOffset: shardOffset) }
    }

    /// After the forward pass: the time it spent exchanging rows with the other ranks (and, of
    /// it, waiting for them): communication, not forward computation.
    public func takeForwardExchange() -> (seconds: Double, waiting: Double) {
        denseLayers.reduce((0, 0)) { total, layer in
            let exchange = layer.takeForwardExchange()
            return (total.0 + exchange.seconds, total.1 + exchange.waiting)
        }
    }

    /// Sums every rank's gradients over `range` (in rank order) into the global gradient; returns
    /// the sum of squares of what it wrote. The range is the caller's to sum: no other rank may
    /// write it.
    public func sum(_ range: Range<Int>) -> Double {
        let sources = gradientSegments.map { UnsafePointer($0 + range.lowerBound) as UnsafePointer<Float>? }
        return sources.withUnsafeBufferPointer { pointers in
            tandem_sum_slices(arena.globalGradients + range.lowerBound, pointers.baseAddress, Int32(pointers.count), range.count)
        }
    }

    /// Then: waits until every rank's gradients are complete and staged. (Time spent here is
    /// a faster rank waiting for a slower one, not the cost of summing.)
    public func waitForAllGradients() throws { try memory.synchronize() }

    /// Step 4, after `waitForAllGradients`: forms this rank's rows of the dense layers' weight
    /// gradients over the global batch of `samples`, into the global gradient. (This is
    /// backward's work, only moved: no rank formed those gradients for its own samples.)
    /// Returns the sum of squares of what it wrote: part of this rank's share of the norm.
    public func formDenseWeightGradients(samples: Int) -> Double {
        denseLayers.reduce(0) { $0 + $1.compute(samples: samples, into: arena.globalGradients) }
    }

    /// Step 4, after `waitForAllGradients`: sums this rank's `summedRanges` of every rank's
    /// gradients (in rank order) into the global gradient. Returns the sum of squares of what
    /// it wrote: the rest of this rank's share of the squared global norm.
    public func sumShare() -> Double {
        summedRanges.reduce(0) { $0 + sum($1) }
    }

    /// Step 6's end: waits until every rank has updated its ranges, so that the next forward
    /// pass, anywhere, reads the whole updated model.
    public func finishUpdate() throws { try memory.synchronize() }
}
