import Foundation

/// Throughput of the real training step, timed on rank 0 after warm-up.
public struct BenchmarkReport {
    /// The model spec benchmarked.
    public var model: String
    /// Ranks in the job.
    public var worldSize: Int
    /// Samples per step, summed over all ranks.
    public var globalBatch: Int
    /// BLAS threads per rank.
    public var blasThreads: Int
    /// OpenBLAS's kernel set on rank 0 (`BLASCore.name`).
    public var blasCore: String = BLASCore.name
    /// Which library computed the products on rank 0 (`ProductLibrary.summary`).
    public var products: String = ProductLibrary.summary
    /// Timed steps, after the warm-up.
    public var steps: Int
    /// Whether the gradient allreduce overlapped backward.
    public var overlap: Bool
    /// Gradient bucket size of the allreduce, in MiB.
    public var bucketMegabytes: Double
    /// "shared-memory", "hierarchical", "mpi" or "none" (see `TrainingStep.reductionPath`).
    public var reduce: String
    /// More ranks on this host than cores: the numbers measure time-sharing, not scaling.
    public var oversubscribed: Bool
    /// Medians over the timed steps, in seconds.
    public var stepSeconds: Double
    /// Median time of each part of a step, in seconds (see `StepTimings`).
    public var split: StepTimings
    /// The largest peak resident memory of any rank, in MB.
    public var peakResidentMegabytes: Double
    /// Each rank's median waiting at the shared path's barriers, in seconds: which rank is the
    /// slow one (the others wait for it), and whether that stays the same rank.
    public var waitingPerRank: [Double] = []
    /// Throughput: the global batch divided by the median step time.
    public var samplesPerSecond: Double { Double(globalBatch) / stepSeconds }
    /// Forward, backward and the optimizer were emulated (`ComputeEmulation`): only communication was real.
    public var emulatedCompute = false
    /// Tokens (predicted positions) per sample for text windows, else nil.
    public var tokensPerSample: Int? = nil
    /// Throughput in tokens for text windows, else nil.
    public var tokensPerSecond: Double? { tokensPerSample.map { samplesPerSecond * Double($0) } }

