import Foundation
import Tandem
import XCTest

/// The front end: mel filters, the FFT's power per band, centring, and level invariance.
final class LogMelSpectrogramTests: XCTestCase {
    let settings = FrontEndSettings()

    func tone(_ hertz: Double, seconds: Double = 0.5, amplitude: Float = 0.3) -> [Float] {
        (0..<Int(16_000 * seconds)).map { amplitude * Float(sin(2 * Double.pi * hertz * Double($0) / 16_000)) }
    }

    func testFiltersCoverTheSpectrumInMelOrder() {
        let bank = MelFilterBank(bands: 40, fftSize: 512, sampleRate: 16_000)
        XCTAssertEqual(bank.bins, 257)
        var previousCentre = -1
        for b in 0..<40 {
            XCTAssertFalse(bank.ranges[b].isEmpty, "band \(b) must see at least one bin")
            let weights = bank.ranges[b].map { bank.weights[b * bank.bins + $0] }
            let centre = bank.ranges[b].lowerBound + weights.indices.max { weights[$0] < weights[$1] }!
            XCTAssertGreaterThanOrEqual(centre, previousCentre, "band centres rise")
            previousCentre = centre
            XCTAssertLessThanOrEqual(weights.max()!, 1.0001)
        }
        XCTAssertLessThan(bank.ranges[1].count, bank.ranges[38].count, "low bands are narrow, high bands wide")
        XCTAssertEqual(MelFilterBank.hertz(MelFilterBank.mel(1234)), 1234, accuracy: 1e-6)
    }

    func testATonesEnergyLandsInTheBandHoldingItsFrequency() {
        let frontEnd = LogMelSpectrogram(settings: settings)
        let bank = frontEnd.filterBank
        for hertz in [250.0, 1000, 3000, 6000] {
            let power = frontEnd.power(of: tone(hertz))
            XCTAssertEqual(power.count, 40 * 100)
            // Energy per band summed over frames; the loudest band must have its filter's peak near the tone.
            let perBand = (0..<40).map { b in (0..<100).reduce(Float(0)) { $0 + power[b * 100 + $1] } }
            let loudest = perBand.indices.max { perBand[$0] < perBand[$1] }!
            let bin = Int((hertz / 16_000 * 512).rounded())
            XCTAssertGreaterThan(bank.weights[loudest * bank.bins + bin], 0.3, "\(hertz) Hz lands in band \(loudest)")
        }
    }

    func testPlacementAndLevelDoNotChangeTheFeatures() {
        let frontEnd = LogMelSpectrogram(settings: settings)
        // A word-like burst: a 600 Hz tone with a rising and falling envelope.
        let burst = (0..<6_000).map { Float(sin(Double.pi * Double($0) / 6_000)) * 0.4 * Float(sin(2 * Double.pi * 600 * Double($0) / 16_000)) }
        let reference = frontEnd.features(of: burst)
        // Extra silence of whole hops before and after: the energy's centre moves with the word.
        let padded = [Float](repeating: 0, count: 160 * 30) + burst + [Float](repeating: 0, count: 160 * 50)
        let quiet = burst.map { $0 * 0.01 }    // 40 dB quieter
        for (label, variant) in [("padded", padded), ("40 dB quieter", quiet)] {
            let features = frontEnd.features(of: variant)
            var worst: Float = 0
            for (a, b) in zip(reference, features) { worst = max(worst, abs(a - b)) }
            XCTAssertLessThan(worst, 0.02, label)
        }
        XCTAssertEqual(reference.max() ?? 0, 1, accuracy: 1e-6, "the loudest value is 1")
        XCTAssertGreaterThanOrEqual(reference.min() ?? -2, -1, "nothing below the 80 dB floor")
        // A long recording: the window follows the word wherever it lies.
        var long = [Float](repeating: 0, count: 16_000 * 5)
        for (i, s) in burst.enumerated() { long[16_000 * 3 + i] = s }
        XCTAssertGreaterThan(frontEnd.features(of: long).filter { $0 > 0.5 }.count, 20, "the word is found 3 s into a 5 s file")
    }

    func testEqualInputGivesBitwiseEqualFeaturesOnEveryInstance() {
        let clip = tone(440) + tone(880)
        let a = LogMelSpectrogram(settings: settings).features(of: clip)
        let b = LogMelSpectrogram(settings: settings).features(of: clip)
        XCTAssertEqual(a, b, "FFTW_ESTIMATE plans: the same arithmetic every time")
        var other = settings; other.melBands = 64
        XCTAssertNotEqual(other.digest, settings.digest, "the cache key changes with the settings")
    }
}
