import CRuntime
import Foundation
import Glibc

/// What one rank tells the others, about once a second, outside MPI: that it is alive, and
/// where it is (step, collective, phase). Datagrams over UDP, because the point is to keep
/// talking while MPI is stuck; a lost datagram only makes a rank look a second older.
struct HeartbeatState {
    var rank: Int
    /// Collectives entered so far (all ranks enter the same collectives in the same order).
    var sequence: Int64
    var inside: Bool
    var kind: CollectiveKind
    var count: Int64
    var step: Int64
    var phase: RankPhase
    /// How long it has been inside the collective, or in the phase, when it was sent.
    var collectiveSeconds: Double
    var phaseSeconds: Double
    /// The sender's watchdog has fired (so lower ranks know it will report).
    var fired: Bool

    static let words = 8

    func encoded(job: UInt64) -> [UInt64] {
        let flags = UInt64(inside ? 1 : 0) | UInt64(kind.rawValue) << 8 | UInt64(phase.rawValue) << 16 | UInt64(fired ? 1 : 0) << 24
        return [job, UInt64(rank), UInt64(bitPattern: sequence), flags, UInt64(bitPattern: step),
                UInt64(collectiveSeconds * 1e6), UInt64(phaseSeconds * 1e6), UInt64(bitPattern: count)]
    }

    init(rank: Int, sequence: Int64, inside: Bool, kind: CollectiveKind, count: Int64, step: Int64, phase: RankPhase,
         collectiveSeconds: Double, phaseSeconds: Double, fired: Bool) {
        self.rank = rank; self.sequence = sequence; self.inside = inside; self.kind = kind; self.count = count
        self.step = step; self.phase = phase; self.collectiveSeconds = collectiveSeconds
        self.phaseSeconds = phaseSeconds; self.fired = fired
    }

    init?(words: [UInt64], job: UInt64, worldSize: Int) {
        guard words.count == HeartbeatState.words, words[0] == job, words[1] < UInt64(worldSize) else { return nil }
        rank = Int(words[1])
        sequence = Int64(bitPattern: words[2])
        inside = words[3] & 0xff != 0
        kind = CollectiveKind(rawValue: Int64((words[3] >> 8) & 0xff)) ?? .unknown
        phase = RankPhase(rawValue: Int64((words[3] >> 16) & 0xff)) ?? .startingUp
        fired = (words[3] >> 24) & 0xff != 0
        step = Int64(bitPattern: words[4])
        collectiveSeconds = Double(words[5]) / 1e6
        phaseSeconds = Double(words[6]) / 1e6
        count = Int64(bitPattern: words[7])
    }
}

/// Who a rank is and where its heartbeats go: gathered once, at start-up, through MPI.
struct PeerAddress {
    var pid: Int
    var host: String
    var port: UInt16
    /// Ranks in one network namespace reach each other on the loopback address; others are sent
    /// to every IPv4 address the peer listed (one of them is on the network between them).
    var namespace: UInt64
    var addresses: [UInt32]

    static let words = 32
    static let maxAddresses = 16
    static let hostBytes = 8 * (words - 5 - maxAddresses)

    func encoded(job: UInt64) -> [UInt64] {
        var words = [job, UInt64(pid), UInt64(port), namespace, UInt64(addresses.count)]
        words += (0..<PeerAddress.maxAddresses).map { $0 < addresses.count ? UInt64(addresses[$0]) : 0 }
        var name = Array(host.utf8.prefix(PeerAddress.hostBytes))
        name += [UInt8](repeating: 0, count: PeerAddress.hostBytes - name.count)
        for word in 0..<(PeerAddress.hostBytes / 8) {
            words.append(name[word * 8..<word * 8 + 8].enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * $1.offset) })
        }
        return words
    }

    init(pid: Int, host: String, port: UInt16, namespace: UInt64, addresses: [UInt32]) {
        self.pid = pid; self.host = host; self.port = port; self.namespace = namespace
        self.addresses = Array(addresses.prefix(PeerAddress.maxAddresses))
    }

    init(words: ArraySlice<UInt64>) {
        let w = Array(words)
        pid = Int(w[1]); port = UInt16(truncatingIfNeeded: w[2]); namespace = w[3]
        addresses = (0..<min(Int(w[4]), PeerAddress.maxAddresses)).map { UInt32(truncatingIfNeeded: w[5 + $0]) }
        var name: [UInt8] = []
        for word in w[(5 + PeerAddress.maxAddresses)...] {
            for byte in 0..<8 { name.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(byte)))) }
        }
        host = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// This process: its host name, network namespace and IPv4 addresses (loopback left out).
    static func mine(port: UInt16) -> PeerAddress {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        var info = stat()
        let namespace = stat("/proc/self/ns/net", &info) == 0 ? UInt64(info.st_ino) : 0
        var addresses: [UInt32] = []
        var list: UnsafeMutablePointer<ifaddrs>? = nil
        if getifaddrs(&list) == 0 {
            var entry = list
            while let e = entry {
                if let address = e.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                   e.pointee.ifa_flags & UInt32(IFF_UP) != 0, e.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0 {
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { addresses.append($0.pointee.sin_addr.s_addr) }
                }
                entry = e.pointee.ifa_next
            }
            freeifaddrs(list)
        }
        return PeerAddress(pid: Int(getpid()), host: String(cString: name), port: port, namespace: namespace, addresses: addresses)
    }
}

/// A UDP socket on an ephemeral port of every interface, for heartbeats.
final class HeartbeatSocket {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw CommunicationError("cannot open the watchdog's heartbeat socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            close(descriptor)
            throw CommunicationError("cannot bind the watchdog's heartbeat socket: \(String(cString: strerror(errno)))")
        }
        self.descriptor = descriptor
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }

    func send(_ words: [UInt64], to address: UInt32, port: UInt16) {
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_addr.s_addr = address
        target.sin_port = port.bigEndian
        let little = words.map { $0.littleEndian }
        little.withUnsafeBytes { bytes in
            withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    _ = sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0,
                               socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// Waits up to `seconds` for datagrams, then returns all that have arrived.
    func receive(waiting seconds: Double) -> [[UInt64]] {
        var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptorSet, 1, Int32(max(0, seconds * 1000))) > 0 else { return [] }
        var received: [[UInt64]] = []
        var buffer = [UInt64](repeating: 0, count: HeartbeatState.words + 1)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 { break }
            if n == HeartbeatState.words * 8 {
                received.append(buffer.prefix(HeartbeatState.words).map { UInt64(littleEndian: $0) })
            }
        }
        return received
    }
}
