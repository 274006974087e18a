import CZlib

/// A single-channel image, row after row, each pixel an intensity in [0, 1] (0 black, 1 white).
///
/// Intensities rather than bytes, because that is what a model takes and because PGM files
/// may use any maximum value: a pixel `v` of a file with maximum `m` is `v · (1/m)`, computed
/// exactly as `Dataset.fill` turns Fashion-MNIST's bytes into `b · (1/255)`, so an image
/// exported from the data set comes back bit for bit as the model saw it in training.
public struct GreyImage: Equatable {
    public let width: Int
    public let height: Int
    public let intensities: [Float]

    public init(width: Int, height: Int, intensities: [Float]) {
        precondition(width > 0 && height > 0 && intensities.count == width * height, "image size does not match its pixels")
        self.width = width; self.height = height; self.intensities = intensities
    }

    public subscript(row: Int, column: Int) -> Float { intensities[row * width + column] }

    /// Nearest-neighbour resampling: every output pixel takes the input pixel its centre falls
    /// on. No smoothing, so a 56×56 image drawn at twice Fashion-MNIST's size comes back as
    /// exactly the 28×28 image it was drawn from.
    public func resized(width newWidth: Int, height newHeight: Int) -> GreyImage {
        precondition(newWidth > 0 && newHeight > 0)
        if newWidth == width && newHeight == height { return self }
        var out = [Float](repeating: 0, count: newWidth * newHeight)
        for r in 0..<newHeight {
            let sourceRow = min(height - 1, (2 * r + 1) * height / (2 * newHeight))
            for c in 0..<newWidth {
                let sourceColumn = min(width - 1, (2 * c + 1) * width / (2 * newWidth))
                out[r * newWidth + c] = intensities[sourceRow * width + sourceColumn]
            }
        }
        return GreyImage(width: newWidth, height: newHeight, intensities: out)
    }
}

/// Reads the two image formats a user is likely to have at hand for `tandem predict`:
///
/// - PGM (Netpbm greyscale), plain `P2` (ASCII numbers) and raw `P5` (one byte a pixel),
///   any maximum value up to 255.
/// - PNG, non-interlaced, 8 or 16 bits a sample: greyscale, grey+alpha, RGB and RGBA.
///   Colour becomes grey by the Rec. 601 luma weights (0.299 R + 0.587 G + 0.114 B), and
///   transparency is composited over black, because Fashion-MNIST draws white clothes on a
///   black background: a transparent background must read as background.
///
/// Every problem is a `DataError` naming the file: these bytes come from users, so each length
/// and offset is checked before it is used.
public enum ImageFile {
    /// Width and height above this are refused before any allocation: a corrupt or hostile
    /// header must not make us reserve gigabytes.
    public static let maximumSide = 16_384
    public static let maximumPixels = 1 << 24

    public static func read(path: String) throws -> GreyImage {
        try decode(try FileBytes.read(path), path: path)
    }

