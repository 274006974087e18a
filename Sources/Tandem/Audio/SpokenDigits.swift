import Foundation

/// The spoken-digit data set that `scripts/make-spoken-digits` writes: one clip per word
/// ("zero" … "nine") per espeak-ng voice, rate and pitch, split by voice into train and test.
public enum SpokenDigits {
    /// The ten words, in label order: label i is the digit i.
    public static let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    /// The data set's folder name in the data directory.
    public static let directoryName = "spoken-digits"

    /// One clip of the manifest.
    public struct Clip: Equatable {
        /// The sound file, relative to the set's directory.
        public var path: String      // relative to the set's directory
        /// The digit spoken, 0 to 9.
        public var label: Int
        /// The espeak-ng voice's accent ("en-gb-scotland").
        public var accent: String
        /// The espeak-ng voice variant ("croak", "f1", ...).
        public var variant: String
        /// Speaking rate, in words per minute (espeak-ng's `-s`).
        public var rate: Int
        /// Pitch, 0 to 99 (espeak-ng's `-p`).
        public var pitch: Int
        /// "train" or "test"; the test set holds out whole voices.
        public var split: String
        /// The speaker: an accent with a voice variant ("en-gb-scotland+croak").
        public var voice: String { accent + "+" + variant }
    }

    /// `$TANDEM_DATA/spoken-digits`, else `data/spoken-digits` in the checkout the running
    /// binary was built in, else in the current directory.
    public static var defaultDirectory: String { DataDirectory.path(of: directoryName, marker: "manifest.csv") }

    /// The clips listed in `directory/manifest.csv`; a missing set says how to make it, a
    /// malformed line is named.
    public static func manifest(in directory: String) throws -> [Clip] {
        let path = directory + "/manifest.csv"
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError(path, "no such file: run scripts/make-spoken-digits to make the spoken-digit set "
                            + "(or set TANDEM_DATA to the directory holding \(directoryName)/)")
        }
        let text = String(decoding: try FileBytes.read(path), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let header = lines.first, header == "path,label,word,accent,variant,rate,pitch,split" else {
            throw DataError(path, "line 1 is not the header path,label,word,accent,variant,rate,pitch,split")
        }
        lines.removeFirst()
        var clips: [Clip] = []
        clips.reserveCapacity(lines.count)
        for (number, line) in lines.enumerated() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 8, let label = Int(f[1]), words.indices.contains(label), f[2] == words[label],
                  let rate = Int(f[5]), let pitch = Int(f[6]), f[7] == "train" || f[7] == "test", !f[0].isEmpty else {
                throw DataError(path, "line \(number + 2) is not 'path,label,word,accent,variant,rate,pitch,split' with a label 0-9, "
                                + "its word, and split train or test: '\(line.prefix(120))'")
            }
            clips.append(Clip(path: f[0], label: label, accent: f[3], variant: f[4], rate: rate, pitch: pitch, split: f[7]))
        }
        guard clips.contains(where: { $0.split == "train" }), clips.contains(where: { $0.split == "test" }) else {
            throw DataError(path, "needs clips in both the train and the test split")
        }
        return clips
    }

    /// The noise recordings mixed into training clips: `directory/noise/*.wav`, in name order.
    public static func noisePaths(in directory: String) -> [String] {
        let folder = directory + "/noise"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".wav") }.sorted().map { folder + "/" + $0 }
    }

    /// The training and test sets, their features computed once and cached in the set's
    /// directory (see `FeatureCache`). The training set mixes noise and shifts clips in time.
    public static func load(directory: String = defaultDirectory, settings: FrontEndSettings = FrontEndSettings(),
                            augmentation: SpeechAugmentation = SpeechAugmentation(), log: (String) -> Void = { _ in })
        throws -> (train: SpokenDigitSet, test: SpokenDigitSet) {
        let clips = try manifest(in: directory)
        let features = try FeatureCache.load(directory: directory, clips: clips, noises: noisePaths(in: directory),
                                             settings: settings, log: log)
        func part(_ split: String) -> SpokenDigitSet {
            let indices = clips.indices.filter { clips[$0].split == split }
            let perClip = settings.melBands * settings.frames
            var power = [Float](); power.reserveCapacity(indices.count * perClip)
            for i in indices { power.append(contentsOf: features.clips[(i * perClip)..<((i + 1) * perClip)]) }
            return SpokenDigitSet(name: "spoken-digits/\(split)", settings: settings, power: power,
                                  clips: indices.map { clips[$0] },
                                  noise: split == "train" ? features.noises : [],
                                  augmentation: split == "train" ? augmentation : nil)
        }
        return (part("train"), part("test"))
    }
}
