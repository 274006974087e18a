extension ReductionChoice {
    /// Builds the gradient path this choice means for this job. Collective: every rank reaches
    /// the same answer. `auto` takes the same-host path when every rank shares one host (and the
    /// host's shared memory can hold the model; otherwise it warns, in `warnings`, and takes
    /// MPI); `shared-memory` refuses when it cannot have it; `mpi` always takes MPI.
    public func makePath(communicator: Communicator, model: Model, optimizer: Optimizer, globalBatch: Int,
                         bucketBytes: Int, overlap: Bool, warnings: inout [String]) throws -> GradientPath {
        func refuse(_ text: String) -> StartupFailure {
            StartupFailure(underlying: TrainingConfig.Invalid(description: text), shouldReport: communicator.isRoot, failingRank: 0)
        }
        if self != .mpi {
            do {
                if let shared = try SharedArena.make(communicator: communicator, model: model, optimizer: optimizer,
                                                     globalBatch: globalBatch) {
                    return SharedMemoryGradientPath(shared: shared)
                }
            } catch let problem as SharedMemoryUnavailable {
                // Every rank sees the same problem (the ranks agreed on it), so all act alike.
                if self == .sharedMemory { throw refuse("--reduce shared-memory: \(problem)") }
                warnings.append("\(problem); summing gradients with MPI allreduce instead")
            }
            if self == .sharedMemory && communicator.size > 1 {
                throw refuse("--reduce shared-memory needs every rank on one host")
            }
        }
        return MPIGradientPath(communicator: communicator, model: model, bucketBytes: bucketBytes, overlap: overlap)
    }
}
