import ArgumentParser
import Foundation
import Tandem

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput: median samples/s over timed steps, split into phases.")

    @OptionGroup var options: TrainingOptions
    @Option(parsing: .unconditional, help: "Timed steps.") var steps = 100
    @Option(parsing: .unconditional, help: "Untimed warm-up steps.") var warmupSteps = 20
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Measure the allreduce alone, 8 bytes to --allreduce-max-mb, and recommend a bucket size.") var allreduce = false
    @Option(parsing: .unconditional, help: "The largest allreduce --allreduce measures, in MiB (slow links: less).")
    var allreduceMaxMb: Double = 64
    @Flag(help: "Measure how long one cache line takes from core 0 to core 1 and back (run it without mpirun).")
    var coreLatency = false
    @Option(help: "Also write rank 0's forward, backward and per-layer times (medians over the timed steps) to this JSON file, for --emulate-compute.")
    var recordLayerTimes: String?
    @Option(help: "Replace each rank's forward and backward by waiting as long as the times in this file (from --record-layer-times) say, scaled to the rank's shard; the communication stays real (emulated hosts).")
    var emulateCompute: String?
    @Flag(help: "Measure the speech front end: spoken-digit clips decoded, resampled and turned into log-mel features per second, on one thread and on every core.")
    var frontEnd = false

    func run() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1 (got \(steps))") }
        guard warmupSteps >= 0 else { throw ValidationError("--warmup-steps must be at least 0 (got \(warmupSteps))") }
        var config = TrainingConfig()
        options.apply(to: &config)
        config.epochs = 1_000_000
        config.maxSteps = warmupSteps + steps
        config.progress = false
        config.runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-bench-\(getpid())").path
        let (steps, warmup, json) = (self.steps, warmupSteps, self.json)
        guard allreduceMaxMb * 1_048_576 >= 8 else { throw ValidationError("--allreduce-max-mb must be at least 8 bytes' worth (got \(allreduceMaxMb))") }
        if allreduce {
            return Bench.allreduceSweep(simulatedRanks: options.simulateRanks, maxBytes: Int(allreduceMaxMb * 1_048_576), json: json)
        }
        if coreLatency { return try Bench.coreRoundTrip(json: json) }
        if frontEnd {
            do { return try Bench.frontEndThroughput(json: json) } catch { Job.fail(error, rank: nil, size: 1) }
        }
        let (record, emulate) = (recordLayerTimes, emulateCompute)
        Job.run(simulatedRanks: options.simulateRanks, collectiveTimeout: config.collectiveTimeout) { communicator in
            let trainer = try Trainer(config: config, communicator: communicator)
            if let emulate {
                try StartupFailure.agree(communicator: communicator) {
                    let times = try LayerTimes.read(path: emulate)
                    guard times.unitNames == trainer.model.units.map(\.name) else {
                        throw DataError(emulate, "the layer times are for \(times.model) (\(times.unitNames.count) layers), "
                                        + "not for this model, \(config.model) (\(trainer.model.units.count) layers)")
                    }
                    let emulation = ComputeEmulation(times: times)
                    trainer.step.computeEmulation = emulation
                    MPICommunicator.sleepingWaitInterval = emulation.pollInterval
                }
            }
            let report = try Benchmark.measure(trainer, warmup: warmup, steps: steps, recordLayerTimes: record)
            if communicator.isRoot {
                try? FileManager.default.removeItem(atPath: config.runDirectory!)
                print(json ? report.json : report.text)
            }
        }
    }

    /// Clips per second from sound file to features, over the spoken-digit set's first 2,000
    /// clips (the work `FeatureCache` does once per data set).
    static func frontEndThroughput(json: Bool) throws {
        let directory = SpokenDigits.defaultDirectory
        let clips = Array(try SpokenDigits.manifest(in: directory).prefix(2_000))
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // Files read once beforehand, so that the page cache, not the disk, serves every pass.
        for clip in clips { _ = FileManager.default.contents(atPath: directory + "/" + clip.path) }
        var rates: [(threads: Int, clipsPerSecond: Double)] = []
        for threads in Set([1, cores]).sorted() {
            let started = Date()
            _ = try FeatureCache.compute(directory: directory, clips: clips, noises: [], settings: FrontEndSettings(), threads: threads)
            rates.append((threads, Double(clips.count) / Date().timeIntervalSince(started)))
        }
        if json {
            let object: [String: Any] = ["clips": clips.count, "clips_per_second": Dictionary(uniqueKeysWithValues: rates.map { ("\($0.threads)", $0.clipsPerSecond) })]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            for r in rates {
                print(String(format: "speech front end: %.0f clips/s on %d thread(s) (decode, resample to 16 kHz, log-mel; %d clips)",
                             r.clipsPerSecond, r.threads, clips.count))
            }
        }
    }

    static func coreRoundTrip(json: Bool) throws {
        guard let samples = CoreLatency.roundTrips() else {
            FileHandle.standardError.write("tandem: error: cannot run threads on cores 0 and 1 (this process may use \(ProcessInfo.processInfo.activeProcessorCount) core(s))\n".data(using: .utf8)!)
            Foundation.exit(1)
        }
        let median = samples.median
        if json {
            let object: [String: Any] = ["core_round_trip_ns": median, "samples_ns": samples]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "one cache line from core 0 to core 1 and back: %.0f ns (median of %d; %@)", median, samples.count,
                         samples.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
        }
    }

    static func allreduceSweep(simulatedRanks: Int?, maxBytes: Int, json: Bool) {
        Job.run(simulatedRanks: simulatedRanks) { communicator in
            let points = try AllreduceBenchmark.measure(communicator, maxBytes: maxBytes)
            guard communicator.isRoot else { return }
            let bucket = AllreduceBenchmark.recommendedBucketBytes(points)
            if json {
                let rows: [[String: Any]] = points.map { ["bytes": $0.bytes, "microseconds": $0.seconds * 1e6,
                                                          "bus_gb_per_s": $0.busBandwidth / 1e9] }
                let object: [String: Any] = ["world_size": communicator.size, "points": rows, "recommended_bucket_bytes": bucket]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("allreduce over \(communicator.size) rank(s)")
                print("       bytes   median µs   bus GB/s")
                for p in points {
                    print(String(format: "%12d  %10.1f  %9.2f", p.bytes, p.seconds * 1e6, p.busBandwidth / 1e9))
                }
                print("recommended --bucket-mb \(Double(bucket) / 1_048_576)")
            }
        }
    }
}
