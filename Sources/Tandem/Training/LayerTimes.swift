import Foundation

/// How long one rank's compute took, layer by layer: what `tandem bench --record-layer-times`
/// writes from a real measurement and `--emulate-compute` replays, so that many ranks can share
/// two cores while their communication is real. Times are medians over the timed steps, for
/// `samplesPerRank` samples; a replay scales them to its own shard in proportion.
public struct LayerTimes: Codable, Equatable {
    /// The model spec measured.
    public var model: String
    /// Samples each rank computed per step in the measurement.
    public var samplesPerRank: Int
    /// The forward pass with the loss, in seconds.
    public var forwardSeconds: Double
    /// The whole backward pass, in seconds.
    public var backwardSeconds: Double
    /// For each unit (forward order), seconds from the start of backward until that unit's
    /// gradients were final: when a gradient path could start on them.
    public var unitDoneSeconds: [Double]
    /// Each unit's name ("3.conv1: Conv2D(…)"), for the reader.
    public var unitNames: [String]
    /// The optimizer's update of the whole model, in seconds.
    public var optimizerSeconds: Double
    /// Each unit's own parameters (forward order): with `unitDoneSeconds`, when which share of
    /// the gradient is ready to travel (what a cost model of overlap needs).
    public var unitParameters: [Int]

    /// Times for `model`, measured with `samplesPerRank` samples on the rank.
    public init(model: String, samplesPerRank: Int, forwardSeconds: Double, backwardSeconds: Double,
                unitDoneSeconds: [Double], unitNames: [String], optimizerSeconds: Double, unitParameters: [Int]) {
        self.model = model; self.samplesPerRank = samplesPerRank; self.forwardSeconds = forwardSeconds
        self.backwardSeconds = backwardSeconds; self.unitDoneSeconds = unitDoneSeconds; self.unitNames = unitNames
        self.optimizerSeconds = optimizerSeconds; self.unitParameters = unitParameters
    }

    enum CodingKeys: String, CodingKey {
        case model, samplesPerRank = "samples_per_rank", forwardSeconds = "forward_seconds"
        case backwardSeconds = "backward_seconds", unitDoneSeconds = "unit_done_seconds", unitNames = "unit_names"
        case optimizerSeconds = "optimizer_seconds", unitParameters = "unit_parameters"
    }

    /// Reads a file written by `write(to:)`; a one-line `DataError` names what is wrong with it.
    public static func read(path: String) throws -> LayerTimes {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(path, "cannot read the layer times (no such file, or not readable)")
        }
        let times: LayerTimes
        do { times = try JSONDecoder().decode(LayerTimes.self, from: data) } catch {
            throw DataError(path, "not a layer-times file from tandem bench --record-layer-times")
        }
        let all = [times.forwardSeconds, times.backwardSeconds, times.optimizerSeconds] + times.unitDoneSeconds
        guard times.samplesPerRank > 0, all.allSatisfy({ $0.isFinite && $0 >= 0 }),
              times.unitDoneSeconds.count == times.unitNames.count, times.unitParameters.count == times.unitNames.count,
              times.unitParameters.allSatisfy({ $0 >= 0 }) else {
            throw DataError(path, "layer times must be finite and non-negative, one per unit, for at least one sample")
        }
        return times
    }

    /// Writes the times as JSON (atomically).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Collects the times of each step's phases and of each unit's end of backward, on one rank.
public final class LayerTimeRecorder {
    private var backwardStart = 0.0
    private var current: [Double]
    private var steps: [(forward: Double, backward: Double, optimizer: Double, units: [Double])] = []

    /// A recorder for a model of `units` units.
    public init(units: Int) { current = [Double](repeating: 0, count: units) }

    /// Backward begins now.
    public func beginBackward() { backwardStart = Date.timeIntervalSinceReferenceDate }

    /// Unit `index`'s gradients are final now.
    public func unitDone(_ index: Int) {
        if current.indices.contains(index) { current[index] = Date.timeIntervalSinceReferenceDate - backwardStart }
    }

    /// The step is over: keeps its forward, backward and optimizer times and the units' times.
    public func endStep(forward: Double, backward: Double, optimizer: Double) {
        steps.append((forward, backward, optimizer, current))
    }

    /// Forgets the steps so far (the warm-up).
    public func reset() { steps.removeAll() }

    /// Medians over the recorded steps.
    public func times(model: Model, spec: String, samplesPerRank: Int) -> LayerTimes {
        LayerTimes(model: spec, samplesPerRank: samplesPerRank, forwardSeconds: steps.map(\.forward).median,
                   backwardSeconds: steps.map(\.backward).median,
                   unitDoneSeconds: current.indices.map { unit in steps.map { $0.units[unit] }.median },
                   unitNames: model.units.map(\.name), optimizerSeconds: steps.map(\.optimizer).median,
                   unitParameters: model.units.map(\.range.count))
    }
}
