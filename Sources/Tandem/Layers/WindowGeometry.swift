/// Where a square window slides over a [C, H, W] sample: the arithmetic shared by
/// convolutions and pooling.
///
/// The window of output pixel (oh, ow) covers input rows `oh·stride − padding + kh` and columns
/// `ow·stride − padding + kw` for kh, kw in 0..<kernel; positions outside the input are padding.
/// Output sizes follow PyTorch (floor mode): (size + 2·padding − kernel) / stride + 1.
public struct WindowGeometry: Equatable {
    /// Channels C of the input sample.
    public let channels: Int
    /// Input height H, in pixels.
    public let height: Int
    /// Input width W, in pixels.
    public let width: Int
    /// Side length of the square window.
    public let kernel: Int
    /// Step between neighbouring windows, in pixels.
    public let stride: Int
    /// Zero pixels added on every side of the input.
    public let padding: Int
    /// Output height Ho = (H + 2·padding − kernel) / stride + 1.
    public let outputHeight: Int
    /// Output width Wo = (W + 2·padding − kernel) / stride + 1.
    public let outputWidth: Int

    /// Validates a per-sample input shape against a window; `layer` names the layer in errors.
    public init(input shape: [Int], kernel: Int, stride: Int, padding: Int, layer: String) throws {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw ModelSpecError("\(layer) needs per-sample input [channels, height, width], got \(shape)")
        }
        guard kernel > 0, stride > 0, padding >= 0 else {
            throw ModelSpecError("\(layer): kernel and stride must be positive and padding not negative")
        }
        let paddedHeight = shape[1] + 2 * padding, paddedWidth = shape[2] + 2 * padding
        guard kernel <= paddedHeight, kernel <= paddedWidth else {
            throw ModelSpecError("\(layer): kernel \(kernel)×\(kernel) is larger than its padded input "
                                 + "\(paddedHeight)×\(paddedWidth) (input \(shape), padding \(padding))")
        }
        channels = shape[0]; height = shape[1]; width = shape[2]
        self.kernel = kernel; self.stride = stride; self.padding = padding
        outputHeight = (paddedHeight - kernel) / stride + 1
        outputWidth = (paddedWidth - kernel) / stride + 1
    }

    /// The per-sample input shape, [C, H, W].
    public var inputShape: [Int] { [channels, height, width] }
    /// Values in one input channel of one sample.
    public var inputPlane: Int { height * width }
    /// Values in one output channel of one sample.
    public var outputPlane: Int { outputHeight * outputWidth }
    /// Values one output pixel sees: the rows of the im2col matrix.
    public var patchSize: Int { channels * kernel * kernel }
}
