/// The basic block of a residual network (He et al., 2016), laid out as torchvision's
/// `BasicBlock` so that checkpoints carry its names (`conv1`, `bn1`, `conv2`, `bn2`,
/// `downsample.0`, `downsample.1`):
///
///     y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
///
/// The convolutions are 3×3 without bias (batch normalisation follows each); the first has the
/// block's stride. The shortcut is the identity, or — when the stride or the channels change —
/// a strided 1×1 convolution and a batch normalisation (`downsample`).
///
/// The ReLUs stay children (for their names and the layer-health records) but do no work of
/// their own: the first is fused into `bn1`; `bn2` adds the shortcut and applies the last in its
/// normalising pass (one pass over the block's output instead of three), and the last one's mask
/// is applied in the pass that hands the gradient to both branches.
public final class BasicBlock: Layer {
    /// The first 3×3 convolution, with the block's stride.
    public let conv1: Conv2D
    /// Batch normalisation after `conv1` (with the first ReLU fused in).
    public let bn1: BatchNorm
    /// The second 3×3 convolution, stride 1.
    public let conv2: Conv2D
    /// Batch normalisation after `conv2`, before the shortcut is added.
    public let bn2: BatchNorm
    /// The projection shortcut (1×1 convolution, batch normalisation), or nil for the identity.
    public let downsample: Sequential?
    private let relu1 = Activation(.relu)
    private let relu2 = Activation(.relu)
    /// The block's last output, relu(main + shortcut) (held in bn2's buffer): the last ReLU's mask.
    private var output: Tensor?
    private let gradSum = FloatBuffer()
    private let gradInput = FloatBuffer()

    /// `convolution` forces a method on the convolutions (`.winograd` only where it applies, the
    /// stride-1 3×3 ones); nil lets each choose.
    public init(inChannels: Int, outChannels: Int, stride: Int = 1, convolution: Conv2D.Algorithm? = nil) {
        func method(kernel: Int, stride: Int) -> Conv2D.Algorithm? {
            convolution == .winograd && !WinogradConvolution.handles(kernel: kernel, stride: stride) ? nil : convolution
        }
        conv1 = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: stride, padding: 1,
                       algorithm: method(kernel: 3, stride: stride), bias: false)
        bn1 = BatchNorm(outChannels)
        conv2 = Conv2D(inChannels: outChannels, outChannels: outChannels, kernel: 3, padding: 1,
                       algorithm: method(kernel: 3, stride: 1), bias: false)
        bn2 = BatchNorm(outChannels)
        bn1.fuse(with: relu1)
        relu2.isFusedIntoPrevious = true
        downsample = stride != 1 || inChannels != outChannels
            ? Sequential(named: [("0", Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: stride,
                                              algorithm: method(kernel: 1, stride: stride), bias: false)),
                                 ("1", BatchNorm(outChannels))])
            : nil
    }

    /// "BasicBlock(in → out, stride s)", noting a projection shortcut.
    public var summary: String {
        "BasicBlock(\(conv1.inChannels) → \(conv1.outChannels), stride \(conv1.stride)\(downsample == nil ? "" : ", projection"))"
    }

    /// conv1, bn1, relu, conv2, bn2, relu2 and, if any, downsample: torchvision's names.
    public var children: [(name: String, layer: Layer)] {
        [("conv1", conv1), ("bn1", bn1), ("relu", relu1), ("conv2", conv2), ("bn2", bn2), ("relu2", relu2)]
            + (downsample.map { [("downsample", $0)] } ?? [])
    }

    /// The main branch's output shape, which the shortcut's must equal.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        let main = try conv2.outputShape(forInput: conv1.outputShape(forInput: shape))
        let side = try downsample?.outputShape(forInput: shape) ?? shape
        guard main == side else {
            throw ModelSpecError("\(summary): the block gives \(main) but its shortcut \(side) for input \(shape)")
        }
        return main
    }

    /// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)): bn2 adds the shortcut and applies
    /// the last ReLU in its normalising pass.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let h = relu1.forward(try bn1.forward(conv1.forward(input, context: context), context: context), context: context)
        let beforeNorm = conv2.forward(h, context: context)
        let side = try downsample?.forward(input, context: context) ?? input
        let y = try bn2.forward(beforeNorm, adding: side, relu: true, context: context)
        output = y
        return relu2.forward(y, context: context)
    }

    /// Through the last ReLU's mask, then the shortcut's backward, then the main branch's; dX is the sum of both.
    public func backward(_ gradOutput: Tensor, needsInputGradient: Bool, context: BackwardContext) throws -> Tensor? {
        // Reverse of forward: the last ReLU, then the shortcut (it ran last), then the main branch.
        guard let passed = try context.backward(relu2, gradOutput, needsInputGradient: true) else {
            preconditionFailure("BasicBlock.backward: the ReLU returned no gradient")
        }
        guard let output else { preconditionFailure("BasicBlock.backward before forward") }
        let dSum = gradSum.tensor(passed.shape)
        let dy = passed.pointer, y = output.pointer, out = dSum.pointer
        for i in 0..<dSum.count { out[i] = y[i] > 0 ? dy[i] : 0 }
        var fromSide = dSum
        if let downsample, let g = try context.backward(downsample, dSum, needsInputGradient: needsInputGradient) { fromSide = g }
        var g = try context.backward(bn2, dSum, needsInputGradient: true)!
        g = try context.backward(conv2, g, needsInputGradient: true)!
        g = try context.backward(relu1, g, needsInputGradient: true)!
        g = try context.backward(bn1, g, needsInputGradient: true)!
        guard let main = try context.backward(conv1, g, needsInputGradient: needsInputGradient), needsInputGradient else { return nil }
        let dx = gradInput.tensor(main.shape)
        Kernels.add(main.pointer, fromSide.pointer, into: dx.pointer, count: dx.count)
        return dx
    }
}
