/// The sizes of a GPT.
public struct GPTConfiguration: Equatable {
    /// Number of transformer blocks.
    public var layers = 4
    /// Attention heads per block; they must divide `dimension`.
    public var heads = 4
    /// Channels C of the residual stream (nanoGPT's `n_embd`).
    public var dimension = 128
    /// The longest token window T the model reads (the position table's length).
    public var context = 128
    /// Number of token ids V (256 for a byte-level model).
    public var vocabulary = 256

    /// A configuration with the given sizes; the defaults are the `gpt` preset's.
    public init(layers: Int = 4, heads: Int = 4, dimension: Int = 128, context: Int = 128, vocabulary: Int = 256) {
        self.layers = layers; self.heads = heads; self.dimension = dimension; self.context = context; self.vocabulary = vocabulary
    }

    /// Reads `layers=6,heads=6,dim=384,context=256[,vocab=256]`; unnamed sizes keep their defaults.
    public init(spec: String) throws {
        self.init()
        for item in spec.split(separator: ",") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Int(parts[1]), value > 0 else {
                throw ModelSpecError("gpt spec 'gpt:\(spec)': cannot read '\(item)' (expected name=positive integer)")
            }
            switch parts[0] {
            case "layers": layers = value
            case "heads": heads = value
            case "dim", "dimension", "channels": dimension = value
            case "context": context = value
            case "vocab", "vocabulary": vocabulary = value
            default:
                throw ModelSpecError("gpt spec 'gpt:\(spec)': unknown size '\(parts[0])' (layers, heads, dim, context, vocab)")
            }
        }
        guard dimension % heads == 0 else {
            throw ModelSpecError("gpt spec 'gpt:\(spec)': \(heads) heads do not divide the dimension \(dimension)")
        }
    }

    /// The sizes in spec form, e.g. "gpt:layers=4,heads=4,dim=128,context=128,vocab=256".
    public var spec: String { "gpt:layers=\(layers),heads=\(heads),dim=\(dimension),context=\(context),vocab=\(vocabulary)" }
}

/// A GPT-2-style language model, as nanoGPT's `GPT`: token and position embeddings, a stack of
/// transformer blocks, a final layer norm, and an output head that reuses the token embedding
/// (tied weights: one tensor, both uses add to its gradient, checkpoints hold it once).
///
/// Input per sample: T token ids (bytes); output: [T, vocabulary] logits, position t scoring
/// token t+1. Parameters carry nanoGPT's names and PyTorch's layouts (`transformer.wte.weight`,
/// `transformer.h.0.attn.c_attn.weight` [3C, C], …), so a checkpoint loads into that module;
/// initialisation is GPT-2's (normal 0.02, projections into the residual stream 0.02/√(2·layers),
/// zero biases, unit layer-norm scales).
public final class GPT: Layer {
    /// The sizes the model was built with.
    public let configuration: GPTConfiguration
    /// The token embedding [V, C], whose weight the output head shares.
    public let wte: Embedding
    /// The learned position embedding [T, C].
    public let wpe: PositionEmbedding
    /// The transformer blocks, run in order (named "transformer.h.0", "transformer.h.1", …).
    public let blocks: Sequential
    /// The layer norm after the last block.
    public let ln_f: LayerNorm
    /// The output head, C → V per position, its weight tied to `wte`'s and without a bias.
    public let lm_head: Linear

    /// A GPT of the given sizes, initialised as GPT-2.
    public init(_ configuration: GPTConfiguration) {
        self.configuration = configuration
        let c = configuration.dimension
        wte = Embedding(vocabulary: configuration.vocabulary, dimension: c)
        wpe = PositionEmbedding(context: configuration.context, dimension: c)
        let projectionStd = 0.02 / Float(2 * configuration.layers).squareRoot()
        blocks = Sequential((0..<configuration.layers).map { _ in
            TransformerBlock(dimension: c, heads: configuration.heads, projectionStd: projectionStd)
        })
        ln_f = LayerNorm(c)
        lm_head = Linear(c, configuration.vocabulary, weightTiedTo: ParameterTie(owner: wte, name: "weight"),
                         positionwise: true, bias: false)
    }

    /// "GPT(… layers, … heads, … channels, context …, vocabulary …)".
    public var summary: String {
        let g = configuration
        return "GPT(\(g.layers) layers, \(g.heads) heads, \(g.dimension) channels, context \(g.context), vocabulary \(g.vocabulary))"
    }

    /// nanoGPT's module names: transformer.wte, transformer.wpe, transformer.h, transformer.ln_f, lm_head.
    public var children: [(name: String, layer: Layer)] {
        [("transformer.wte", wte), ("transformer.wpe", wpe), ("transformer.h", blocks), ("transformer.ln_f", ln_f),
         ("lm_head", lm_head)]
    }

    /// [T, V] logits for T ≤ `context` token ids.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 1, shape[0] >= 1, shape[0] <= configuration.context else {
            throw ModelSpecError("\(summary) takes up to \(configuration.context) token ids per sample but receives shape \(shape)")
        }
        return try lm_head.outputShape(forInput: ln_f.outputShape(forInput: blocks.outputShape(forInput:
            wpe.outputShape(forInput: wte.outputShape(forInput: shape)))))
    }

    /// Embeds the tokens and positions, runs the blocks and the final norm, and scores every position.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = try wpe.forward(try wte.forward(input, context: context), context: context)
        x = try ln_f.forward(try blocks.forward(x, context: context), context: context)
        return try lm_head.forward(x, context: context)
    }

    /// Back through every part in reverse order; returns nil, as token ids have no gradient.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        var g = try context.backward(lm_head, gradOutput, needsInputGradient: true)!
        g = try context.backward(ln_f, g, needsInputGradient: true)!
        g = try context.backward(blocks, g, needsInputGradient: true)!
        g = try context.backward(wpe, g, needsInputGradient: true)!
        _ = try context.backward(wte, g, needsInputGradient: false)
        return nil
    }
}
