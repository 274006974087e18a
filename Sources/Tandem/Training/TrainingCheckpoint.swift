import Foundation

/// Where a run stands, enough to continue it exactly: the step counts everything, because
/// shuffles and dropout masks are derived from (seed, epoch, step) rather than carried state.
public struct TrainingPosition: Equatable {
    /// Steps completed over the whole run.
    public var step: Int
    /// The epoch the next step belongs to, counted from 0.
    public var epoch: Int
    /// The next batch's index within its epoch (`step` modulo the steps per epoch).
    public var batchInEpoch: Int
    /// A position from its three counts.
    public init(step: Int, epoch: Int, batchInEpoch: Int) {
        self.step = step; self.epoch = epoch; self.batchInEpoch = batchInEpoch
    }
}

/// Turns a training state into a checkpoint file and back.
///
/// Tensor names are the parameters' paths in the model, as PyTorch names the equivalent
/// module's state (`0.weight`, `3.body.0.bias`, a buffer's `2.running_mean`), so
/// `load_state_dict` takes them; optimizer state is `optim.<state>.<parameter>`.
/// The metadata says what the tensors belong to, so a resume with another model or optimizer
/// is refused with a message naming the difference instead of training on nonsense.
public enum TrainingCheckpoint {
    /// Where a checkpoint's model comes from: a spec (the checkpoint alone can rebuild it) or
    /// Swift code (the checkpoint restores into the caller's model of the same structure).
    public enum ModelSource: String {
        case spec, swift
    }

    /// Packs the model's parameters and buffers, the optimizer's state and `position` into a checkpoint file, with
    /// metadata naming the model, optimizer and configuration that `validate` later checks.
    public static func make(config: TrainingConfig, model: Model, source: ModelSource = .spec, optimizer: Optimizer,
                            position: TrainingPosition, worldSize: Int) -> CheckpointFile {
        var tensors = model.weights(name: config.model).tensors
        for state in optimizer.stateNames {
            let buffer = optimizer.state(named: state)
            for slot in model.arena.slots {
                tensors.append(TensorRecord(name: "optim.\(state).\(slot.name)", shape: slot.shape,
                                            values: Array(buffer[slot.offset..<(slot.offset + slot.count)])))
            }
        }
        var metadata: [String: String] = [
            "model": config.model, "model_source": source.rawValue,
            "activation": config.activation.argument, "loss": config.loss.rawValue,
            "input_shape": model.inputShape.map(String.init).joined(separator: ","),
            "step": "\(position.step)", "epoch": "\(position.epoch)", "batch_in_epoch": "\(position.batchInEpoch)",
            "rng": "stateless: splitmix64 streams of (seed, epoch) for shuffles and (seed, step, sample) for dropout",
            "seed": "\(config.seed)", "global_batch": "\(config.globalBatch)", "world_size": "\(worldSize)",
            "optimizer": optimizer.name, "optimizer_step": "\(optimizer.stepCount)",
            "learning_rate": "\(config.learningRate)", "schedule": config.schedule.rawValue, "config": config.fingerprintText,
        ]
        for (key, value) in optimizer.hyperParameters { metadata["optimizer.\(key)"] = value }
        return CheckpointFile(metadata: metadata, tensors: tensors)
    }

    /// A checkpoint that does not fit the run it is asked to continue.
    public struct Mismatch: Error, CustomStringConvertible {
        /// What differs, naming the file.
        public var description: String
    }