    /// The report as one JSON object with sorted keys, times in milliseconds (what `tandem bench --json` prints).
    public var json: String {
        var fields: [String: Any] = [
            "model": model, "world_size": worldSize, "global_batch": globalBatch, "blas_threads": blasThreads,
            "blas_core": blasCore, "products": products,
            "steps": steps, "overlap": overlap, "samples_per_second": samplesPerSecond,
            "step_ms": stepSeconds * 1e3, "oversubscribed": oversubscribed, "bucket_mb": bucketMegabytes,
            "peak_rss_mb_per_rank": peakResidentMegabytes, "reduce": reduce,
            "split_ms": ["data": split.data * 1e3, "forward": split.forward * 1e3, "backward": split.backward * 1e3,
                         "layer_collectives": split.layerCollectives * 1e3,
                         "allreduce_exposed": split.allreduce * 1e3, "allreduce_total": split.allreduceSpan * 1e3,
                         "allreduce_waiting": split.waiting * 1e3, "clip": split.clip * 1e3,
                         "optimizer": split.optimizer * 1e3],
            "allreduce_waiting_ms_per_rank": waitingPerRank.map { $0 * 1e3 }, "emulated_compute": emulatedCompute,
        ]
        if let tokensPerSecond { fields["tokens_per_second"] = tokensPerSecond }
        let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// The report as one human-readable line, times in milliseconds.
    public var text: String {
        let speed = tokensPerSecond.map { String(format: "%.0f tokens/s (%.0f samples/s)", $0, samplesPerSecond) }
            ?? String(format: "%.0f samples/s", samplesPerSecond)
        return (emulatedCompute ? "[emulated compute] " : "") + String(format: "%@ on %d rank(s) (reduce: %@), global batch %d, %d BLAS thread(s) (%@ kernels; products: %@): %@, peak RSS %.0f MB per rank (step %.3f ms: data %.3f, forward %.3f, backward %.3f, layer collectives %.3f, exposed allreduce %.3f (waiting %.3f), clip %.3f, optimizer %.3f)",
               model, worldSize, reduce, globalBatch, blasThreads, blasCore, products, speed, peakResidentMegabytes, stepSeconds * 1e3, split.data * 1e3,
               split.forward * 1e3, split.backward * 1e3, split.layerCollectives * 1e3, split.allreduce * 1e3, split.waiting * 1e3, split.clip * 1e3, split.optimizer * 1e3)
    }
}

/// Times the real training step of a `Trainer`, without running a whole training job.
public enum Benchmark {
    /// Runs `warmup` untimed steps, then `steps` timed ones (they do update the model, at the base learning rate),
    /// and reports the medians. Collective: every rank calls it. With `recordLayerTimes`, rank 0
    /// also writes its forward, backward and per-unit times there (`LayerTimes`).
    public static func measure(_ trainer: Trainer, warmup: Int, steps: Int, recordLayerTimes: String? = nil) throws -> BenchmarkReport {
        let communicator = trainer.communicator
        let config = trainer.config
        let B = config.globalBatch
        let perEpoch = trainer.sampler.stepsPerEpoch
        var order: [Int] = [], orderEpoch = -1
        var walls: [Double] = [], splits: [StepTimings] = []
        let recorder = recordLayerTimes == nil ? nil : LayerTimeRecorder(units: trainer.model.units.count)
        trainer.step.layerTimeRecorder = recorder
        defer { trainer.step.layerTimeRecorder = nil }
        try communicator.barrier()
        for s in 0..<(warmup + steps) {
            if s == warmup { recorder?.reset() }
            let epoch = s / perEpoch
            if epoch != orderEpoch { order = trainer.sampler.order(epoch: epoch); orderEpoch = epoch }
            let t0 = Date.timeIntervalSinceReferenceDate
            let outcome = try trainer.step.run(data: trainer.data.train,
                                               batch: trainer.sampler.globalBatch(order: order, batch: s % perEpoch),
                                               step: s, epoch: epoch,
                                               learningRate: config.learningRate)
            if s >= warmup {
                walls.append(Date.timeIntervalSinceReferenceDate - t0)
                splits.append(outcome.timings)
            }
        }
        if let recorder, let path = recordLayerTimes, communicator.isRoot {
            let shard = BatchSampler.shard(globalBatch: B, rank: 0, worldSize: communicator.size).count
            try recorder.times(model: trainer.model, spec: config.model, samplesPerRank: shard).write(to: path)
        }
        var split = StepTimings()
        split.data = splits.map(\.data).median; split.forward = splits.map(\.forward).median
        split.backward = splits.map(\.backward).median; split.layerCollectives = splits.map(\.layerCollectives).median
        split.allreduce = splits.map(\.allreduce).median
        split.clip = splits.map(\.clip).median; split.optimizer = splits.map(\.optimizer).median
        split.allreduceSpan = splits.map(\.allreduceSpan).median; split.waiting = splits.map(\.waiting).median
        // Peak resident memory of this process (Linux reports ru_maxrss in KiB); the largest rank's.
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let peaks = try communicator.allgather(UInt64(max(0, usage.ru_maxrss)))
        let waits = try communicator.allgather(UInt64(max(0, split.waiting * 1e9)))
        return BenchmarkReport(model: config.model, worldSize: communicator.size, globalBatch: B,
                               blasThreads: Kernels.blasThreads, steps: steps, overlap: trainer.step.path.overlapsBackward,
                               bucketMegabytes: config.bucketMegabytes, reduce: trainer.step.reductionPath,
                               oversubscribed: communicator.ranksOnThisHost > ProcessInfo.processInfo.activeProcessorCount,
                               stepSeconds: walls.median, split: split,
                               peakResidentMegabytes: Double(peaks.max() ?? 0) / 1024,
                               waitingPerRank: waits.map { Double($0) / 1e9 },
                               emulatedCompute: trainer.step.computeEmulation != nil,
                               tokensPerSample: trainer.data.train.tokenName == nil ? nil : trainer.data.train.targetKind.scoredPerSample)
    }
}
