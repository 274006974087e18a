import Foundation

/// The parts of a run's `metrics.jsonl` that the plots draw, read back from the file the
/// trainer appends to (see `MetricsLog`).
///
/// A run that was resumed appends to the same file, so a step can appear twice (the steps
/// between the checkpoint and the crash are trained again); the later record wins, because it
/// belongs to the run that went on. Non-finite numbers, which `MetricsLog` writes as strings
/// ("nan", "inf"), come back as Double's NaN and infinities.
public struct RunMetrics {
    /// An `epoch` record: the epoch just finished (counted from 1) and its measurements.
    public struct EpochRecord {
        /// The epoch just finished, counted from 1.
        public var epoch: Int
        /// Steps completed when the record was written (nil in metrics that do not say).
        public var step: Int?
        /// Mean training loss over the epoch's steps.
        public var trainLoss: Double?
        /// Training accuracy over the epoch, when the record has one.
        public var trainAccuracy: Double?
        /// Mean loss on the validation set (nil without a validation split).
        public var validationLoss: Double?
        /// Fraction of validation targets predicted correctly, in [0, 1].
        public var validationAccuracy: Double?
        /// Mean loss on the test set, when the epoch evaluated it.
        public var testLoss: Double?
        /// Fraction of test targets predicted correctly, in [0, 1].
        public var testAccuracy: Double?
        /// A record with the measurements it has; the rest are nil.
        public init(epoch: Int, step: Int?, trainLoss: Double? = nil, trainAccuracy: Double? = nil, validationLoss: Double? = nil,
                    validationAccuracy: Double? = nil, testLoss: Double? = nil, testAccuracy: Double? = nil) {
            self.epoch = epoch; self.step = step; self.trainLoss = trainLoss; self.trainAccuracy = trainAccuracy
            self.validationLoss = validationLoss; self.validationAccuracy = validationAccuracy
            self.testLoss = testLoss; self.testAccuracy = testAccuracy
        }
    }

    /// A `step` record: the training loss of one logged step.
    public struct StepRecord {
        /// The step's number, counted from 1 (the steps completed when it was logged).
        public var step: Int
        /// The mean loss over that step's global batch.
        public var loss: Double
    }

    /// One layer's entry in a `layers` record.
    public struct LayerSample {
        /// The layer's position among the model's units, counted from 0.
        public var index: Int
        /// The layer's name, as the model reports it.
        public var name: String
        /// L2 norm of the layer's gradient, before clipping (NaN when the record lacks it).
        public var gradientNorm: Double
        /// L2 norm of the layer's weights before the update (NaN when the record lacks it).
        public var weightNorm: Double
        /// ‖θ_after − θ_before‖ / ‖θ_before‖ for the step (NaN when the record lacks it).
        public var updateRatio: Double
    }

    /// A `layers` record: every parameterised layer's gradient health at one step.
    public struct LayersRecord {
        /// The step the record was written at.
        public var step: Int
        /// L2 norm of the whole gradient, before clipping.
        public var globalNorm: Double?
        /// Whether the step's gradient was clipped.
        public var clipped: Bool
        /// The layers' entries, in record order.
        public var layers: [LayerSample]
    }

    /// From the `start` record; lets steps be drawn on an epoch axis.
    public var stepsPerEpoch: Int?
    /// The `epoch` and `eval` records, by step (an `eval` record carries validation results only).
    public var epochs: [EpochRecord] = []
    /// The logged steps' training losses, by step.
    public var steps: [StepRecord] = []
    /// The `layers` records, by step.
    public var layerRecords: [LayersRecord] = []

    /// Metrics with nothing in them, to be filled by `parse`.
    public init() {}

    /// Whether the file held nothing the plots can draw.
    public var isEmpty: Bool { epochs.isEmpty && steps.isEmpty && layerRecords.isEmpty }

    /// Whether the run ended inside its first epoch (a language model's run is a fraction of
    /// one pass over its windows): then curves are drawn against steps, not epochs.
    public var withinFirstEpoch: Bool {
        guard let perEpoch = stepsPerEpoch, perEpoch > 0 else { return false }
        let last = max(steps.last?.step ?? 0, epochs.compactMap(\.step).max() ?? 0)
        return last > 0 && last < perEpoch
    }

