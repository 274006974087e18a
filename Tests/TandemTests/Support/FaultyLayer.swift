import Tandem

/// A real layer whose backward pass is deliberately damaged afterwards, to prove that a checker
/// notices a wrong gradient. `damage` receives the layer's parameter views (their gradients
/// just written) and the input gradient it returns.
final class FaultyLayer: Layer {
    private let inner: Layer
    private let damage: (_ parameters: [ParameterView], _ inputGradient: Tensor?) -> Void
    private var views: [ParameterView] = []

    init(_ inner: Layer, damage: @escaping (_ parameters: [ParameterView], _ inputGradient: Tensor?) -> Void) {
        self.inner = inner
        self.damage = damage
    }

    var summary: String { "Faulty" + inner.summary }
    func outputShape(forInput shape: [Int]) throws -> [Int] { try inner.outputShape(forInput: shape) }
    var parameterSpecs: [ParameterSpec] { inner.parameterSpecs }
    /// A composite layer's children are laid out under the wrapper (their paths unchanged).
    var children: [(name: String, layer: Layer)] { inner.children }
    func bind(_ parameters: [ParameterView]) { views = parameters; inner.bind(parameters) }
    func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor { try inner.forward(input, context: context) }

    func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        let dx = try inner.backward(gradOutput, needsInputGradient: needsInputGradient, context: context)
        damage(views, dx)
        return dx
    }
}
