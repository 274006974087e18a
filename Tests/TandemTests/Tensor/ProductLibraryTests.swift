import Foundation
import XCTest
import Tandem

/// The rule that picks the library behind `Kernels.gemm`, and what the `tandem` binary reports
/// and refuses. (`KernelsTests` checks the products themselves under each library.)
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
        XCTAssertEqual(ProductLibrary.summary, Self.autoSummary)
        Kernels.blasThreads = 2
        XCTAssertEqual(ProductLibrary.summary, "OpenBLAS")
    }

    /// The weight gradients of the GPT's dense layers (dW = dYᵀ·X over 2,048 rows) stay with
    /// OpenBLAS in `auto` where its kernels are AVX2 ones; transposed products over short sums
    /// (the resnet's) and everything that oneDNN or OpenBLAS was asked for alone do not.
    func testLongTransposedSumsStayWithOpenBLASWhereItsKernelsAreAVX2() {
        XCTAssertTrue(ProductLibrary.isLongTransposedSum(transposingA: true, m: 512, n: 128, k: 2048))
        XCTAssertTrue(ProductLibrary.isLongTransposedSum(transposingA: true, m: 128, n: 128, k: 2048))
        XCTAssertFalse(ProductLibrary.isLongTransposedSum(transposingA: false, m: 512, n: 128, k: 2048))
        XCTAssertFalse(ProductLibrary.isLongTransposedSum(transposingA: true, m: 144, n: 12544, k: 32))
        XCTAssertFalse(ProductLibrary.isLongTransposedSum(transposingA: true, m: 2048, n: 128, k: 2048))
        XCTAssertTrue(ProductLibrary.keepsLongTransposedSums(for: .auto, threads: 1, avx512: false))
        XCTAssertFalse(ProductLibrary.keepsLongTransposedSums(for: .auto, threads: 1, avx512: true))
        for avx512 in [false, true] {
            XCTAssertFalse(ProductLibrary.keepsLongTransposedSums(for: .onednn, threads: 1, avx512: avx512))
            XCTAssertFalse(ProductLibrary.keepsLongTransposedSums(for: .openblas, threads: 1, avx512: avx512))
            XCTAssertFalse(ProductLibrary.keepsLongTransposedSums(for: .auto, threads: 2, avx512: avx512))
        }
        // This process's own decision, for a weight gradient and for a forward product.
        ProductLibrary.current = .auto
        XCTAssertEqual(ProductLibrary.oneDNNComputes(transposingA: true, m: 512, n: 128, k: 2048), BLASCore.hasAVX512Kernels)
        XCTAssertTrue(ProductLibrary.oneDNNComputes(transposingA: false, m: 2048, n: 512, k: 128))
        XCTAssertTrue(ProductLibrary.oneDNNComputes(transposingA: true, m: 144, n: 12544, k: 32))
        XCTAssertFalse(ProductLibrary.oneDNNComputes(transposingA: false, m: 16, n: 16, k: 392))
        ProductLibrary.current = .onednn
        XCTAssertTrue(ProductLibrary.oneDNNComputes(transposingA: true, m: 512, n: 128, k: 2048))
        ProductLibrary.current = .openblas
        XCTAssertFalse(ProductLibrary.oneDNNComputes(transposingA: false, m: 2048, n: 512, k: 128))
    }

    /// What `auto` is reported as on this machine.
    private static var autoSummary: String {
        BLASCore.hasAVX512Kernels ? "oneDNN from 262144 multiply-adds, OpenBLAS below"
            : "oneDNN from 262144 multiply-adds, OpenBLAS below and for long transposed sums"
    }

    /// What `tandem bench --json` reports, with `TANDEM_PRODUCTS` set to `value` (or unset).
    private func bench(products value: String?) throws -> JobResult {
        let environment = value.map { "env TANDEM_PRODUCTS=\($0)" } ?? "env -u TANDEM_PRODUCTS"
        return try TandemBinary.shell("\(environment) '\(TandemBinary.path)' bench --model mlp:784-64-10 --global-batch 64 "
                                      + "--steps 2 --warmup-steps 1 --train-subset 512 --threads 1 --json", timeout: 120)
    }

    func testTheBinaryReportsTheLibraryItWasAskedFor() throws {
        for (value, expected) in [(nil, Self.autoSummary), ("openblas", "OpenBLAS"), ("ONEDNN", "oneDNN")] {
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
