import Foundation
import Tandem
import XCTest

/// `Examples/NumPyClassifier` as a new user meets it: its own package, depending on Tandem by
/// version (`from: "0.1.0"`) through a git repository tagged 0.1.0 that holds this checkout.
/// SwiftPM refused that dependency while Tandem's targets carried compiler flags under a tools
/// version before 6.2 ("contains unsafe build flags"). Built, it trains its own layer and model
/// on NumPy files at one process and at `mpirun -np 2` to the same weights.
final class ExamplePackageTests: XCTestCase {
    /// This checkout's files (tracked, or new and not ignored) committed to a fresh repository
    /// and tagged 0.1.0; returns its directory.
    func taggedCopyOfTandem() throws -> String {
        // A package's identity is its URL's last component, as for https://…/Tandem.git.
        let copy = TandemBinary.temporaryDirectory(self, "tandem-0.1.0") + "/Tandem"
        let root = TandemBinary.packageRoot.path
        let steps = [
            "mkdir -p '\(copy)'",
            "cd '\(root)' && git ls-files -z -co --exclude-standard | grep -zv '^Examples/[^/]*/\\.build/' | xargs -0 cp --parents -t '\(copy)'",
            "cd '\(copy)' && git init -q && git add -A && git -c user.name=test -c user.email=test@example.org commit -qm 'Tandem 0.1.0' && git tag 0.1.0",
        ]
        for step in steps {
            let result = try TandemBinary.shell(step, timeout: 120)
            XCTAssertEqual(result.status, 0, result.summary)
        }
        return copy
    }

    func testTheExamplePackageBuildsAgainstATaggedTandemAndTrainsAlikeOnTwoRanks() throws {
        let tandem = try taggedCopyOfTandem()
        let example = TandemBinary.temporaryDirectory(self, "example-package")
        let source = TandemBinary.packageRoot.appendingPathComponent("Examples/NumPyClassifier").path
        let copied = try TandemBinary.shell("cp -r '\(source)/Package.swift' '\(source)/Sources' '\(example)/'")
        XCTAssertEqual(copied.status, 0, copied.summary)
        let lines = try FileManager.default.subpathsOfDirectory(atPath: example + "/Sources").filter { $0.hasSuffix(".swift") }
            .map { try String(contentsOfFile: example + "/Sources/" + $0, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).count }
            .reduce(0, +)
        XCTAssertLessThan(lines, 100, "the example's layer and model must stay under 100 lines")

        let built = try TandemBinary.shell("cd '\(example)' && TANDEM_GIT_URL='file://\(tandem)' swift build 2>&1", timeout: 900)
        XCTAssertEqual(built.status, 0, built.summary)
        XCTAssertFalse(built.stdout.contains("unsafe build flags"), built.summary)
        XCTAssertTrue(try String(contentsOfFile: example + "/Package.resolved", encoding: .utf8).contains("\"version\" : \"0.1.0\""),
                      "Tandem must be resolved by its version")
        let binary = example + "/.build/debug/NumPyClassifier"

        let data = TandemBinary.temporaryDirectory(self, "example-data")
        try exportFashionMNIST(data, train: 1200, test: 300, script: "np.savez('train.npz', x=x, y=y); np.savez('test.npz', x=tx, y=ty)")
        func train(_ ranks: Int) throws -> [TensorRecord] {
            let run = TandemBinary.temporaryDirectory(self, "example-run")
            let arguments = [data + "/train.npz", data + "/test.npz", "60", run]
            let result = ranks == 1 ? try TandemBinary.launch(executable: binary, arguments: arguments, timeout: 300)
                                    : try TandemBinary.launch(executable: "/usr/bin/mpirun",
                                                              arguments: TandemBinary.mpirunArguments(ranks) + [binary] + arguments, timeout: 300)
            XCTAssertEqual(result.status, 0, result.summary)
            let accuracy = result.stdout.components(separatedBy: "test accuracy ").last.flatMap { Double($0.prefix(6)) }
            XCTAssertGreaterThan(try XCTUnwrap(accuracy, result.summary), 0.6, "60 steps must learn something")
            XCTAssertTrue(result.stdout.contains("60 steps on \(ranks) rank(s)"), result.summary)
            let final = try finalTensors(run).filter { !$0.name.hasPrefix("optim.") }
            // The weights the program exported from Swift are the final checkpoint's.
            let exported = try CheckpointFile.read(path: run + "/weights.safetensors")
            XCTAssertEqual(exported.tensors.map(\.name), final.map(\.name))
            XCTAssertEqual(exported.tensors.map(\.values), final.map(\.values))
            XCTAssertEqual(exported.metadata["content"], "weights")
            return final
        }
        let one = try train(1), two = try train(2)
        XCTAssertEqual(one.map(\.name), two.map(\.name))
        XCTAssertTrue(one.contains { $0.name.hasSuffix("beta") }, "the example's own layer must hold parameters: \(one.map(\.name))")
        var difference = 0.0, norm = 0.0
        for (a, b) in zip(one, two) {
            for (x, y) in zip(a.values, b.values) { difference += pow(Double(x) - Double(y), 2); norm += pow(Double(x), 2) }
        }
        XCTAssertLessThan((difference / norm).squareRoot(), 1e-4, "mpirun -np 2 against one process")
    }
}
