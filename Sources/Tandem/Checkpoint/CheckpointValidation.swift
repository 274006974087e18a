extension CheckpointFile {
    /// Checks that `file` holds exactly the tensors a model expects, with the expected shapes,
    /// before any of its values are copied into the model. `path` names the file in messages
    /// (pass the real path; the default only keeps call sites short).
    ///
    /// Throws on the first problem, e.g. `tensor 0.weight has shape [256, 784], the model
    /// expects [128, 784]`, adding how many further problems there are so the user knows
    /// whether it is one typo or a different model altogether.
    public static func validate(_ file: CheckpointFile, expected: [(name: String, shape: [Int])],
                                path: String = "checkpoint") throws {
        var problems: [String] = []
        var fileShapes: [String: [Int]] = [:]
        for tensor in file.tensors { fileShapes[tensor.name] = tensor.shape }

        var expectedNames = Set<String>()
        for (name, shape) in expected {
            expectedNames.insert(name)
            guard let found = fileShapes[name] else {
                problems.append("checkpoint has no tensor \(HeaderJSON.displayed(name)), which the model expects")
                continue
            }
            if found != shape {
                problems.append("tensor \(HeaderJSON.displayed(name)) has shape \(HeaderJSON.describe(found)), the model expects \(HeaderJSON.describe(shape))")
            }
        }
        for tensor in file.tensors where !expectedNames.contains(tensor.name) {
            problems.append("checkpoint has tensor \(HeaderJSON.displayed(tensor.name)), which the model does not expect")
        }

        guard let first = problems.first else { return }
        let more = problems.count - 1
        let suffix = more == 0 ? "" : " (and \(more) more mismatch\(more == 1 ? "" : "es"))"
        throw CheckpointError(path: path, problem: first + suffix)
    }
}
