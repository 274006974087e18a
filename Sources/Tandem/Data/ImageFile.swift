/// A single-channel image, row after row, each pixel an intensity in [0, 1] (0 black, 1 white).
///
/// Intensities rather than bytes, because that is what a model takes and because PGM files
/// may use any maximum value: a pixel `v` of a file with maximum `m` is `v · (1/m)`, computed
/// exactly as `Dataset.fill` turns Fashion-MNIST's bytes into `b · (1/255)`, so an image
/// exported from the data set comes back bit for bit as the model saw it in training.
public struct GreyImage: Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// The pixels, row after row, each in [0, 1].
    public let intensities: [Float]

    /// An image of `width` × `height` intensities, row after row.
    public init(width: Int, height: Int, intensities: [Float]) {
        precondition(width > 0 && height > 0 && intensities.count == width * height, "image size does not match its pixels")
        self.width = width; self.height = height; self.intensities = intensities
    }

    /// The intensity of the pixel at `row`, `column`, counted from 0 at the top left.
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

/// An image as a model takes it: `channels` planes (1 grey, 3 red-green-blue) of height × width
/// intensities in [0, 1], plane after plane (PyTorch's C × H × W, as torchvision's `ToTensor`).
public struct PixelImage: Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Colour planes: 1 for grey, 3 for red, green and blue.
    public let channels: Int
    /// The intensities in [0, 1], plane after plane, each plane row after row.
    public let values: [Float]

    /// An image of `channels` planes of `width` × `height` intensities.
    public init(width: Int, height: Int, channels: Int, values: [Float]) {
        precondition(width > 0 && height > 0 && channels > 0 && values.count == channels * width * height, "image size does not match its pixels")
        self.width = width; self.height = height; self.channels = channels; self.values = values
    }

    /// [channels, height, width], a data set's sample shape.
    public var shape: [Int] { [channels, height, width] }
    /// How a message names its size: "28×28 grey", "32×32 RGB".
    public var sizeDescription: String { "\(width)×\(height) \(channels == 1 ? "grey" : "RGB")" }
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
    /// The most pixels (width × height) an image may declare: 16,777,216.
    public static let maximumPixels = 1 << 24

    /// Reads the PGM or PNG image at `path` as grey intensities (colour by Rec. 601 luma).
    public static func read(path: String) throws -> GreyImage {
        try decode(try FileBytes.read(path), path: path)
    }

    /// An image with its colour channels kept (grey PNG and PGM files: one channel).
    public static func readPixels(path: String) throws -> PixelImage {
        let bytes = try FileBytes.read(path)
        if bytes.starts(with: PNG.signature) { return try PNG.decodePixels(bytes, path: path) }
        let grey = try decode(bytes, path: path)
        return PixelImage(width: grey.width, height: grey.height, channels: 1, values: grey.intensities)
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

