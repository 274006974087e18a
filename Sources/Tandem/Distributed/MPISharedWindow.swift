import CMPI
import CRuntime
import Glibc

/// An MPI-3 shared-memory window over the ranks of one host (`MPI_Win_allocate_shared`).
///
/// Every rank maps every other rank's segment into its own address space, so a rank reads a
/// peer's gradients with plain loads. Synchronisation is `MPI_Win_sync` (a memory barrier)
/// around `MPI_Barrier`, the "unified memory model" recipe of the MPI standard; the window
/// stays open for the life of the process (freeing it is collective, and a rank that ends
/// early must not make the others wait for that).
final class MPISharedWindow: SharedMemory {
    private let window: MPI_Win
    private let host: MPI_Comm
    private let segments: [UnsafeMutablePointer<Float>]
    private let watch: UnsafeMutablePointer<tandem_watch_state>

    /// Collective over `world`. Nil on every rank when the ranks span more than one host.
    static func allocate(world: MPI_Comm, worldSize: Int, floats: Int,
                         watch: UnsafeMutablePointer<tandem_watch_state>) throws -> MPISharedWindow? {
        guard worldSize > 1 else { return nil }
        var host: MPI_Comm? = nil
        try MPICommunicator.check(MPI_Comm_split_type(world, tandem_mpi_comm_type_shared(), 0, tandem_mpi_info_null(), &host),
                                  "MPI_Comm_split_type")
        var hostSize: Int32 = 0
        try MPICommunicator.check(MPI_Comm_size(host, &hostSize), "MPI_Comm_size")
        // Every rank learns the same host size for the same world, so all return nil together.
        guard Int(hostSize) == worldSize else {
            MPI_Comm_free(&host)
            return nil
        }
        try MPICommunicator.check(MPI_Comm_set_errhandler(host, tandem_mpi_errors_return()), "MPI_Comm_set_errhandler")
        // Whole cache lines, plus one spare line so this segment's start can be aligned by hand.
        let bytes = (CacheLine.roundUp(floats) + CacheLine.floats) * MemoryLayout<Float>.size
        // Open MPI backs the window with a sparse file in /dev/shm: creating it always works,
        // but touching a page the file system has no room for kills the process with SIGBUS.
        // So the ranks check the room first, and agree on the answer.
        var needed = Double(bytes)
        try MPICommunicator.check(MPI_Allreduce(tandem_mpi_in_place(), &needed, 1, tandem_mpi_double(), tandem_mpi_sum(), host),
                                  "MPI_Allreduce")
        needed += Double(hostSize) * marginPerRank
        let room = availableBytes(in: sharedMemoryDirectory)
        var short = room.map { Double($0) < needed ? 1.0 : 0.0 } ?? 0
        try MPICommunicator.check(MPI_Allreduce(tandem_mpi_in_place(), &short, 1, tandem_mpi_double(), tandem_mpi_max(), host),
                                  "MPI_Allreduce")
        if short > 0 {
            MPI_Comm_free(&host)
            throw SharedMemoryUnavailable(String(format: "%@ has %.0f MB free but the shared model needs %.0f MB",
                                                 sharedMemoryDirectory, Double(room ?? 0) / 1e6, needed / 1e6))
        }
        var base: UnsafeMutableRawPointer? = nil
        var window: MPI_Win? = tandem_mpi_win_null()
        try MPICommunicator.check(MPI_Win_allocate_shared(MPI_Aint(bytes), 1, tandem_mpi_info_null(), host, &base, &window),
                                  "MPI_Win_allocate_shared")
        try MPICommunicator.check(MPI_Win_lock_all(tandem_mpi_mode_nocheck(), window), "MPI_Win_lock_all")
        var segments: [UnsafeMutablePointer<Float>] = []
        for rank in 0..<worldSize {
            var size: MPI_Aint = 0
            var unit: Int32 = 0
            var start: UnsafeMutableRawPointer? = nil
            try withUnsafeMutablePointer(to: &start) { pointer in
                try MPICommunicator.check(MPI_Win_shared_query(window, Int32(rank), &size, &unit, UnsafeMutableRawPointer(pointer)),
                                          "MPI_Win_shared_query")
            }
            guard let start else { throw CommunicationError("MPI_Win_shared_query gave no address for rank \(rank)") }
            let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: start) + 63) & ~63)!
            segments.append(aligned.bindMemory(to: Float.self, capacity: CacheLine.roundUp(floats)))
        }
        let shared = MPISharedWindow(window: window!, host: host!, segments: segments, watch: watch)
        try shared.synchronize()
        return shared
    }

    /// Where Open MPI's shared-memory component puts its backing files on Linux.
    static let sharedMemoryDirectory = "/dev/shm"
    /// Room left for Open MPI's own segments (its shared-memory transport takes 4 MB per rank).
    static let marginPerRank = 8.0 * 1_048_576

    /// Free bytes in a file system, or nil when it cannot be asked.
    static func availableBytes(in path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    private init(window: MPI_Win, host: MPI_Comm, segments: [UnsafeMutablePointer<Float>],
                 watch: UnsafeMutablePointer<tandem_watch_state>) {
        self.window = window; self.host = host; self.segments = segments; self.watch = watch
    }

    func segment(_ rank: Int) -> UnsafeMutablePointer<Float> { segments[rank] }

    func wait(until condition: () throws -> Bool) throws {
        if try condition() { return }
        tandem_watch_enter(watch, CollectiveKind.sharedMemoryBarrier.rawValue, 0)
        defer { tandem_watch_leave(watch) }
        while try !condition() { sched_yield() }
    }

    func synchronize() throws {
        tandem_watch_enter(watch, CollectiveKind.sharedMemoryBarrier.rawValue, 0)
        defer { tandem_watch_leave(watch) }
        try MPICommunicator.check(MPI_Win_sync(window), "MPI_Win_sync")
        try MPICommunicator.check(MPI_Barrier(host), "MPI_Barrier")
        try MPICommunicator.check(MPI_Win_sync(window), "MPI_Win_sync")
    }
}
