import Foundation
import XCTest
import Tandem

/// The two libraries behind `Kernels.gemm`: oneDNN's products agree with a double-precision
/// reference for every transposition, padded leading dimensions, alpha and both betas; the rule
/// that picks a library; and what the `tandem` binary reports and refuses.
final class ProductLibraryTests: XCTestCase {
    private var threads = 1

    // oneDNN multiplies only on one thread, and other tests may have left more.
    override func setUp() {
        super.setUp()
        threads = Kernels.blasThreads
        Kernels.blasThreads = 1
    }

    override func tearDown() {
        ProductLibrary.current = .auto
        Kernels.blasThreads = threads
        super.tearDown()
    }

    /// C = alpha op(A) op(B) + beta C through `Kernels.gemm`, with every matrix stored in a
    /// wider buffer (leading dimension = columns + 3) so that the strides are exercised.
    private func product(_ ta: Kernels.Transpose, _ tb: Kernels.Transpose, m: Int, n: Int, k: Int,
                         alpha: Float, beta: Float, a: [Float], b: [Float], c: [Float]) -> [Float] {
        let lda = (ta == .no ? k : m) + 3, ldb = (tb == .no ? n : k) + 3, ldc = n + 3
        var out = c
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    Kernels.gemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a.baseAddress!, lda: lda,
                                 b: b.baseAddress!, ldb: ldb, beta: beta, c: c.baseAddress!, ldc: ldc)
                }
            }
        }
        return out
    }

    func testOneDNNProductsMatchADoublePrecisionReference() {
        let (m, n, k) = (37, 29, 41)
        var generator = SplitMix64(seed: 7)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in generator.uniform(-1, 1) } }
        for library in [ProductLibrary.onednn, .openblas] {
            ProductLibrary.current = library
            XCTAssertEqual(ProductLibrary.oneDNNMinimumWork, library == .onednn ? 0 : .max)
            for ta in [Kernels.Transpose.no, .yes] {
                for tb in [Kernels.Transpose.no, .yes] {
                    let (aRows, aColumns) = ta == .no ? (m, k) : (k, m)
                    let (bRows, bColumns) = tb == .no ? (k, n) : (n, k)
                    let a = random(aRows * (aColumns + 3)), b = random(bRows * (bColumns + 3))
                    let start = random(m * (n + 3))
                    func element(_ x: [Float], _ ld: Int, _ row: Int, _ column: Int) -> Double { Double(x[row * ld + column]) }
                    for beta: Float in [0, 1] {
                        // With beta = 0 the product must not read C: start from NaN there.
                        let c = beta == 0 ? [Float](repeating: .nan, count: start.count) : start
                        let result = product(ta, tb, m: m, n: n, k: k, alpha: 0.5, beta: beta, a: a, b: b, c: c)
                        var worst = 0.0
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum = 0.0
                                for p in 0..<k {
                                    let x = ta == .no ? element(a, aColumns + 3, i, p) : element(a, aColumns + 3, p, i)
                                    let y = tb == .no ? element(b, bColumns + 3, p, j) : element(b, bColumns + 3, j, p)
                                    sum += x * y
                                }
                                let expected = 0.5 * sum + Double(beta) * (beta == 0 ? 0 : Double(start[i * (n + 3) + j]))
                                worst = max(worst, abs(Double(result[i * (n + 3) + j]) - expected))
                            }
                            // The padding between rows of C is never written.
                            for j in n..<(n + 3) {
                                XCTAssertEqual(result[i * (n + 3) + j].bitPattern, c[i * (n + 3) + j].bitPattern, "\(library) wrote C's padding")
                            }
                        }
                        XCTAssertLessThan(worst, 1e-5, "\(library) \(ta)\(tb) beta \(beta)")
                    }
                }
            }
        }
    }

    func testOneDNNTakesTheLargerProductsOfOneThreadOnly() {
        XCTAssertEqual(ProductLibrary.minimumWork(for: .auto, threads: 1), ProductLibrary.autoMinimumWork)
        XCTAssertEqual(ProductLibrary.minimumWork(for: .onednn, threads: 1), 0)
        XCTAssertEqual(ProductLibrary.minimumWork(for: .openblas, threads: 1), .max)
        for library in ProductLibrary.allCases {
            XCTAssertEqual(ProductLibrary.minimumWork(for: library, threads: 2), .max, "\(library) with two threads")
        }
        ProductLibrary.current = .openblas
        XCTAssertEqual(ProductLibrary.summary, "OpenBLAS")
        ProductLibrary.current = .auto
        XCTAssertEqual(ProductLibrary.summary, "oneDNN from 262144 multiply-adds, OpenBLAS below")
        Kernels.blasThreads = 2
        XCTAssertEqual(ProductLibrary.summary, "OpenBLAS")
    }

    /// What `tandem bench --json` reports, with `TANDEM_PRODUCTS` set to `value` (or unset).
    private func bench(products value: String?) throws -> JobResult {
        let environment = value.map { "env TANDEM_PRODUCTS=\($0)" } ?? "env -u TANDEM_PRODUCTS"
        return try TandemBinary.shell("\(environment) '\(TandemBinary.path)' bench --model mlp:784-64-10 --global-batch 64 "
                                      + "--steps 2 --warmup-steps 1 --train-subset 512 --threads 1 --json", timeout: 120)
    }

    func testTheBinaryReportsTheLibraryItWasAskedFor() throws {
        for (value, expected) in [(nil, "oneDNN from 262144 multiply-adds, OpenBLAS below"), ("openblas", "OpenBLAS"), ("ONEDNN", "oneDNN")] {
            let result = try bench(products: value)
            XCTAssertEqual(result.status, 0, result.stderr)
            let line = try XCTUnwrap(result.stdout.split(separator: "\n").last.map(String.init), result.stderr)
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertEqual(report["products"] as? String, expected, "TANDEM_PRODUCTS=\(value ?? "unset")")
        }
    }

    func testAnUnknownLibraryIsRefusedInOneLine() throws {
        let result = try bench(products: "mkl")
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr, "tandem: error: TANDEM_PRODUCTS must be one of auto, openblas, onednn, not 'mkl'\n")
        XCTAssertEqual(result.stdout, "")
    }
}
