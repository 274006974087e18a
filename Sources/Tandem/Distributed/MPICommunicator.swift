import CMPI
import CRuntime
import Foundation

/// Ranks as MPI processes, through Open MPI's C API.
///
/// Errors are returned, not fatal (`MPI_ERRORS_RETURN`), and become Swift errors carrying MPI's
/// own message; a rank that cannot go on calls `abort`, which takes the whole job down through
/// `MPI_Abort` so that no other rank waits forever in a collective.
public final class MPICommunicator: Communicator {
    /// This process's rank in the group (`MPI_COMM_WORLD`, or a part of it from `splitByHost`).
    public let rank: Int
    /// Number of processes in the group.
    public let size: Int
    /// Ranks on this host, from Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE` (all of them when it is unset).
    public let ranksOnThisHost: Int
    /// The group's MPI communicator (named `world` because the first one is).
    private let world: MPI_Comm
    private static var initialized = false
    /// Which collective this rank is in, and since when: written here, read by the watchdog.
    let watch: UnsafeMutablePointer<tandem_watch_state>
    private var watchdog: CollectiveWatchdog?

    /// When set, a pending reduction's `wait` tests it every so many seconds and sleeps in
    /// between, instead of spinning in `MPI_Wait`. For emulated hosts (`ComputeEmulation`):
    /// 8–16 ranks that share two cores and spin while they wait take the CPU that their TCP
    /// traffic needs, where a real host's ranks would spin on cores of their own. Measured at 8
    /// hosts × 2 ranks, 800 Mbit/s, flat path with overlap: 374 ms a step spinning, 307 sleeping,
    /// against the model's 288. (Blocking allreduces, the path without overlap, stay blocking:
    /// waited for this way they took 449 ms instead of 338.)
    public static var sleepingWaitInterval: Double?

    /// True when this process was started by `mpirun` (or another Open MPI launcher).
    public static var launchedByMPI: Bool {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
            || ProcessInfo.processInfo.environment["PMIX_RANK"] != nil
    }

