import Foundation

/// Splits a stretch of time into consecutive laps, for the per-phase timings of a step.
struct Stopwatch {
    private var last = Date.timeIntervalSinceReferenceDate

    /// Seconds since the previous lap (or since the stopwatch was made).
    mutating func lap() -> Double {
        let now = Date.timeIntervalSinceReferenceDate
        defer { last = now }
        return now - last
    }
}
