import Foundation
import Tandem
import XCTest

/// A user's own data on the command line: Fashion-MNIST images saved by NumPy (`.npz` and
/// `.npy`) and as an image folder train under a real `mpirun` to the same weights at one and
/// two ranks, on both gradient paths; a broken file stops every rank with one line.
final class OwnDataTrainingTests: XCTestCase {
    /// Trains 30 steps, checks that the loss fell, and returns the final parameters (optimizer
    /// state left out).
    func train(_ ranks: Int, _ data: [String], extra: [String] = [], runDirectory: String? = nil) throws -> [Float] {
        let run = runDirectory ?? TandemBinary.temporaryDirectory(self, "own")
        let result = try TandemBinary.mpirun(ranks, ["train"] + data + ["--max-steps", "30", "--global-batch", "50", "--seed", "5",
                                                                          "--run-dir", run, "--quiet", "--threads", "1", "--log-every", "1"] + extra, timeout: 300)
        XCTAssertEqual(result.status, 0, result.summary)
        let losses = try readMetrics(run).filter { $0["event"] as? String == "step" }.compactMap { $0["loss"] as? Double }
        XCTAssertEqual(losses.count, 30)
        XCTAssertLessThan(losses.suffix(5).reduce(0, +), losses.prefix(5).reduce(0, +) * 0.8, "training must move the weights")
        return try finalTensors(run).filter { !$0.name.hasPrefix("optim.") }.flatMap(\.values)
    }

    func assertClose(_ a: [Float], _ b: [Float], _ label: String, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, label, line: line)
        XCTAssertFalse(a.isEmpty, label, line: line)
        var d = 0.0, n = 0.0
        for (x, y) in zip(a, b) { d += pow(Double(x) - Double(y), 2); n += pow(Double(y), 2) }
        XCTAssertLessThan((d / n).squareRoot(), 1e-4, label, line: line)
    }

    func testNumPyArraysTrainTheSameAtOneAndTwoRanks() throws {
        let folder = TandemBinary.temporaryDirectory(self, "npy")
        try exportFashionMNIST(folder, script: """
            np.savez('train.npz', x=x, y=y)
            np.save('test-x.npy', (tx / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)); np.save('test-y.npy', ty.astype(np.int64))
            """)
        let data = ["--dataset", "npy", "--train-x", folder + "/train.npz", "--test-x", folder + "/test-x.npy", "--test-y", folder + "/test-y.npy"]
        let run = TandemBinary.temporaryDirectory(self, "own")
        let one = try train(1, data, runDirectory: run)
        assertClose(try train(2, data), one, "mpirun -np 2, shared memory")
        assertClose(try train(2, data, extra: ["--reduce", "mpi"]), one, "mpirun -np 2 --reduce mpi")
        // The same images through Fashion-MNIST's own loader give the same model: the arrays
        // are read exactly (uint8 · 1/255, as the IDX bytes are).
        let idx = try train(1, ["--train-subset", "1024"])
        assertClose(one, idx, "the npz images against the IDX files")

        // tandem eval takes the same test arrays, and reports what training's end did.
        let checkpoint = try XCTUnwrap(CheckpointDirectory(path: run).latestPath())
        let trained = try XCTUnwrap(readMetrics(run).last { $0["event"] as? String == "end" }?["test_accuracy"] as? Double, "an end record")
        let evaluated = try TandemBinary.run(["eval", "--checkpoint", checkpoint, "--json", "--test-x", folder + "/test-x.npy",
                                              "--test-y", folder + "/test-y.npy"])
        XCTAssertEqual(evaluated.status, 0, evaluated.summary)
        let fields = try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(try XCTUnwrap(fields?["test_accuracy"] as? Double), trained, accuracy: 1e-9)
        XCTAssertEqual(fields?["samples"] as? Int, 256)
        // Without them it says what it needs instead of scoring the model on Fashion-MNIST.
        let refused = try TandemBinary.run(["eval", "--checkpoint", checkpoint])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertEqual(refused.tandemErrorLines.count, 1, refused.summary)
        XCTAssertTrue(refused.stderr.contains("was trained on --dataset npy: give its test set with --test-x"), refused.summary)
    }

    func testAnImageFolderTrainsTheSameAtOneAndTwoRanks() throws {
        let folder = TandemBinary.temporaryDirectory(self, "folder")
        try exportFashionMNIST(folder, train: 400, test: 100, script: """
            names = ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
            for split, images, labels in (('train', x, y), ('test', tx, ty)):
                for i, (image, label) in enumerate(zip(images, labels)):
                    os.makedirs(f'{split}/{names[label]}', exist_ok=True)
                    with open(f'{split}/{names[label]}/{i:05}.pgm', 'wb') as f: f.write(b'P5\\n28 28\\n255\\n' + image.tobytes())
            """)
        let data = ["--dataset", "folder", "--train-dir", folder + "/train", "--test-dir", folder + "/test",
                    "--model", "cnn-small", "--convolution", "im2col", "--augment", "crop,flip"]
        let run = TandemBinary.temporaryDirectory(self, "own")
        let one = try train(1, data, runDirectory: run)
        assertClose(try train(2, data), one, "mpirun -np 2, an image folder with crops and flips")
        // tandem eval on the test folder, its classes by the training folder's names.
        let trained = try XCTUnwrap(readMetrics(run).last { $0["event"] as? String == "end" }?["test_accuracy"] as? Double, "an end record")
        let evaluated = try TandemBinary.run(["eval", "--checkpoint", try XCTUnwrap(CheckpointDirectory(path: run).latestPath()), "--json",
                                              "--test-dir", folder + "/test", "--train-dir", folder + "/train"])
        XCTAssertEqual(evaluated.status, 0, evaluated.summary)
        let fields = try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(try XCTUnwrap(fields?["test_accuracy"] as? Double), trained, accuracy: 1e-9)
    }

    func testABrokenArrayStopsEveryRankWithOneLine() throws {
        let folder = TandemBinary.temporaryDirectory(self, "npy")
        try exportFashionMNIST(folder, train: 200, test: 50, script: """
            np.savez('train.npz', x=x, y=y); np.savez('test.npz', x=tx, y=(ty + 10) % 12)
            """)
        let result = try TandemBinary.mpirun(2, ["train", "--dataset", "npy", "--train-x", folder + "/train.npz", "--test-x", folder + "/test.npz",
                                                 "--max-steps", "1", "--run-dir", TandemBinary.temporaryDirectory(self, "run")], timeout: 120)
        XCTAssertNotEqual(result.status, 0, result.summary)
        XCTAssertFalse(result.timedOut, result.summary)
        let errors = result.stderrLines.filter { $0.contains("tandem: error:") }
        XCTAssertEqual(errors.count, 1, result.summary)
        XCTAssertTrue(errors.first?.contains("\(folder)/test.npz:y: label 1") ?? false, result.summary)
        XCTAssertTrue(errors.first?.contains("is out of range 0...9") ?? false, result.summary)
    }
}
