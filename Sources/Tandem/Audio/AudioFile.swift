import CSampleRate
import CSndFile
import Foundation

/// Sound files in and out, through libsndfile (WAV, FLAC, Ogg Vorbis and the rest it knows).
///
/// Whatever a file holds — any sample format, any channel count, any rate — `read` returns mono
/// samples in [-1, 1] at the rate asked for: channels are averaged, and the rate is converted
/// with libsamplerate's band-limited sinc interpolation, so a 44.1 kHz phone recording and a
/// 22,050 Hz espeak-ng clip reach the front end as the same kind of 16 kHz signal.
public enum AudioFile {
    /// Longer files are refused before any sample is decoded: a recogniser of single words has
    /// no use for them, and an hour of 96 kHz audio would otherwise take gigabytes.
    public static let longestSeconds = 600.0

    /// The mono samples of `path` at `sampleRate` Hz. A file that is missing, damaged, not
    /// audio, empty, too long, or not finite gives one line naming it.
    public static func read(_ path: String, sampleRate: Int = 16_000) throws -> [Float] {
        let (samples, rate) = try readMono(path)
        return try resample(samples, from: rate, to: sampleRate, path: path)
    }

    /// The file's samples averaged over its channels, at the file's own rate.
    public static func readMono(_ path: String) throws -> (samples: [Float], sampleRate: Int) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(path, "no such file")
        }
        guard !isDirectory.boolValue else { throw DataError(path, "is a directory, not a sound file") }
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            let reason = String(cString: sf_strerror(nil)).trimmingCharacters(in: .whitespacesAndNewlines)
            throw DataError(path, "not a readable sound file (libsndfile: \(reason))")
        }
        defer { sf_close(file) }
        let channels = Int(info.channels), rate = Int(info.samplerate), frames = Int(info.frames)
        guard channels > 0, rate > 0 else {
            throw DataError(path, "has \(channels) channels at \(rate) Hz; a sound file needs at least one channel and a positive rate")
        }
        guard frames > 0 else { throw DataError(path, "contains no audio (zero samples)") }
        guard rate <= 768_000 else { throw DataError(path, "has a sample rate of \(rate) Hz; Tandem reads rates up to 768 kHz") }
        guard Double(frames) / Double(rate) <= longestSeconds else {
            throw DataError(path, String(format: "is %.0f s long; Tandem reads clips of at most %.0f s",
                                         Double(frames) / Double(rate), longestSeconds))
        }
        // Blocks of frames, each mixed down at once: memory holds the mono signal, never all
        // channels of a long many-channel file. A file cut short yields fewer frames than its
        // header promised: what is there is kept.
        var mono = [Float](); mono.reserveCapacity(min(frames, 1 << 24))
        let block = 16_384
        var interleaved = [Float](repeating: 0, count: block * channels)
        let scale = 1 / Float(channels)
        while mono.count < frames {
            let read = Int(interleaved.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(block)) })
            if read <= 0 { break }
            for frame in 0..<read {
                var sum: Float = 0
                for channel in 0..<channels { sum += interleaved[frame * channels + channel] }
                mono.append(sum * scale)
            }
        }
        guard !mono.isEmpty else { throw DataError(path, "is damaged: its header promises \(frames) samples but none can be decoded") }
        // Floating-point files can hold anything; NaN or infinity would poison every feature.
        guard mono.allSatisfy({ $0.isFinite }) else { throw DataError(path, "contains samples that are not finite numbers") }
        return (mono, rate)
    }

    /// `samples` at `from` Hz converted to `to` Hz (unchanged when the rates agree).
    public static func resample(_ samples: [Float], from: Int, to: Int, path: String = "audio") throws -> [Float] {
        guard from != to else { return samples }
        let ratio = Double(to) / Double(from)
        guard src_is_valid_ratio(ratio) != 0 else {
            throw DataError(path, "has a sample rate of \(from) Hz, which cannot be converted to \(to) Hz")
        }
        var output = [Float](repeating: 0, count: Int((Double(samples.count) * ratio).rounded(.up)) + 16)
        var produced = 0
        let error: Int32 = samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                var data = SRC_DATA()
                data.data_in = input.baseAddress
                data.input_frames = Int(samples.count)
                data.data_out = out.baseAddress
                data.output_frames = Int(out.count)
                data.src_ratio = ratio
                data.end_of_input = 1
                let status = src_simple(&data, Int32(SRC_SINC_MEDIUM_QUALITY), 1)
                produced = Int(data.output_frames_gen)
                return status
            }
        }
        guard error == 0 else { throw DataError(path, "cannot be resampled: \(String(cString: src_strerror(error)))") }
        return Array(output[0..<produced])
    }

    /// Whether a file name ends like a sound file (.wav, .flac, .ogg, .oga, .aiff, .au, .mp3, .opus).
    public static func looksLikeSound(_ path: String) -> Bool {
        ["wav", "flac", "ogg", "oga", "opus", "aiff", "aif", "au", "mp3"].contains((path as NSString).pathExtension.lowercased())
    }

    /// The containers `write` knows, by file extension.
    public enum Format: String, CaseIterable {
        case wav, flac, ogg
        var libsndfileCode: Int32 {
            switch self {
            case .wav: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
            case .flac: return Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
            case .ogg: return Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS)
            }
        }
    }

    /// Writes mono `samples` (clipped to [-1, 1]) at `sampleRate` in the container its
    /// extension names (.wav, .flac or .ogg).
    public static func write(_ samples: [Float], sampleRate: Int, to path: String) throws {
        let ext = (path as NSString).pathExtension.lowercased()
        guard let format = Format(rawValue: ext) else {
            throw DataError(path, "cannot write '.\(ext)' audio; use .wav, .flac or .ogg")
        }
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate); info.channels = 1; info.format = format.libsndfileCode
        guard let file = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw DataError(path, "cannot write: \(String(cString: sf_strerror(nil)))")
        }
        let clipped = samples.map { min(max($0, -1), 1) }
        let written = clipped.withUnsafeBufferPointer { sf_writef_float(file, $0.baseAddress, sf_count_t($0.count)) }
        sf_close(file)
        guard written == clipped.count else { throw DataError(path, "could write only \(written) of \(clipped.count) samples") }
    }
}
