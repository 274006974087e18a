import Foundation
import Glibc

/// `tandem launch`: runs a training job under `mpirun` and, when it fails (a rank killed, a
/// watchdog abort, a host gone), starts it again from the run directory's latest checkpoint,
/// up to `maxRestarts` times, waiting longer after each failure. Exact resume makes the
/// restarts invisible in the result: the run ends with the parameters it would have had
/// without them.
///
/// It does not restart a job that was refused at start-up (a configuration, data or
/// checkpoint problem, which a second try would meet again), nor one stopped on purpose.
/// With a hostfile and `minRanks`, hosts are probed before each restart, and one that stays
/// unreachable is left out: the job carries on with fewer ranks (elastic resume), never fewer
/// than `minRanks`.
public final class JobSupervisor {
    /// What `tandem launch` was asked to do: the ranks, hosts, restart policy and training arguments.
    public struct Options {
        /// Number of ranks for the first attempt (`-np`).
        public var ranks: Int
        /// An mpirun hostfile; with `minRanks`, unreachable hosts are left out of restarts.
        public var hostfile: String?
        /// Most restarts after failures before giving up.
        public var maxRestarts = 3
        /// Fewest ranks a restart may run on (elastic resume); nil keeps every restart at `ranks`.
        public var minRanks: Int?
        /// Seconds before the first restart; doubled for each further one.
        public var backoff = 5.0
        /// Extra arguments for mpirun (placed before the program).
        public var mpirunOptions: [String] = []
        /// The `tandem train` arguments (`--run-dir` added when missing).
        public var trainArguments: [String]
        /// Options for `ranks` ranks running `tandem train` with `trainArguments`; the rest keep their defaults.
        public init(ranks: Int, trainArguments: [String]) { self.ranks = ranks; self.trainArguments = trainArguments }
    }

    /// An invalid launch request (bad options, mpirun missing), reported before any job starts.
    public struct Failure: Error, CustomStringConvertible {
        /// What is wrong, in words fit to show the user.
        public var description: String
    }

    let options: Options
    let runDirectory: String
    let program: String
    let mpirun: String
    private var child: ChildProcess?
    private var stopSignals = 0
    private var signalSources: [DispatchSourceSignal] = []

    /// Checks `options`, finds mpirun, and settles the run directory (a fresh one when the training
    /// arguments name none); `program` is the executable mpirun starts on every rank.
    public init(options: Options, program: String) throws {
        guard options.ranks >= 1 else { throw Failure(description: "-np must be at least 1 (got \(options.ranks))") }
        guard options.maxRestarts >= 0 else { throw Failure(description: "--max-restarts must be at least 0 (got \(options.maxRestarts))") }
        guard options.backoff >= 0, options.backoff.isFinite else {
            throw Failure(description: "--backoff must be a non-negative number of seconds (got \(options.backoff))")
        }
        if let minRanks = options.minRanks {
            guard (1...options.ranks).contains(minRanks) else {
                throw Failure(description: "--min-ranks must be between 1 and -np \(options.ranks) (got \(minRanks))")
            }
            guard options.hostfile != nil else {
                throw Failure(description: "--min-ranks needs --hostfile (it leaves out hosts that stay unreachable)")
            }
        }
        for forbidden in ["--simulate-ranks", "--resume"] where options.trainArguments.contains(where: { $0 == forbidden || $0.hasPrefix(forbidden + "=") }) {
            throw Failure(description: "\(forbidden) cannot be given to tandem launch (it runs the ranks under mpirun and resumes by itself)")
        }
        guard let mpirun = ChildProcess.find("mpirun") else { throw Failure(description: "mpirun not found on the PATH (install openmpi-bin)") }
        var arguments = options.trainArguments
        if let i = arguments.firstIndex(of: "--run-dir"), i + 1 < arguments.count {
            runDirectory = arguments[i + 1]
        } else if let given = arguments.first(where: { $0.hasPrefix("--run-dir=") }) {
            runDirectory = String(given.dropFirst("--run-dir=".count))
        } else {
            runDirectory = Trainer.freshRunDirectory()
            arguments += ["--run-dir", runDirectory]
        }
        var adjusted = options
        adjusted.trainArguments = arguments
        self.options = adjusted
        self.program = program
        self.mpirun = mpirun
    }

    /// Runs the job to its end; returns the exit status for the launcher: 0, 75 when stopped
    /// on request, or the last failure's status after the last restart.
    public func run() -> Int32 {
        installSignalForwarding()
        var ranks = options.ranks
        var hostfile = options.hostfile
        var attempt = 0
        while true {
            let metricsBefore = metricsSize()
            // A directory that already holds this run (an earlier attempt, or an earlier launch
            // stopped on request) is carried on, not refused.
            let status = launch(ranks: ranks, hostfile: hostfile, resume: attempt > 0 || Trainer.runHeld(in: runDirectory) != nil)
            if status == 0 { return 0 }
            if stopSignals > 0 || status == GracefulStop.exitCode {
                say("stopped on request; run the same tandem launch command to carry on")
                return GracefulStop.exitCode
            }
            let reason = JobSupervisor.describe(status)
            if status == 1 && !startedTraining(since: metricsBefore) {
                say("not restarting: the job failed before training began (\(reason); see its error above)")
                return status
            }
            guard attempt < options.maxRestarts else {
                say("giving up: the job failed \(attempt + 1) times (last: \(reason)) and --max-restarts is \(options.maxRestarts); "
                    + "its latest checkpoint stays in \(runDirectory)", error: true)
                return status
            }
            attempt += 1
            if let file = options.hostfile, let minRanks = options.minRanks {
                let (reachable, slots) = probe(hostfile: file)
                if slots < minRanks {
                    say("giving up: only \(slots) slot(s) on reachable hosts, fewer than --min-ranks \(minRanks)", error: true)
                    return status
                }
                hostfile = reachable
                ranks = min(options.ranks, slots)
            }
            let wait = options.backoff * pow(2, Double(attempt - 1))
            let step = latestCheckpointStep()
            say("the job failed (\(reason)); restart \(attempt) of \(options.maxRestarts) in \(String(format: "%g", wait)) s "
                + "on \(ranks) rank(s), from \(step.map { "step \($0)" } ?? "the start")")
            record(["attempt": attempt, "exit_status": Int(status), "reason": reason, "ranks": ranks,
                    "resume_step": step.map { $0 as Any } ?? NSNull(), "backoff_seconds": wait])
            sleepUnlessStopped(wait)
            if stopSignals > 0 { return GracefulStop.exitCode }
        }
    }

