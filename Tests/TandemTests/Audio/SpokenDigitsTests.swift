import Foundation
import Tandem
import XCTest

/// The spoken-digit set: the generation script, the manifest, the feature cache (rebuilt when
/// stale, never trusted when damaged), and augmentation that depends on the draw, not the rank.
final class SpokenDigitsTests: XCTestCase {
    /// A small set (180 clips) made by the real script into a temporary directory.
    func makeSmallSet() throws -> String {
        let directory = TandemBinary.temporaryDirectory(self, "digits")
        let script = TandemBinary.packageRoot.appendingPathComponent("scripts/make-spoken-digits").path
        let result = try TandemBinary.shell("'\(script)' --size small --out '\(directory)'", timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        return directory
    }

    func testScriptWritesAVoiceSplitSetDeterministically() throws {
        let directory = try makeSmallSet()
        let clips = try SpokenDigits.manifest(in: directory)
        XCTAssertEqual(clips.count, 180)
        let trainVoices = Set(clips.filter { $0.split == "train" }.map(\.voice))
        let testVoices = Set(clips.filter { $0.split == "test" }.map(\.voice))
        XCTAssertEqual(testVoices.count, 3)
        XCTAssertTrue(trainVoices.isDisjoint(with: testVoices), "no test voice is heard in training")
        for voice in testVoices { XCTAssertEqual(clips.filter { $0.voice == voice }.map(\.label).sorted(), Array(0..<10)) }
        XCTAssertEqual(SpokenDigits.noisePaths(in: directory).count, 4)
        // The same seed gives byte-identical clips.
        let again = try makeSmallSet()
        for clip in clips.prefix(20) {
            XCTAssertEqual(FileManager.default.contents(atPath: directory + "/" + clip.path),
                           FileManager.default.contents(atPath: again + "/" + clip.path), clip.path)
        }
    }

    func testFeatureCacheIsReusedRebuiltWhenStaleAndNeverTrustedWhenDamaged() throws {
        let directory = try makeSmallSet()
        var messages: [String] = []
        let first = try SpokenDigits.load(directory: directory) { messages.append($0) }
        XCTAssertEqual(messages.count, 1); XCTAssertTrue(messages[0].contains("computed the features of 180 clips"), "\(messages)")
        XCTAssertEqual(first.train.count, 150); XCTAssertEqual(first.test.count, 30)
        XCTAssertEqual(first.train.sampleShape, [1, 40, 100])

        messages = []
        let second = try SpokenDigits.load(directory: directory) { messages.append($0) }
        XCTAssertEqual(messages, [], "a valid cache is read, not recomputed")
        XCTAssertEqual(second.train.power, first.train.power)

        // One flipped byte in the features: detected by the checksum, reported, recomputed.
        let cache = directory + "/" + FeatureCache.fileName
        var bytes = [UInt8](FileManager.default.contents(atPath: cache)!)
        bytes[bytes.count / 2] ^= 0x40
        XCTAssertTrue(FileManager.default.createFile(atPath: cache, contents: Data(bytes)))
        messages = []
        let repaired = try SpokenDigits.load(directory: directory) { messages.append($0) }
        XCTAssertTrue(messages.first?.contains("checksum") ?? false, "\(messages)")
        XCTAssertEqual(repaired.train.power, first.train.power)
        // Cut short: reported too.
        XCTAssertTrue(FileManager.default.createFile(atPath: cache, contents: Data(bytes.prefix(1000))))
        messages = []
        _ = try SpokenDigits.load(directory: directory) { messages.append($0) }
        XCTAssertTrue(messages.first?.contains("damaged") ?? false, "\(messages)")

        // A clip that changes (another recording under the same name) makes the cache stale.
        let listed = try SpokenDigits.manifest(in: directory)
        let clip = listed[0]
        let replacement = try AudioFile.read(directory + "/" + listed[5].path)
        try AudioFile.write(replacement, sampleRate: 16_000, to: directory + "/" + clip.path)
        messages = []
        let changed = try SpokenDigits.load(directory: directory) { messages.append($0) }
        XCTAssertTrue(messages.first?.contains("other clips or other front-end settings") ?? false, "\(messages)")
        XCTAssertNotEqual(changed.train.power + changed.test.power, first.train.power + first.test.power)
        // Other front-end settings make it stale as well.
        var settings = FrontEndSettings(); settings.frames = 80
        messages = []
        XCTAssertEqual(try SpokenDigits.load(directory: directory, settings: settings) { messages.append($0) }.train.sampleShape, [1, 40, 80])
        XCTAssertTrue(messages.first?.contains("other clips or other front-end settings") ?? false, "\(messages)")
    }

    func testMissingOrMalformedSetsAreReportedInOneLine() throws {
        let directory = TandemBinary.temporaryDirectory(self, "nodigits")
        XCTAssertThrowsError(try SpokenDigits.load(directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("run scripts/make-spoken-digits"), "\(error)")
        }
        let manifest = directory + "/manifest.csv"
        for (content, problem) in [("path,label\n", "line 1"),
                                   ("path,label,word,accent,variant,rate,pitch,split\nclips/a.wav,3,four,en,m1,150,50,train\n", "line 2"),
                                   ("path,label,word,accent,variant,rate,pitch,split\nclips/a.wav,3,three,en,m1,150,50,train\n", "both the train and the test")] {
            try content.write(toFile: manifest, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try SpokenDigits.manifest(in: directory)) { error in
                XCTAssertTrue("\(error)".hasPrefix(manifest) && "\(error)".contains(problem), "\(error)")
            }
        }
        try "path,label,word,accent,variant,rate,pitch,split\nclips/a.wav,3,three,en,m1,150,50,train\nclips/b.wav,4,four,en,m2,150,50,test\n"
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SpokenDigits.load(directory: directory)) { error in
            XCTAssertTrue("\(error)".hasSuffix("no such file (listed in the spoken-digit manifest)"), "\(error)")
            XCTAssertTrue("\(error)".contains("clips/a.wav"), "\(error)")
        }
    }