    /// Checks that `file` belongs to this model and optimizer, and returns its position.
    /// Touches nothing: `restore` does that once every check has passed.
    public static func validate(_ file: CheckpointFile, path: String, config: TrainingConfig,
                                model: Model, optimizer: Optimizer) throws -> TrainingPosition {
        func field(_ key: String) throws -> String {
            guard let value = file.metadata[key] else { throw Mismatch(description: "\(path): metadata has no '\(key)'") }
            return value
        }
        func integer(_ key: String) throws -> Int {
            guard let value = Int(try field(key)), value >= 0 else {
                throw Mismatch(description: "\(path): metadata '\(key)' is not a non-negative integer")
            }
            return value
        }
        let pairs: [(String, String, String)] = [
            ("model", try field("model"), config.model),
            ("activation", try field("activation"), config.activation.argument),
            ("optimizer", try field("optimizer"), optimizer.name),
        ] + optimizer.hyperParameters.sorted { $0.key < $1.key }.map { key, value in
            ("optimizer \(key)", (file.metadata["optimizer.\(key)"] ?? "(missing)"), value)
        }
        for (what, saved, wanted) in pairs where saved != wanted {
            throw Mismatch(description: "\(path) was written with \(what) '\(saved)' but this run uses '\(wanted)'")
        }
        // What decides which samples each step sees and how fast it learns: changed, the run
        // would carry on as another run, silently. (World size may change: elastic resume.)
        let continuity: [(option: String, key: String, wanted: String)] = [
            ("--seed", "seed", "\(config.seed)"), ("--global-batch", "global_batch", "\(config.globalBatch)"),
            ("--schedule", "schedule", config.schedule.rawValue),
        ]
        for item in continuity {
            if let saved = file.metadata[item.key], saved != item.wanted {
                throw Mismatch(description: "\(path) was written with \(item.option) \(saved) but this run asks for \(item.option) "
                               + "\(item.wanted): resume with the same \(item.option), or start a new run in another --run-dir")
            }
        }
        var expected = (model.arena.slots + model.buffers.slots).map { (name: $0.name, shape: $0.shape) }
        for state in optimizer.stateNames {
            expected += model.arena.slots.map { (name: "optim.\(state).\($0.name)", shape: $0.shape) }
        }
        try CheckpointFile.validate(file, expected: expected, path: path)
        return TrainingPosition(step: try integer("step"), epoch: try integer("epoch"), batchInEpoch: try integer("batch_in_epoch"))
    }

    /// Copies a validated checkpoint's tensors into the arena and the optimizer state.
    public static func restore(_ file: CheckpointFile, model: Model, optimizer: Optimizer) {
        restoreValues(file, into: model)
        for state in optimizer.stateNames {
            let buffer = optimizer.state(named: state)
            for slot in model.arena.slots {
                guard let record = file.tensor(named: "optim.\(state).\(slot.name)") else { continue }
                for i in 0..<slot.count { buffer[slot.offset + i] = record.values[i] }
            }
        }
        optimizer.stepCount = Int(file.metadata["optimizer_step"] ?? "") ?? 0
    }
}

extension TrainingCheckpoint {
    /// Rebuilds the model a checkpoint (or an exported weights file) describes, with its weights.
    public static func model(from file: CheckpointFile, path: String) throws -> Model {
        guard let spec = file.metadata["model"] else { throw Mismatch(description: "\(path): metadata has no 'model'") }
        if file.metadata["model_source"] == ModelSource.swift.rawValue {
            throw Mismatch(description: "\(path) holds a model built in Swift ('\(spec)'): build that model and load the file "
                           + "into it (TrainingCheckpoint.load(_:into:))")
        }
        let activationName = file.metadata["activation"] ?? "relu"
        guard let activation = ActivationFunction.named(activationName) else {
            throw Mismatch(description: "\(path): unknown activation '\(activationName)'")
        }
        let shapeText = file.metadata["input_shape"] ?? ""
        let inputShape = shapeText.split(separator: ",").compactMap { Int($0) }
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw Mismatch(description: "\(path): metadata 'input_shape' is missing or invalid ('\(shapeText)')")
        }
        let model = try ModelSpec(spec, activation: activation).build(inputShape: inputShape)
        try load(file, path: path, into: model)
        return model
    }

    /// Loads a checkpoint's (or exported file's) weights and buffers into `model`, after
    /// checking that every tensor's name and shape match it; a model built in Swift is
    /// restored this way.
    public static func load(_ file: CheckpointFile, path: String, into model: Model) throws {
        let parameters = file.tensors.filter { !$0.name.hasPrefix("optim.") }
        try CheckpointFile.validate(CheckpointFile(metadata: file.metadata, tensors: parameters),
                                    expected: (model.arena.slots + model.buffers.slots).map { (name: $0.name, shape: $0.shape) },
                                    path: path)
        restoreValues(file, into: model)
    }

    /// Copies the tensors named like the model's parameters and buffers into it.
    private static func restoreValues(_ file: CheckpointFile, into model: Model) {
        for store in [model.arena, model.buffers] {
            for slot in store.slots {
                guard let record = file.tensor(named: slot.name) else { continue }
                record.values.withUnsafeBufferPointer { (store.values + slot.offset).update(from: $0.baseAddress!, count: slot.count) }
            }
        }
    }

    /// The weights alone, for inference and for PyTorch's `load_state_dict`.
    public static func weightsOnly(_ file: CheckpointFile) -> CheckpointFile {
        let keep = ["model", "model_source", "activation", "loss", "input_shape", "step", "epoch", "seed"]
        var metadata: [String: String] = [:]
        for key in keep { metadata[key] = file.metadata[key] }
        metadata["content"] = "weights"
        return CheckpointFile(metadata: metadata, tensors: file.tensors.filter { !$0.name.hasPrefix("optim.") })
    }
}
