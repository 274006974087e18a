import Foundation
import Tandem
import XCTest

/// `metrics.jsonl` stays one JSON object per line even after a run killed mid-line.
final class MetricsLogTests: XCTestCase {
    func testARecordAfterATornLineStartsOnItsOwnLine() throws {
        let directory = TandemBinary.temporaryDirectory(self, "metrics")
        let path = directory + "/metrics.jsonl"
        // What a run killed between a record and its newline left behind.
        try Data("{\"event\":\"step\",\"step\":7}".utf8).write(to: URL(fileURLWithPath: path))
        do {
            let log = try MetricsLog(path: path)
            try log.write("start", ["step": 7])
            try log.write("step", ["step": 8, "loss": 0.5])
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, lines.joined(separator: "\n"))
        for line in lines {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), line)
        }
        XCTAssertEqual(try readMetrics(directory).map { $0["event"] as? String }, ["step", "start", "step"])
    }
}
