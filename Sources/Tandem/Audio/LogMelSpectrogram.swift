import CFFTW
import Foundation

/// What the speech front end computes; every field changes the features, so all of them are
/// part of a feature cache's key.
public struct FrontEndSettings: Equatable, Sendable {
    /// Samples per second the clips are converted to before the transform.
    public var sampleRate = 16_000
    /// 25 ms Hann windows every 10 ms.
    public var windowSamples = 400
    /// Samples between the starts of consecutive windows: 160 at 16 kHz is 10 ms.
    public var hopSamples = 160
    /// The FFT's length: the window zero-padded to a power of two.
    public var fftSize = 512
    /// Mel bands per frame: the feature image's height.
    public var melBands = 40
    /// Every clip becomes this many frames (100 frames: 1.015 s of sound).
    public var frames = 100

    /// The defaults: 16 kHz, 25 ms windows every 10 ms, a 512-point FFT, 40 mel bands, 100 frames per clip.
    public init() {}

    /// The samples the fixed number of frames covers.
    public var samplesCovered: Int { windowSamples + (frames - 1) * hopSamples }
    /// A model's input shape for one clip: one channel of bands × frames.
    public var featureShape: [Int] { [1, melBands, frames] }

    /// A digest of the settings, for cache keys.
    public var digest: UInt64 {
        var h = FNV1a()
        for v in [sampleRate, windowSamples, hopSamples, fftSize, melBands, frames] { h.mix(UInt64(v)) }
        h.mix(0x4C4F_474D_454C_0001)   // the front end's version: bump when the computation changes
        return h.value
    }
}

/// The log-mel spectrogram of a clip: a short-time Fourier transform (Hann windows, FFTW in
/// single precision), power per bin, pooled into mel bands, then the logarithm.
///
/// It is computed in two stages so that training can mix noise into cached features: `power`
/// gives the mel band energies (linear, [bands, frames]), which add when independent sounds add;
/// `LogMelSpectrogram.normalise` takes their logarithm, relative to the clip's loudest value, so
/// that a quiet recording and a loud one of the same word look alike.
///
/// One instance is not thread-safe (it owns its FFT buffers); make one per thread.
public final class LogMelSpectrogram {
    /// The parameters of the transform.
    public let settings: FrontEndSettings
    /// The triangular filters that pool each power spectrum into mel bands.
    public let filterBank: MelFilterBank
    private let window: [Float]
    private let plan: fftwf_plan
    private let frame: UnsafeMutablePointer<Float>
    private let spectrum: UnsafeMutablePointer<fftwf_complex>
    private var power: [Float]
    /// FFTW's planner is not thread-safe; executing a plan is.
    private static let plannerLock = NSLock()

    /// A front end with its own FFT buffers and plan (the plan is made under a lock: FFTW's planner is not thread-safe).
    public init(settings: FrontEndSettings = FrontEndSettings()) {
        self.settings = settings
        let n = settings.fftSize
        filterBank = MelFilterBank(bands: settings.melBands, fftSize: n, sampleRate: settings.sampleRate)
        // The periodic Hann window (torch.hann_window's default), which tiles at 50 % overlap.
        window = (0..<settings.windowSamples).map {
            Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(settings.windowSamples)))
        }
        frame = fftwf_alloc_real(n)
        spectrum = fftwf_alloc_complex(n / 2 + 1)
        power = [Float](repeating: 0, count: n / 2 + 1)
        // FFTW_ESTIMATE: the same plan every time, so every rank computes identical features
        // (FFTW_MEASURE may pick a different algorithm run to run, and with it different rounding).
        Self.plannerLock.lock()
        plan = fftwf_plan_dft_r2c_1d(Int32(n), frame, spectrum, UInt32(FFTW_ESTIMATE))
        Self.plannerLock.unlock()
    }

    deinit {
        Self.plannerLock.lock()
        fftwf_destroy_plan(plan)
        Self.plannerLock.unlock()
        fftwf_free(frame); fftwf_free(spectrum)
    }

    /// The `settings.samplesCovered` samples the frames are computed from: the clip placed so
    /// that its energy's centre of mass sits in the middle, cut where it overhangs and padded
    /// with silence where it falls short. A word is found wherever it lies in a recording,
    /// and a clip and the same clip with more silence around it give the same features.
    public func centred(_ samples: [Float]) -> [Float] {
        let length = settings.samplesCovered
        var energy = 0.0, moment = 0.0
        for (i, s) in samples.enumerated() { let e = Double(s * s); energy += e; moment += e * Double(i) }
        let centre = energy > 0 ? Int((moment / energy).rounded()) : samples.count / 2
        let start = centre - length / 2      // in the clip's samples; may be negative
        var out = [Float](repeating: 0, count: length)
        for j in 0..<length where start + j >= 0 && start + j < samples.count { out[j] = samples[start + j] }
        return out
    }

    /// Mel band energies of a clip at `settings.sampleRate`, [bands, frames] (band-major, so a
    /// model sees a one-channel image with frequency down and time across), from the
    /// `samplesCovered` samples around its centre (see `centred`).
    public func power(of samples: [Float]) -> [Float] {
        power(ofFramesIn: centred(samples))
    }

    /// Mel band energies of every whole frame of `samples`, [bands, frames] with as many frames
    /// as fit (none when fewer samples than one window).
    public func power(ofFramesIn samples: [Float]) -> [Float] {
        let s = settings
        let frames = samples.count < s.windowSamples ? 0 : 1 + (samples.count - s.windowSamples) / s.hopSamples
        var out = [Float](repeating: 0, count: s.melBands * frames)
        let bins = s.fftSize / 2 + 1
        out.withUnsafeMutableBufferPointer { bands in
            for t in 0..<frames {
                let offset = t * s.hopSamples
                for i in 0..<s.windowSamples { frame[i] = samples[offset + i] * window[i] }
                for i in s.windowSamples..<s.fftSize { frame[i] = 0 }
                fftwf_execute_dft_r2c(plan, frame, spectrum)
                for k in 0..<bins {
                    let (re, im) = spectrum[k]
                    power[k] = re * re + im * im
                }
                power.withUnsafeBufferPointer { filterBank.apply($0.baseAddress!, into: bands.baseAddress! + t, stride: frames) }
            }
        }
        return out
    }

    /// How far below the clip's loudest value the features reach: 8 decades (80 dB).
    public static let dynamicRange: Float = 8

    /// log10 of band energies, relative to the loudest: x = (log10 p − max log10 p) / 4 + 1,
    /// clamped below at −1 (80 dB under the peak, where silence and rounding noise live).
    /// The model sees values in [−1, 1] whatever the recording's level.
    public static func normalise(_ power: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        var peak = -Float.infinity
        for i in 0..<count {
            let v = log10(max(power[i], 1e-10))
            out[i] = v
            peak = max(peak, v)
        }
        let floor = peak - dynamicRange
        for i in 0..<count { out[i] = (max(out[i], floor) - peak) / (dynamicRange / 2) + 1 }
    }

    /// The features a model reads for one clip: `normalise(power(of:))`.
    public func features(of samples: [Float]) -> [Float] {
        let p = power(of: samples)
        var out = [Float](repeating: 0, count: p.count)
        p.withUnsafeBufferPointer { pb in out.withUnsafeMutableBufferPointer { Self.normalise(pb.baseAddress!, count: p.count, into: $0.baseAddress!) } }
        return out
    }
}
