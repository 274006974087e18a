import ArgumentParser
import Foundation
import Tandem

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's weights alone as a safetensors file (PyTorch state_dict names).")

    @Option(help: "Checkpoint to read.") var checkpoint: String
    @Option(help: "File to write.") var out: String

    func run() throws {
        do {
            let file = try CheckpointFile.read(path: checkpoint)
            _ = try TrainingCheckpoint.model(from: file, path: checkpoint)   // refuse anything that does not load
            let weights = TrainingCheckpoint.weightsOnly(file)
            try AtomicFile.write(weights.encode(), to: out)
            print("wrote \(weights.tensors.count) tensors to \(out)")
        } catch {
            Job.fail(error, rank: nil, size: 1)
        }
    }
}
