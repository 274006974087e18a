/// FNV-1a, a small stable 64-bit hash: what ranks exchange to confirm they hold the same
/// configuration, data and weights (a digest, not a defence against anyone).
public struct FNV1a {
    /// The hash of everything mixed in so far; starts at the 64-bit FNV offset basis.
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    /// A hasher with nothing mixed in yet.
    public init() {}

    /// Mixes in one 64-bit word (as FNV-1a mixes a byte: xor, then multiply by the prime).
    public mutating func mix(_ word: UInt64) { value = (value ^ word) &* 0x100_0000_01B3 }

    /// The hash of a text's UTF-8 bytes.
    public static func hash(_ text: String) -> UInt64 {
        var h = FNV1a()
        for byte in text.utf8 { h.mix(UInt64(byte)) }
        return h.value
    }
}