    /// Starts MPI. With `collectiveTimeout` (seconds), a `CollectiveWatchdog` ends the job
    /// when any collective waits longer than that (a collective call: every rank must pass the same).
    public init(collectiveTimeout: Double? = nil) throws {
        precondition(!MPICommunicator.initialized, "MPI can be initialised once per process")
        // Non-blocking allreduces (the overlapped buckets) run in Open MPI's libnbc, which takes a
        // binomial tree for an in-place reduction: its root sends the whole bucket to every
        // subtree, so one host's link carries several gradients per step (measured on the
        // emulated cluster: 8 hosts × 2 ranks, 400 Mbit/s, CNN: 3.5 s a step; the ring: 0.6 s).
        // The ring sends 2(P−1)/P of a bucket over each link. A user's own choice stands.
        setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "ring", 0)
        var provided: Int32 = 0
        try MPICommunicator.check(MPI_Init_thread(nil, nil, tandem_mpi_thread_funneled(), &provided), "MPI_Init_thread")
        MPICommunicator.initialized = true
        world = tandem_mpi_comm_world()
        try MPICommunicator.check(MPI_Comm_set_errhandler(world, tandem_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try MPICommunicator.check(MPI_Comm_rank(world, &r), "MPI_Comm_rank")
        try MPICommunicator.check(MPI_Comm_size(world, &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s)
        let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init)
        ranksOnThisHost = local ?? size
        watch = .allocate(capacity: 1)
        watch.initialize(to: tandem_watch_state(sequence: 0, inside: 0, kind: 0, count: 0, entered_ns: 0,
                                                step: -1, phase: RankPhase.startingUp.rawValue, phase_ns: tandem_monotonic_ns()))
        if let timeout = collectiveTimeout, timeout > 0, size > 1 {
            let world = self.world, size = self.size
            watchdog = try CollectiveWatchdog.start(timeout: timeout, state: watch, rank: rank, size: size) { mine in
                var all = [UInt64](repeating: 0, count: mine.count * size)
                try MPICommunicator.check(MPI_Allgather(mine, Int32(mine.count), tandem_mpi_uint64(), &all, Int32(mine.count),
                                                        tandem_mpi_uint64(), world), "MPI_Allgather")
                return all
            }
        }
    }

    /// A part of `parent`'s group: it reports to the parent's watchdog, which watches every
    /// collective of this process whatever group it runs in.
    private init(part: MPI_Comm, of parent: MPICommunicator, ranksOnThisHost: Int) throws {
        world = part
        try MPICommunicator.check(MPI_Comm_set_errhandler(part, tandem_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try MPICommunicator.check(MPI_Comm_rank(part, &r), "MPI_Comm_rank")
        try MPICommunicator.check(MPI_Comm_size(part, &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s)
        self.ranksOnThisHost = ranksOnThisHost
        watch = parent.watch
    }

    /// Collective: the ranks that share this host (`MPI_Comm_split_type`, shared memory), and
    /// rank i of every host (`MPI_Comm_split` by the rank on the host), both in world-rank order.
    public func splitByHost() throws -> HostSplit? {
        guard size > 1 else { return nil }
        var host: MPI_Comm? = nil, across: MPI_Comm? = nil
        try watched(.split, 0) {
            try MPICommunicator.check(MPI_Comm_split_type(world, tandem_mpi_comm_type_shared(), Int32(rank), tandem_mpi_info_null(), &host),
                                      "MPI_Comm_split_type")
        }
        var hostRank: Int32 = 0, hostSize: Int32 = 0
        try MPICommunicator.check(MPI_Comm_rank(host, &hostRank), "MPI_Comm_rank")
        try MPICommunicator.check(MPI_Comm_size(host, &hostSize), "MPI_Comm_size")
        try watched(.split, 0) {
            try MPICommunicator.check(MPI_Comm_split(world, hostRank, Int32(rank), &across), "MPI_Comm_split")
        }
        // Each host's size, in host order: the first rank of every host reports it.
        let sizes = try allgather(hostRank == 0 ? UInt64(hostSize) : 0).filter { $0 > 0 }.map { Int($0) }
        return HostSplit(host: try MPICommunicator(part: host!, of: self, ranksOnThisHost: Int(hostSize)),
                         across: try MPICommunicator(part: across!, of: self, ranksOnThisHost: ranksOnThisHost),
                         ranksPerHost: sizes)
    }

    /// Marks a blocking collective for the watchdog while `body` runs it.
    @inline(__always)
    func watched<T>(_ kind: CollectiveKind, _ count: Int, _ body: () throws -> T) rethrows -> T {
        tandem_watch_enter(watch, kind.rawValue, Int64(count))
        defer { tandem_watch_leave(watch) }
        return try body()
    }

    /// Records the step and phase in the shared watch state, for the watchdog's reports.
    public func note(step: Int, phase: RankPhase) {
        tandem_watch_phase(watch, Int64(step), phase.rawValue)
    }

    /// Ends MPI cleanly; call once, on every rank, when the job has succeeded or failed in step.
    public func finalize() { MPI_Finalize() }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != tandem_mpi_success() else { return }
        var buffer = [CChar](repeating: 0, count: Int(tandem_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        throw CommunicationError("\(call) failed: \(String(cString: buffer))")
    }

    /// `MPI_Allreduce` in place over floats, watched; nothing with one rank or an empty buffer.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1, buffer.count > 0 else { return }
        try watched(.allreduce, buffer.count) {
            try MPICommunicator.check(MPI_Allreduce(tandem_mpi_in_place(), buffer.baseAddress, Int32(buffer.count),
                                                    tandem_mpi_float(), tandem_mpi_sum(), world), "MPI_Allreduce")
        }
    }

    /// `MPI_Allreduce` in place over doubles, watched; nothing with one rank or an empty buffer.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard size > 1, buffer.count > 0 else { return }
        try watched(.allreduce, buffer.count) {
            try MPICommunicator.check(MPI_Allreduce(tandem_mpi_in_place(), buffer.baseAddress, Int32(buffer.count),
                                                    tandem_mpi_double(), tandem_mpi_sum(), world), "MPI_Allreduce")
        }
    }

    /// `MPI_Iallreduce` in place; the returned request is driven by `test` and finished by `wait`.
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        guard size > 1, buffer.count > 0 else { return CompletedReduction() }
        let pending = Request(watch: watch, count: buffer.count)
        try MPICommunicator.check(MPI_Iallreduce(tandem_mpi_in_place(), buffer.baseAddress, Int32(buffer.count),
                                                 tandem_mpi_float(), tandem_mpi_sum(), world, &pending.handle),
                                  "MPI_Iallreduce")
        return pending
    }

    /// `MPI_Bcast` of the raw bytes from `root`, watched.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard size > 1, buffer.count > 0 else { return }
        try watched(.broadcast, buffer.count) {
            try MPICommunicator.check(MPI_Bcast(buffer.baseAddress, Int32(buffer.count), tandem_mpi_byte(),
                                                Int32(root), world), "MPI_Bcast")
        }
    }

    /// `MPI_Allgather` of one 64-bit value per rank, watched.
    public func allgather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try watched(.allgather, 1) {
            try MPICommunicator.check(MPI_Allgather(&mine, 1, tandem_mpi_uint64(), &all, 1, tandem_mpi_uint64(), world),
                                      "MPI_Allgather")
        }
        return all
    }

    /// An MPI shared-memory window over the ranks, when they all share one host (see `MPISharedWindow`).
    public func sharedMemory(floats: Int) throws -> SharedMemory? {
        try MPISharedWindow.allocate(world: world, worldSize: size, floats: floats, watch: watch)
    }

    /// `MPI_Barrier`, watched.
    public func barrier() throws {
        try watched(.barrier, 0) { try MPICommunicator.check(MPI_Barrier(world), "MPI_Barrier") }
    }

    /// `MPI_Abort` over the whole world, so no rank is left waiting; exits should it return.
    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        exit(code)
    }

    /// An `MPI_Request` for a non-blocking collective. `MPI_Test` is what drives progress:
    /// Open MPI has no progress thread here, so the trainer polls between layers.
    final class Request: PendingReduction {
        var handle: MPI_Request? = tandem_mpi_request_null()
        private var done = false
        private let watch: UnsafeMutablePointer<tandem_watch_state>
        private let count: Int

        init(watch: UnsafeMutablePointer<tandem_watch_state>, count: Int) { self.watch = watch; self.count = count }

        func test() throws -> Bool {
            if done { return true }
            var flag: Int32 = 0
            try MPICommunicator.check(MPI_Test(&handle, &flag, tandem_mpi_status_ignore()), "MPI_Test")
            done = flag != 0
            return done
        }

        func wait() throws {
            if done { return }
            tandem_watch_enter(watch, CollectiveKind.reductionWait.rawValue, Int64(count))
            defer { tandem_watch_leave(watch) }
            if let interval = MPICommunicator.sleepingWaitInterval {
                while try !test() { usleep(UInt32(max(1, interval * 1e6))) }
                return
            }
            try MPICommunicator.check(MPI_Wait(&handle, tandem_mpi_status_ignore()), "MPI_Wait")
            done = true
        }
    }
}
