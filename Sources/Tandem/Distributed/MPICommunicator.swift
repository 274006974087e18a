import CMPI
import Foundation

/// Ranks as MPI processes, through Open MPI's C API.
///
/// Errors are returned, not fatal (`MPI_ERRORS_RETURN`), and become Swift errors carrying MPI's
/// own message; a rank that cannot go on calls `abort`, which takes the whole job down through
/// `MPI_Abort` so that no other rank waits forever in a collective.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let ranksOnThisHost: Int
    private let world: MPI_Comm
    private static var initialized = false

    /// True when this process was started by `mpirun` (or another Open MPI launcher).
    public static var launchedByMPI: Bool {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
            || ProcessInfo.processInfo.environment["PMIX_RANK"] != nil
    }

    public init() throws {
        precondition(!MPICommunicator.initialized, "MPI can be initialised once per process")
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

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1, buffer.count > 0 else { return }
        try MPICommunicator.check(MPI_Allreduce(tandem_mpi_in_place(), buffer.baseAddress, Int32(buffer.count),
                                                tandem_mpi_float(), tandem_mpi_sum(), world), "MPI_Allreduce")
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard size > 1, buffer.count > 0 else { return }
        try MPICommunicator.check(MPI_Allreduce(tandem_mpi_in_place(), buffer.baseAddress, Int32(buffer.count),
                                                tandem_mpi_double(), tandem_mpi_sum(), world), "MPI_Allreduce")
    }

    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        guard size > 1, buffer.count > 0 else { return CompletedReduction() }
        let pending = Request()
        try MPICommunicator.check(MPI_Iallreduce(tandem_mpi_in_place(), buffer.baseAddress, Int32(buffer.count),
                                                 tandem_mpi_float(), tandem_mpi_sum(), world, &pending.handle),
                                  "MPI_Iallreduce")
        return pending
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard size > 1, buffer.count > 0 else { return }
        try MPICommunicator.check(MPI_Bcast(buffer.baseAddress, Int32(buffer.count), tandem_mpi_byte(),
                                            Int32(root), world), "MPI_Bcast")
    }

    public func allgather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try MPICommunicator.check(MPI_Allgather(&mine, 1, tandem_mpi_uint64(), &all, 1, tandem_mpi_uint64(), world),
                                  "MPI_Allgather")
        return all
    }

    public func sharedMemory(floats: Int) throws -> SharedMemory? {
        try MPISharedWindow.allocate(world: world, worldSize: size, floats: floats)
    }

    public func barrier() throws { try MPICommunicator.check(MPI_Barrier(world), "MPI_Barrier") }

    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        exit(code)
    }

    /// An `MPI_Request` for a non-blocking collective. `MPI_Test` is what drives progress:
    /// Open MPI has no progress thread here, so the trainer polls between layers.
    final class Request: PendingReduction {
        var handle: MPI_Request? = tandem_mpi_request_null()
        private var done = false

        func test() throws -> Bool {
            if done { return true }
            var flag: Int32 = 0
            try MPICommunicator.check(MPI_Test(&handle, &flag, tandem_mpi_status_ignore()), "MPI_Test")
            done = flag != 0
            return done
        }

        func wait() throws {
            if done { return }
            try MPICommunicator.check(MPI_Wait(&handle, tandem_mpi_status_ignore()), "MPI_Wait")
            done = true
        }
    }
}
