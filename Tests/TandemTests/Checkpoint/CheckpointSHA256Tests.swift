import Tandem
import XCTest

/// SHA-256 against the FIPS 180-2 / NIST example vectors, and the incremental hasher against
/// the one-shot function for every way of splitting a message.
final class CheckpointSHA256Tests: XCTestCase {
    func testFIPSVectors() {
        XCTAssertEqual(SHA256.hex(Array("".utf8)),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // The 448-bit message: its padding needs a second block.
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // The 896-bit message.
        XCTAssertEqual(SHA256.hex(Array(("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                                         + "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu").utf8)),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testMillionAFedInPieces() {
        var hasher = SHA256.Hasher()
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(piece) }
        XCTAssertEqual(SHA256.hexString(hasher.finalize()),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testDigestIs32BytesAndRawBufferOverloadAgrees() {
        let message = Array("abc".utf8)
        let digest = SHA256.hash(message)
        XCTAssertEqual(digest.count, 32)
        XCTAssertEqual(digest.prefix(4), [0xba, 0x78, 0x16, 0xbf])
        XCTAssertEqual(message.withUnsafeBytes { SHA256.hash($0) }, digest)
        XCTAssertEqual(message.withUnsafeBytes { SHA256.hex($0) }, SHA256.hexString(digest))
    }

    /// Every message length around the block and padding boundaries, split at every point,
    /// must hash the same incrementally as in one go.
    func testIncrementalMatchesOneShotAcrossBoundaries() {
        var generator = SplitMix64(seed: 7)
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 200] {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = SHA256.hash(message)
            for split in 0...length {
                var hasher = SHA256.Hasher()
                hasher.update(Array(message[..<split]))
                hasher.update(Array(message[split...]))
                XCTAssertEqual(hasher.finalize(), expected, "length \(length) split at \(split)")
            }
            // And in random small pieces.
            var hasher = SHA256.Hasher()
            var start = 0
            while start < length {
                let end = min(length, start + Int.random(in: 1...70, using: &generator))
                hasher.update(Array(message[start..<end]))
                start = end
            }
            XCTAssertEqual(hasher.finalize(), expected, "length \(length) in random pieces")
        }
    }
}
