/// A NumPy `.npy` array read in place from a memory-mapped file (see `MappedFile`): nothing is
/// copied until rows are asked for, and then only those rows, converted to `Float`. The array
/// may be a whole `.npy` file or a member of a stored `.npz` archive.
public final class NumPyArray {
    /// The array's header: element type, shape and where the elements start.
    public let header: NumPyHeader
    /// Names the array in messages: the file, or "archive.npz:member".
    public let path: String
    private let file: MappedFile
    /// Where the array's `.npy` bytes start in the file.
    private let start: Int

    /// The `.npy` file at `path`.
    public convenience init(path: String) throws {
        let file = try MappedFile(path: path)
        try self.init(file: file, start: 0, size: file.size, path: path)
    }

    /// The array `name` ("x" or "x.npy") of the `.npz` archive at `path` (as `numpy.savez` writes).
    public convenience init(archive path: String, member name: String) throws {
        let file = try MappedFile(path: path)
        let archive = try ZipArchive(file.bytes, path: path)
        let wanted = name.hasSuffix(".npy") ? name : name + ".npy"
        guard let member = archive.member(named: wanted) else {
            let names = archive.members.map { $0.name.hasSuffix(".npy") ? String($0.name.dropLast(4)) : $0.name }
            throw DataError(path, "has no array '\(wanted.dropLast(4))' (it holds \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        try self.init(file: file, start: member.offset, size: member.size, path: path + ":" + wanted.dropLast(4))
    }

    /// Opens what a command line names: "data.npy", or "data.npz:key" (an archive's array;
    /// `defaultKey` when only "data.npz" is given).
    public static func open(_ reference: String, defaultKey: String) throws -> NumPyArray {
        if let colon = reference.lastIndex(of: ":"), reference[..<colon].hasSuffix(".npz") {
            return try NumPyArray(archive: String(reference[..<colon]), member: String(reference[reference.index(after: colon)...]))
        }
        if reference.hasSuffix(".npz") { return try NumPyArray(archive: reference, member: defaultKey) }
        return try NumPyArray(path: reference)
    }

    private init(file: MappedFile, start: Int, size: Int, path: String) throws {
        self.file = file; self.start = start; self.path = path
        let bytes = UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + size)])
        // The header is in the first bytes; its declared length is checked against the size.
        header = try NumPyHeader(prefix: UnsafeRawBufferPointer(rebasing: bytes[0..<min(bytes.count, 1 << 20)]),
                                 fileSize: size, path: path)
    }

    /// The array's shape, outermost dimension first.
    public var shape: [Int] { header.shape }
    /// The element type, as stored in the file.
    public var dtype: NumPyDType { header.dtype }
    /// Rows: the first dimension (1 for a scalar).
    public var rows: Int { header.shape.first ?? 1 }
    /// Elements per row: the product of the other dimensions.
    public var rowSize: Int { rows == 0 ? 0 : header.count / rows }

    private var elements: UnsafeRawPointer { file.base! + start + header.dataOffset }

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
