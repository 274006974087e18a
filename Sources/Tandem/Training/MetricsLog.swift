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
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CommunicationError("cannot open metrics file \(path) for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    public func write(_ event: String, _ fields: [String: Any]) {
        var record = fields
        record["event"] = event
        let clean = record.mapValues(MetricsLog.jsonSafe)
        guard let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        handle.write(data)
        handle.write("\n".data(using: .utf8)!)
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