    /// Decides the format from the first bytes, not from the file name.
    public static func decode(_ bytes: [UInt8], path: String) throws -> GreyImage {
        if bytes.starts(with: PNG.signature) { return try PNG.decode(bytes, path: path) }
        if bytes.count >= 2 && bytes[0] == UInt8(ascii: "P") {
            switch bytes[1] {
            case UInt8(ascii: "2"), UInt8(ascii: "5"): return try PGM.decode(bytes, path: path)
            case UInt8(ascii: "1"), UInt8(ascii: "4"):
                throw DataError(path, "is a PBM (black-and-white) file; only PGM (P2, P5) and PNG images are supported")
            case UInt8(ascii: "3"), UInt8(ascii: "6"):
                throw DataError(path, "is a PPM (colour) file; only PGM (P2, P5) and PNG images are supported")
            default: break
            }
        }
        if bytes.isEmpty { throw DataError(path, "is empty, not an image") }
        let start = bytes.prefix(4).map { byte -> String in
            (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
        }.joined()
        throw DataError(path, "not a PGM or PNG image (starts with \"\(start)\")")
    }

    /// The checks every format shares on a declared size.
    static func checkSize(width: Int, height: Int, path: String) throws {
        guard width > 0, height > 0 else { throw DataError(path, "declares an empty image (\(width)×\(height))") }
        guard width <= maximumSide, height <= maximumSide, width * height <= maximumPixels else {
            throw DataError(path, "declares a \(width)×\(height) image, larger than the \(maximumSide)×\(maximumSide) this reader accepts")
        }
    }
}

// MARK: - PGM

/// Netpbm's greyscale format: "P2" or "P5", width, height and maximum value as ASCII decimal
/// numbers separated by whitespace (with `#` comments to the end of a line), then the pixels:
/// ASCII numbers for P2, or, after exactly one whitespace byte, one byte a pixel for P5.
enum PGM {
    static func decode(_ bytes: [UInt8], path: String) throws -> GreyImage {
        guard bytes.count > 2, TokenReader.isWhitespace(bytes[2]) || bytes[2] == UInt8(ascii: "#") else {
            throw DataError(path, "not a PGM image (its magic number is not followed by whitespace)")
        }
        var reader = TokenReader(bytes: bytes, position: 2)
        let binary = bytes[1] == UInt8(ascii: "5")
        func headerNumber(_ what: String) throws -> Int {
            guard let token = reader.nextToken() else { throw DataError(path, "PGM header ends before its \(what)") }
            guard let value = Int(token), value >= 0 else {
                throw DataError(path, "PGM \(what) '\(token.prefix(20))' is not a non-negative integer")
            }
            return value
        }
        let width = try headerNumber("width"), height = try headerNumber("height")
        let maximum = try headerNumber("maximum value")
        try ImageFile.checkSize(width: width, height: height, path: path)
        guard maximum >= 1 else { throw DataError(path, "PGM maximum value must be at least 1") }
        guard maximum <= 255 else {
            throw DataError(path, "16-bit PGM (maximum value \(maximum)) is not supported; only 8-bit (maximum ≤ 255)")
        }
        let count = width * height
        var intensities = [Float](repeating: 0, count: count)
        let scale = 1 / Float(maximum)

        if binary {
            // Exactly one whitespace byte separates the header from the raster.
            let start = reader.position + 1
            guard reader.position < bytes.count, TokenReader.isWhitespace(bytes[reader.position]) else {
                throw DataError(path, "P5 header is not followed by the pixel data")
            }
            let available = bytes.count - start
            guard available >= count else {
                throw DataError(path, "truncated: a \(width)×\(height) P5 image needs \(count) bytes of pixels, the file has \(available)")
            }
            for i in 0..<count {
                let v = Int(bytes[start + i])
                guard v <= maximum else { throw DataError(path, "pixel \(i) is \(v), above the maximum value \(maximum)") }
                intensities[i] = Float(v) * scale
            }
            // Trailing whitespace (a final newline some writers add) is fine; more data is not.
            if bytes[(start + count)...].contains(where: { !TokenReader.isWhitespace($0) }) {
                throw DataError(path, "has \(available - count) bytes after the \(width)×\(height) pixels its header declares")
            }
        } else {
            for i in 0..<count {
                guard let token = reader.nextToken() else {
                    throw DataError(path, "truncated: a \(width)×\(height) P2 image needs \(count) pixels, the file has \(i)")
                }
                guard let v = Int(token), v >= 0 else {
                    throw DataError(path, "pixel \(i) '\(token.prefix(20))' is not a non-negative integer")
                }
                guard v <= maximum else { throw DataError(path, "pixel \(i) is \(v), above the maximum value \(maximum)") }
                intensities[i] = Float(v) * scale
            }
            if reader.nextToken() != nil {
                throw DataError(path, "has more pixels than the \(width)×\(height) its header declares")
            }
        }
        return GreyImage(width: width, height: height, intensities: intensities)
    }

    /// Whitespace-separated ASCII tokens, skipping `#` comments.
    struct TokenReader {
        let bytes: [UInt8]
        var position: Int

        static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }

        /// The next token, leaving `position` just after its last byte; nil at the end.
        /// Tokens are cut at 32 bytes: no number in a valid file is longer.
        mutating func nextToken() -> String? {
            while position < bytes.count {
                let b = bytes[position]
                if TokenReader.isWhitespace(b) {
                    position += 1
                } else if b == UInt8(ascii: "#") {
                    while position < bytes.count && bytes[position] != 0x0A && bytes[position] != 0x0D { position += 1 }
                } else {
                    break
                }
            }
            guard position < bytes.count else { return nil }
            let start = position
            while position < bytes.count && !TokenReader.isWhitespace(bytes[position]) && bytes[position] != UInt8(ascii: "#") {
                position += 1
            }
            return String(decoding: bytes[start..<min(position, start + 32)], as: UTF8.self)
        }
    }
}

// MARK: - PNG

