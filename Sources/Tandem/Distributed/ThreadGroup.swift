import CRuntime
import Foundation

/// N simulated ranks as threads of one process, with in-memory collectives.
///
/// It exists so that distributed logic can be stepped through in one debugger and tested in
/// milliseconds. Its sums add the ranks' contributions in rank order, element by element, as
/// a reduction across MPI processes does, so it produces the same numbers as `mpirun -np N`
/// up to the rounding of a different association.
public final class ThreadGroup {
    /// Number of simulated ranks.
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var failed = false
    private var slots: [UnsafeMutableRawPointer?]
    private var gathered: [UInt64]

    /// A group of `size` simulated ranks (at least 1).
    public init(size: Int) {
        precondition(size >= 1)
        self.size = size
        slots = Array(repeating: nil, count: size)
        gathered = Array(repeating: 0, count: size)
        inputs = Array(repeating: nil, count: size)
    }

    /// The communicator for one simulated rank.
    public func communicator(rank: Int) -> Communicator { Member(group: self, rank: rank) }

    /// Runs `body` once per rank on its own thread and waits for all. If any rank throws, the
    /// group is marked failed, so ranks blocked in a collective stop waiting and throw too.
    /// Returns the first error in rank order, if any.
    public func run(_ body: @escaping (Communicator) throws -> Void) -> Error? {
        final class Errors { var byRank: [Error?]; init(_ n: Int) { byRank = Array(repeating: nil, count: n) } }
        let errors = Errors(size)
        let lock = NSLock()
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread { [self] in
                defer { done.leave() }
                do { try body(communicator(rank: rank)) } catch {
                    lock.lock(); errors.byRank[rank] = error; lock.unlock()
                    fail()
                }
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        done.wait()
        // A rank that failed first is the interesting one; the others merely saw the group fail.
        let all = errors.byRank
        func isConsequence(_ e: Error) -> Bool {
            e is GroupFailed || (e as? StartupFailure).map { $0.underlying == nil } ?? false
        }
        return all.compactMap { $0 }.first { !isConsequence($0) } ?? all.compactMap { $0 }.first
    }

    struct GroupFailed: Error, CustomStringConvertible {
        var description: String { "another simulated rank failed" }
    }

    func fail() {
        condition.lock(); failed = true; condition.broadcast(); condition.unlock()
    }

    /// The last completed generation, for waiting ranks to watch without taking the lock.
    private let completed: UnsafeMutablePointer<Int64> = {
        let p = UnsafeMutablePointer<Int64>.allocate(capacity: 1); p.initialize(to: 0); return p
    }()
    /// How long a rank watches for the others before it sleeps on the condition.
    static let spinNanoseconds: Int64 = 200_000

    func barrier() throws {
        condition.lock()
        if failed { condition.unlock(); throw GroupFailed() }
        let myGeneration = generation
        arrived += 1
        if arrived == size {
            arrived = 0; generation += 1
            tandem_atomic_store(completed, Int64(generation))
            condition.broadcast(); condition.unlock()
            return
        }
        condition.unlock()
        // The others usually arrive within microseconds (a batch-norm layer's sums, twice a
        // layer each step); sleeping on the condition and being woken took tens of them, most
        // of a resnet step's collective time with simulated ranks. So watch a while, yielding
        // the core to a rank that may need it, and only then sleep.
        let deadline = tandem_monotonic_ns() + Self.spinNanoseconds
        while tandem_atomic_load(completed) == Int64(myGeneration) && tandem_monotonic_ns() < deadline { sched_yield() }
        condition.lock(); defer { condition.unlock() }
        while generation == myGeneration && !failed { condition.wait() }
        // A barrier that every rank reached has completed, even if a rank that left it
        // first has failed since (a rank that stops after the step's last collective
        // must not turn rank 0's checkpoint into a failure).
        if generation == myGeneration { throw GroupFailed() }
    }

    fileprivate func publish(_ rank: Int, _ pointer: UnsafeMutableRawPointer?) {
        condition.lock(); slots[rank] = pointer; condition.unlock()
    }

    fileprivate func slot(_ rank: Int) -> UnsafeMutableRawPointer? {
        condition.lock(); defer { condition.unlock() }
        return slots[rank]
    }

    /// Sum of every rank's buffer into every rank's buffer. Each rank sums its own slice of the
    /// elements over all ranks into a scratch copy, then every rank copies the full result.
    fileprivate func allreduce<T: FloatingPoint>(_ buffer: UnsafeMutableBufferPointer<T>, rank: Int) throws {
        let scratch = UnsafeMutableBufferPointer<T>.allocate(capacity: max(buffer.count, 1))
        defer { scratch.deallocate() }
        publish(rank, UnsafeMutableRawPointer(scratch.baseAddress))
        condition.lock(); inputs[rank] = UnsafeMutableRawPointer(buffer.baseAddress); condition.unlock()
        try barrier()
        let lower = rank * buffer.count / size, upper = (rank + 1) * buffer.count / size
        let sources = (0..<size).map { inputs[$0]!.assumingMemoryBound(to: T.self) }
        let owner = scratch.baseAddress!
        for i in lower..<upper {
            var total = sources[0][i]
            for r in 1..<size { total += sources[r][i] }
            owner[i] = total
        }
        try barrier()
        // Phase 2: collect every rank's slice of the result.
        for r in 0..<size {
            let lo = r * buffer.count / size, hi = (r + 1) * buffer.count / size
            let theirs = slot(r)!.assumingMemoryBound(to: T.self)
            for i in lo..<hi { buffer[i] = theirs[i] }
        }
        try barrier()
    }

    private var inputs: [UnsafeMutableRawPointer?]

    /// Segments handed out by `sharedMemory`, freed with the group (the threads share one heap,
    /// so "shared memory" is ordinary memory whose addresses every rank learns).
    private var sharedAllocations: [UnsafeMutableRawPointer] = []

    deinit {
        for allocation in sharedAllocations { allocation.deallocate() }
        completed.deallocate()
    }

    fileprivate func sharedMemory(floats: Int, rank: Int) throws -> SharedMemory {
        let bytes = CacheLine.roundUp(max(floats, 1)) * MemoryLayout<Float>.size
        let mine = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        mine.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        condition.lock(); sharedAllocations.append(mine); condition.unlock()
        publish(rank, mine)
        try barrier()
        let segments = (0..<size).map { slot($0)!.assumingMemoryBound(to: Float.self) }
        try barrier()
        return Segments(group: self, segments: segments)
    }

    private final class Segments: SharedMemory {
        let group: ThreadGroup
        let segments: [UnsafeMutablePointer<Float>]
        init(group: ThreadGroup, segments: [UnsafeMutablePointer<Float>]) { self.group = group; self.segments = segments }
        func segment(_ rank: Int) -> UnsafeMutablePointer<Float> { segments[rank] }
        // The condition variable's lock orders memory: what a thread wrote before the barrier
        // is visible to every thread after it.
        func synchronize() throws { try group.barrier() }
    }

    fileprivate func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int, rank: Int) throws {
        if rank == root { publish(rank, buffer.baseAddress) }
        try barrier()
        if rank != root, buffer.count > 0 {
            buffer.baseAddress!.copyMemory(from: slot(root)!, byteCount: buffer.count)
        }
        try barrier()
    }

    fileprivate func allgather(_ value: UInt64, rank: Int) throws -> [UInt64] {
        condition.lock(); gathered[rank] = value; condition.unlock()
        try barrier()
        condition.lock(); let all = gathered; condition.unlock()
        try barrier()
        return all
    }

    private final class Member: Communicator {
        let group: ThreadGroup
        let rank: Int
        init(group: ThreadGroup, rank: Int) { self.group = group; self.rank = rank }
        var size: Int { group.size }
        var ranksOnThisHost: Int { group.size }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try group.allreduce(buffer, rank: rank) }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try group.allreduce(buffer, rank: rank) }
        func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
            try group.allreduce(buffer, rank: rank)
            return CompletedReduction()
        }
        func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
            try group.broadcast(buffer, root: root, rank: rank)
        }
        func allgather(_ value: UInt64) throws -> [UInt64] { try group.allgather(value, rank: rank) }
        func barrier() throws { try group.barrier() }
        func abort(code: Int32) -> Never { exit(code) }
        func sharedMemory(floats: Int) throws -> SharedMemory? {
            group.size > 1 ? try group.sharedMemory(floats: floats, rank: rank) : nil
        }
    }
}