    /// Reads and parses a metrics file; a missing, unreadable or malformed file is a
    /// `DataError` naming the file (and the line, when one line is at fault).
    public static func read(path: String) throws -> RunMetrics {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(path, "no such file (is this a run directory written by tandem train?)")
        }
        guard !isDirectory.boolValue else { throw DataError(path, "is a directory, not a metrics file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { throw DataError(path, "is not UTF-8 text") }
        return try parse(text, path: path)
    }

    /// Parses the text of a metrics file (`path` names it in errors); a resumed run's repeated steps keep
    /// their later record.
    public static func parse(_ text: String, path: String) throws -> RunMetrics {
        var metrics = RunMetrics()
        var epochsByStep: [Int: EpochRecord] = [:], stepsByStep: [Int: StepRecord] = [:]
        var layersByStep: [Int: LayersRecord] = [:]
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (offset, rawLine) in lines.enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let number = offset + 1
            let parsed = try? JSONSerialization.jsonObject(with: Data(line.utf8))
            guard let record = parsed as? [String: Any] else {
                // A last line without its newline is a record still being written by a live
                // run: leave it for the next look rather than refuse the whole file.
                if offset == lines.count - 1 && !text.hasSuffix("\n") { continue }
                throw DataError(path, "line \(number) is not a JSON object")
            }
            let fields = Fields(record: record, path: path, line: number)
            guard let event = record["event"] as? String else { throw fields.error("has no \"event\" field") }
            switch event {
            case "start":
                metrics.stepsPerEpoch = try fields.integer("steps_per_epoch") ?? metrics.stepsPerEpoch
            case "epoch":
                guard let epoch = try fields.integer("epoch") else { throw fields.error("epoch record has no \"epoch\" number") }
                let step = try fields.integer("step")
                let entry = EpochRecord(epoch: epoch, step: step,
                                        trainLoss: try fields.number("train_loss"), trainAccuracy: try fields.number("train_accuracy"),
                                        validationLoss: try fields.number("validation_loss"),
                                        validationAccuracy: try fields.number("validation_accuracy"),
                                        testLoss: try fields.number("test_loss"), testAccuracy: try fields.number("test_accuracy"))
                // Without a step, an epoch is keyed by its number (negated, to keep apart from steps).
                epochsByStep[step ?? -epoch] = entry
            case "eval":
                // An evaluation between epoch ends (--eval-every): drawn with the epochs' validation points.
                guard let step = try fields.integer("step") else { throw fields.error("eval record has no \"step\" number") }
                epochsByStep[step] = EpochRecord(epoch: (try fields.integer("epoch") ?? 0) + 1, step: step,
                                                 validationLoss: try fields.number("validation_loss"),
                                                 validationAccuracy: try fields.number("validation_accuracy"))
            case "step":
                guard let step = try fields.integer("step") else { throw fields.error("step record has no \"step\" number") }
                if let loss = try fields.number("loss") { stepsByStep[step] = StepRecord(step: step, loss: loss) }
            case "layers":
                guard let step = try fields.integer("step") else { throw fields.error("layers record has no \"step\" number") }
                guard let entries = record["layers"] as? [Any] else { throw fields.error("layers record has no \"layers\" list") }
                var layers: [LayerSample] = []
                for (position, entry) in entries.enumerated() {
                    guard let object = entry as? [String: Any] else { throw fields.error("layers[\(position)] is not an object") }
                    let layer = Fields(record: object, path: path, line: number, prefix: "layers[\(position)].")
                    let index = try layer.integer("index") ?? position
                    layers.append(LayerSample(index: index, name: object["name"] as? String ?? "layer \(index)",
                                              gradientNorm: try layer.number("grad_norm") ?? .nan,
                                              weightNorm: try layer.number("weight_norm") ?? .nan,
                                              updateRatio: try layer.number("update_ratio") ?? .nan))
                }
                layersByStep[step] = LayersRecord(step: step, globalNorm: try fields.number("global_norm"),
                                                  clipped: record["clipped"] as? Bool ?? false, layers: layers)
            default:
                continue   // checkpoint, skip, warning, end, ...: not drawn
            }
        }
        metrics.epochs = epochsByStep.values.sorted { ($0.step ?? 0, $0.epoch) < ($1.step ?? 0, $1.epoch) }
        metrics.steps = stepsByStep.values.sorted { $0.step < $1.step }
        metrics.layerRecords = layersByStep.values.sorted { $0.step < $1.step }
        return metrics
    }

    /// Typed access to one record's fields, with errors that say where the bad value is.
    private struct Fields {
        var record: [String: Any]
        var path: String
        var line: Int
        var prefix = ""

        func error(_ problem: String) -> DataError { DataError(path, "line \(line): \(problem)") }

        /// A number, or nil when the field is absent or null. "nan", "inf" and "-inf" (how
        /// the trainer writes non-finite values) are numbers too.
        func number(_ key: String) throws -> Double? {
            guard let value = record[key], !(value is NSNull) else { return nil }
            if let text = value as? String {
                guard let parsed = Double(text.lowercased()), !parsed.isFinite else {
                    throw error("\"\(prefix)\(key)\" is \"\(text.prefix(20))\", not a number")
                }
                return parsed
            }
            guard let parsed = (value as? NSNumber)?.doubleValue else { throw error("\"\(prefix)\(key)\" is not a number") }
            return parsed
        }

        func integer(_ key: String) throws -> Int? {
            guard let value = try number(key) else { return nil }
            guard let exact = Int(exactly: value) else { throw error("\"\(prefix)\(key)\" is \(value), not a whole number") }
            return exact
        }
    }
}
