import Foundation
import Tandem
import XCTest

/// Edits of a checkpoint's header that keep it valid JSON, valid shapes and a tiled payload
/// (so every structural check passes) must still be refused: the header checksum covers the
/// tensor table and the metadata.
final class CheckpointHeaderFuzzTests: XCTestCase {
    typealias F = CheckpointFixtures

    /// A checkpoint with same-shaped tensors (whose offsets can be swapped unnoticed by the
    /// payload checksum) and shapes that can be re-cut with the same element count.
    static let original: [UInt8] = CheckpointFile(
        metadata: ["model": "mlp:4-3-2", "step": "1234", "seed": "42", "config": "lr=0.001 clip=-"],
        tensors: [
            TensorRecord(name: "0.weight", shape: [3, 4], values: (0..<12).map { Float($0) * 0.25 - 1 }),
            TensorRecord(name: "0.bias", shape: [3], values: [0.5, -0.5, 1e-3]),
            TensorRecord(name: "1.bias", shape: [3], values: [2, 3, 4]),
            TensorRecord(name: "2.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
            TensorRecord(name: "optim.exp_avg.0.bias", shape: [3], values: [0.1, 0.2, 0.3]),
        ]).encode()

    /// The header as a JSON object and the payload bytes.
    static func parts(_ bytes: [UInt8]) throws -> (header: [String: Any], payload: [UInt8]) {
        var length = 0
        for i in 0..<8 { length |= Int(bytes[i]) << (8 * i) }
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
        return (header, Array(bytes[(8 + length)...]))
    }

    static func file(_ header: [String: Any], payload: [UInt8]) throws -> [UInt8] {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]), as: UTF8.self)
        return F.file(header: text, payload: payload)
    }

    func testTheUneditedHeaderRewrittenIsAccepted() throws {
        // The control: re-serialising the header (another key order, other spacing) is no edit.
        let (header, payload) = try Self.parts(Self.original)
        XCTAssertNoThrow(try CheckpointFile.decode(try Self.file(header, payload: payload), path: "control"))
    }

    func testHeaderEditsThatKeepValidJSONAreRefused() throws {
        let (header, payload) = try Self.parts(Self.original)
        let names = header.keys.filter { $0 != "__metadata__" }.sorted()
        var random = TestRandom(seed: 2026)
        var tried = 0, accepted: [String] = []
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }

        while tried < 320 {
            var edited = header
            var metadata = edited["__metadata__"] as! [String: String]
            var entries = names.map { edited[$0] as! [String: Any] }
            let kind = tried % 5
            switch kind {
            case 0:   // swap the offsets of two same-shaped tensors (the payload still tiles)
                let sameShape = names.indices.filter { (entries[$0]["shape"] as! [Int]) == [3] }
                let i = pick(sameShape)
                let j = pick(sameShape.filter { $0 != i })
                let offsets = entries[i]["data_offsets"]
                entries[i]["data_offsets"] = entries[j]["data_offsets"]
                entries[j]["data_offsets"] = offsets
            case 1:   // re-cut a shape with the same element count (offsets stay right)
                let i = pick(names.indices.filter { (entries[$0]["shape"] as! [Int]).reduce(1, *) >= 6 })
                let count = (entries[i]["shape"] as! [Int]).reduce(1, *)
                let cuts = [[count], [1, count], [count, 1], count == 12 ? [4, 3] : [3, 2], count == 12 ? [2, 6] : [1, 2, 3]]
                entries[i]["shape"] = pick(cuts.filter { $0 != (entries[i]["shape"] as! [Int]) })
            case 2:   // change a metadata value
                let key = pick(["model", "step", "seed", "config"])
                metadata[key] = pick(["mlp:4-3-3", "1235", "43", "lr=0.01 clip=-", "", (metadata[key] ?? "") + " "])
            case 3:   // add or remove a metadata entry
                if random.next() % 2 == 0 { metadata["extra\(tried)"] = "x" } else { metadata[pick(["model", "step", "seed", "config"])] = nil }
            default:  // rename a tensor
                let i = pick(Array(names.indices))
                let entry = entries.remove(at: i)
                var renamed = names
                renamed[i] = pick(["0.weight", "3.bias", "0.bias ", "2.Weight"].filter { !names.contains($0) })
                edited[names[i]] = nil
                edited[renamed[i]] = entry
                entries.insert(entry, at: i)
                for (index, name) in renamed.enumerated() where index != i { edited[name] = entries[index] }
                edited["__metadata__"] = metadata
                if (try? CheckpointFile.decode(try Self.file(edited, payload: payload), path: "fuzz")) != nil {
                    accepted.append("rename \(names[i]) → \(renamed[i])")
                }
                tried += 1
                continue
            }
            for (index, name) in names.enumerated() { edited[name] = entries[index] }
            edited["__metadata__"] = metadata
            if (try? CheckpointFile.decode(try Self.file(edited, payload: payload), path: "fuzz")) != nil {
                accepted.append("kind \(kind): \(edited)")
            }
            tried += 1
        }
        XCTAssertEqual(tried, 320)
        XCTAssertEqual(accepted, [], "every edit must be refused")
    }

    func testTheMessageSaysTheHeaderWasEdited() throws {
        var (header, payload) = try Self.parts(Self.original)
        var first = header["0.bias"] as! [String: Any], second = header["1.bias"] as! [String: Any]
        swap(&first["data_offsets"], &second["data_offsets"])
        header["0.bias"] = first; header["1.bias"] = second
        XCTAssertThrowsError(try CheckpointFile.decode(try Self.file(header, payload: payload), path: "swapped")) { error in
            XCTAssertTrue("\(error)".hasPrefix("swapped: header SHA-256 mismatch: the tensor table or metadata was edited"), "\(error)")
        }
    }
}
