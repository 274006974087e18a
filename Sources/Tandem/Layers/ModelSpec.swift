/// Builds a model from a short text spec, so a network can be named on the command line.
///
/// - `mlp:784-256-128-10`: Linear layers with the chosen activation between them.
/// - A comma-separated layer list, e.g. `linear:256,relu,linear:10` (widths; inputs are inferred).
/// - `gpt:layers=4,heads=4,dim=128,context=128`: a GPT (see `GPT`); its input is a window of
///   `context` token ids.
public struct ModelSpec: Equatable, CustomStringConvertible {
    /// The spec as written: a preset name (`cnn`), `mlp:…`, `gpt:…` or a comma-separated layer list.
    public let text: String
    /// The non-linearity an `mlp:` spec puts between its layers; it also picks the dense layers' initialisation.
    public let activation: ActivationFunction
    /// How convolutions are computed: nil picks per layer (Winograd where it pays, see `Conv2D`).
    public let convolution: Conv2D.Algorithm?

    /// A spec from its text; nothing is checked until `build` or `layers` is called.
    public init(_ text: String, activation: ActivationFunction = .relu, convolution: Conv2D.Algorithm? = nil) {
        self.text = text; self.activation = activation; self.convolution = convolution
    }

    /// The spec text, as given.
    public var description: String { text }

    /// The layers for a given per-sample input shape.
    public func build(inputShape: [Int]) throws -> Model {
        // A GPT is its own root, so its parameters carry nanoGPT's names (no "0." before them).
        if let gpt = try gptConfiguration {
            return try Model(GPT(gpt), inputShape: inputShape)
        }
        return try Model(try layers(inputShape: inputShape), inputShape: inputShape)
    }

    /// The sizes of the GPT this spec names, or nil when it names another kind of model.
    public var gptConfiguration: GPTConfiguration? {
        get throws {
            let spec = ModelSpec.presets[text] ?? text
            guard spec == "gpt" || spec.hasPrefix("gpt:") else { return nil }
            return try GPTConfiguration(spec: String(spec.dropFirst(spec == "gpt" ? 3 : 4)))
        }
    }

    /// The length of the token windows the model reads, for sequence models (nil otherwise).
    public var sequenceLength: Int? {
        get throws { try gptConfiguration?.context }
    }

    /// The layers the spec names, checked to chain from `inputShape` (per sample); throws on a bad
    /// spec. A GPT spec gives a single `GPT` layer.
    public func layers(inputShape: [Int]) throws -> [Layer] {
        if let gpt = try gptConfiguration { return [GPT(gpt)] }
        let spec = ModelSpec.presets[text] ?? text
        if spec.hasPrefix("mlp:") { return try mlpLayers(String(spec.dropFirst(4)), inputShape: inputShape) }
        return try layerList(spec, inputShape: inputShape)
    }

    /// Named architectures.
    public static let presets: [String: String] = [
        "mlp": "mlp:784-256-128-10",
        // The classic TensorFlow tutorial network for 28×28 images (about 3.3 M parameters).
        "cnn": "conv:32x5p2,relu,maxpool:2,conv:64x5p2,relu,maxpool:2,flatten,linear:1024,relu,linear:10",
        // A small one for fast tests and smoke runs.
        "cnn-small": "conv:8x3p1,relu,maxpool:2,conv:16x3p1,relu,maxpool:2,flatten,dropout:0.25,linear:10",
        // For spoken digits: 40 mel bands × 100 frames, three 3×3 convolutions with pooling, and a
        // head that keeps the time axis (flattened, not averaged: averaging over time loses
        // the order of a word's sounds).
        "speech": "conv:16x3p1,relu,maxpool:2,conv:32x3p1,relu,maxpool:2,conv:64x3p1,relu,maxpool:2,flatten,dropout:0.3,linear:128,relu,dropout:0.3,linear:10",
        // A small residual network for 28×28 images: a 3×3 stem, three stages of two basic
        // blocks at 16, 32 and 64 channels (strides 1, 2, 2), global pooling, a dense layer.
        "resnet": "conv:16x3p1,bn,relu,resblock:16,resblock:16,resblock:32s2,resblock:32,resblock:64s2,resblock:64,gap,linear:10",
        // A byte-level GPT for Shakespeare (about 0.84 M parameters).
        "gpt": "gpt:layers=4,heads=4,dim=128,context=128",
    ]

    private func mlpLayers(_ widthsText: String, inputShape: [Int]) throws -> [Layer] {
        let widths = widthsText.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard widths.count >= 2, widths.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ModelSpecError("model spec 'mlp:\(widthsText)': expected positive widths like mlp:784-256-10")
        }
        let w = widths.map { $0! }
        let features = inputShape.reduce(1, *)
        guard w[0] == features else {
            throw ModelSpecError("model spec 'mlp:\(widthsText)' takes \(w[0]) inputs but the data has \(features) features per sample")
        }
        var layers: [Layer] = []
        for i in 0..<(w.count - 1) {
            if i > 0 { layers.append(Activation(activation)) }
            layers.append(Linear(w[i], w[i + 1], weightInit: activation.preferredInit))
        }
        return layers
    }

    private func layerList(_ spec: String, inputShape: [Int]) throws -> [Layer] {
        var layers: [Layer] = []
        var shape = inputShape
        for item in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts[0].lowercased(), argument = parts.count > 1 ? parts[1] : nil
            let layer: Layer
            if let function = ActivationFunction.named(name) {
                layer = Activation(function)
            } else if name == "linear", let width = argument.flatMap(Int.init), width > 0 {
                layer = Linear(shape.reduce(1, *), width, weightInit: activation.preferredInit)
            } else if name == "softmax" {
                layer = Softmax()
            } else if let built = try ConvolutionalSpecs.layer(name, argument, inputShape: shape, index: layers.count,
                                                              convolution: convolution) {
                layer = built
            } else {
                throw ModelSpecError("model spec '\(text)': cannot read layer '\(item)'")
            }
            // Batch normalisation cancels a per-channel constant, so the layer before it loses its
            // bias (as torchvision's ResNets have none): a bias there would be moved by rounding noise alone.
            if layer is BatchNorm, let conv = layers.last as? Conv2D, conv.hasBias {
                layers[layers.count - 1] = conv.withoutBias()
            } else if layer is BatchNorm, let dense = layers.last as? Linear, dense.hasBias, dense.weightTie == nil {
                layers[layers.count - 1] = Linear(dense.inputs, dense.outputs, weightInit: dense.weightInit, positionwise: dense.positionwise, bias: false)
            }
            shape = try layer.outputShape(forInput: shape)
            layers.append(layer)
        }
        guard !layers.isEmpty else { throw ModelSpecError("model spec '\(text)' has no layers") }
        return layers
    }
}

import Foundation
