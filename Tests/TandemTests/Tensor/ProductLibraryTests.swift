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
