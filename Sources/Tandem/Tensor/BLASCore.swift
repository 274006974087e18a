import CBLAS
import CRuntime
import Foundation

/// Which of OpenBLAS's kernel sets this process multiplies with, and the remedy when OpenBLAS
/// does not recognise the processor.
///
/// OpenBLAS chooses its kernels by the CPU's model number while the library loads, before
/// `main` runs. Debian 12's OpenBLAS 0.3.21 predates Intel's Emerald Rapids Xeons (family 6,
/// model 207) and falls back there to its generic "Prescott" kernels, SSE3 only, on a processor
/// with AVX-512. Measured on such a machine with `mpirun -np 2 tandem bench`: the resnet 443
/// samples/s with them against 969 with the SkylakeX kernels, the byte GPT 8.9k against
/// 22.5–26.5k tokens/s. The choice can only be changed through `OPENBLAS_CORETYPE` before the
/// library loads, so `useTunedKernels()` restarts the process once with it set.
public enum BLASCore {
    /// The kernel set OpenBLAS runs in this process: "Haswell", "Zen", "SkylakeX", "Prescott", ….
    public static var name: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's kernel sets that use AVX-512, by lower-case name.
    private static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    /// OpenBLAS's kernel sets that use AVX2 with FMA or wider vectors.
    private static let vectorCores = avx512Cores.union(["haswell", "zen"])

    /// Whether this process runs one of OpenBLAS's AVX-512 kernel sets.
    public static let hasAVX512Kernels = avx512Cores.contains(name.lowercased())

    /// The kernel set to ask OpenBLAS for instead of `current`, or nil when `current` already
    /// uses the processor's vector units (or the processor has none that a set could use).
    /// SkylakeX where AVX-512 is there: on the Emerald Rapids machine it ran the resnet's
    /// one-rank step in 108 ms against Haswell's 143 (Cooperlake's, 112, is no faster).
    public static func replacement(for current: String, avx2: Bool, avx512: Bool) -> String? {
        guard avx2, !vectorCores.contains(current.lowercased()) else { return nil }
        return avx512 ? "SkylakeX" : "Haswell"
    }

    /// The kernel set this processor should run when OpenBLAS fell back to a slower one, else nil.
    public static var betterCore: String? {
        replacement(for: name, avx2: tandem_cpu_has_avx2_fma() != 0, avx512: tandem_cpu_has_avx512() != 0)
    }

    /// When OpenBLAS fell back to kernels below the processor's vector units, restarts this
    /// program (same executable, arguments and process id) with `OPENBLAS_CORETYPE` naming the
    /// right ones. Call it first thing in `main`: whatever ran before is run again. A
    /// `OPENBLAS_CORETYPE` already set, by the user or by the restart, is left as it is, so the
    /// restart happens at most once. If the restart itself fails the program goes on, slower,
    /// after saying so.
    public static func useTunedKernels() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = betterCore else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        var arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &arguments)
        let reason = String(cString: strerror(errno))
        FileHandle.standardError.write("tandem: warning: OpenBLAS runs its generic \(name) kernels on this processor and restarting with OPENBLAS_CORETYPE=\(core) failed (\(reason)); products run slower\n".data(using: .utf8)!)
    }
}
