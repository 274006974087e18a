/// The convolutional layer kinds of a model spec's layer list (see `ModelSpec`):
///
///     conv:OUTxK[sS][pP]   Conv2D with OUT output channels, a K×K kernel, stride S (default 1),
///                          zero padding P (default 0); input channels come from the input shape.
///                          e.g. conv:32x5p2, conv:16x3s2p1
///     maxpool:K[sS]        MaxPool2D, K×K windows, stride S (default K); e.g. maxpool:2, maxpool:3s2
///     avgpool:K[sS]        AvgPool2D, likewise
///     flatten              [C, H, W] → [C·H·W]
///     dropout[:P]          Dropout with probability P in [0, 1) (default 0.5); e.g. dropout:0.25
///
/// Names are matched case-insensitively by the caller. Unknown names give nil, so `ModelSpec`
/// reports them; known names with unreadable arguments throw a `ModelSpecError` that shows the
/// expected form.
enum ConvolutionalSpecs {
    /// `index` is the layer's position in the model: each dropout layer draws its masks from
    /// its own random stream, so two dropout layers of one size never share a mask.
    /// `convolution` forces a convolution method: `.winograd` wherever the kernel allows it
    /// (5×5 or 3×3 at stride 1), `.im2col` everywhere; nil lets each layer choose.
    static func layer(_ name: String, _ argument: String?, inputShape shape: [Int], index: Int,
                      convolution: Conv2D.Algorithm? = nil) throws -> Layer? {
        switch name {
        case "conv", "conv2d":
            let form = "conv:OUTxK with optional sS (stride) and pP (padding), e.g. conv:32x5p2 or conv:16x3s2p1"
            let (head, options) = try parse(name, argument, options: ["s", "p"], form: form)
            let sizes = head.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard sizes.count == 2, let outputs = sizes[0], let kernel = sizes[1], outputs > 0, kernel > 0 else {
                throw unreadable(name, argument, form)
            }
            let channels = try inputChannels(name, argument, shape)
            let stride = options["s"] ?? 1
            let algorithm = convolution == .winograd && !WinogradConvolution.handles(kernel: kernel, stride: stride)
                ? nil : convolution
            return Conv2D(inChannels: channels, outChannels: outputs, kernel: kernel,
                          stride: stride, padding: options["p"] ?? 0, algorithm: algorithm)
        case "maxpool", "avgpool":
            let form = "\(name):K with optional sS (stride, default K), e.g. \(name):2 or \(name):3s2"
            let (head, options) = try parse(name, argument, options: ["s"], form: form)
            guard let kernel = Int(head), kernel > 0 else { throw unreadable(name, argument, form) }
            _ = try inputChannels(name, argument, shape)
            let stride = options["s"] ?? kernel
            return name == "maxpool" ? MaxPool2D(kernel: kernel, stride: stride) : AvgPool2D(kernel: kernel, stride: stride)
        case "flatten":
            guard argument == nil else { throw unreadable(name, argument, "flatten (no argument)") }
            return Flatten()
        case "resblock":
            let form = "resblock:OUT with optional sS (the stride of its first convolution), e.g. resblock:32s2"
            let (head, options) = try parse(name, argument, options: ["s"], form: form)
            guard let outputs = Int(head), outputs > 0, (options["s"] ?? 1) > 0 else { throw unreadable(name, argument, form) }
            let channels = try inputChannels(name, argument, shape)
            return BasicBlock(inChannels: channels, outChannels: outputs, stride: options["s"] ?? 1, convolution: convolution)
        case "batchnorm", "bn":
            guard argument == nil else { throw unreadable(name, argument, "\(name) (no argument: the channels are the input's first dimension)") }
            guard let channels = shape.first, channels > 0 else { throw unreadable(name, argument, "\(name) after a layer with channels") }
            return BatchNorm(channels)
        case "gap", "globalavgpool":
            guard argument == nil else { throw unreadable(name, argument, "\(name) (no argument)") }
            _ = try inputChannels(name, argument, shape)
            return GlobalAveragePool()
        case "dropout":
            let form = "dropout:P with 0 ≤ P < 1, e.g. dropout:0.5"
            guard let argument else { return Dropout(0.5, stream: UInt64(index)) }
            guard let p = Float(argument), p >= 0, p < 1 else { throw unreadable(name, argument, form) }
            return Dropout(p, stream: UInt64(index))
        default:
            return nil
        }
    }

    /// Splits "32x5s2p1" into the head "32x5" and the options ["s": 2, "p": 1]. Each option is
    /// a letter from `options` followed by a non-negative integer, in any order, at most once.
    private static func parse(_ name: String, _ argument: String?, options allowed: Set<Character>,
                              form: String) throws -> (head: String, options: [Character: Int]) {
        guard let argument, !argument.isEmpty else { throw unreadable(name, argument, form) }
        let text = argument.lowercased()
        let headEnd = text.firstIndex(where: allowed.contains) ?? text.endIndex
        var options: [Character: Int] = [:]
        var rest = text[headEnd...]
        while let letter = rest.first {
            rest = rest.dropFirst()
            let digits = rest.prefix(while: \.isASCII).prefix(while: \.isNumber)
            rest = rest.dropFirst(digits.count)
            guard allowed.contains(letter), options[letter] == nil, let value = Int(digits) else {
                throw unreadable(name, argument, form)
            }
            options[letter] = value
        }
        if let stride = options["s"], stride == 0 { throw unreadable(name, argument, form + " (stride must be positive)") }
        return (String(text[..<headEnd]), options)
    }

    /// Convolutions and pooling read NCHW: the per-sample shape must be [C, H, W].
    private static func inputChannels(_ name: String, _ argument: String?, _ shape: [Int]) throws -> Int {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw ModelSpecError("layer '\(item(name, argument))' needs per-sample input [channels, height, width], "
                                 + "but receives \(shape)" + (shape.count == 1 ? " (a flat vector: is there a flatten or linear before it?)" : ""))
        }
        return shape[0]
    }

    private static func item(_ name: String, _ argument: String?) -> String {
        argument.map { "\(name):\($0)" } ?? name
    }

    private static func unreadable(_ name: String, _ argument: String?, _ form: String) -> ModelSpecError {
        ModelSpecError("cannot read layer '\(item(name, argument))': expected \(form)")
    }
}
