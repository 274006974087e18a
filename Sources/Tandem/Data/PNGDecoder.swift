import CZlib

/// The PNG subset `predict` and image folders need: a chain of chunks (length, type, data, CRC-32), an IHDR
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
        let (raw, header) = try unfilteredSamples(bytes, path: path)
        return grey(raw, header: header)
    }

    static func decodePixels(_ bytes: [UInt8], path: String) throws -> PixelImage {
        let (raw, header) = try unfilteredSamples(bytes, path: path)
        return pixels(raw, header: header)
    }

    /// The rows of samples, each after its filter byte, and the header that says their layout.
    static func unfilteredSamples(_ bytes: [UInt8], path: String) throws -> ([UInt8], Header) {
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
        return (raw, header)
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

    /// Calls `body` with every pixel's row, column and a reader of its samples (channel 0 …
    /// channels − 1, 8 or 16 bits as the file stores them), row after row.
    static func forEachPixel(_ raw: [UInt8], header: Header, _ body: (_ row: Int, _ column: Int, _ sample: (Int) -> Int) -> Void) {
        let stride = 1 + header.rowBytes, wide = header.bitDepth == 16
        for row in 0..<header.height {
            for column in 0..<header.width {
                let pixel = row * stride + 1 + column * header.bytesPerPixel
                body(row, column) { channel in
                    let at = pixel + channel * (wide ? 2 : 1)
                    return wide ? Int(raw[at]) << 8 | Int(raw[at + 1]) : Int(raw[at])
                }
            }
        }
    }

    /// Unfiltered samples to channels: grey stays one channel, colour three, and alpha is
    /// composited over black (as `grey` does).
    static func pixels(_ raw: [UInt8], header: Header) -> PixelImage {
        let maximum = header.bitDepth == 16 ? 65535 : 255, scale = 1 / Float(maximum)
        let colours = header.channels >= 3 ? 3 : 1, hasAlpha = header.channels == 2 || header.channels == 4
        let plane = header.width * header.height
        var values = [Float](repeating: 0, count: colours * plane)
        forEachPixel(raw, header: header) { row, column, sample in
            let alpha = hasAlpha ? sample(colours) : maximum
            let opacity: Float = alpha == maximum ? 1 : Float(alpha) / Float(maximum)
            for c in 0..<colours {
                values[c * plane + row * header.width + column] = hasAlpha ? Float(sample(c)) * scale * opacity : Float(sample(c)) * scale
            }
        }
        return PixelImage(width: header.width, height: header.height, channels: colours, values: values)
    }

    /// Unfiltered samples to intensities: luma for colour, alpha composited over black.
    static func grey(_ raw: [UInt8], header: Header) -> GreyImage {
        let maximum = header.bitDepth == 16 ? 65535 : 255, scale = 1 / Float(maximum)
        var intensities = [Float](repeating: 0, count: header.width * header.height)
        forEachPixel(raw, header: header) { row, column, sample in
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
        return GreyImage(width: header.width, height: header.height, intensities: intensities)
    }

    static func bigEndian32<C: RandomAccessCollection>(_ bytes: C, _ offset: Int) -> UInt32 where C.Element == UInt8, C.Index == Int {
        let o = bytes.startIndex + offset
        return UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3])
    }
}
