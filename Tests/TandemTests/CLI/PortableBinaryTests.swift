import Foundation
import XCTest

/// The built `tandem` uses no instruction beyond the x86-64-v3 baseline (AVX2, FMA, BMI1/2,
/// F16C, LZCNT, MOVBE), so it runs on every node of a cluster of such CPUs, not only on the
/// build machine. A `-march=native` build on this machine's Zen 3 fails this test: it emits
/// `prefetchw`, which Haswell does not have.
final class PortableBinaryTests: XCTestCase {
    /// Mnemonics (or their first letters) of extensions outside x86-64-v3, and AVX-512's registers.
    static let beyondBaseline = ["prefetchw", "adcx", "adox", "sha1", "sha256", "aesenc", "aesdec", "aeskeygen", "aesimc",
                                 "vaes", "pclmul", "vpclmul", "gf2p8", "clzero", "clflushopt", "clwb", "rdpid", "vpdpbusd",
                                 "vpopcnt", "vpternlog", "kmov", "xsavec", "monitorx", "mwaitx"]

    func testTheBinaryNeedsNoMoreThanX86_64v3() throws {
        if ProcessInfo.processInfo.environment["TANDEM_MARCH"].map({ $0 != "x86-64-v3" }) ?? false {
            throw XCTSkip("built for TANDEM_MARCH=\(ProcessInfo.processInfo.environment["TANDEM_MARCH"]!), not the portable baseline")
        }
        let disassemble = "objdump -d --no-show-raw-insn '\(TandemBinary.path)'"
        let listing = try TandemBinary.shell(disassemble + " | awk -F'\\t' 'NF >= 2 { split($2, f, \" \"); print f[1] }' | sort -u", timeout: 300)
        XCTAssertEqual(listing.status, 0, listing.summary)
        let mnemonics = listing.stdout.split(separator: "\n").map(String.init)
        XCTAssertGreaterThan(mnemonics.count, 200, "objdump must have listed the binary's instructions")
        XCTAssertTrue(mnemonics.contains { $0.hasPrefix("vfmadd") }, "the baseline's FMA must be used (is the binary built without AVX2?)")
        for mnemonic in mnemonics {
            let beyond = Self.beyondBaseline.first { mnemonic.hasPrefix($0) }
            XCTAssertNil(beyond, "\(mnemonic) is not in x86-64-v3")
        }
        let avx512 = try TandemBinary.shell(disassemble + " | grep -cE '%zmm|%k[1-7]\\b' || true", timeout: 300)
        XCTAssertEqual(avx512.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0", "instructions use AVX-512's registers")
    }
}
