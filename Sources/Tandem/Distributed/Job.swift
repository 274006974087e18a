import Foundation

/// The launcher: starts the ranks in whichever of the three ways applies and reports failures
/// uniformly. A program that trains with Tandem puts its whole job inside `Job.run`:
///
///     Job.run(simulatedRanks: nil) { communicator in
///         let trainer = try Trainer(model: model, data: data, config: config, communicator: communicator)
///         _ = try trainer.run()
///     }
public enum Job {
    /// Runs `body` on every rank: under `mpirun` one rank per process; with `simulatedRanks`
    /// N threads of this process; otherwise a world of one. Never returns on failure: prints a
    /// one-line error (prefixed with the rank when there are several) and exits non-zero.
    /// Under `mpirun`, a collective that waits longer than `collectiveTimeout` seconds ends the
    /// job with a line naming the ranks that did not arrive (nil or 0: wait forever).
    ///
    /// First of all, where OpenBLAS fell back to generic kernels on this processor, it restarts
    /// the program once with the right ones (`BLASCore.useTunedKernels`): work done before
    /// `Job.run` runs again then.
    public static func run(simulatedRanks: Int?, collectiveTimeout: Double? = 300,
                           _ body: @escaping (Communicator) throws -> Void) {
        BLASCore.useTunedKernels()
        // Past a file-size limit, a write should fail with EFBIG (reported, old checkpoints
        // intact) rather than kill the process with SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)
        if let n = simulatedRanks {
            if n < 1 { fail(TrainingConfig.Invalid(description: "--simulate-ranks must be at least 1 (got \(n))"), rank: nil, size: 1) }
            if MPICommunicator.launchedByMPI {
                // Every process would report it: let the first say it.
                let rank = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "0") ?? 0
                if rank != 0 { exit(1) }
                fail(TrainingConfig.Invalid(description: "--simulate-ranks \(n) under mpirun: each process is already a rank; "
                                            + "use one or the other"), rank: nil, size: 1)
            }
        }
        if MPICommunicator.launchedByMPI {
            let mpi: MPICommunicator
            do { mpi = try MPICommunicator(collectiveTimeout: collectiveTimeout) } catch { fail(error, rank: 0, size: 1) }
            do {
                try body(mpi)
                mpi.finalize()
            } catch let stopped as TrainingStopped {
                // Every rank stopped at the same step; rank 0 wrote the checkpoint and says so.
                if mpi.isRoot { say(stopped) }
                mpi.finalize()
                exit(GracefulStop.exitCode)
            } catch let failure as StartupFailure {
                // Every rank knows; end in step, and let one rank say why.
                if failure.shouldReport { report(failure, rank: failure.failingRank == 0 ? nil : mpi.rank, size: mpi.size) }
                mpi.finalize()
                exit(1)
            } catch {
                // Give rank 0 the chance to report a shared error first: if it fails too, its
                // abort ends this process before the duplicate line is printed. (mpirun ends the
                // other ranks with SIGTERM a second after an abort, which only asks a training
                // rank to stop, and SIGKILL a second later.)
                if mpi.rank != 0 { Thread.sleep(forTimeInterval: 2.5) }
                report(error, rank: mpi.rank, size: mpi.size)
                mpi.abort(code: 1)
            }
        } else if let n = simulatedRanks, n > 1 {
            let group = ThreadGroup(size: n)
            if let error = group.run(body) { end(error) }
        } else {
            do { try body(SingleProcessCommunicator()) } catch { end(error) }
        }
    }

    /// How a job of one process ends after `error`: stopped on request, or failed.
    private static func end(_ error: Error) -> Never {
        if let stopped = error as? TrainingStopped {
            say(stopped)
            exit(GracefulStop.exitCode)
        }
        fail(error, rank: nil, size: 1)
    }

    private static func say(_ stopped: TrainingStopped) {
        FileHandle.standardError.write("tandem: \(stopped)\n".data(using: .utf8)!)
    }

    /// Prints one line "tandem: [rank r: ]error: …" to standard error; the rank is named only when
    /// there are several. A `StartupFailure` is reported as the error it wraps.
    public static func report(_ error: Error, rank: Int?, size: Int) {
        if let failure = error as? StartupFailure, let underlying = failure.underlying {
            return report(underlying, rank: rank, size: size)
        }
        let where_ = (size > 1 && rank != nil) ? "rank \(rank!): " : ""
        let message = "\(error)".replacingOccurrences(of: "\n", with: " ")
        FileHandle.standardError.write("tandem: \(where_)error: \(message)\n".data(using: .utf8)!)
    }

    /// Reports `error` as `report` does, then exits the process with status 1.
    public static func fail(_ error: Error, rank: Int?, size: Int) -> Never {
        report(error, rank: rank, size: size)
        exit(1)
    }
}
