import CKernels
import Foundation

/// The element-wise non-linearities. Each knows its value and its derivative; the derivative
/// is written in terms of the input x and the output y, whichever is cheaper.
public enum ActivationFunction: Equatable {
    case relu
    case leakyReLU(slope: Float)
    case sigmoid
    case tanh
    /// The exact GELU, x·Φ(x), as PyTorch's default.
    case gelu

    /// How the command line and spec strings write it: relu, leakyrelu, sigmoid, tanh, gelu.
    public var argument: String {
        switch self {
        case .relu: return "relu"
        case .leakyReLU(let slope): return slope == 0.01 ? "leakyrelu" : "leakyrelu(\(slope))"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        case .gelu: return "gelu"
        }
    }

    /// The function a command-line or spec name stands for (case-insensitive; leakyrelu has slope 0.01), or nil.
    public static func named(_ name: String) -> ActivationFunction? {
        switch name.lowercased() {
        case "relu": return .relu
        case "leakyrelu", "leaky-relu", "leaky_relu": return .leakyReLU(slope: 0.01)
        case "sigmoid": return .sigmoid
        case "tanh": return .tanh
        case "gelu": return .gelu
        default: return nil
        }
    }

    /// The display name used in model summaries, e.g. "ReLU" or "LeakyReLU(0.01)".
    public var name: String {
        switch self {
        case .relu: return "ReLU"
        case .leakyReLU(let s): return "LeakyReLU(\(s))"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .gelu: return "GELU"
        }
    }

    /// The weight initialisation that keeps signal variance through this non-linearity.
    public var preferredInit: WeightInit {
        switch self {
        case .relu, .leakyReLU, .gelu: return .kaiming
        case .sigmoid, .tanh: return .xavier
        }
    }
}

/// A layer applying an `ActivationFunction` to every value. The switch happens once per call,
/// outside the loops, so each loop is a tight pass the compiler can vectorise.
public final class Activation: Layer {
    /// The non-linearity applied to every value.
    public let function: ActivationFunction
    private var input: Tensor?
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    /// GELU's derivative at every input, kept by a training forward pass (nil otherwise), so
    /// that backward is one product instead of recomputing erf and exp: about 3 % of a GPT
    /// step, for 4 bytes a value.
    private var slope: Tensor?
    private let slopeBuffer = FloatBuffer()

    /// Set by the layer before (a convolution, see `FusingLayer`) when it applies this ReLU
    /// itself: values and gradients then pass through unchanged.
    public internal(set) var isFusedIntoPrevious = false

    /// A layer applying `function` element by element.
    public init(_ function: ActivationFunction) { self.function = function }

    /// The function's display name, e.g. "ReLU".
    public var summary: String { function.name }
    /// Element-wise, so the shape is unchanged.
    public func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    /// y = f(x) for every value (or the input itself when a previous layer applies this ReLU).
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        if isFusedIntoPrevious { return input }
        self.input = input
        let y = output.tensor(input.shape)
        let x = input.pointer, out = y.pointer, n = input.count
        switch function {
        case .relu:
            for i in 0..<n { out[i] = x[i] > 0 ? x[i] : 0 }
        case .leakyReLU(let slope):
            for i in 0..<n { out[i] = x[i] > 0 ? x[i] : slope * x[i] }
        case .sigmoid:
            for i in 0..<n { out[i] = 1 / (1 + exp(-x[i])) }
        case .tanh:
            for i in 0..<n { out[i] = Foundation.tanh(x[i]) }
        case .gelu:
            if context.training {
                let s = slopeBuffer.tensor(input.shape)
                tandem_gelu_forward_keeping_slope(x, out, s.pointer, n)
                slope = s
            } else {
                tandem_gelu_forward(x, out, n)
                slope = nil
            }
        }
        return y
    }

    /// dx = dy · f′, from the saved input or output, whichever the function's derivative needs.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) -> Tensor? {
        guard needsInputGradient else { return nil }
        if isFusedIntoPrevious { return gradOutput }
        guard let input else { preconditionFailure("Activation.backward before forward") }
        let dx = gradInput.tensor(input.shape)
        let x = input.pointer, y = output.pointer, dy = gradOutput.pointer, out = dx.pointer
        let n = input.count
        switch function {
        case .relu:
            for i in 0..<n { out[i] = x[i] > 0 ? dy[i] : 0 }
        case .leakyReLU(let slope):
            for i in 0..<n { out[i] = x[i] > 0 ? dy[i] : slope * dy[i] }
        case .sigmoid:
            for i in 0..<n { out[i] = dy[i] * y[i] * (1 - y[i]) }
        case .tanh:
            for i in 0..<n { out[i] = dy[i] * (1 - y[i] * y[i]) }
        case .gelu:
            if let slope {
                let s = slope.pointer
                for i in 0..<n { out[i] = dy[i] * s[i] }
            } else {
                tandem_gelu_backward(x, dy, out, n)
            }
        }
        return dx
    }
}
