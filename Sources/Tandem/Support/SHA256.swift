/// SHA-256 (FIPS 180-4), written out here because the project may use only Foundation and
/// Glibc, and swift-corelibs-foundation has no hash functions. Checkpoints record the SHA-256
/// of their tensor payload so that a flipped bit anywhere in the weights is caught on reading,
/// and so that Python can check the same digest with `hashlib.sha256`.
///
/// Use `SHA256.hash(_:)` / `SHA256.hex(_:)` for bytes in memory, or `SHA256.Hasher` to feed
/// data in pieces.
public enum SHA256 {
    /// The digest of `bytes`: 32 bytes.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of `bytes`: 32 bytes.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The digest of `bytes` as 64 lowercase hexadecimal digits, the form `sha256sum` and
    /// Python's `hexdigest()` print.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        hexString(hash(bytes))
    }

    /// The digest of `bytes` as 64 lowercase hexadecimal digits.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { hex($0) }
    }

    /// Lowercase hexadecimal spelling of any bytes (two digits per byte).
    public static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// An incremental SHA-256: `update` any number of times, then `finalize` once.
    public struct Hasher {
        /// The eight working words H0...H7 (FIPS 180-4 §5.3.3).
        private var state: [UInt32] = [
            0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a,
            0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
        ]
        /// Bytes waiting for a full 64-byte block (always fewer than 64).
        private var pending: [UInt8] = []
        /// Total message length so far, in bytes; the padding records it in bits.
        private var length: UInt64 = 0

        /// A hasher that has seen no bytes yet.
        public init() {}

        /// Feeds the next `bytes` of the message.
        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { update($0) }
        }

        /// Feeds the next `bytes` of the message; whole 64-byte blocks are hashed in place, without copying.
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 0, let base = bytes.baseAddress else { return }
            length &+= UInt64(bytes.count)
            var offset = 0
            // Top up a partial block left over from the previous call first.
            if !pending.isEmpty {
                let take = min(64 - pending.count, bytes.count)
                pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
                offset = take
                if pending.count == 64 {
                    pending.withUnsafeBytes { compress(blocks: $0.baseAddress!, count: 1) }
                    pending.removeAll(keepingCapacity: true)
                }
            }
            // Then hash whole blocks straight from the caller's memory, without copying.
            let wholeBlocks = (bytes.count - offset) / 64
            if wholeBlocks > 0 {
                compress(blocks: base + offset, count: wholeBlocks)
                offset += wholeBlocks * 64
            }
            if offset < bytes.count {
                pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: bytes.count - offset))
            }
        }

        /// The digest of everything passed to `update`. The hasher should not be used after.
        public mutating func finalize() -> [UInt8] {
            // Padding: a 1 bit, zeros up to 56 mod 64, then the length in bits, big-endian.
            let bitLength = length &* 8
            var tail = pending
            tail.append(0x80)
            while tail.count % 64 != 56 { tail.append(0) }
            for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
            tail.withUnsafeBytes { compress(blocks: $0.baseAddress!, count: tail.count / 64) }
            pending.removeAll()
            var digest: [UInt8] = []
            digest.reserveCapacity(32)
            for word in state {
                digest.append(UInt8(truncatingIfNeeded: word >> 24))
                digest.append(UInt8(truncatingIfNeeded: word >> 16))
                digest.append(UInt8(truncatingIfNeeded: word >> 8))
                digest.append(UInt8(truncatingIfNeeded: word))
            }
            return digest
        }

        /// The compression function over `count` consecutive 64-byte blocks (FIPS 180-4 §6.2.2).
        /// The state lives in locals during the loop; that keeps a 100 MB checkpoint's hash
        /// at a few hundred MB/s instead of paying array bounds checks per round.
        private mutating func compress(blocks: UnsafeRawPointer, count: Int) {
            var h0 = state[0], h1 = state[1], h2 = state[2], h3 = state[3]
            var h4 = state[4], h5 = state[5], h6 = state[6], h7 = state[7]
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
                SHA256.roundConstants.withUnsafeBufferPointer { k in
                    for block in 0..<count {
                        let bytes = blocks + block * 64
                        // Message schedule: 16 big-endian words, then 48 derived ones.
                        for t in 0..<16 {
                            w[t] = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self))
                        }
                        for t in 16..<64 {
                            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                        }
                        var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
                        for t in 0..<64 {
                            let sum1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                            let choose = (e & f) ^ (~e & g)
                            let t1 = h &+ sum1 &+ choose &+ k[t] &+ w[t]
                            let sum0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                            let majority = (a & b) ^ (a & c) ^ (b & c)
                            let t2 = sum0 &+ majority
                            h = g; g = f; f = e; e = d &+ t1
                            d = c; c = b; b = a; a = t1 &+ t2
                        }
                        h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
                        h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
                    }
                }
            }
            state = [h0, h1, h2, h3, h4, h5, h6, h7]
        }
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}