    /// Noise and shifts depend on (seed, step, position in the global batch): a batch filled
    /// whole equals the same batch filled as two ranks' shards; another step differs; the test
    /// set and a draw-less fill are the plain features.
    func testAugmentationFollowsTheDrawNotTheRank() throws {
        let directory = try makeSmallSet()
        let (train, test) = try SpokenDigits.load(directory: directory)
        let indices = Array([3, 17, 42, 99, 5, 120, 64, 8])
        let width = train.featuresPerSample
        func fill(_ slice: ArraySlice<Int>, step: Int, position: Int, source: SpokenDigitSet = train) -> [Float] {
            var x = [Float](repeating: 0, count: slice.count * width), y = [Int32](repeating: 0, count: slice.count)
            x.withUnsafeMutableBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
                source.fill(indices: slice, inputs: xb.baseAddress!, targets: TargetStorage(classes: yb.baseAddress, values: nil),
                            draw: TrainingDraw(seed: 7, step: step, firstPosition: position))
            } }
            return x
        }
        let whole = fill(indices[...], step: 3, position: 0)
        let shards = fill(indices[0..<3], step: 3, position: 0) + fill(indices[3..<8], step: 3, position: 3)
        XCTAssertEqual(whole, shards, "two ranks' shards are the whole batch")
        XCTAssertNotEqual(whole, fill(indices[...], step: 4, position: 0), "another step draws other noise")
        var plain = [Float](repeating: 0, count: indices.count * width), labels = [Int32](repeating: 0, count: indices.count)
        plain.withUnsafeMutableBufferPointer { xb in labels.withUnsafeMutableBufferPointer { yb in
            train.fill(indices: indices[...], inputs: xb.baseAddress!, targets: TargetStorage(classes: yb.baseAddress, values: nil))
        } }
        XCTAssertNotEqual(whole, plain, "training clips are varied")
        XCTAssertEqual(labels.map(Int.init), indices.map { train.clips[$0].label })
        let testIndices = Array(0..<8)[...]
        XCTAssertEqual(fill(testIndices, step: 3, position: 0, source: test), fill(testIndices, step: 9, position: 5, source: test),
                       "the test set is used as recorded")
        XCTAssertTrue(whole.allSatisfy { $0.isFinite && $0 >= -1 && $0 <= 1 })
    }
}
