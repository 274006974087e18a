import XCTest
import Tandem

final class KernelsTests: XCTestCase {
    /// C = alpha · op(A) · op(B) + beta · C by a naive triple loop in Double, row-major, where
    /// op(A) is m×k (A stored k×m when transposed) and op(B) is k×n (B stored n×k when transposed).
    private func naiveGemm(ta: Bool, tb: Bool, m: Int, n: Int, k: Int, alpha: Double,
                           a: [Float], lda: Int, b: [Float], ldb: Int, beta: Double, c: [Float], ldc: Int) -> [Double] {
        var out = c.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = ta ? a[p * lda + i] : a[i * lda + p]
                    let bv = tb ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                out[i * ldc + j] = alpha * s + beta * Double(c[i * ldc + j])
            }
        }
        return out
    }

    private func checkGemm(_ ta: Kernels.Transpose, _ tb: Kernels.Transpose, m: Int, n: Int, k: Int,
                           alpha: Float, beta: Float, padding: Int = 0, seed: UInt64) {
        var rng = TestRandom(seed: seed)
        // Stored shapes: A is m×k (or k×m), B is k×n (or n×k); leading dimensions may be padded.
        let aRows = ta == .no ? m : k, aCols = ta == .no ? k : m
        let bRows = tb == .no ? k : n, bCols = tb == .no ? n : k
        let lda = aCols + padding, ldb = bCols + padding, ldc = n + padding
        let a = rng.floats(aRows * lda), b = rng.floats(bRows * ldb), c0 = rng.floats(m * ldc)
        let expected = naiveGemm(ta: ta == .yes, tb: tb == .yes, m: m, n: n, k: k, alpha: Double(alpha),
                                 a: a, lda: lda, b: b, ldb: ldb, beta: Double(beta), c: c0, ldc: ldc)
        // With beta = 0 a product must not read C: its own entries start as NaN (the padding
        // between its rows keeps its values, which the product must not write).
        var c = c0
        if beta == 0 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = .nan } } }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    Kernels.gemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, lda: lda,
                                 b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: ldc)
                }
            }
        }
        assertClose(c, expected, relative: 1e-5, "gemm(\(ta), \(tb)) m=\(m) n=\(n) k=\(k) alpha=\(alpha) beta=\(beta)")
    }

    /// Runs `body` once with each library computing every product (`ProductLibrary`), on one
    /// thread, where oneDNN multiplies.
    private func withEachLibrary(_ body: () -> Void) {
        let threads = Kernels.blasThreads
        defer { ProductLibrary.current = .auto; Kernels.blasThreads = threads }
        Kernels.blasThreads = 1
        for library in [ProductLibrary.openblas, .onednn] {
            ProductLibrary.current = library
            XCTAssertEqual(ProductLibrary.oneDNNMinimumWork, library == .onednn ? 0 : .max)
            XCTAssertFalse(ProductLibrary.openBLASKeepsLongTransposedSums)
            body()
        }
    }

    func testGemmAllTransposeCombinationsNonSquare() {
        withEachLibrary {
            var seed: UInt64 = 1
            for ta in [Kernels.Transpose.no, .yes] {
                for tb in [Kernels.Transpose.no, .yes] {
                    for (m, n, k) in [(3, 5, 7), (7, 2, 4), (1, 9, 3), (13, 11, 17), (4, 4, 4), (37, 29, 41)] {
                        checkGemm(ta, tb, m: m, n: n, k: k, alpha: 1, beta: 0, seed: seed)
                        seed += 1
                    }
                }
            }
        }
    }

    func testGemmAlphaBetaAndPaddedLeadingDimensions() {
        withEachLibrary {
            var seed: UInt64 = 100
            for ta in [Kernels.Transpose.no, .yes] {
                for tb in [Kernels.Transpose.no, .yes] {
                    checkGemm(ta, tb, m: 5, n: 3, k: 6, alpha: 0.5, beta: 1, seed: seed)
                    checkGemm(ta, tb, m: 4, n: 6, k: 2, alpha: -2, beta: 0.25, padding: 3, seed: seed + 1)
                    checkGemm(ta, tb, m: 37, n: 29, k: 41, alpha: 0.5, beta: 0, padding: 3, seed: seed + 2)
                    seed += 3
                }
            }
        }
    }

    func testGemmSmallHandExample() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 99, count: 4)
        Kernels.gemm(.no, .no, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, c: &c, ldc: 2)
        XCTAssertEqual(c, [19, 22, 43, 50])
        // Aᵀ · B = [1 3; 2 4] · [5 6; 7 8] = [26 30; 38 44]
        Kernels.gemm(.yes, .no, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, c: &c, ldc: 2)
        XCTAssertEqual(c, [26, 30, 38, 44])
    }

    func testGemmWithEmptyInnerDimensionZeroesOrKeepsC() {
        let a: [Float] = [0], b: [Float] = [0]
        var c: [Float] = [1, 2, 3, 4, 5, 6]
        // k = 0 and beta = 0: the product is empty, so C = 0.
        Kernels.gemm(.no, .no, m: 2, n: 3, k: 0, a: a, lda: 1, b: b, ldb: 3, beta: 0, c: &c, ldc: 3)
        XCTAssertEqual(c, [0, 0, 0, 0, 0, 0])
        c = [1, 2, 3, 4, 5, 6]
        Kernels.gemm(.no, .no, m: 2, n: 3, k: 0, a: a, lda: 1, b: b, ldb: 3, beta: 1, c: &c, ldc: 3)
        XCTAssertEqual(c, [1, 2, 3, 4, 5, 6])
    }

    func testSumOfSquaresMatchesDoubleSumForManyLengths() {
        var rng = TestRandom(seed: 5)
        for count in [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 100, 1001] {
            let x = rng.floats(count, -3, 3)
            let expected = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            let got = Kernels.sumOfSquares(x, count: count)
            XCTAssertEqual(got, expected, accuracy: 1e-9 * max(1, expected), "count \(count)")
        }
        XCTAssertEqual(Kernels.sumOfSquares([3, 4], count: 2), 25)
    }

    func testSumOfSquaresKeepsPrecisionOnLongArrays() {
        // 1e6 values of 1e-3: the exact answer is 1 (a Float accumulator would drift).
        let x = [Float](repeating: 1e-3, count: 1_000_000)
        let value = Double(Float(1e-3))
        XCTAssertEqual(Kernels.sumOfSquares(x, count: x.count), 1e6 * value * value, accuracy: 1e-9)
    }

    func testAllFiniteTrueForFiniteValuesIncludingExtremes() {
        for count in [1, 7, 8, 9, 16, 17, 25] {
            var x = (0..<count).map { Float($0) - 5 }
            XCTAssertTrue(Kernels.allFinite(x, count: count), "count \(count)")
            x[count - 1] = .greatestFiniteMagnitude
            x[0] = -.greatestFiniteMagnitude
            XCTAssertTrue(Kernels.allFinite(x, count: count), "extremes, count \(count)")
        }
        XCTAssertTrue(Kernels.allFinite([Float](), count: 0))
    }

    func testAllFiniteDetectsNaNAndInfinitiesAtEveryPosition() {
        for count in [1, 5, 8, 9, 13, 16, 19, 24, 27] {
            for bad in [Float.nan, .infinity, -.infinity] {
                for position in 0..<count {
                    var x = (0..<count).map { Float($0) * 0.5 + 1 }
                    x[position] = bad
                    XCTAssertFalse(Kernels.allFinite(x, count: count), "\(bad) at \(position) of \(count)")
                }
            }
        }
        // +inf and -inf together must not cancel.
        let both: [Float] = [1, .infinity, 2, -.infinity, 3, 4, 5, 6, 7]
        XCTAssertFalse(Kernels.allFinite(both, count: both.count))
        // Only the first `count` values are inspected.
        let tail: [Float] = [1, 2, 3, .nan]
        XCTAssertTrue(Kernels.allFinite(tail, count: 3))
    }

    func testSumRows() {
        // 3 rows × 4 columns
        let x: [Float] = [1, 2, 3, 4,
                          10, 20, 30, 40,
                          -1, 0.5, 0, 2]
        var out = [Float](repeating: 123, count: 4)
        Kernels.sumRows(x, rows: 3, columns: 4, into: &out)
        XCTAssertEqual(out, [10, 22.5, 33, 46])
        var rng = TestRandom(seed: 9)
        let y = rng.floats(7 * 11)
        var sums = [Float](repeating: 0, count: 11)
        Kernels.sumRows(y, rows: 7, columns: 11, into: &sums)
        let expected = (0..<11).map { j in (0..<7).reduce(0.0) { $0 + Double(y[$1 * 11 + j]) } }
        assertClose(sums, expected, relative: 1e-6)
    }

    func testScaleAxpyBroadcastRows() {
        var x: [Float] = [1, -2, 3, 4, 5, 6, 7, 8, 9]
        Kernels.scale(&x, count: 9, by: 2)
        XCTAssertEqual(x, [2, -4, 6, 8, 10, 12, 14, 16, 18])
        var y: [Float] = [1, 1, 1]
        Kernels.axpy(0.5, [2, 4, -6], &y, count: 3)
        XCTAssertEqual(y, [2, 3, -2])
        var m = [Float](repeating: 0, count: 6)
        Kernels.broadcastRows([7, 8, 9], rows: 2, columns: 3, into: &m)
        XCTAssertEqual(m, [7, 8, 9, 7, 8, 9])
    }

    func testBlasThreadsCanBeSet() {
        let before = Kernels.blasThreads
        defer { Kernels.blasThreads = before }
        Kernels.blasThreads = 1
        XCTAssertEqual(Kernels.blasThreads, 1)
        Kernels.blasThreads = 0   // clamped to at least one thread
        XCTAssertEqual(Kernels.blasThreads, 1)
    }
}
