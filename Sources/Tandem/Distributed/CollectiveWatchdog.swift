import CRuntime
import Foundation

/// The collectives a rank can wait in, named for the watchdog's message.
public enum CollectiveKind: Int64 {
    case unknown = 0, allreduce, broadcast, allgather, barrier, sharedMemoryBarrier, reductionWait, split

    var name: String {
        switch self {
        case .unknown: return "a collective"
        case .allreduce: return "MPI_Allreduce"
        case .broadcast: return "MPI_Bcast"
        case .allgather: return "MPI_Allgather"
        case .barrier: return "MPI_Barrier"
        case .sharedMemoryBarrier: return "the shared-memory barrier"
        case .reductionWait: return "MPI_Wait (an overlapped gradient allreduce)"
        case .split: return "MPI_Comm_split (grouping the ranks by host)"
        }
    }
}

/// What a rank is doing between collectives, as its heartbeat reports it.
public enum RankPhase: Int64 {
    case startingUp = 0, training, checkpointing, evaluating, finishing

    var description: String {
        switch self {
        case .startingUp: return "starting up"
        case .training: return "computing"
        case .checkpointing: return "writing a checkpoint"
        case .evaluating: return "evaluating"
        case .finishing: return "finishing"
        }
    }
}

/// Ends a job that would otherwise hang in a collective.
///
/// The training thread marks each collective it enters and leaves (two atomic stores and a
/// clock read, in `tandem_watch_state`). This watchdog's own thread, which never calls MPI,
/// sends that state to every other rank about once a second over UDP and listens for theirs.
/// When this rank has been inside one collective for longer than the deadline, the watchdog
/// works out from the heartbeats which ranks have not arrived, and whether each is alive
/// but busy elsewhere (its heartbeats go on) or stopped, dead or cut off (they have stopped),
/// prints one line, and ends the process; `mpirun` then ends the rest of the job. Every rank
/// keeps its own deadline, so a rank that `mpirun` can no longer reach ends by itself too.
final class CollectiveWatchdog {
    /// Exit status of a rank ended by the watchdog.
    static let exitCode: Int32 = 124

    let timeout: Double
    private let state: UnsafeMutablePointer<tandem_watch_state>
    private let rank: Int
    private let peers: [PeerAddress]
    private let socket: HeartbeatSocket
    private let job: UInt64
    /// Seconds between heartbeats; a peer silent for `staleAfter` counts as gone.
    private let interval: Double
    private let staleAfter: Double
    /// The latest heartbeat of each rank and when it came (watchdog thread only).
    private var heard: [(state: HeartbeatState, at: Double)?]

    /// Collective over the ranks: exchanges heartbeat addresses through `gather` (an allgather
    /// of `PeerAddress.words` words per rank), then starts the watchdog's thread.
    static func start(timeout: Double, state: UnsafeMutablePointer<tandem_watch_state>, rank: Int, size: Int,
                      gather: ([UInt64]) throws -> [UInt64]) throws -> CollectiveWatchdog {
        let socket = try HeartbeatSocket()
        let nonce = UInt64.random(in: 1...UInt64.max)
        let all = try gather(PeerAddress.mine(port: socket.port).encoded(job: nonce))
        let peers = (0..<size).map { PeerAddress(words: all[($0 * PeerAddress.words)..<(($0 + 1) * PeerAddress.words)]) }
        let watchdog = CollectiveWatchdog(timeout: timeout, state: state, rank: rank, peers: peers, socket: socket,
                                          job: all[0])
        let thread = Thread { watchdog.watch() }
        thread.name = "tandem-watchdog"
        thread.start()
        return watchdog
    }

    private init(timeout: Double, state: UnsafeMutablePointer<tandem_watch_state>, rank: Int, peers: [PeerAddress],
                 socket: HeartbeatSocket, job: UInt64) {
        self.timeout = timeout; self.state = state; self.rank = rank; self.peers = peers
        self.socket = socket; self.job = job
        interval = min(1.0, max(0.05, timeout / 5))
        staleAfter = max(3 * interval, 1.0)
        heard = Array(repeating: nil, count: peers.count)
    }

    private static func now() -> Double { Double(tandem_monotonic_ns()) / 1e9 }

