import Foundation

/// What every rank does with this step's averaged gradient, as decided by rank 0.
public struct ClipDecision: Equatable {
    /// The global L2 norm of the gradient before clipping.
    public var norm: Double
    /// Factor applied to every gradient value: min(1, maxNorm / (norm + 1e-6)).
    public var coefficient: Float
    /// True when any gradient value is NaN or infinite: the step is skipped everywhere.
    public var skip: Bool

    /// Whether the gradient is scaled down this step (the coefficient is below 1).
    public var clipped: Bool { coefficient < 1 }
    /// What the optimizer multiplies every gradient by: clipping is applied while updating,
    /// not as a pass of its own.
    public var gradientScale: Float { min(coefficient, 1) }
}

/// Rank 0 decides, every rank obeys.
///
/// After the allreduce every rank holds the same gradient in principle, but only one rank's
/// arithmetic may decide whether to clip or skip: if ranks decided separately, a rounding
/// difference near the threshold (or a NaN seen by one rank only) would make their weights
/// diverge silently. So rank 0 computes the norm, the PyTorch clip coefficient and finiteness,
/// and broadcasts those few bytes.
public struct RankZeroAuthority {
    /// The ranks that receive rank 0's decision.
    public let communicator: Communicator
    /// Clip to this global norm; nil disables clipping (the norm is still measured).
    public let maxNorm: Float?

    /// `maxNorm`: the global L2 norm to clip to, or nil to measure the norm without clipping.
    public init(communicator: Communicator, maxNorm: Float?) {
        self.communicator = communicator; self.maxNorm = maxNorm
    }

    /// Rank 0 decides from the squared global norm; only rank 0's `sumOfSquares` is read (the
    /// sum of the gradient path's parts, added up by a collective). Squares of Float values
    /// summed in Double cannot overflow, so the sum is finite exactly when every gradient is.
    public func decide(sumOfSquares: Double) throws -> ClipDecision {
        var message = [Double](repeating: 0, count: 3)
        if communicator.isRoot {
            let norm = sumOfSquares.squareRoot()
            let finite = norm.isFinite
            var coefficient = 1.0
            if let maxNorm, finite { coefficient = min(1, Double(maxNorm) / (norm + 1e-6)) }
            message = [norm, coefficient, finite ? 0 : 1]
        }
        try communicator.broadcast(&message, root: 0)
        return ClipDecision(norm: message[0], coefficient: Float(message[1]), skip: message[2] != 0)
    }
}
