import Foundation

/// The spoken-digit set's features, computed once and kept next to the clips.
///
/// Decoding, resampling and transforming ten thousand clips takes a while, and every run and
/// every rank needs the same result, so the mel band energies (linear, before the logarithm,
/// so that training can still mix noise into them) are written to `features.cache`:
///
///     "TNDMFEAT"  version (UInt32)  key (UInt64)
///     clips, values per clip, noises (UInt64 each), frames of each noise (UInt64 each)
///     the floats: every clip, then every noise
///     FNV-1a of the floats (UInt64)
///
/// The key digests the front-end settings and, for every clip and noise file, its path, label,
/// size and modification time: change any of them and the cache is rebuilt. A cache whose
/// length or checksum is wrong is reported and rebuilt, never trusted. Ranks of one host that
/// start together build it once: the first takes a file lock and the others wait for it.
public enum FeatureCache {
    /// The cache's file name in the spoken-digit set's directory.
    public static let fileName = "features.cache"
    static let magic = Array("TNDMFEAT".utf8)
    static let version: UInt32 = 1

    /// The mel band energies of the manifest's clips and of the noise recordings, linear (before the logarithm).
    public struct Features {
        /// [clips][bands, frames], clip after clip.
        public var clips: [Float]
        /// Each noise recording's band energies, [bands, frames of that noise].
        public var noises: [[Float]]
    }

    /// The features of `clips` and `noises`, read from the cache when its key still matches, else computed,
    /// written to the cache and returned; `log` hears what was recomputed and why.
    public static func load(directory: String, clips: [SpokenDigits.Clip], noises: [String], settings: FrontEndSettings,
                            log: (String) -> Void) throws -> Features {
        let key = try self.key(directory: directory, clips: clips, noises: noises, settings: settings)
        let path = directory + "/" + fileName
        let lock = try FileLock(path: directory + "/features.lock")
        defer { lock.unlock() }
        if FileManager.default.fileExists(atPath: path) {
            do {
                return try read(path, key: key, clips: clips.count, settings: settings, noises: noises.count)
            } catch let stale as StaleCache {
                log("\(path): \(stale.reason); recomputing the features")
            } catch {
                log("\(error); recomputing the features")
            }
        }
        let started = Date()
        let features = try compute(directory: directory, clips: clips, noises: noises, settings: settings)
        try write(features, key: key, settings: settings, to: path)
        log(String(format: "computed the features of %d clips and %d noise files in %.1f s (%.0f clips/s); cached in %@",
                   clips.count, noises.count, Date().timeIntervalSince(started),
                   Double(clips.count) / max(Date().timeIntervalSince(started), 1e-9), path))
        return features
    }

