import Foundation

/// Layer collectives that keep count of the time spent in them: the step split shows a
/// batch normalisation's exchange of statistics as its own phase ("layer collectives"), apart
/// from the forward and backward work around it. Wraps whatever the gradient path provides.
final class TimedCollectives: LayerCollectives {
    private let inner: LayerCollectives
    /// Seconds inside `sum` since the last `reset()`.
    private(set) var seconds = 0.0

    init(_ inner: LayerCollectives) { self.inner = inner }

    var ranks: Int { inner.ranks }

    func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        let start = Date.timeIntervalSinceReferenceDate
        defer { seconds += Date.timeIntervalSinceReferenceDate - start }
        try inner.sum(values)
    }

    func reset() { seconds = 0 }
}
