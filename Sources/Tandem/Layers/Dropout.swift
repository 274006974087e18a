/// Inverted dropout, as PyTorch's `nn.Dropout(p)`: in training each value is zeroed with
/// probability p and the survivors are scaled by 1 / (1 − p), so evaluation (which passes
/// values through untouched) sees activations of the same expected size.
///
/// The mask of a value depends only on (seed, step, the sample's index in the *global* batch,
/// the value's index within the sample) and the layer's `stream`: never on the rank or on how
/// the batch was split. One generator is derived per sample from those numbers, and each of
/// its 64-bit draws decides two consecutive values. So a run on 1, 2 or 8 ranks drops exactly
/// the same values, and a repeated forward at the same step (gradient checks) repeats the mask.
public final class Dropout: StochasticLayer {
    /// Probability of zeroing a value, in [0, 1).
    public let probability: Float
    /// Distinguishes the masks of several dropout layers in one model: given at creation, or
    /// else assigned by the model (the layer's position in forward order).
    public private(set) var stream: UInt64
    private let streamIsFixed: Bool

    /// The purpose tag for `SplitMix64`, distinct from initialisation and shuffling streams.
    static let randomStream: UInt64 = 0xD20_9007

    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    /// 0 or 1 / (1 − p) per value of the last training forward: backward is one product.
    private let mask = FloatBuffer()
    private var inputShape: [Int] = []
    private var masked = false

    /// Dropout with probability `probability` in [0, 1); a fixed `stream` overrides the one the model assigns.
    public init(_ probability: Float, stream: UInt64? = nil) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        self.probability = probability; self.stream = stream ?? 0; streamIsFixed = stream != nil
    }

    /// Takes the model's stream number unless one was given at creation.
    public func assignStream(_ stream: UInt64) {
        if !streamIsFixed { self.stream = stream }
    }

    /// "Dropout(p = …)".
    public var summary: String { "Dropout(p = \(probability))" }
    /// Element-wise, so the shape is unchanged.
    public func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    /// In training, zeroes values by the deterministic mask and scales the rest by 1 / (1 − p); otherwise the identity.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        inputShape = input.shape
        masked = context.training && probability > 0
        guard masked else { return input }   // evaluation: identity, nothing copied

        let y = output.tensor(input.shape)
        mask.reserve(input.count)
        let features = input.featuresPerSample
        let keep = 1 / (1 - probability)
        // A 32-bit draw u keeps its value when u ≥ p·2³², which happens with probability 1 − p.
        let threshold = UInt32(min(Double(probability) * 4_294_967_296, Double(UInt32.max)).rounded())
        let x = input.pointer, out = y.pointer, m = mask.pointer
        for row in 0..<input.batch {
            var random = SplitMix64(seed: context.seed, stream: Dropout.randomStream, stream,
                                    UInt64(truncatingIfNeeded: context.step),
                                    UInt64(truncatingIfNeeded: context.globalSampleOffset + row))
            let base = row * features
            var e = 0
            while e < features {
                let bits = random.next()
                m[base + e] = UInt32(truncatingIfNeeded: bits) >= threshold ? keep : 0
                if e + 1 < features { m[base + e + 1] = UInt32(truncatingIfNeeded: bits >> 32) >= threshold ? keep : 0 }
                e += 2
            }
        }
        for i in 0..<input.count { out[i] = x[i] * m[i] }
        return y
    }

    /// dx = dy times the last training forward's mask (the gradient itself in evaluation).
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard masked else { return gradOutput }
        let dx = gradInput.tensor(inputShape)
        let dy = gradOutput.pointer, out = dx.pointer, m = mask.pointer
        for i in 0..<dx.count { out[i] = dy[i] * m[i] }
        return dx
    }
}
