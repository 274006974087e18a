import Foundation
import Tandem
import XCTest

/// The tensors of the latest checkpoint in a run directory.
func finalTensors(_ run: String) throws -> [TensorRecord] {
    let path = try XCTUnwrap(CheckpointDirectory(path: run, keep: 100).latestPath(), "no checkpoint in \(run)")
    return try CheckpointFile.read(path: path).tensors
}

/// Two runs ended with the same tensors, bit for bit (parameters, buffers and optimizer state).
func assertSameFinalTensors(_ run: String, _ reference: String, _ context: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
    let a = try finalTensors(reference), b = try finalTensors(run)
    XCTAssertEqual(a.map(\.name), b.map(\.name), file: file, line: line)
    for (x, y) in zip(a, b) {
        XCTAssertTrue(x.values.map(\.bitPattern) == y.values.map(\.bitPattern), "\(x.name) differs \(context)", file: file, line: line)
    }
}

extension JobResult {
    /// What a process started with `TandemBinary.start` left, once it has ended (waiting at
    /// most `timeout` seconds, then killing it).
    init(finished process: Process, stdout: Pipe, stderr: Pipe, timeout: Double = 600) {
        let out = PipeReader(stdout), err = PipeReader(stderr)
        var exited = ProcessTable.waitForExit(process, timeout: timeout)
        if !exited { kill(process.processIdentifier, SIGKILL); exited = ProcessTable.waitForExit(process, timeout: 10) }
        let grace = Date().addingTimeInterval(30)
        self.init(status: exited ? process.terminationStatus : 137, stdout: out.text(waitingUntil: grace),
                  stderr: err.text(waitingUntil: grace), timedOut: !exited, seconds: 0)
    }
}

extension TandemBinary {
    /// Trains a small GPT on the Shakespeare corpus in one process and returns its latest
    /// checkpoint (for tests of what reads GPT checkpoints: generation, export, evaluation).
    static func trainedSmallGPT(_ test: XCTestCase, layers: Int = 2, steps: Int = 30,
                                file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let run = temporaryDirectory(test, "small-gpt")
        let trained = try TandemBinary.run(["train", "--model", "gpt:layers=\(layers),heads=2,dim=32,context=32", "--dataset", "shakespeare",
                                            "--max-steps", "\(steps)", "--global-batch", "16", "--lr", "3e-3", "--warmup", "0",
                                            "--run-dir", run, "--quiet", "--threads", "1"], timeout: 240)
        XCTAssertEqual(trained.status, 0, trained.summary, file: file, line: line)
        return try XCTUnwrap(CheckpointDirectory(path: run).latestPath(), "no checkpoint in \(run)", file: file, line: line)
    }
}
