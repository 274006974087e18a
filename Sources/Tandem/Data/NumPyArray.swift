/// A NumPy `.npy` array read in place from a memory-mapped file (see `MappedFile`): nothing is
/// copied until rows are asked for, and then only those rows, converted to `Float`.
public final class NumPyArray {
    public let header: NumPyHeader
    private let file: MappedFile

    public init(path: String) throws {
        file = try MappedFile(path: path)
        let bytes = file.bytes
        // The header is in the first bytes; its declared length is checked against the file.
        header = try NumPyHeader(prefix: UnsafeRawBufferPointer(rebasing: bytes[0..<min(bytes.count, 1 << 20)]),
                                 fileSize: file.size, path: path)
    }

    public var path: String { file.path }
    public var shape: [Int] { header.shape }
    public var dtype: NumPyDType { header.dtype }
    /// Rows: the first dimension (1 for a scalar).
    public var rows: Int { header.shape.first ?? 1 }
    /// Elements per row: the product of the other dimensions.
    public var rowSize: Int { rows == 0 ? 0 : header.count / rows }

    private var elements: UnsafeRawPointer { file.base! + header.dataOffset }

    /// Element `i` (in C order) as a Double; integer types convert exactly up to 2⁵³.
    public func element(_ i: Int) -> Double {
        precondition(i >= 0 && i < header.count, "element \(i) outside an array of \(header.count)")
        switch header.dtype {
        case .float32: return Double(elements.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
        case .float64: return elements.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)
        case .uint8: return Double(elements.load(fromByteOffset: i, as: UInt8.self))
        case .int64: return Double(elements.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
        }
    }

    /// Writes row `row` into `out` as floats, times `scale` (uint8 images: 1/255).
    public func copyRow(_ row: Int, scale: Float = 1, into out: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rows, "row \(row) outside an array of \(rows) rows")
        let n = rowSize, first = row * n
        switch header.dtype {
        case .float32:
            let source = elements + 4 * first
            if scale == 1 {
                UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: 4 * n)
            } else {
                for i in 0..<n { out[i] = source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) * scale }
            }
        case .float64:
            let source = elements + 8 * first
            for i in 0..<n { out[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) * scale }
        case .uint8:
            let source = (elements + first).assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { out[i] = Float(source[i]) * scale }
        case .int64:
            let source = elements + 8 * first
            for i in 0..<n { out[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) * scale }
        }
    }
}
