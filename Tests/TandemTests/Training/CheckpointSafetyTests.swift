import Foundation
import Tandem
import XCTest

/// A checkpoint is the user's only copy of the training: killing the writer at any moment,
/// a corrupt file, or a directory that cannot be written must never lose or fake one.
final class CheckpointSafetyTests: XCTestCase {
    func testKillingRankZeroWhileWritingNeverLeavesABrokenLatest() throws {
        let run = TandemBinary.temporaryDirectory(self, "crash")
        // A wider model makes each checkpoint ~21 MB, so kills often land inside a write.
        let args = ["train", "--model", "mlp:784-1024-1024-10", "--epochs", "1", "--checkpoint-every", "1", "--keep", "2",
                    "--run-dir", run, "--quiet", "--resume", "auto"]
        var generator = SplitMix64(seed: 2024)
        var sawCheckpoint = 0
        func newestStep() -> Int {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
            return names.compactMap(CheckpointDirectory.step(fromFileName:)).max() ?? -1
        }
        for _ in 0..<20 {
            let before = newestStep()
            let (process, _, _) = try TandemBinary.start(executable: TandemBinary.path, arguments: args)
            // Wait until this run is writing checkpoints (however slow the machine), then kill
            // it at a random moment: with a write every step, most moments are inside one.
            let deadline = Date().addingTimeInterval(60)
            while newestStep() <= before && process.isRunning && Date() < deadline { usleep(5_000) }
            usleep(UInt32(generator.next() % 400_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let directory = CheckpointDirectory(path: run, keep: 2)
            // Whatever is newest must load and validate completely.
            if let latest = try directory.loadLatest() {
                sawCheckpoint += 1
                XCTAssertTrue(latest.skipped.isEmpty, "the latest pointer named a broken file: \(latest.skipped)")
                XCTAssertFalse(AtomicFile.isTemporaryName(URL(fileURLWithPath: latest.path).lastPathComponent))
                XCTAssertNoThrow(try TrainingCheckpoint.model(from: latest.file, path: latest.path))
            }
            for name in try FileManager.default.contentsOfDirectory(atPath: run)
            where CheckpointDirectory.step(fromFileName: name) != nil {
                XCTAssertNoThrow(try CheckpointFile.read(path: run + "/" + name), "\(name) is not a complete checkpoint")
            }
        }
        XCTAssertGreaterThan(sawCheckpoint, 10, "the runs should have got far enough to write checkpoints")
        // And training resumes from what survived.
        let newest = try XCTUnwrap(try CheckpointDirectory(path: run, keep: 2).loadLatest())
        let step = try XCTUnwrap(Int(newest.file.metadata["step"] ?? ""))
        let resumed = try TandemBinary.run(args + ["--stop-after", "\(step + 2)"], timeout: 120)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let start = try XCTUnwrap(readMetrics(run).last { $0["event"] as? String == "start" })
        XCTAssertEqual(start["start_step"] as? Int, step, "training resumed from the newest surviving checkpoint")
        XCTAssertEqual(start["resumed_from"] as? String, newest.path)
    }

    func testCorruptCheckpointsAreRefusedByTheToolsWithOneLine() throws {
        let run = TandemBinary.temporaryDirectory(self)
        let trained = try TandemBinary.run(["train", "--max-steps", "3", "--run-dir", run, "--quiet"], timeout: 60)
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let good = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: good)))
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        var cases: [(String, [UInt8])] = [
            ("truncated", Array(bytes[..<(bytes.count / 2)])),
            ("header past end", [0xFF, 0xFF, 0xFF, 0x00, 0, 0, 0, 0] + bytes[8...]),
            ("not JSON", Array(bytes[..<8]) + [UInt8](repeating: 0x41, count: headerLength) + bytes[(8 + headerLength)...]),
            ("payload flipped", bytes.enumerated().map { $0.offset == bytes.count - 5 ? $0.element ^ 0x10 : $0.element }),
            ("empty", []),
        ]
        if let range = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self).range(of: "\"F32\"") {
            var changed = bytes
            let offset = 8 + String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self).utf8.distance(
                from: String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self).startIndex, to: range.lowerBound)
            changed.replaceSubrange((offset + 1)..<(offset + 4), with: Array("I32".utf8))
            cases.append(("wrong dtype", changed))
        }
        for (label, corrupted) in cases {
            let path = run + "/corrupt-\(label.replacingOccurrences(of: " ", with: "-")).safetensors"
            try Data(corrupted).write(to: URL(fileURLWithPath: path))
            for command in [["eval", "--checkpoint", path], ["export", "--checkpoint", path, "--out", run + "/x.safetensors"],
                            ["train", "--max-steps", "3", "--run-dir", run + "/resume-\(label.hashValue)", "--resume", path]] {
                let result = try TandemBinary.run(command, timeout: 60)
                XCTAssertNotEqual(result.status, 0, "\(label): \(command[0]) accepted a corrupt checkpoint")
                XCTAssertEqual(result.tandemErrorLines.count, 1, "\(label) \(command[0]): \(result.stderr)")
                XCTAssertTrue(result.tandemErrorLines.first?.contains(path) ?? false, "\(label): the error must name the file")
                XCTAssertFalse(result.looksLikeCrash, result.stderr)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/x.safetensors"), "nothing is exported from a corrupt file")
    }

    func testModelMismatchesAreRejectedBeforeAnythingChanges() throws {
        // Several hundred seeded mutations of a valid training checkpoint's contents (not its
        // bytes: the format fuzz lives in the checkpoint format tests): wrong shapes, missing
        // tensors, foreign model specs. Every one must be refused by validation.
        var config = TrainingConfig()
        config.model = "mlp:784-32-10"
        let model = try ModelSpec(config.model).build(inputShape: [1, 28, 28])
        model.initializeParameters(seed: 1)
        let optimizer = makeOptimizer(config.optimizer, parameterCount: model.parameterCount)
        let good = TrainingCheckpoint.make(config: config, model: model, optimizer: optimizer,
                                           position: TrainingPosition(step: 5, epoch: 0, batchInEpoch: 5), worldSize: 2)
        XCTAssertNoThrow(try TrainingCheckpoint.validate(good, path: "good", config: config, model: model, optimizer: optimizer))
        var rng = SplitMix64(seed: 99)
        for trial in 0..<300 {
            var file = good
            let index = Int(rng.next() % UInt64(file.tensors.count))
            switch trial % 5 {
            case 0: file.tensors.remove(at: index)
            case 1: file.tensors[index].shape = file.tensors[index].shape.reversed() + [1]
            case 2: file.metadata["model"] = ["mlp:784-64-10", "cnn", "linear:10", "mlp:784-32-32-10"][Int(rng.next() % 4)]
            case 3: file.tensors[index].name += "x"
            default: file.metadata["optimizer"] = ["sgd", "adam"][Int(rng.next() % 2)]
            }
            XCTAssertThrowsError(try TrainingCheckpoint.validate(file, path: "mutant-\(trial)", config: config, model: model,
                                                                 optimizer: optimizer), "mutation \(trial) was accepted") { error in
                XCTAssertFalse("\(error)".contains("\n"), "one line")
                XCTAssertTrue("\(error)".count > 10)
            }
        }
    }

    func testUnwritableDirectoryFailsClearlyAndKeepsExistingCheckpoints() throws {
        // Root ignores permission bits, so the failures are made real: a run directory under a
        // regular file, and a file-size limit (ulimit -f) smaller than a checkpoint.
        let blocker = TandemBinary.temporaryDirectory(self, "blocker") + "/file"
        XCTAssertTrue(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        let startup = try TandemBinary.run(["train", "--max-steps", "2", "--run-dir", blocker + "/run"], timeout: 60)
        XCTAssertNotEqual(startup.status, 0)
        XCTAssertEqual(startup.tandemErrorLines.count, 1, startup.stderr)
        XCTAssertTrue(startup.stderr.contains(blocker), startup.stderr)

        let run = TandemBinary.temporaryDirectory(self, "full")
        let first = try TandemBinary.run(["train", "--max-steps", "10", "--stop-after", "4", "--run-dir", run, "--quiet"], timeout: 60)
        XCTAssertEqual(first.status, 0, first.stderr)
        let before = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let beforeBytes = try Data(contentsOf: URL(fileURLWithPath: before))
        let full = try TandemBinary.launch(executable: "/bin/bash", arguments: [
            "-c", "ulimit -f 1024; exec \"$0\" \"$@\"", TandemBinary.path,
            "train", "--max-steps", "10", "--run-dir", run, "--resume", "auto", "--quiet"], timeout: 60)
        XCTAssertNotEqual(full.status, 0)
        XCTAssertEqual(full.tandemErrorLines.count, 1, full.stderr)
        XCTAssertTrue(full.stderr.contains("File too large") || full.stderr.contains("No space"), full.stderr)
        XCTAssertFalse(full.looksLikeCrash, full.stderr)
        XCTAssertEqual(try CheckpointDirectory(path: run).latestPath(), before, "latest still names the old checkpoint")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: before)), beforeBytes, "the old checkpoint is intact")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run).filter { AtomicFile.isTemporaryName($0) }
        XCTAssertEqual(leftovers, [], "a failed write removes its temporary file")
    }
}
