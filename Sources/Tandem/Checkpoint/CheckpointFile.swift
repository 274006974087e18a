/// A checkpoint in memory: string metadata plus named Float32 tensors, in file order.
///
/// On disk it is a safetensors file (see `SafeTensorsLayout.swift`), so Python's
/// `safetensors` package or a few lines of NumPy can read the weights directly. Encoding lives
/// in `CheckpointEncoding.swift`, decoding with its validation in `CheckpointDecoding.swift`.
public struct CheckpointFile: Equatable {
    /// Free-form string pairs stored as the safetensors `__metadata__` object. The trainer
    /// records the model spec, step, RNG state and so on here; `encode()` adds the format
    /// name, version and payload checksum.
    public var metadata: [String: String]
    /// The tensors, in the order they are laid out in the payload.
    public var tensors: [TensorRecord]

    /// A checkpoint from its metadata and tensors (the format's own entries are added by `encode()`).
    public init(metadata: [String: String] = [:], tensors: [TensorRecord] = []) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The tensor with this name, if the checkpoint has one.
    public func tensor(named name: String) -> TensorRecord? {
        tensors.first { $0.name == name }
    }

    /// Reads and fully validates the checkpoint at `path` (see `decode(_:path:)`).
    public static func read(path: String) throws -> CheckpointFile {
        try decode(PosixIO.readWholeFile(path), path: path)
    }
}

/// The names and values that mark a file as a Tandem checkpoint.
public enum CheckpointFormat {
    /// Value of the `format` metadata entry.
    public static let name = "tandem-checkpoint"
    /// Value of `format_version` this build writes. Bump it when the meaning of the tensors or
    /// metadata changes incompatibly. Version 2 added `header_sha256`.
    public static let version = "2"
    /// The versions this build reads: 1 (no header checksum, written before version 2) and 2.
    public static let readableVersions = ["1", "2"]

    /// Metadata keys the format itself uses; all other keys belong to the trainer.
    public static let formatKey = "format"
    /// Metadata key of the format version the file was written in (see `version`).
    public static let versionKey = "format_version"
    /// Metadata key of the payload checksum: the SHA-256 of all tensor bytes, as 64 hex digits.
    public static let payloadChecksumKey = "payload_sha256"
    /// SHA-256 of the header's content: every metadata entry but itself, and every tensor's
    /// name, dtype, shape and offsets (see `headerDigest`). The payload checksum alone would
    /// let an edited header (two same-shaped tensors' offsets swapped, a shape changed with its
    /// offsets, a metadata value altered) load silently.
    public static let headerChecksumKey = "header_sha256"

    /// The header checksum: SHA-256 over a canonical text of the metadata (sorted by key,
    /// without the checksum itself) and the tensor table (sorted by name), independent of how
    /// the JSON was spelled or ordered.
    static func headerDigest(metadata: [String: String], tensors: [(name: String, shape: [Int], begin: Int, end: Int)]) -> String {
        var text = ""
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where key != headerChecksumKey {
            text += "m " + HeaderJSON.quoted(key) + " " + HeaderJSON.quoted(value) + "\n"
        }
        for tensor in tensors.sorted(by: { $0.name < $1.name }) {
            text += "t " + HeaderJSON.quoted(tensor.name) + " " + dtype + " " + HeaderJSON.integerArray(tensor.shape)
                + " " + HeaderJSON.integerArray([tensor.begin, tensor.end]) + "\n"
        }
        return SHA256.hex(Array(text.utf8))
    }

    /// The one element type Tandem stores, in safetensors' spelling.
    public static let dtype = "F32"
    /// Bytes per Float32 value.
    public static let bytesPerValue = 4
}