    private func launch(ranks: Int, hostfile: String?, resume: Bool) -> Int32 {
        var arguments = ["-np", "\(ranks)"]
        if let hostfile { arguments += ["--hostfile", hostfile] }
        arguments += options.mpirunOptions + [program] + options.trainArguments
        if resume { arguments += ["--resume", "auto"] }
        do {
            let process = try ChildProcess(executable: mpirun, arguments: arguments, environment: mpirunEnvironment)
            child = process
            defer { child = nil }
            return process.wait()
        } catch {
            say("\(error)", error: true)
            return 1
        }
    }

    /// The environment of every mpirun this launcher starts.
    private var mpirunEnvironment: [String: String] {
        // A launcher started from inside an MPI job carries Open MPI's per-process variables,
        // which would make this mpirun exit at once (see FACTS).
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_COMM_") && !$0.key.hasPrefix("PMIX_") }
        // A host cut off is noticed by Open MPI's daemons after about 16 s of TCP silence
        // (default: 8 minutes), so a restart need not wait for that.
        for (key, value) in [("time", "10"), ("intvl", "2"), ("probes", "3")] where environment["OMPI_MCA_oob_tcp_keepalive_\(key)"] == nil {
            environment["OMPI_MCA_oob_tcp_keepalive_\(key)"] = value
        }
        return environment
    }

    /// SIGTERM or SIGINT to the launcher becomes SIGUSR1 to mpirun, which passes it to every
    /// rank at once: the ranks stop at the next step with a checkpoint.
    private func installSignalForwarding() {
        for s in [SIGTERM, SIGINT, SIGUSR1] {
            Glibc.signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.stopSignals += 1
                self.child?.signal(SIGUSR1)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    private func sleepUnlessStopped(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && stopSignals == 0 { usleep(50_000) }
    }

    static func describe(_ status: Int32) -> String {
        switch status {
        case CollectiveWatchdog.exitCode: return "exit \(status): a collective timed out"
        case 137: return "exit 137: a rank was killed"
        case 255: return "exit 255: mpirun could not start or reach every rank"
        case 129...191: return "exit \(status): a process was ended by signal \(status - 128)"
        default: return "exit \(status)"
        }
    }

    // MARK: - the run directory

    private var metricsPath: String { runDirectory + "/metrics.jsonl" }

    private func metricsSize() -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: metricsPath))?[.size] as? UInt64) ?? 0
    }

    /// Whether the attempt that began when metrics.jsonl had `size` bytes got as far as training
    /// (its ranks agreed on the configuration, loaded the data and any checkpoint).
    private func startedTraining(since size: UInt64) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: metricsPath) else { return false }
        defer { try? handle.close() }
        handle.seek(toFileOffset: size)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self).contains("\"event\":\"start\"")
    }

    private func latestCheckpointStep() -> Int? {
        guard let path = try? CheckpointDirectory(path: runDirectory).latestPath(),
              let file = try? CheckpointFile.read(path: path) else { return nil }
        return file.metadata["step"].flatMap { Int($0) }
    }

    /// A restart record in metrics.jsonl, written while holding the run directory's lock (no
    /// rank of the failed attempt may still be writing).
    private func record(_ fields: [String: Any]) {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let lock = try? RunDirectoryLock(directory: runDirectory) {
                if let log = try? MetricsLog(path: metricsPath) { try? log.write("restart", fields) }
                withExtendedLifetime(lock) {}
                return
            }
            usleep(200_000)
        }
        say("could not record the restart in \(metricsPath): the run directory stays locked by another job", error: true)
    }

    // MARK: - hosts

    /// Tries each host of the hostfile with a one-process job; returns a hostfile of those that
    /// answered, and their slots.
    private func probe(hostfile: String) -> (String, Int) {
        let lines = (try? String(contentsOfFile: hostfile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        var kept: [String] = [], slots = 0
        for line in lines {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let words = content.split(separator: " ").map(String.init)
            guard let host = words.first else { continue }
            let hostSlots = words.dropFirst().compactMap { $0.hasPrefix("slots=") ? Int($0.dropFirst(6)) : nil }.first ?? 1
            var reachable = false
            if let probe = try? ChildProcess(executable: mpirun, arguments: ["--host", host, "-np", "1"] + options.mpirunOptions + ["true"],
                                             environment: mpirunEnvironment) {
                let status = probe.wait(timeout: 30)
                if status == nil { probe.signal(SIGKILL); _ = probe.wait() }
                reachable = status == 0
            }
            if reachable { kept.append(line); slots += hostSlots } else { say("host \(host) is unreachable; leaving it out") }
        }
        let path = NSTemporaryDirectory() + "tandem-launch-hosts-\(getpid())"
        try? kept.joined(separator: "\n").appending("\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, slots)
    }

    private func say(_ text: String, error: Bool = false) {
        FileHandle.standardError.write("tandem launch: \(error ? "error: " : "")\(text)\n".data(using: .utf8)!)
    }
}
