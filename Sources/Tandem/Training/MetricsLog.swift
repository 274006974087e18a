import Foundation

/// `metrics.jsonl`: one JSON object per line, appended as training goes, so a crashed run
/// still leaves everything up to the crash, and tools can follow the file while it grows.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle

    public init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CommunicationError("cannot create metrics file \(path)")
            }
        }
        guard let handle = FileHandle(forUpdatingAtPath: path) else {
            throw CommunicationError("cannot open metrics file \(path) for writing")
        }
        // A run killed mid-line (before records went out whole) left no newline: begin a
        // fresh line, so this run's records never run into it.
        let end = handle.seekToEndOfFile()
        if end > 0 {
            handle.seek(toFileOffset: end - 1)
            let last = handle.readData(ofLength: 1)
            handle.seekToEndOfFile()
            if last != Data([UInt8(ascii: "\n")]) { handle.write(Data([UInt8(ascii: "\n")])) }
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    public func write(_ event: String, _ fields: [String: Any]) {
        var record = fields
        record["event"] = event
        let clean = record.mapValues(MetricsLog.jsonSafe)
        guard let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        // One write per record, newline included: a kill between two writes would leave a
        // line without its end, and the next run's first record would continue it.
        handle.write(data + Data([UInt8(ascii: "\n")]))
    }

    /// JSON has no NaN or infinity: write them as strings rather than lose the record.
    static func jsonSafe(_ value: Any) -> Any {
        if let d = value as? Double, !d.isFinite { return "\(d)" }
        if let f = value as? Float, !f.isFinite { return "\(f)" }
        if let a = value as? [Any] { return a.map(jsonSafe) }
        if let m = value as? [String: Any] { return m.mapValues(jsonSafe) }
        return value
    }
}
