import Foundation
import Glibc

/// `metrics.jsonl`: one JSON object per line, appended as training goes, so a crashed run
/// still leaves everything up to the crash, and tools can follow the file while it grows.
public final class MetricsLog {
    /// The file appended to.
    public let path: String
    private let descriptor: Int32

    /// Opens `path` for appending, creating it if needed; a last line a killed run left unfinished is ended first.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw MetricsLog.Failure(description: "cannot open metrics file \(path): \(String(cString: strerror(errno)))")
        }
        descriptor = fd
        // A run killed mid-line (before records went out whole) left no newline: begin a
        // fresh line, so this run's records never run into it.
        let end = lseek(fd, 0, SEEK_END)
        var last: UInt8 = 0
        if end > 0, pread(fd, &last, 1, end - 1) == 1, last != UInt8(ascii: "\n") {
            do { try append(Data([UInt8(ascii: "\n")])) } catch { close(fd); throw error }
        }
    }

    deinit { close(descriptor) }

    /// A write that failed (a full disk, a file-size limit): the run ends with this line.
    public struct Failure: Error, CustomStringConvertible {
        /// What failed and why, naming the file.
        public var description: String
    }

    /// Appends one record: `fields` with `"event": event`, as one line of JSON with sorted keys (a non-finite
    /// number is written as a string).
    public func write(_ event: String, _ fields: [String: Any]) throws {
        var record = fields
        record["event"] = event
        let clean = record.mapValues(MetricsLog.jsonSafe)
        guard let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        // One write per record, newline included: a kill between two writes would leave a
        // line without its end, and the next run's first record would continue it.
        try append(data + Data([UInt8(ascii: "\n")]))
    }

    private func append(_ data: Data) throws {
        try data.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw Failure(description: "cannot write metrics file \(path): \(String(cString: strerror(n < 0 ? errno : EIO)))")
                }
                done += n
            }
        }
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