    private func snapshot(fired: Bool) -> HeartbeatState {
        let t = CollectiveWatchdog.now()
        let s = tandem_watch_snapshot(state)
        let inside = s.inside != 0
        return HeartbeatState(rank: rank, sequence: s.sequence, inside: inside,
                              kind: CollectiveKind(rawValue: s.kind) ?? .unknown, count: s.count, step: s.step,
                              phase: RankPhase(rawValue: s.phase) ?? .startingUp,
                              collectiveSeconds: inside ? max(0, t - Double(s.entered_ns) / 1e9) : 0,
                              phaseSeconds: max(0, t - Double(s.phase_ns) / 1e9), fired: fired)
    }

    private func beat(_ mine: HeartbeatState) {
        let words = mine.encoded(job: job)
        let me = peers[rank]
        for (other, peer) in peers.enumerated() where other != rank {
            if peer.namespace == me.namespace && peer.host == me.host {
                socket.send(words, to: UInt32(0x7f00_0001).bigEndian, port: peer.port)
            } else {
                for address in peer.addresses { socket.send(words, to: address, port: peer.port) }
            }
        }
    }

    private func listen(for seconds: Double) {
        for words in socket.receive(waiting: seconds) {
            guard let state = HeartbeatState(words: words, job: job, worldSize: peers.count), state.rank != rank else { continue }
            heard[state.rank] = (state, CollectiveWatchdog.now())
        }
    }

    private func watch() {
        var nextBeat = 0.0
        var lastLook = CollectiveWatchdog.now()
        // No deadline passes before this: a process that was itself frozen (SIGSTOP, a
        // suspended VM) must not, on waking, blame ranks that waited for it.
        var notBefore = 0.0
        while true {
            let mine = snapshot(fired: false)
            let t = CollectiveWatchdog.now()
            if t - lastLook > max(2.0, 4 * interval) { notBefore = t + timeout }
            lastLook = t
            if mine.inside && mine.collectiveSeconds > timeout && t >= notBefore { fire() }
            if t >= nextBeat { beat(mine); nextBeat = t + interval }
            listen(for: min(interval / 2, max(0, nextBeat - t)))
        }
    }

    /// The deadline has passed: tell the others, give a lower rank that fired too a moment to
    /// say so (it reports instead of this one), then report and end.
    private func fire() -> Never {
        beat(snapshot(fired: true))
        let graceEnd = CollectiveWatchdog.now() + min(1.0, 2 * interval)
        while CollectiveWatchdog.now() < graceEnd { listen(for: graceEnd - CollectiveWatchdog.now()) }
        let t = CollectiveWatchdog.now()
        let lowerReports = (0..<rank).contains { other in
            guard let h = heard[other] else { return false }
            return h.state.fired && t - h.at <= staleAfter
        }
        tandem_write_and_exit(lowerReports ? "" : report(snapshot(fired: true), at: t) + "\n", CollectiveWatchdog.exitCode)
        fatalError("unreachable")
    }

    /// The one line: where this rank waits, and why each missing rank is missing.
    func report(_ mine: HeartbeatState, at t: Double) -> String {
        var missing: [String] = []
        for (other, peer) in peers.enumerated() where other != rank {
            let who = "rank \(other) (host \(peer.host), pid \(peer.pid))"
            guard let h = heard[other] else {
                missing.append("\(who) has sent no heartbeat since start-up (stopped, dead or unreachable)")
                continue
            }
            let age = t - h.at
            // A rank inside some collective waits too (perhaps still in the previous one, when
            // the missing rank stopped halfway through it): not the one to blame.
            let arrived = h.state.sequence > mine.sequence || h.state.inside
            if age > staleAfter {
                missing.append(String(format: "%@ has sent no heartbeat for %.1f s (stopped, dead or unreachable)", who, age))
            } else if !arrived {
                let doing = String(format: "%@ for %.1f s", h.state.phase.description, h.state.phaseSeconds + age)
                missing.append("\(who) is alive but has not arrived: at step \(h.state.step), \(doing)")
            }
        }
        let place = mine.step >= 0 ? "at step \(mine.step)" : "during start-up"
        let values = mine.count > 0 ? " (\(mine.count) values)" : ""
        let what = String(format: "rank %d waited %.1f s in %@%@ %@ (--collective-timeout %g)",
                          rank, mine.collectiveSeconds, mine.kind.name, values, place, timeout)
        let why = missing.isEmpty
            ? "every other rank is alive and waiting in a collective too (ranks calling different collectives, or the network between them down?)"
            : missing.joined(separator: "; ")
        return "tandem: error: collective timed out: \(what): \(why)"
    }
}
