import ArgumentParser
import Foundation
import Foundation
import Tandem

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's weights alone as a safetensors file (PyTorch state_dict names).")

    @Option(help: "Checkpoint to read.") var checkpoint: String
    @Option(help: "File to write.") var out: String
    @Flag(help: "Print what was written as JSON (names, shapes, first values).") var json = false

    func run() throws {
        do {
            // Writing onto the file being read would destroy it (the write replaces it whole).
            if Export.sameFile(out, checkpoint) {
                throw ValidationError("--out \(out) is the checkpoint being read; give another file")
            }
            let file = try CheckpointFile.read(path: checkpoint)
            _ = try TrainingCheckpoint.model(from: file, path: checkpoint)   // refuse anything that does not load
            let weights = TrainingCheckpoint.weightsOnly(file)
            try AtomicFile.write(weights.encode(), to: out)
            if json {
                let tensors: [[String: Any]] = weights.tensors.map {
                    ["name": $0.name, "shape": $0.shape, "first": $0.values.prefix(4).map(Double.init),
                     "sum": $0.values.reduce(0.0) { $0 + Double($1) }]
                }
                let data = try JSONSerialization.data(withJSONObject: ["file": out, "tensors": tensors],
                                                      options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("wrote \(weights.tensors.count) tensors to \(out)")
            }
        } catch {
            Job.fail(error, rank: nil, size: 1)
        }
    }

    /// Whether two paths name one file: the same device and inode when both exist (links of
    /// any kind), else the same path once symbolic links and dots are resolved.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat(), second = stat()
        if stat(a, &first) == 0 && stat(b, &second) == 0 {
            return first.st_dev == second.st_dev && first.st_ino == second.st_ino
        }
        func resolved(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }
        return resolved(a) == resolved(b)
    }
}