/// The PNG subset `predict` needs: a chain of chunks (length, type, data, CRC-32), an IHDR
/// first, the zlib-compressed pixels split over IDAT chunks, and IEND. Each row of pixels is
/// preceded by a filter byte saying how it was predicted from its neighbours (None, Sub, Up,
/// Average, Paeth); undoing the filters gives the samples.
enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    struct Header {
        var width: Int, height: Int, bitDepth: Int, colourType: Int
        /// Samples per pixel: grey 1, grey+alpha 2, RGB 3, RGBA 4.
        var channels: Int
        var bytesPerPixel: Int { channels * bitDepth / 8 }
        var rowBytes: Int { width * bytesPerPixel }
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> GreyImage {
        var header: Header?
        var compressed: [UInt8] = []
        var sawEnd = false
        var offset = signature.count
        while offset < bytes.count && !sawEnd {
            guard bytes.count - offset >= 12 else {
                throw DataError(path, "truncated PNG: \(bytes.count - offset) stray bytes where a chunk should start at offset \(offset)")
            }
            let length = Int(bigEndian32(bytes, offset))
            let typeBytes = Array(bytes[(offset + 4)..<(offset + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                throw DataError(path, "corrupt PNG: invalid chunk type at offset \(offset)")
            }
            guard length <= Int(Int32.max), length <= bytes.count - offset - 12 else {
                throw DataError(path, "truncated PNG: chunk \(type) at offset \(offset) declares \(length) bytes, the file ends first")
            }
            let dataStart = offset + 8
            let storedCRC = bigEndian32(bytes, dataStart + length)
            let actualCRC = bytes.withUnsafeBufferPointer { buffer -> UInt32 in
                UInt32(crc32(0, buffer.baseAddress! + offset + 4, UInt32(length + 4)))
            }
            guard storedCRC == actualCRC else { throw DataError(path, "corrupt PNG: CRC mismatch in chunk \(type) at offset \(offset)") }
            let data = bytes[dataStart..<(dataStart + length)]

            if header == nil && type != "IHDR" { throw DataError(path, "corrupt PNG: first chunk is \(type), not IHDR") }
            switch type {
            case "IHDR":
                guard header == nil else { throw DataError(path, "corrupt PNG: more than one IHDR chunk") }
                header = try parseHeader(Array(data), path: path)
            case "IDAT":
                compressed.append(contentsOf: data)
            case "IEND":
                sawEnd = true
            case "PLTE":
                break   // only a suggested palette here: indexed images are refused in parseHeader
            default:
                // An unknown chunk whose type starts with a capital letter is "critical": the
                // image cannot be shown correctly without understanding it.
                if typeBytes[0] < 0x61 { throw DataError(path, "PNG uses the unsupported critical chunk \(type)") }
            }
            offset = dataStart + length + 4
        }
        guard let header else { throw DataError(path, "truncated PNG: no IHDR chunk") }
        guard sawEnd else { throw DataError(path, "truncated PNG: no IEND chunk") }
        guard !compressed.isEmpty else { throw DataError(path, "corrupt PNG: no IDAT (image data) chunk") }

        let expected = header.height * (1 + header.rowBytes)
        // Deflate never shrinks data by more than about 1032:1; a header claiming more is
        // corrupt, and refusing it here avoids allocating for an image that is not there.
        guard expected / 1032 <= compressed.count + 64 else {
            throw DataError(path, "corrupt PNG: \(compressed.count) bytes of image data cannot hold a \(header.width)×\(header.height) image")
        }
        var raw = try inflate(compressed, expected: expected, path: path)
        try unfilter(&raw, header: header, path: path)
        return grey(raw, header: header)
    }

    static func parseHeader(_ data: [UInt8], path: String) throws -> Header {
        guard data.count == 13 else { throw DataError(path, "corrupt PNG: IHDR holds \(data.count) bytes, not 13") }
        let width = Int(bigEndian32(data, 0)), height = Int(bigEndian32(data, 4))
        let bitDepth = Int(data[8]), colourType = Int(data[9])
        try ImageFile.checkSize(width: width, height: height, path: path)
        guard data[10] == 0, data[11] == 0 else {
            throw DataError(path, "corrupt PNG: unknown compression (\(data[10])) or filter method (\(data[11]))")
        }
        guard data[12] == 0 else { throw DataError(path, "interlaced (Adam7) PNG is not supported; save it non-interlaced") }
        let channels: Int
        switch colourType {
        case 0: channels = 1
        case 2: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        case 3: throw DataError(path, "palette (indexed-colour) PNG is not supported; save it as greyscale or RGB")
        default: throw DataError(path, "corrupt PNG: unknown colour type \(colourType)")
        }
        guard bitDepth == 8 || bitDepth == 16 else {
            throw DataError(path, "PNG with \(bitDepth)-bit samples is not supported; only 8 or 16 bits")
        }
        return Header(width: width, height: height, bitDepth: bitDepth, colourType: colourType, channels: channels)
    }

    /// zlib's one-shot `uncompress`, into a buffer one byte larger than the image needs, so
    /// that too much data is told apart from exactly enough.
    static func inflate(_ compressed: [UInt8], expected: Int, path: String) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: expected + 1)
        var outputLength = uLongf(output.count)
        let status = output.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { input in
                uncompress(out.baseAddress!, &outputLength, input.baseAddress!, uLong(input.count))
            }
        }
        switch status {
        case Z_OK:
            guard Int(outputLength) == expected else {
                throw DataError(path, "truncated PNG: image data holds \(outputLength) bytes, the header needs \(expected)")
            }
            output.removeLast()
            return output
        case Z_BUF_ERROR where Int(outputLength) == expected + 1:
            throw DataError(path, "corrupt PNG: more image data than the header's size needs")
        case Z_BUF_ERROR, Z_DATA_ERROR:
            throw DataError(path, "corrupt PNG: image data does not decompress (truncated or damaged zlib stream)")
        default:
            throw DataError(path, "PNG image data cannot be decompressed (zlib error \(status))")
        }
    }

    /// Undoes the per-row filters in place, leaving each row's filter byte where it was.
    static func unfilter(_ raw: inout [UInt8], header: Header, path: String) throws {
        let stride = 1 + header.rowBytes, bpp = header.bytesPerPixel, n = header.rowBytes
        try raw.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for row in 0..<header.height {
                let filter = base[row * stride]
                let x = base + row * stride + 1
                // The row above, or nothing (zeros) for the first row.
                let up: UnsafeMutablePointer<UInt8>? = row > 0 ? x - stride : nil
                func above(_ i: Int) -> Int { up.map { Int($0[i]) } ?? 0 }
                func left(_ i: Int) -> Int { i >= bpp ? Int(x[i - bpp]) : 0 }
                func upperLeft(_ i: Int) -> Int { i >= bpp ? (up.map { Int($0[i - bpp]) } ?? 0) : 0 }
                switch filter {
                case 0: break
                case 1: for i in 0..<n { x[i] = UInt8(truncatingIfNeeded: Int(x[i]) + left(i)) }
                case 2: for i in 0..<n { x[i] = UInt8(truncatingIfNeeded: Int(x[i]) + above(i)) }
                case 3: for i in 0..<n { x[i] = UInt8(truncatingIfNeeded: Int(x[i]) + (left(i) + above(i)) / 2) }
                case 4:
                    for i in 0..<n {
                        x[i] = UInt8(truncatingIfNeeded: Int(x[i]) + paeth(left(i), above(i), upperLeft(i)))
                    }
                default:
                    throw DataError(path, "corrupt PNG: row \(row) has unknown filter type \(filter)")
                }
            }
        }
    }

    /// The neighbour (left, above, upper left) closest to left + above − upper left.
    static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    /// Unfiltered samples to intensities: luma for colour, alpha composited over black.
    static func grey(_ raw: [UInt8], header: Header) -> GreyImage {
        let stride = 1 + header.rowBytes, wide = header.bitDepth == 16
        let maximum = wide ? 65535 : 255, scale = 1 / Float(maximum)
        var intensities = [Float](repeating: 0, count: header.width * header.height)
        for row in 0..<header.height {
            for column in 0..<header.width {
                let pixel = row * stride + 1 + column * header.bytesPerPixel
                func sample(_ channel: Int) -> Int {
                    let at = pixel + channel * (wide ? 2 : 1)
                    return wide ? Int(raw[at]) << 8 | Int(raw[at + 1]) : Int(raw[at])
                }
                func opacity(_ channel: Int) -> Float {
                    let a = sample(channel)
                    return a == maximum ? 1 : Float(a) / Float(maximum)
                }
                func luma() -> Float { 0.299 * Float(sample(0)) * scale + 0.587 * Float(sample(1)) * scale + 0.114 * Float(sample(2)) * scale }
                let value: Float
                switch header.channels {
                case 1: value = Float(sample(0)) * scale
                case 2: value = Float(sample(0)) * scale * opacity(1)
                case 3: value = luma()
                default: value = luma() * opacity(3)
                }
                // Luma weights add up to 1 only to within rounding: keep the result in range.
                intensities[row * header.width + column] = header.channels >= 3 ? min(1, value) : value
            }
        }
        return GreyImage(width: header.width, height: header.height, intensities: intensities)
    }

    static func bigEndian32<C: RandomAccessCollection>(_ bytes: C, _ offset: Int) -> UInt32 where C.Element == UInt8, C.Index == Int {
        let o = bytes.startIndex + offset
        return UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3])
    }
}
