import CRuntime
import Foundation
import XCTest
import Tandem

/// OpenBLAS's kernel choice: the rule that decides when OpenBLAS fell back below the
/// processor's vector units, and the `tandem` binary restarting itself with the right kernels
/// (alone and under a real mpirun), while a user's own `OPENBLAS_CORETYPE` stands.
final class BLASCoreTests: XCTestCase {
    func testGenericCoresAreReplacedOnlyWhereTheProcessorCanDoBetter() {
        XCTAssertEqual(BLASCore.replacement(for: "Prescott", avx2: true, avx512: true), "SkylakeX")
        XCTAssertEqual(BLASCore.replacement(for: "Prescott", avx2: true, avx512: false), "Haswell")
        XCTAssertEqual(BLASCore.replacement(for: "Sandybridge", avx2: true, avx512: false), "Haswell")
        XCTAssertNil(BLASCore.replacement(for: "Prescott", avx2: false, avx512: false), "no AVX2: Prescott is the best there is")
        for tuned in ["Haswell", "Zen", "SkylakeX", "COOPERLAKE", "SapphireRapids"] {
            XCTAssertNil(BLASCore.replacement(for: tuned, avx2: true, avx512: true), tuned)
        }
    }

    /// What `tandem bench --json` reports as rank 0's kernels, run through bash with `env`.
    private func reportedCore(_ launcher: String, environment: String) throws -> String {
        let command = "\(environment) \(launcher) '\(TandemBinary.path)' bench --model mlp:784-64-10 --global-batch 64 "
            + "--steps 2 --warmup-steps 1 --train-subset 512 --json"
        let result = try TandemBinary.shell(command, timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").last.map(String.init), result.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        return try XCTUnwrap(report["blas_core"] as? String, line)
    }

    func testTheBinaryRunsKernelsThatUseTheProcessorsVectorUnits() throws {
        let avx2 = tandem_cpu_has_avx2_fma() != 0, avx512 = tandem_cpu_has_avx512() != 0
        for launcher in ["", "/usr/bin/mpirun -np 2"] {
            let core = try reportedCore(launcher, environment: "env -u OPENBLAS_CORETYPE")
            XCTAssertNil(BLASCore.replacement(for: core, avx2: avx2, avx512: avx512),
                         "\(launcher.isEmpty ? "one process" : launcher) ran OpenBLAS's \(core) kernels (AVX2 \(avx2), AVX-512 \(avx512))")
        }
    }

    func testAUsersOwnCoreTypeStands() throws {
        XCTAssertEqual(try reportedCore("", environment: "env OPENBLAS_CORETYPE=Prescott"), "Prescott")
    }
}
