import CBLAS
import CKernels

/// The numeric kernels every layer is built from. Matrix products go to OpenBLAS or oneDNN; element-wise
/// loops are written over raw pointers here, once, so layers stay readable.
public enum Kernels {
    /// Whether `gemm` reads an operand as stored (`no`) or transposed (`yes`).
    public enum Transpose { case no, yes }

    /// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major.
    @inline(__always)
    public static func gemm(_ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        // The larger products go to oneDNN (see `ProductLibrary`); OpenBLAS takes the rest, and
        // any that oneDNN refuses.
        if ProductLibrary.oneDNNComputes(transposingA: ta == .yes, m: m, n: n, k: k),
           tandem_onednn_sgemm(ta == .yes ? 1 : 0, tb == .yes ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0 {
            return
        }
        // OpenBLAS's AVX2 kernel sets clear C for beta = 0 in a pass of their own that runs at
        // a fraction of memset's speed (measured on Zen 3: 1.94 vs 1.72 ms for the second cnn
        // convolution's input-gradient product, 8.7 vs 8.2 ms for its dense layer's weight
        // gradient); clearing C here and accumulating onto it (beta = 1) gives the same result.
        // The AVX-512 sets write C directly from their small-matrix kernels, and the extra
        // clearing would only cost (on an Emerald Rapids Xeon, `mpirun -np 2 tandem bench
        // --model resnet`, medians of five interleaved rounds: 1,149 samples/s without it, 993
        // with it; the GPT, 26,165 and 27,440 tokens/s, within its spread).
        var beta = beta
        if beta == 0 && !clearsOutputItself {
            if ldc == n { c.update(repeating: 0, count: m * n) } else { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            beta = 1
        }
        cblas_sgemm(CblasRowMajor,
                    ta == .no ? CblasNoTrans : CblasTrans,
                    tb == .no ? CblasNoTrans : CblasTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }

    /// Whether OpenBLAS writes C for beta = 0 without a clearing pass of its own: its AVX-512
    /// kernel sets have small-matrix kernels that store the product straight into C.
    static let clearsOutputItself = BLASCore.hasAVX512Kernels

    /// The number of threads every product in this process uses.
    public static var blasThreads: Int {
        get { Int(openblas_get_num_threads()) }
        set {
            openblas_set_num_threads(Int32(max(1, newValue)))
            ProductLibrary.threads = max(1, newValue)
        }
    }

    /// Sum of squares, accumulated in eight lanes of `Double` so long arenas keep precision
    /// and the loop vectorises (a scalar reduction would not).
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var acc = SIMD8<Double>()
        var i = 0
        while i + 8 <= count {
            let v = SIMD8<Double>(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
            acc.addProduct(v, v)
            i += 8
        }
        var total = acc.sum()
        while i < count { total += Double(x[i]) * Double(x[i]); i += 1 }
        return total
    }

    /// True when every value is finite. `v * 0` is 0 for finite `v` and NaN for NaN or ±infinity,
    /// and a NaN survives any sum, so one vectorised pass decides.
    public static func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * 0
            i += 8
        }
        var total = acc.sum()
        while i < count { total += x[i] * 0; i += 1 }
        return total == 0
    }

    /// x *= s
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by s: Float) {
        for i in 0..<count { x[i] *= s }
    }

    /// y += alpha · x
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }

    /// out[j] = Σ_i x[i, j] over `rows` rows of `columns` values (bias gradients); with
    /// `accumulate`, out[j] += that sum.
    public static func sumRows(_ x: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>,
                               accumulate: Bool = false) {
        if !accumulate { out.update(repeating: 0, count: columns) }
        for r in 0..<rows {
            let row = x + r * columns
            for j in 0..<columns { out[j] += row[j] }
        }
    }

    /// out = a + b, element by element (a residual connection, forward and backward).
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = a[i] + b[i] }
    }

    /// Copies `row` into each of `rows` rows of `x` (a bias, before gemm accumulates onto it).
    public static func broadcastRows(_ row: UnsafePointer<Float>, rows: Int, columns: Int, into x: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { (x + r * columns).update(from: row, count: columns) }
    }
}

/// Eight-lane loads and stores for the fused loops (optimizers): written with SIMD8 because
/// the scalar form of those loops, with a square root and a division per element, does not
/// vectorise on its own.
extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) func load8(_ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + i).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) func store8(_ value: SIMD8<Float>, _ i: Int) {
        UnsafeMutableRawPointer(self + i).storeBytes(of: value, as: SIMD8<Float>.self)
    }
}
