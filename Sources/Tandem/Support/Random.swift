import Foundation

/// SplitMix64: a tiny, well-mixed generator. Every random choice in Tandem (initial weights,
/// shuffles, dropout masks) is derived from the user's seed through it, so a seed fixes a run.
public struct SplitMix64: RandomNumberGenerator {
    /// The generator's whole state: each `next()` adds a fixed odd constant to it and returns a mix of the result.
    public private(set) var state: UInt64

    /// A generator whose state starts at `seed` itself.
    public init(seed: UInt64) { state = seed }

    /// A generator for one purpose, derived from a seed and a few integers (epoch, step, ...),
    /// so that streams for different purposes never overlap and need not be stored.
    public init(seed: UInt64, stream: UInt64...) {
        var s = seed
        for part in stream { s = SplitMix64.mix(s ^ SplitMix64.mix(part &+ 0x9E37_79B9_7F4A_7C15)) }
        state = s
    }

    /// The next 64 random bits (`RandomNumberGenerator`).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits, exactly representable as Float.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [`low`, `high`), with the 24-bit resolution of `nextUnitFloat`.
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextUnitFloat() }

    /// Standard normal by Box–Muller.
    public mutating func normal() -> Float {
        let u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(max(u1, 1e-300))).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A uniformly random permutation of 0..<count (Fisher–Yates).
    public mutating func permutation(_ count: Int) -> [Int] {
        var p = Array(0..<count)
        if count < 2 { return p }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }
}
