import Foundation

/// What rank 0 shows while training: a live line on a terminal, plain lines in a log (each
/// flushed as it is written, so a log watcher sees it at once and a kill loses none), and
/// warnings on standard error, which `--quiet` does not hide.
public final class Progress {
    /// Whether progress lines are printed: they were asked for, and this rank speaks.
    public let enabled: Bool
    /// Whether this rank speaks at all (rank 0 does; warnings are said once, by it).
    public let speaks: Bool
    private let live: Bool
    private var lastPrint = 0.0

    /// `enabled`: print progress (false for `--quiet`); `speaks`: this rank is the one that talks (rank 0).
    public init(enabled: Bool, speaks: Bool = true) {
        self.enabled = enabled && speaks
        self.speaks = speaks
        // Under mpirun a rank's stdout is a forwarded pseudo-terminal even when the job's output
        // goes to a file, so the live line is kept to runs without mpirun.
        live = enabled && speaks && isatty(STDOUT_FILENO) != 0 && !MPICommunicator.launchedByMPI
    }

    /// Called every step; prints at most a few times a second.
    /// `tokensPerSample` > 1 (text windows) reports tokens per second instead of samples.
    public func step(_ step: Int, of total: Int, epoch: Int, loss: Double, samplesPerSecond: Double, secondsLeft: Double,
                     tokensPerSample: Int = 1) {
        guard enabled else { return }
        let now = Date.timeIntervalSinceReferenceDate
        let last = step == total
        if !last && now - lastPrint < (live ? 0.25 : 10) { return }
        lastPrint = now
        let speed = tokensPerSample > 1 ? String(format: "%.0f tokens/s", samplesPerSecond * Double(tokensPerSample))
                                        : String(format: "%.0f samples/s", samplesPerSecond)
        let text = String(format: "epoch %d  step %d/%d  loss %.4f  %@  ETA %@",
                          epoch + 1, step, total, loss, speed, Progress.duration(secondsLeft))
        if live {
            print("\r" + text + "\u{1B}[K", terminator: "")
            fflush(stdout)
        } else {
            print(text)
            fflush(stdout)
        }
    }

    /// A warning: one line on standard error, `tandem: warning: …`, even under `--quiet`.
    public func warning(_ text: String) {
        guard speaks else { return }
        if live { print("\r\u{1B}[K", terminator: ""); fflush(stdout) }
        FileHandle.standardError.write("tandem: warning: \(text)\n".data(using: .utf8)!)
    }

    /// A line that stays (epoch summaries, warnings).
    public func line(_ text: String) {
        guard enabled else { return }
        if live { print("\r\u{1B}[K", terminator: "") }
        print(text)
        fflush(stdout)
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
