/// A model's weights as a file of their own: what `tandem export` writes from a checkpoint, and
/// what a program that built its model in Swift writes directly.
extension Model {
    /// The parameters and buffers (running statistics), named by their paths in the model as
    /// PyTorch names the equivalent module's state, in a file PyTorch's `load_state_dict` takes
    /// (safetensors). No optimizer state.
    public func weights(name: String) -> CheckpointFile {
        var tensors: [TensorRecord] = []
        for store in [arena, buffers] {
            for slot in store.slots {
                tensors.append(TensorRecord(name: slot.name, shape: slot.shape,
                                            values: Array(UnsafeBufferPointer(start: store.values + slot.offset, count: slot.count))))
            }
        }
        let metadata = ["model": name, "model_source": TrainingCheckpoint.ModelSource.swift.rawValue, "content": "weights",
                        "input_shape": inputShape.map(String.init).joined(separator: ",")]
        return CheckpointFile(metadata: metadata, tensors: tensors)
    }

    /// Writes `weights(name:)` to `path`, atomically: an existing file there is replaced whole
    /// or not at all.
    public func exportWeights(to path: String, name: String) throws {
        try AtomicFile.write(weights(name: name).encode(), to: path)
    }
}
