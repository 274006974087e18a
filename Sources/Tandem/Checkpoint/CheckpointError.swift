/// A checkpoint that cannot be read or written, as one line naming the file and what is wrong
/// with it, e.g. `runs/a/ckpt-00000100.safetensors: payload SHA-256 mismatch (...)`.
///
/// Every problem with a checkpoint file surfaces as this one type, so a caller can catch it,
/// print `description` and either fall back to an older checkpoint or stop with a clear error.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file (or directory) concerned.
    public var path: String
    /// What is wrong, in a few words, without the path.
    public var problem: String

    /// An error about the file at `path`; `problem` should not repeat the path.
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    /// "path: problem", the one line a command prints.
    public var description: String { "\(path): \(problem)" }
}
