import CRuntime
import Foundation

/// Stopping a training job on purpose, cleanly: a scheduler's time limit or preemption
/// (Slurm sends SIGTERM, then SIGKILL about 30 s later), Ctrl-C, or `kill`.
///
/// SIGTERM, SIGINT or SIGUSR1 to any rank only raises a flag. At the end of the step in
/// progress, the ranks add up their flags in the statistics allreduce that every step already
/// makes, so all of them agree to stop at the same step, whichever rank was signalled; rank 0
/// writes a checkpoint and every rank ends with `exitCode`. A second signal, more than two
/// seconds after the first, ends the process at once.
///
/// `mpirun` forwards SIGUSR1 to the ranks at once; SIGTERM or SIGINT to `mpirun` reaches them
/// as SIGTERM after Open MPI's `odls_base_sigkill_timeout` (1 s), followed by SIGKILL after as
/// long again: enough for a small model's step and checkpoint, and `tandem launch` and
/// `cluster/slurm.sbatch` send SIGUSR1 instead.
public enum GracefulStop {
    /// Exit status of a job stopped by a signal with its checkpoint written (EX_TEMPFAIL: run
    /// it again, with `--resume auto`, to carry on).
    public static let exitCode: Int32 = 75

    /// Installs the handlers (idempotent). Training calls it; a program that trains through
    /// `Trainer` need not.
    public static func install() { tandem_install_stop_signals() }

    /// The first stop signal this process received, if any.
    public static var signal: Int32? {
        let s = tandem_stop_signal()
        return s == 0 ? nil : s
    }

    /// Behave as if `signal` had arrived (for tests and for programs with their own reasons).
    public static func request(_ signal: Int32 = SIGTERM) { tandem_request_stop(signal) }

    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(signal)"
        }
    }
}

/// Training ended early because a stop was requested; the checkpoint to resume from is written.
public struct TrainingStopped: Error, CustomStringConvertible {
    /// Steps completed (the checkpoint's position).
    public let step: Int
    /// Steps the whole run planned.
    public let totalSteps: Int
    /// The signal this rank received, if it was this rank that was signalled.
    public let signal: Int32?
    /// Rank 0's checkpoint, and the run directory to resume from.
    public let checkpoint: String?
    /// The run directory to resume from with `--resume auto` (known on rank 0).
    public let runDirectory: String?

    /// What happened and how to carry on, as the command line says it.
    public var description: String {
        let by = signal.map { " by \(GracefulStop.name($0))" } ?? " by a signal to another rank"
        var text = "stopped\(by) after step \(step) of \(totalSteps)"
        if let checkpoint { text += "; checkpoint \(checkpoint) written" }
        if let runDirectory { text += "; to carry on, run the same command with --run-dir \(runDirectory) --resume auto" }
        return text
    }
}
