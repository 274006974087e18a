import CZlib
import Foundation

/// Reads a whole file, decompressing it on the way if it is gzip (zlib reads plain files
/// unchanged, so one path serves `.gz` and raw IDX files alike).
public enum FileBytes {
    /// The contents of `path`, decompressed when gzip; a missing, unreadable or corrupt file is a `DataError`.
    public static func read(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(path, "no such file")
        }
        guard !isDirectory.boolValue else { throw DataError(path, "is a directory, not a data file") }
        guard let file = gzopen(path, "rb") else { throw DataError(path, "cannot open for reading") }
        defer { gzclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
                throw DataError(path, "corrupt compressed data (\(message))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<Int(n)])
        }
        // zlib stops quietly at a truncated gzip stream; gzeof without a clean end says so.
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code != Z_OK && code != Z_STREAM_END { throw DataError(path, "corrupt compressed data") }
        return bytes
    }
}
