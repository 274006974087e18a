import Foundation
import Tandem
import XCTest

/// `tandem generate`: text from a trained GPT checkpoint, the same for the same seed, and a
/// one-line refusal of a checkpoint that is not a language model.
final class GenerateTests: XCTestCase {
    func testGenerationIsSeededAndRefusesImageModels() throws {
        let checkpoint = try TandemBinary.trainedSmallGPT(self, layers: 1, steps: 40)
        func generate(_ seed: Int, _ extra: [String] = []) throws -> JobResult {
            try TandemBinary.run(["generate", "--checkpoint", checkpoint, "--prompt", "ROMEO.", "--bytes", "200",
                                  "--temperature", "0.8", "--top-k", "40", "--seed", "\(seed)"] + extra, timeout: 60)
        }
        let a = try generate(1), b = try generate(1), c = try generate(2)
        XCTAssertEqual(a.status, 0, a.summary)
        XCTAssertTrue(a.stdout.hasPrefix("ROMEO."), a.stdout)
        // The prompt, 200 bytes, and a new line unless the text ends with one.
        XCTAssertTrue([206, 207].contains(a.stdout.utf8.count), "\(a.stdout.utf8.count) bytes: \(a.stdout)")
        XCTAssertEqual(a.stdout, b.stdout, "the same seed writes the same text")
        XCTAssertNotEqual(a.stdout, c.stdout, "another seed writes other text")
        // Greedy decoding needs no seed: any two seeds agree.
        XCTAssertEqual(try generate(1, ["--temperature", "0"]).stdout, try generate(9, ["--temperature", "0"]).stdout)

        // A checkpoint of an image model.
        let image = TandemBinary.temporaryDirectory(self, "gen-mlp")
        let mlp = try TandemBinary.run(["train", "--max-steps", "2", "--train-subset", "256", "--global-batch", "128",
                                        "--run-dir", image, "--quiet"], timeout: 120)
        XCTAssertEqual(mlp.status, 0, mlp.summary)
        let refused = try TandemBinary.run(["generate", "--checkpoint", try XCTUnwrap(CheckpointDirectory(path: image, keep: 3).latestPath())],
                                           timeout: 60)
        XCTAssertEqual(refused.status, 1, refused.summary)
        XCTAssertEqual(refused.tandemErrorLines.count, 1, refused.summary)
        XCTAssertTrue(refused.stderr.contains("not a language model"), refused.stderr)
        for bad in [["--temperature", "-1"], ["--top-k", "-2"], ["--bytes", "-5"]] {
            let result = try generate(1, bad)
            XCTAssertEqual(result.status, 1, "\(bad): \(result.summary)")
            XCTAssertEqual(result.tandemErrorLines.count, 1, result.summary)
        }
    }
}
