import Foundation

/// Triangular filters that pool a power spectrum into bands spaced evenly on the mel scale
/// (HTK's mel(f) = 2595 · log10(1 + f / 700), as torchaudio's default), so low frequencies,
/// where speech sounds differ most, get narrow bands and high frequencies wide ones.
///
/// Filter b rises from the centre of band b − 1 to its own centre and falls to the centre of
/// band b + 1; its weights are evaluated at the FFT bins' frequencies and not normalised.
public struct MelFilterBank: Equatable {
    /// Number of mel bands (filters).
    public let bands: Int
    /// Bins of the power spectrum the bank reads: `fftSize / 2 + 1`.
    public let bins: Int
    /// weights[b * bins + k]: how much bin k contributes to band b.
    public let weights: [Float]
    /// For each band, the bins with nonzero weight (a filter touches only a few of them).
    public let ranges: [Range<Int>]

    /// The mel value of a frequency in Hz (HTK's formula).
    public static func mel(_ hertz: Double) -> Double { 2595 * log10(1 + hertz / 700) }
    /// The frequency in Hz of a mel value: the inverse of `mel`.
    public static func hertz(_ mel: Double) -> Double { 700 * (pow(10, mel / 2595) - 1) }

    /// `bands` filters between `lowHz` and `highHz` over the `fftSize / 2 + 1` bins of a real
    /// FFT at `sampleRate`.
    public init(bands: Int, fftSize: Int, sampleRate: Int, lowHz: Double = 0, highHz: Double? = nil) {
        self.bands = bands
        bins = fftSize / 2 + 1
        let high = highHz ?? Double(sampleRate) / 2
        let (lowMel, highMel) = (Self.mel(lowHz), Self.mel(high))
        let edges = (0...(bands + 1)).map { Self.hertz(lowMel + (highMel - lowMel) * Double($0) / Double(bands + 1)) }
        var weights = [Float](repeating: 0, count: bands * bins)
        var ranges: [Range<Int>] = []
        for b in 0..<bands {
            let (left, centre, right) = (edges[b], edges[b + 1], edges[b + 2])
            var first = bins, last = 0
            for k in 0..<bins {
                let f = Double(k) * Double(sampleRate) / Double(fftSize)
                let w = max(0, min((f - left) / (centre - left), (right - f) / (right - centre)))
                if w > 0 { weights[b * bins + k] = Float(w); first = min(first, k); last = max(last, k) }
            }
            ranges.append(first <= last ? first..<(last + 1) : 0..<0)
        }
        self.weights = weights; self.ranges = ranges
    }

    /// Band energies of one power spectrum (`bins` values).
    public func apply(_ power: UnsafePointer<Float>, into bandsOut: UnsafeMutablePointer<Float>, stride: Int = 1) {
        for b in 0..<bands {
            var sum: Float = 0
            for k in ranges[b] { sum += weights[b * bins + k] * power[k] }
            bandsOut[b * stride] = sum
        }
    }
}