    /// Features of every clip and noise file, computed on `threads` threads (default: every
    /// core, at most 8).
    public static func compute(directory: String, clips: [SpokenDigits.Clip], noises: [String],
                               settings: FrontEndSettings, threads: Int? = nil) throws -> Features {
        let perClip = settings.melBands * settings.frames
        var out = [Float](repeating: 0, count: clips.count * perClip)
        let threads = max(1, threads ?? min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let failure = FirstError()
        out.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                let frontEnd = LogMelSpectrogram(settings: settings)
                for i in stride(from: thread, to: clips.count, by: threads) where !failure.isSet {
                    do {
                        let samples = try AudioFile.read(directory + "/" + clips[i].path, sampleRate: settings.sampleRate)
                        let p = frontEnd.power(of: samples)
                        (base + i * perClip).update(from: p, count: perClip)
                    } catch {
                        failure.set(error)
                    }
                }
            }
        }
        if let error = failure.error { throw error }
        let frontEnd = LogMelSpectrogram(settings: settings)
        var noisePower: [[Float]] = []
        for path in noises {
            let p = frontEnd.power(ofFramesIn: try AudioFile.read(path, sampleRate: settings.sampleRate))
            guard p.count >= perClip else {
                throw DataError(path, "is shorter than one clip (\(settings.samplesCovered) samples at \(settings.sampleRate) Hz); noise must be longer")
            }
            noisePower.append(p)
        }
        return Features(clips: out, noises: noisePower)
    }

    struct StaleCache: Error { var reason: String }

    static func key(directory: String, clips: [SpokenDigits.Clip], noises: [String], settings: FrontEndSettings) throws -> UInt64 {
        var h = FNV1a()
        h.mix(settings.digest)
        func mixFile(_ path: String) throws {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
                throw DataError(path, "no such file (listed in the spoken-digit manifest)")
            }
            for byte in path.utf8 { h.mix(UInt64(byte)) }
            h.mix(UInt64((attributes[.size] as? NSNumber)?.int64Value ?? 0))
            h.mix(UInt64(bitPattern: Int64(((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) * 1e6)))
        }
        for clip in clips { try mixFile(directory + "/" + clip.path); h.mix(UInt64(clip.label)) }
        h.mix(UInt64(noises.count))
        for noise in noises { try mixFile(noise) }
        return h.value
    }

    static func read(_ path: String, key: UInt64, clips: Int, settings: FrontEndSettings, noises: Int) throws -> Features {
        let bytes = try FileBytes.read(path)
        var offset = 0
        func word() -> UInt64? {
            guard offset + 8 <= bytes.count else { return nil }
            defer { offset += 8 }
            return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        }
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic,
              bytes.withUnsafeBytes({ UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }) == version else {
            throw DataError(path, "is not a Tandem feature cache (bad magic or version)")
        }
        offset = 12
        guard let stored = word(), stored == key else {
            throw StaleCache(reason: "made from other clips or other front-end settings")
        }
        let perClip = settings.melBands * settings.frames
        guard let c = word(), let v = word(), let n = word(), c == clips, v == perClip, n == noises else {
            throw DataError(path, "is damaged: its counts do not match its key")
        }
        var noiseFrames: [Int] = []
        for _ in 0..<noises {
            guard let f = word(), f > 0, f < 1 << 32 else { throw DataError(path, "is damaged: a noise length is impossible") }
            noiseFrames.append(Int(f))
        }
        let floats = clips * perClip + noiseFrames.reduce(0) { $0 + $1 * settings.melBands }
        guard bytes.count - offset == floats * 4 + 8 else {
            throw DataError(path, "is damaged: \(bytes.count - offset) bytes of features where \(floats * 4 + 8) belong")
        }
        var payload = [Float](repeating: 0, count: floats)
        payload.withUnsafeMutableBytes { out in
            bytes.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + floats * 4)])) }
        }
        offset += floats * 4
        guard let checksum = word(), checksum == digest(payload) else {
            throw DataError(path, "is damaged: its checksum does not match its features")
        }
        var noisePower: [[Float]] = []
        var start = clips * perClip
        for f in noiseFrames {
            noisePower.append(Array(payload[start..<(start + f * settings.melBands)]))
            start += f * settings.melBands
        }
        payload.removeSubrange((clips * perClip)...)
        return Features(clips: payload, noises: noisePower)
    }

    static func write(_ features: Features, key: UInt64, settings: FrontEndSettings, to path: String) throws {
        var bytes = magic
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        let perClip = settings.melBands * settings.frames
        append(version); append(key)
        append(UInt64(features.clips.count / perClip)); append(UInt64(perClip)); append(UInt64(features.noises.count))
        for noise in features.noises { append(UInt64(noise.count / settings.melBands)) }
        let payload = features.clips + features.noises.flatMap { $0 }
        payload.withUnsafeBytes { bytes.append(contentsOf: $0) }
        append(digest(payload))
        try AtomicFile.write(bytes, to: path)
    }

    static func digest(_ floats: [Float]) -> UInt64 {
        var h = FNV1a()
        floats.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { h.mix(raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            if raw.count % 8 != 0 { h.mix(UInt64(raw.loadUnaligned(fromByteOffset: words * 8, as: UInt32.self))) }
        }
        return h.value
    }
}

/// The first error of several threads' work.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
    var isSet: Bool { error != nil }
    func set(_ error: Error) { lock.lock(); if stored == nil { stored = error }; lock.unlock() }
}

/// An exclusive lock on a file, held until `unlock` (other processes wait for it).
final class FileLock {
    private let descriptor: Int32
    init(path: String) throws {
        descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw DataError(path, "cannot open the lock file: \(String(cString: strerror(errno)))") }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { close(descriptor); throw DataError(path, "cannot lock: \(String(cString: strerror(errno)))") }
        }
    }
    func unlock() { flock(descriptor, LOCK_UN); close(descriptor) }
}
