/// How each layer's gradients and weights looked at one step: the numbers that show vanishing
/// and exploding gradients (tiny or huge gradient norms in early layers) and a learning rate
/// that is too high or too low (update-to-weight ratios far from about 1e-3).
public struct LayerHealth {
    /// The layer's position among the model's units, counted from 0.
    public var index: Int
    /// The layer's name, as the model reports it.
    public var name: String
    /// L2 norm of the layer's part of the global gradient, before clipping.
    public var gradientNorm: Double
    /// L2 norm of the layer's weights before the update.
    public var weightNorm: Double
    /// ‖θ_after − θ_before‖ / ‖θ_before‖ for this step.
    public var updateRatio: Double
}

/// Every layer's `LayerHealth` at one logged step, with the global gradient norm.
public struct GradientHealth {
    /// One entry per layer that has parameters, in model order.
    public var layers: [LayerHealth]
    /// L2 norm of the whole global gradient, before clipping.
    public var globalNorm: Double
    /// Whether the step's gradient was clipped.
    public var clipped: Bool

    var record: [String: Any] {
        ["global_norm": globalNorm, "clipped": clipped,
         "layers": layers.map { ["index": $0.index, "name": $0.name, "grad_norm": $0.gradientNorm,
                                 "weight_norm": $0.weightNorm, "update_ratio": $0.updateRatio] as [String: Any] }]
    }
}

/// Measures `GradientHealth` around one optimizer step. Only the steps that are logged pay for
/// it: a copy of the weights before the update, and a few norms.
final class GradientHealthProbe {
    private var before: [Float] = []

    /// Call after the allreduce, before clipping: records gradient norms and the weights.
    func beforeUpdate(_ model: Model) -> [Double] {
        before = model.arena.valueArray
        return model.units.map(\.range).map { range in
            range.isEmpty ? 0 : Kernels.sumOfSquares(model.arena.globalGradients + range.lowerBound, count: range.count).squareRoot()
        }
    }

    /// Call after the update: compares the weights with those recorded before.
    func afterUpdate(_ model: Model, gradientNorms: [Double], decision: ClipDecision) -> GradientHealth {
        var layers: [LayerHealth] = []
        for (index, unit) in model.units.enumerated() where !unit.range.isEmpty {
            let range = unit.range
            var weight = 0.0, change = 0.0
            for i in range {
                let old = Double(before[i]), new = Double(model.arena.values[i])
                weight += old * old
                change += (new - old) * (new - old)
            }
            let weightNorm = weight.squareRoot()
            layers.append(LayerHealth(index: index, name: unit.name,
                                      gradientNorm: gradientNorms[index], weightNorm: weightNorm,
                                      updateRatio: weightNorm > 0 ? change.squareRoot() / weightNorm : 0))
        }
        return GradientHealth(layers: layers, globalNorm: decision.norm, clipped: decision.clipped)
    }
}
