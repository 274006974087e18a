import Foundation

/// The header of a NumPy `.npy` file (format versions 1, 2 and 3):
///
///     "\x93NUMPY"  major  minor  header length (UInt16 LE in v1, UInt32 LE in v2/v3)
///     {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }   padded with spaces, '\n'
///     the elements, C order
///
/// The header is a Python dict literal; this reads exactly the three keys NumPy writes and
/// refuses anything else, so a damaged or foreign file gets a one-line error naming the problem
/// rather than a guess.
public struct NumPyHeader: Equatable {
    /// The element type.
    public let dtype: NumPyDType
    /// The dimensions, outermost first (empty for a scalar).
    public let shape: [Int]
    /// Bytes from the start of the file to the first element.
    public let dataOffset: Int
    /// Elements in all (the product of the shape; 1 for a scalar).
    public let count: Int
    /// Bytes of element data: `count` times the element size.
    public var byteCount: Int { count * dtype.size }

    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // \x93NUMPY

    /// Reads the header from the first bytes of a file of `fileSize` bytes, and checks that the
    /// file holds exactly the elements it declares.
    public init(prefix bytes: UnsafeRawBufferPointer, fileSize: Int, path: String) throws {
        guard bytes.count >= 10 else { throw DataError(path, "too short for a NumPy header (\(bytes.count) bytes)") }
        guard Array(bytes[0..<6]) == Self.magic else { throw DataError(path, "not a NumPy .npy file (bad magic)") }
        let major = bytes[6]
        guard (1...3).contains(major) else { throw DataError(path, "NumPy format version \(major).\(bytes[7]) not supported (1 to 3 are)") }
        let lengthBytes = major == 1 ? 2 : 4
        let start = 8 + lengthBytes
        guard bytes.count >= start else { throw DataError(path, "truncated NumPy header") }
        var length = 0
        for i in 0..<lengthBytes { length |= Int(bytes[8 + i]) << (8 * i) }
        guard start + length <= bytes.count, start + length <= fileSize else {
            throw DataError(path, "truncated NumPy header: it declares \(length) bytes, the file has \(fileSize - start)")
        }
        guard let text = String(bytes: bytes[start..<(start + length)], encoding: .utf8) else {
            throw DataError(path, "NumPy header is not text")
        }
        var parser = NumPyHeaderParser(text: text, path: path)
        let fields = try parser.dictionary()
        guard Set(fields.keys) == ["descr", "fortran_order", "shape"] else {
            throw DataError(path, "NumPy header has keys \(fields.keys.sorted()), expected descr, fortran_order and shape")
        }
        guard case .string(let descr) = fields["descr"] else { throw DataError(path, "NumPy header's descr is not a string") }
        guard let dtype = NumPyDType(descr: descr) else {
            throw DataError(path, "dtype '\(descr)' not supported (Tandem reads float32, float64, uint8 and int64, little-endian)")
        }
        guard case .boolean(let fortran) = fields["fortran_order"] else {
            throw DataError(path, "NumPy header's fortran_order is not True or False")
        }
        guard case .tuple(let shape) = fields["shape"] else { throw DataError(path, "NumPy header's shape is not a tuple") }
        guard !fortran || shape.filter({ $0 > 1 }).count <= 1 else {
            throw DataError(path, "Fortran-ordered array not supported (save it with numpy.ascontiguousarray)")
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            let (bytes, overflowBytes) = product.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, !overflowBytes, bytes >= 0 else {
                throw DataError(path, "shape \(Self.describe(shape)) is too large")
            }
            count = product
        }
        let found = fileSize - (start + length)
        guard found == count * dtype.size else {
            let what = found < count * dtype.size ? "truncated data" : "data longer than declared"
            throw DataError(path, "\(what): shape \(Self.describe(shape)) of \(dtype.name) needs \(count * dtype.size) bytes, found \(found)")
        }
        self.dtype = dtype; self.shape = shape; self.dataOffset = start + length; self.count = count
    }

    /// "(60000, 784)", as Python prints a shape.
    static func describe(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}

/// The element types Tandem reads from NumPy files (little-endian, as NumPy writes on x86-64).
public enum NumPyDType: String, Equatable, Sendable {
    case float32, float64, uint8, int64

    init?(descr: String) {
        switch descr {
        case "<f4", "=f4": self = .float32
        case "<f8", "=f8": self = .float64
        case "|u1", "<u1", "=u1", "u1": self = .uint8
        case "<i8", "=i8": self = .int64
        default: return nil
        }
    }

    /// NumPy's name for the type ("float32", "uint8", ...).
    public var name: String { rawValue }
    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32: 4
        case .float64: 8
        case .uint8: 1
        case .int64: 8
        }
    }
}

/// A reader of the Python literals a `.npy` header holds: a dict of strings, booleans and
/// tuples of integers.
struct NumPyHeaderParser {
    enum Value: Equatable { case string(String), boolean(Bool), tuple([Int]) }

    private let characters: [Character]
    private let path: String
    private var position = 0

    init(text: String, path: String) {
        characters = Array(text); self.path = path
    }

    private func error(_ what: String) -> DataError { DataError(path, "malformed NumPy header: \(what)") }

    private mutating func skipSpace() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        skipSpace()
        guard position < characters.count, characters[position] == c else { throw error("expected '\(c)'") }
        position += 1
    }

    private mutating func peek() -> Character? {
        skipSpace()
        return position < characters.count ? characters[position] : nil
    }

    mutating func dictionary() throws -> [String: Value] {
        try expect("{")
        var result: [String: Value] = [:]
        while peek() != "}" {
            let key = try string()
            try expect(":")
            guard result[key] == nil else { throw error("key '\(key)' twice") }
            result[key] = try value()
            if peek() == "," { position += 1 } else { break }
        }
        try expect("}")
        guard peek() == nil else { throw error("text after the dict") }
        return result
    }

    private mutating func string() throws -> String {
        guard let quote = peek(), quote == "'" || quote == "\"" else { throw error("expected a quoted key or string") }
        position += 1
        var text = ""
        while position < characters.count, characters[position] != quote {
            guard characters[position] != "\\" else { throw error("escapes in strings") }
            text.append(characters[position]); position += 1
        }
        guard position < characters.count else { throw error("unterminated string") }
        position += 1
        return text
    }

    private mutating func value() throws -> Value {
        switch peek() {
        case "'", "\"": return .string(try string())
        case "(": return .tuple(try tuple())
        default:
            let word = String(characters[position...].prefix { $0.isLetter })
            guard word == "True" || word == "False" else { throw error("unexpected value") }
            position += word.count
            return .boolean(word == "True")
        }
    }

    private mutating func tuple() throws -> [Int] {
        try expect("(")
        var items: [Int] = []
        while peek() != ")" {
            let digits = String(characters[position...].prefix { $0.isNumber && $0.isASCII })
            guard !digits.isEmpty, let n = Int(digits) else { throw error("shape entries must be non-negative integers") }
            position += digits.count
            // Python 2 wrote long integers with a trailing L.
            if position < characters.count, characters[position] == "L" { position += 1 }
            items.append(n)
            if peek() == "," { position += 1 } else { break }
        }
        try expect(")")
        return items
    }
}
