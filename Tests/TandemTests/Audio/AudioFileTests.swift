import Foundation
import Tandem
import XCTest

/// Decoding through libsndfile, mixing to mono and resampling to 16 kHz, and the one-line
/// refusals of files that are not usable sound.
final class AudioFileTests: XCTestCase {
    func sine(_ hertz: Double, rate: Int, seconds: Double, amplitude: Float = 0.5) -> [Float] {
        (0..<Int(Double(rate) * seconds)).map { amplitude * Float(sin(2 * Double.pi * hertz * Double($0) / Double(rate))) }
    }

    /// Crossings of zero per second, twice the frequency of a pure tone.
    func frequency(_ samples: [Float], rate: Int) -> Double {
        var crossings = 0
        for i in 1..<samples.count where (samples[i - 1] < 0) != (samples[i] < 0) { crossings += 1 }
        return Double(crossings) / 2 / (Double(samples.count) / Double(rate))
    }

    func sox(_ arguments: String) throws {
        let result = try TandemBinary.shell("sox \(arguments)")
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testEveryContainerDecodesAndResamplesToTheSameTone() throws {
        let directory = TandemBinary.temporaryDirectory(self, "audio")
        for format in AudioFile.Format.allCases {
            let path = "\(directory)/tone.\(format.rawValue)"
            try AudioFile.write(sine(440, rate: 22_050, seconds: 1), sampleRate: 22_050, to: path)
            let samples = try AudioFile.read(path)
            XCTAssertEqual(Double(samples.count), 16_000, accuracy: 40, "\(format): one second at 16 kHz")
            XCTAssertEqual(frequency(samples, rate: 16_000), 440, accuracy: 3, "\(format): the pitch survives resampling")
            let peak = samples.map(abs).max() ?? 0
            XCTAssertEqual(peak, 0.5, accuracy: 0.05, "\(format): the level survives")
        }
    }

    func testUnusualButValidFilesAreHandled() throws {
        let directory = TandemBinary.temporaryDirectory(self, "audio")
        // Six channels at 96 kHz: averaged to mono, resampled by a factor of six.
        try sox("-n -r 96000 -c 6 -b 16 \(directory)/six.wav synth 0.5 sine 300")
        let six = try AudioFile.read("\(directory)/six.wav")
        XCTAssertEqual(Double(six.count), 8_000, accuracy: 20)
        XCTAssertEqual(frequency(six, rate: 16_000), 300, accuracy: 4)
        // 8-bit unsigned at 8 kHz: read as floats around zero, upsampled.
        try sox("-n -r 8000 -b 8 -e unsigned-integer \(directory)/eight.wav synth 0.5 sine 500")
        let eight = try AudioFile.read("\(directory)/eight.wav")
        XCTAssertEqual(Double(eight.count), 8_000, accuracy: 20)
        XCTAssertEqual(frequency(eight, rate: 16_000), 500, accuracy: 6)
        XCTAssertLessThan(abs(eight.reduce(0, +) / Float(eight.count)), 0.02, "unsigned samples are centred on zero")
        // Stereo with opposite channels mixes to silence: channels are averaged, not summed or dropped.
        try sox("-n -r 16000 -c 2 \(directory)/opposite.wav synth 0.2 sine 200 remix 1 1v-1")
        XCTAssertLessThan(try AudioFile.read("\(directory)/opposite.wav").map(abs).max() ?? 1, 1e-3)
        // A WAV cut in the middle of its data: the samples that are there are read.
        try AudioFile.write(sine(440, rate: 16_000, seconds: 1), sampleRate: 16_000, to: "\(directory)/whole.wav")
        let whole = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/whole.wav"))
        try whole.prefix(44 + 16_000).write(to: URL(fileURLWithPath: "\(directory)/cut.wav"))
        XCTAssertEqual(try AudioFile.read("\(directory)/cut.wav").count, 8_000)
    }

    func testUnusableFilesAreRefusedInOneLineNamingThem() throws {
        let directory = TandemBinary.temporaryDirectory(self, "audio")
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(directory)/empty.wav", contents: Data()))
        try "not a sound at all\n".write(toFile: "\(directory)/text.wav", atomically: true, encoding: .utf8)
        try AudioFile.write([], sampleRate: 16_000, to: "\(directory)/silent.wav")   // a header and no samples
        try sox("-n -r 8000 -b 8 \(directory)/long.wav synth 700 sine 440")         // 11 minutes
        try AudioFile.write([0.1, .nan, 0.2], sampleRate: 16_000, to: "\(directory)/nan.wav")
        try sox("-n -r 1000000 \(directory)/megahertz.wav synth 0.01 sine 440")                   // 1 MHz
        let cases: [(String, String)] = [
            ("missing.wav", "no such file"), ("empty.wav", "not a readable sound file"), ("text.wav", "not a readable sound file"),
            ("silent.wav", "contains no audio"), ("long.wav", "at most 600 s"), ("", "is a directory"),
            ("megahertz.wav", "rates up to 768 kHz"),
        ]
        for (name, problem) in cases {
            let path = "\(directory)/\(name)"
            XCTAssertThrowsError(try AudioFile.read(path), name) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix(path), "names the file: \(message)")
                XCTAssertTrue(message.contains(problem), "\(name): \(message)")
                XCTAssertFalse(message.contains("\n"), "one line: \(message)")
            }
        }
        // 16-bit PCM cannot hold NaN (libsndfile clips it), so what is read is finite.
        XCTAssertTrue(try AudioFile.read("\(directory)/nan.wav").allSatisfy(\.isFinite))
        XCTAssertThrowsError(try AudioFile.write([0], sampleRate: 16_000, to: "\(directory)/x.mp3")) { error in
            XCTAssertTrue("\(error)".contains("use .wav, .flac or .ogg"))
        }
    }

    /// Corrupted copies of real WAV, FLAC and Ogg files: every one is either read as finite
    /// samples or refused with a one-line error naming it; none crashes or hangs the reader.
    func testFuzzedFilesNeverCrashTheReader() throws {
        let directory = TandemBinary.temporaryDirectory(self, "fuzz")
        var originals: [Data] = []
        for format in AudioFile.Format.allCases {
            let path = "\(directory)/seed.\(format.rawValue)"
            try AudioFile.write(sine(330, rate: 22_050, seconds: 0.3), sampleRate: 22_050, to: path)
            originals.append(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        var rng = SplitMix64(seed: 17)
        var (read, refused) = (0, 0)
        let started = Date()
        for trial in 0..<240 {
            let format = AudioFile.Format.allCases[trial % 3]
            var bytes = [UInt8](originals[trial % 3])
            switch trial % 4 {
            case 0:   // flip bytes anywhere, the header included
                for _ in 0..<(1 + Int(rng.next() % 16)) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 1:   // cut short
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            case 2:   // overwrite the first 64 bytes
                for i in 0..<min(64, bytes.count) { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
            default:  // a run of random bytes in the middle
                let start = Int(rng.next() % UInt64(bytes.count))
                for i in start..<min(bytes.count, start + 256) { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            let path = "\(directory)/fuzz-\(trial).\(format.rawValue)"
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            do {
                let samples = try AudioFile.read(path)
                XCTAssertTrue(samples.allSatisfy(\.isFinite), path)
                read += 1
            } catch {
                XCTAssertTrue("\(error)".hasPrefix(path) && !"\(error)".contains("\n"), "\(error)")
                refused += 1
            }
        }
        XCTAssertEqual(read + refused, 240)
        XCTAssertGreaterThan(refused, 20, "some corruptions must be refused")
        XCTAssertLessThan(Date().timeIntervalSince(started), 120, "the reader must not hang on corrupt input")
    }
}
