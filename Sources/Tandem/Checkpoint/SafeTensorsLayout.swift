/// The safetensors layout, shared by the encoder and the decoder:
///
///     [8 bytes]  N, the header length, an unsigned 64-bit little-endian integer
///     [N bytes]  the header: UTF-8 JSON, padded at the end with spaces to a multiple of 8
///     [rest]     the payload: every tensor's raw little-endian bytes, packed back to back
///
/// The header is one JSON object. The key `__metadata__` maps to an object of string pairs;
/// every other key is a tensor name mapping to
/// `{"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}`, where the offsets
/// are byte positions relative to the start of the payload (not of the file).
///
/// Padding the header to 8 bytes keeps the payload 8-byte aligned when the file is mapped,
/// which is what the Python library does; readers must accept any N.
enum SafeTensorsLayout {
    /// Size of the header-length field.
    static let lengthFieldSize = 8
    /// Alignment of the payload start (and so of the header length).
    static let headerAlignment = 8
    /// The reserved header key for metadata.
    static let metadataKey = "__metadata__"
    /// Field names of one tensor entry.
    static let dtypeField = "dtype"
    static let shapeField = "shape"
    static let offsetsField = "data_offsets"
    /// The largest header accepted; the same limit as the reference (Rust) implementation.
    /// A length above it means the file is not a safetensors file or is corrupted, and
    /// refusing it keeps a bad file from making us allocate gigabytes.
    static let maximumHeaderLength = 100_000_000
}
