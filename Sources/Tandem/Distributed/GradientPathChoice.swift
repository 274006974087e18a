extension ReductionChoice {
    /// Builds the gradient path this choice means for this job. Collective: every rank reaches
    /// the same answer. `auto` takes the same-host path when every rank shares one host (and the
    /// host's shared memory can hold the model; otherwise it warns, in `warnings`, and takes
    /// MPI), and the hierarchical path when the ranks span hosts with the same number (two or
    /// more) on each; `shared-memory` refuses when it cannot have it; `hierarchical` is `auto`
    /// that says why when it has to take the flat MPI path across hosts (one host, or one rank
    /// per host, reduce it to today's paths); `mpi` always takes MPI.
    public func makePath(communicator: Communicator, model: Model, optimizer: Optimizer, globalBatch: Int,
                         bucketBytes: Int, overlap: OverlapChoice, warnings: inout [String]) throws -> GradientPath {
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
        let split = communicator.size > 1 ? try communicator.splitByHost() : nil
        let spansHosts = (split?.hosts ?? 1) > 1
        if self != .mpi, let split, spansHosts {
            if split.isUniform && split.host.size > 1 {
                var path: HierarchicalGradientPath? = nil
                // A host whose shared memory cannot hold the model fails on its ranks alone;
                // the world agrees, so no host goes on with a path the others do not take.
                try StartupFailure.agree(communicator: communicator) {
                    path = try HierarchicalGradientPath(world: communicator, split: split, model: model, optimizer: optimizer,
                                                        bucketBytes: bucketBytes, overlap: overlap.resolved(spansHosts: true))
                }
                return path!
            }
            if self == .hierarchical {
                let counts = split.ranksPerHost.map(String.init).joined(separator: ", ")
                warnings.append(split.isUniform
                    ? "one rank per host: the hierarchical path is the flat MPI allreduce"
                    : "hosts run different numbers of ranks (\(counts)); summing gradients with a flat MPI allreduce instead")
            }
        }
        return MPIGradientPath(communicator: communicator, model: model, bucketBytes: bucketBytes,
                               overlap: overlap.resolved(spansHosts: spansHosts))
    }
}
