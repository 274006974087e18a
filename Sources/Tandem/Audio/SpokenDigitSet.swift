import Foundation

/// How training varies the clips, so the model learns the word rather than the recording:
/// background noise at a random signal-to-noise ratio, a shift in time, a faster or slower
/// tempo, and a warped frequency axis (a longer or shorter vocal tract: vocal tract length
/// perturbation, Jaitly & Hinton 2013). All act on the mel band energies, after the cache.
public struct SpeechAugmentation: Equatable, Sendable {
    /// Frames (10 ms each) a clip may move earlier or later.
    public var maxShiftFrames = 10
    /// Tempo factors drawn log-uniformly: 1.25 plays the word in 80 % of its time.
    public var tempo: ClosedRange<Float> = 0.8...1.25
    /// Frequency-axis factors drawn uniformly: band b takes the energy of band b · factor.
    public var warp: ClosedRange<Float> = 0.9...1.1
    /// How often a clip gets noise.
    public var noiseProbability: Float = 0.8
    /// Signal-to-noise ratios drawn uniformly, in dB (the signal's power is its window's mean).
    public var snrDecibels: ClosedRange<Float> = 5...30

    /// The default augmentation: shifts of up to 100 ms, tempo 0.8 to 1.25, warp 0.9 to 1.1, noise on 80 % of clips at 5 to 30 dB SNR.
    public init() {}
    /// No noise and no shift.
    public static var none: SpeechAugmentation {
        var a = SpeechAugmentation(); a.maxShiftFrames = 0; a.noiseProbability = 0; a.tempo = 1...1; a.warp = 1...1; return a
    }
}

/// Clips of the spoken-digit set as a `DataSource`: their mel band energies in memory, turned
/// into log-mel features ([1, bands, frames]) as a batch is filled.
///
/// A training set mixes noise and shifts clips as it fills a step's batch. What each sample gets
/// is drawn from (seed, step, the sample's position in the global batch), never from the rank,
/// so one process and P ranks train on the very same noisy inputs. Noise is added to the band
/// energies, where the powers of independent sounds add, which is why the cache keeps them
/// linear; the logarithm comes after. The test set is used as recorded.
public final class SpokenDigitSet: DataSource {
    /// Names the set in messages and metrics ("spoken-digits/train").
    public let name: String
    /// The front end the features were computed with; it fixes the sample shape.
    public let settings: FrontEndSettings
    /// [clips][bands, frames]
    public let power: [Float]
    /// The clips, in sample order, with their labels and voices.
    public let clips: [SpokenDigits.Clip]
    /// Noise recordings' band energies, [bands, frames of that noise].
    public let noise: [[Float]]
    /// How the set varies its clips while training (nil: clips as recorded, as for the test set).
    public let augmentation: SpeechAugmentation?
    private let perClip: Int

    /// A set of `clips` whose band energies `power` holds, one `settings.melBands` × `settings.frames` block per
    /// clip; `noise` and `augmentation` are for a training set.
    public init(name: String, settings: FrontEndSettings, power: [Float], clips: [SpokenDigits.Clip],
                noise: [[Float]], augmentation: SpeechAugmentation?) {
        self.name = name; self.settings = settings; self.power = power; self.clips = clips
        self.noise = noise; self.augmentation = augmentation
        perClip = settings.melBands * settings.frames
        precondition(power.count == clips.count * perClip, "one clip's features per clip")
    }

    /// Clips in the set.
    public var count: Int { clips.count }
    /// [1, bands, frames]: one log-mel image per clip.
    public var sampleShape: [Int] { settings.featureShape }
    /// One of the ten digit words per clip.
    public var targetKind: TargetKind { .classes(count: SpokenDigits.words.count, perSample: 1) }
    /// The digit words, "zero" to "nine", in label order.
    public var classNames: [String] { SpokenDigits.words }

    /// A digest of the settings, a sample of the band energies, the labels and the noise recordings.
    public var fingerprint: UInt64 {
        var h = FNV1a()
        h.mix(UInt64(count)); h.mix(settings.digest); h.mix(UInt64(noise.count))
        for i in stride(from: 0, to: power.count, by: 61) { h.mix(UInt64(power[i].bitPattern)) }
        for clip in clips { h.mix(UInt64(clip.label)) }
        for n in noise { h.mix(UInt64(n.count)); if let first = n.first { h.mix(UInt64(first.bitPattern)) } }
        return h.value
    }

