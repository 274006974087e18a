/// The IDX format of MNIST and Fashion-MNIST: a 4-byte magic (two zero bytes, an element-type
/// code, the number of dimensions), one big-endian UInt32 per dimension, then the elements.
/// Only unsigned bytes (type 0x08) are accepted: that is what image and label files hold.
public struct IDXFile {
    /// The size of each dimension, outermost first ([count, rows, columns] for images).
    public let dimensions: [Int]
    /// The elements, one byte each, in row-major order.
    public let bytes: ArraySlice<UInt8>

    /// Reads and checks the file at `path` (gzip allowed).
    public init(path: String) throws {
        try self.init(bytes: try FileBytes.read(path), path: path)
    }

    /// Parses and checks `bytes` as an IDX file; `path` names it in errors.
    public init(bytes: [UInt8], path: String) throws {
        guard bytes.count >= 4 else { throw DataError(path, "too short for an IDX header (\(bytes.count) bytes)") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DataError(path, "bad magic number 0x\(bytes[0..<4].map { hex($0) }.joined()) (not an IDX file)")
        }
        guard bytes[2] == 0x08 else {
            throw DataError(path, "element type 0x\(hex(bytes[2])) not supported (expected 0x08, unsigned byte)")
        }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw DataError(path, "IDX header declares no dimensions") }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DataError(path, "truncated header: \(rank) dimensions need \(headerSize) bytes, file has \(bytes.count)")
        }
        var dims: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            dims.append(Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]))
        }
        // Multiply with overflow checks: a corrupt header can declare sizes whose product
        // does not fit in an Int, and that must be an error, not a trap.
        var expected = 1
        for d in dims {
            let (product, overflow) = expected.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw DataError(path, "dimensions \(dims.map(String.init).joined(separator: "×")) are too large")
            }
            expected = product
        }
        let actual = bytes.count - headerSize
        guard actual == expected else {
            let what = actual < expected ? "truncated payload" : "payload longer than declared"
            throw DataError(path, "\(what): dimensions \(dims.map(String.init).joined(separator: "×")) need \(expected) bytes, found \(actual)")
        }
        dimensions = dims
        self.bytes = bytes[headerSize...]
    }
}

private func hex(_ b: UInt8) -> String {
    let s = String(b, radix: 16)
    return s.count == 1 ? "0" + s : s
}
