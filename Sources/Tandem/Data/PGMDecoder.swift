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

