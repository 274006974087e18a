import Foundation

/// Which library computes a matrix product: OpenBLAS, or oneDNN's sgemm.
///
/// Neither is faster everywhere. Every product of a one-rank, one-thread `tandem bench` step was
/// timed with each library on the Emerald Rapids Xeon (OpenBLAS's SkylakeX kernels):
/// - the byte GPT's products took 11.9 s with oneDNN against 15.0 s with OpenBLAS, and oneDNN won
///   every shape, from the attention's 64 × 128 × 32 to the dense layers' 2048 × 512 × 128;
///   the step went from 142 to 127 ms (five alternating runs, every one faster);
/// - the resnet's Winograd tile products (16 × 16 × 392, 32 × 128 × 32 and their kin, a hundred
///   thousand calls a run) took 1.1–1.7× as long with oneDNN, whose call costs more, while its
///   larger im2col products were 10–40 % faster with it.
/// On the AMD EPYC (Zen 3, AVX2 only; OpenBLAS's Zen kernels) the same timing, product by product
/// inside a one-rank, one-thread step, found one kind of product where oneDNN's AVX2 code lost:
/// a transposed A summed over a k longer than both m and n — the GPT's weight gradients,
/// dW = dYᵀ·X over 2,048 rows — ran at 56–70 GFLOP/s against OpenBLAS's 78–81 (48 against 37 ms
/// of a 160 ms step; a C microbenchmark of the four shapes agreed: 50–80 against 73–88). Every
/// other shape, the resnet's transposed products over short sums (144 × 12544 × 32: 66–81
/// against 51–58 GFLOP/s) included, was as fast with oneDNN or faster.
/// So in `auto`, oneDNN takes the products of at least `autoMinimumWork` multiply-adds
/// (m · n · k) and OpenBLAS the smaller ones and, where OpenBLAS's kernels are AVX2 ones
/// (`BLASCore.hasAVX512Kernels` is false), those long transposed sums. The choice depends on
/// shapes and the machine alone, so the same seed still gives the same run.
///
/// oneDNN multiplies only when a process's products run on one thread (a rank's usual setting):
/// with more, OpenBLAS's thread pool and oneDNN's OpenMP one would both wait, spinning, for
/// work while the other library has it.
public enum ProductLibrary: String, CaseIterable, Sendable {
    /// oneDNN for the products of at least `autoMinimumWork` multiply-adds, OpenBLAS below.
    case auto
    /// OpenBLAS for every product (how Tandem multiplied before oneDNN).
    case openblas
    /// oneDNN for every product (for measuring; slower than `auto` for small products).
    case onednn

    /// Where oneDNN begins in `auto`: 2^18 multiply-adds, between the resnet's Winograd tiles
    /// (at most 131,072) and the GPT's attention products (262,144 and up).
    public static let autoMinimumWork = 1 << 18

    /// The environment variable that chooses the library (`auto` when unset).
    public static let environmentVariable = "TANDEM_PRODUCTS"

    /// The library `TANDEM_PRODUCTS` asks for: `auto` when it is unset, nil when it names none.
    public static var requested: ProductLibrary? {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable] else { return .auto }
        return ProductLibrary(rawValue: value.lowercased())
    }

    /// The library this process uses; set it before training starts (the `tandem` command sets
    /// it from `TANDEM_PRODUCTS`).
    public static var current: ProductLibrary = requested ?? .auto {
        didSet { update() }
    }

    /// Threads per product in this process (`Kernels.blasThreads` sets it).
    static var threads = 1 {
        didSet { update() }
    }

    /// The fewest multiply-adds a product must have for oneDNN to compute it; `Int.max` when
    /// OpenBLAS computes them all. One global read per product, decided when the settings change.
    nonisolated(unsafe) public private(set) static var oneDNNMinimumWork = minimumWork(for: current, threads: 1)

    /// Whether OpenBLAS keeps the long transposed sums (see the type's notes) that oneDNN
    /// would otherwise take.
    nonisolated(unsafe) public private(set) static var openBLASKeepsLongTransposedSums =
        keepsLongTransposedSums(for: current, threads: 1)

    private static func update() {
        oneDNNMinimumWork = minimumWork(for: current, threads: threads)
        openBLASKeepsLongTransposedSums = keepsLongTransposedSums(for: current, threads: threads)
    }

    /// The fewest multiply-adds for oneDNN under `library` with `threads` threads per product.
    public static func minimumWork(for library: ProductLibrary, threads: Int) -> Int {
        guard threads == 1 else { return .max }
        switch library {
        case .auto: return autoMinimumWork
        case .openblas: return .max
        case .onednn: return 0
        }
    }

    /// Whether OpenBLAS keeps the long transposed sums under `library`, on a machine whose
    /// OpenBLAS kernels use AVX-512 or not.
    public static func keepsLongTransposedSums(for library: ProductLibrary, threads: Int,
                                               avx512: Bool = BLASCore.hasAVX512Kernels) -> Bool {
        library == .auto && threads == 1 && !avx512
    }

    /// Whether a product of op(A)[m×k] · op(B)[k×n] is a long transposed sum: A transposed,
    /// and k longer than both m and n.
    @inline(__always)
    public static func isLongTransposedSum(transposingA: Bool, m: Int, n: Int, k: Int) -> Bool {
        transposingA && k > m && k > n
    }

    /// Whether oneDNN computes this product in this process.
    @inline(__always)
    public static func oneDNNComputes(transposingA: Bool, m: Int, n: Int, k: Int) -> Bool {
        m * n * k >= oneDNNMinimumWork
            && !(openBLASKeepsLongTransposedSums && isLongTransposedSum(transposingA: transposingA, m: m, n: n, k: k))
    }

    /// How products are computed in this process, in words (`tandem bench` reports it).
    public static var summary: String {
        switch oneDNNMinimumWork {
        case .max: return "OpenBLAS"
        case 0: return "oneDNN"
        case let work where openBLASKeepsLongTransposedSums:
            return "oneDNN from \(work) multiply-adds, OpenBLAS below and for long transposed sums"
        case let work: return "oneDNN from \(work) multiply-adds, OpenBLAS below"
        }
    }
}