    /// Writes each clip's log-mel features as recorded (no augmentation) and its label.
    public func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage) {
        fill(indices: indices, inputs: inputs, targets: targets, draw: nil)
    }

    /// Training's fill: with a `draw` and an augmentation, each clip is varied by (seed, step, position in the
    /// global batch) before its logarithm; otherwise as recorded.
    public func fill(indices: ArraySlice<Int>, inputs: UnsafeMutablePointer<Float>, targets: TargetStorage, draw: TrainingDraw?) {
        guard let labels = targets.classes else { preconditionFailure("the spoken-digit set's targets are classes") }
        // Scratch of this call's own: simulated ranks are threads that fill from one shared set.
        var scratch = [Float](repeating: 0, count: perClip)
        scratch.withUnsafeMutableBufferPointer { buffer in
        let mixed = buffer.baseAddress!
        power.withUnsafeBufferPointer { all in
            for (row, index) in indices.enumerated() {
                labels[row] = Int32(clips[index].label)
                let clip = all.baseAddress! + index * perClip
                if let augmentation, let draw {
                    var rng = SplitMix64(seed: draw.seed, stream: 0x5FEEC4, UInt64(draw.step), UInt64(draw.firstPosition + row))
                    vary(clip, with: augmentation, rng: &rng, into: mixed)
                    LogMelSpectrogram.normalise(mixed, count: perClip, into: inputs + row * perClip)
                } else {
                    LogMelSpectrogram.normalise(clip, count: perClip, into: inputs + row * perClip)
                }
            }
        }
        }
    }

    /// One clip shifted, sped up or slowed down, and warped in frequency by random amounts
    /// (silence where it moved away from), with, at a random ratio, a random stretch of a
    /// random noise added. The warps interpolate linearly between neighbouring frames and bands.
    private func vary(_ clip: UnsafePointer<Float>, with a: SpeechAugmentation, rng: inout SplitMix64,
                      into out: UnsafeMutablePointer<Float>) {
        let (bands, frames) = (settings.melBands, settings.frames)
        let shift = a.maxShiftFrames > 0 ? Int(rng.next() % UInt64(2 * a.maxShiftFrames + 1)) - a.maxShiftFrames : 0
        let tempo = exp(rng.uniform(log(a.tempo.lowerBound), log(a.tempo.upperBound)))
        let warp = rng.uniform(a.warp.lowerBound, a.warp.upperBound)
        let centre = Float(frames - 1) / 2
        var signal: Float = 0
        for b in 0..<bands {
            let sourceBand = min(Float(b) * warp, Float(bands - 1))
            let b0 = Int(sourceBand), b1 = min(b0 + 1, bands - 1), fb = sourceBand - Float(b0)
            for t in 0..<frames {
                // Output frame t hears source time centre + (t − centre) · tempo, moved by the shift.
                let source = centre + (Float(t) - centre) * tempo - Float(shift)
                var v: Float = 0
                if source >= 0 && source <= Float(frames - 1) {
                    let t0 = Int(source), t1 = min(t0 + 1, frames - 1), ft = source - Float(t0)
                    let low = clip[b0 * frames + t0] * (1 - ft) + clip[b0 * frames + t1] * ft
                    let high = clip[b1 * frames + t0] * (1 - ft) + clip[b1 * frames + t1] * ft
                    v = low * (1 - fb) + high * fb
                }
                out[b * frames + t] = v
                signal += v
            }
        }
        guard !noise.isEmpty, rng.nextUnitFloat() < a.noiseProbability else { return }
        let recording = noise[Int(rng.next() % UInt64(noise.count))]
        let length = recording.count / bands
        let start = Int(rng.next() % UInt64(length - frames + 1))
        let snr = rng.uniform(a.snrDecibels.lowerBound, a.snrDecibels.upperBound)
        var noisePower: Float = 0
        for b in 0..<bands { for t in 0..<frames { noisePower += recording[b * length + start + t] } }
        guard noisePower > 0, signal > 0 else { return }
        let gain = signal / (noisePower * pow(10, snr / 10))
        for b in 0..<bands {
            for t in 0..<frames { out[b * frames + t] += gain * recording[b * length + start + t] }
        }
    }

    /// The clips at `indices`, as a new set (a subset, a validation hold-out).
    public func subset(_ indices: [Int], name: String, augmentation: SpeechAugmentation?) -> SpokenDigitSet {
        var part = [Float](); part.reserveCapacity(indices.count * perClip)
        for i in indices { part.append(contentsOf: power[(i * perClip)..<((i + 1) * perClip)]) }
        return SpokenDigitSet(name: name, settings: settings, power: part, clips: indices.map { clips[$0] },
                              noise: augmentation == nil ? [] : noise, augmentation: augmentation)
    }

    /// Accuracy per voice (accent+variant) of `predictions` (one class per clip, in order).
    public func accuracyPerVoice(_ predictions: [Int]) -> [(voice: String, correct: Int, total: Int)] {
        var table: [String: (Int, Int)] = [:]
        for (clip, predicted) in zip(clips, predictions) {
            let (c, t) = table[clip.voice] ?? (0, 0)
            table[clip.voice] = (c + (clip.label == predicted ? 1 : 0), t + 1)
        }
        return table.keys.sorted().map { ($0, table[$0]!.0, table[$0]!.1) }
    }
}
