/// An update rule over the whole parameter arena.
///
/// State (momentum, Adam's moments) lives in buffers with the arena's layout, so one step is
/// one fused pass over contiguous memory, and a checkpoint saves the state as tensors named
/// like the parameters (`optim.<state>.<parameter>`).
public protocol Optimizer: AnyObject {
    /// The rule's name as checkpoints record it ("sgd", "adam", "adamw").
    var name: String { get }
    /// Hyper-parameters, for checkpoints and for refusing a resume that changed them.
    var hyperParameters: [String: String] { get }
    /// Named state buffers, each `arena.count` long.
    var stateNames: [String] { get }
    /// The state buffer called `name` (one of `stateNames`), with the arena's layout.
    func state(named name: String) -> UnsafeMutableBufferPointer<Float>
    /// Steps taken so far (Adam's bias correction depends on it).
    var stepCount: Int { get set }
    /// One update of `arena.values` from `arena.globalGradients` at learning rate `lr`, over the
    /// elements in `ranges` only (ranks sharing one copy of the weights each update their own
    /// ranges of it), reading each gradient as `gradient × gradientScale` (the clip coefficient:
    /// clipping costs no pass of its own). One step, however many ranges.
    func step(_ arena: ParameterArena, learningRate lr: Float, ranges: [Range<Int>], gradientScale: Float)
    /// Moves the state into `memory`, `stateNames.count` consecutive blocks of `count` floats
    /// (the arena's size), copying what is there now when `copying`.
    func relocateState(to memory: UnsafeMutablePointer<Float>, copying: Bool)
}

extension Optimizer {
    /// One plain update of the whole arena.
    public func step(_ arena: ParameterArena, learningRate lr: Float) {
        step(arena, learningRate: lr, ranges: [0..<arena.count], gradientScale: 1)
    }
}

/// The settings from which `makeOptimizer` builds an optimizer.
public struct OptimizerConfig: Equatable {
    /// Which update rule: SGD, Adam, or AdamW (Adam with decoupled weight decay).
    public var kind = OptimizerKind.adamw
    /// SGD's momentum μ, in [0, 1) (0: plain SGD, with no state).
    public var momentum: Float = 0.9
    /// Nesterov momentum for SGD.
    public var nesterov: Bool = false
    /// Weight decay λ: L2 added to the gradient for SGD and Adam, decoupled for AdamW.
    public var weightDecay: Float = 0
    /// Adam's β₁, the decay rate of the first moment (mean) estimate.
    public var beta1: Float = 0.9
    /// Adam's β₂, the decay rate of the second moment (uncentred variance) estimate.
    public var beta2: Float = 0.999
    /// Adam's ε, added to the denominator so that tiny second moments do not blow the update up.
    public var epsilon: Float = 1e-8
    /// AdamW with β₁ 0.9, β₂ 0.999, ε 1e-8 and no weight decay (for SGD: momentum 0.9, no Nesterov).
    public init() {}
}

/// Builds the optimizer `config` describes, with zeroed state for `parameterCount` parameters.
public func makeOptimizer(_ config: OptimizerConfig, parameterCount: Int) -> Optimizer {
    switch config.kind {
    case .sgd:
        return SGD(parameterCount: parameterCount, momentum: config.momentum, nesterov: config.nesterov,
                   weightDecay: config.weightDecay)
    case .adam:
        return Adam(parameterCount: parameterCount, beta1: config.beta1, beta2: config.beta2,
                    epsilon: config.epsilon, weightDecay: config.weightDecay, decoupled: false)
    case .adamw:
        return Adam(parameterCount: parameterCount, beta1: config.beta1, beta2: config.beta2,
                    epsilon: config.epsilon, weightDecay: config.weightDecay, decoupled: true)
    }
}

/// A zeroed state buffer with the arena's layout; it can move into memory it does not own.
final class StateBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    let count: Int
    private var owned = true
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { if owned { pointer.deallocate() } }
    var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }

    func relocate(to memory: UnsafeMutablePointer<Float>, copying: Bool) {
        if copying { memory.update(from: pointer, count: count) }
        if owned { pointer.deallocate() }
        pointer = memory
        owned = false
    }
}
