import Foundation

/// A rank's compute replaced by waiting: forward takes as long as the recorded forward did,
/// backward hands each unit to the gradient path when the recorded backward finished it (both
/// scaled to this rank's shard), and the optimizer takes its recorded time for the part of the
/// model this rank updates. The communication, and the gradient paths' own summing, stay real.
/// While it waits, the rank lets the reductions in flight progress, as a rank with a core to
/// spare for communication would (a real rank polls only between layers; see
/// docs/cluster-emulation.md).
///
/// It lets 8–16 ranks share two cores and still show how their communication overlaps with
/// compute. Gradients are zero: the values do not matter to the time a reduction takes.
/// `tandem bench --emulate-compute` also has the ranks wait for their reductions by testing
/// and sleeping (`MPICommunicator.sleepingWaitInterval`), so that waiting ranks leave the
/// cores to the emulated links.
public struct ComputeEmulation {
    /// The recorded one-rank times.
    public let times: LayerTimes
    /// How often a waiting rank polls the reductions in flight, in seconds.
    public var pollInterval = 0.0002

    /// Replays `times`.
    public init(times: LayerTimes) { self.times = times }

    /// The recorded times are for `times.samplesPerRank` samples; a shard of `samples` takes
    /// that much longer or shorter.
    func scale(for samples: Int) -> Double { Double(samples) / Double(times.samplesPerRank) }

    /// Steps 1–2 (data, forward, loss): waits as long as they took.
    public func forward(samples: Int) {
        wait(until: Date.timeIntervalSinceReferenceDate + times.forwardSeconds * scale(for: samples), progress: nil)
    }

    /// Step 3 (backward): zeroes this rank's gradients, then waits for each unit's recorded end,
    /// last unit first, and hands it to `path`.
    public func backward(samples: Int, model: Model, path: GradientPath) throws {
        let start = Date.timeIntervalSinceReferenceDate, k = scale(for: samples)
        model.arena.gradientBuffer.update(repeating: 0)
        for unit in model.units.indices.reversed() {
            let done = unit < times.unitDoneSeconds.count ? times.unitDoneSeconds[unit] : times.backwardSeconds
            try wait(until: start + done * k, progress: path.progress)
            try path.unitDone(unit)
        }
        try wait(until: start + times.backwardSeconds * k, progress: path.progress)
    }

    /// Step 6's update of `elements` of the model's `total`: waits as long as the recorded
    /// update of the whole model took, in proportion.
    public func optimizer(elements: Int, of total: Int) {
        wait(until: Date.timeIntervalSinceReferenceDate + times.optimizerSeconds * Double(elements) / Double(max(total, 1)),
             progress: nil)
    }

    private func wait(until deadline: Double, progress: (() throws -> Void)?) rethrows {
        while true {
            let left = deadline - Date.timeIntervalSinceReferenceDate
            if left <= 0 { return }
            try progress?()
            usleep(UInt32(max(1, min(left, pollInterval) * 1e6)))
        }
    }
}
