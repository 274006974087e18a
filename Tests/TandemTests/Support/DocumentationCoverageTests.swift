import Foundation
import XCTest

/// Every public declaration of the library carries a `///` comment (DocC shows it; an
/// undocumented symbol is a hole in the API reference that `scripts/docs` cannot see).
final class DocumentationCoverageTests: XCTestCase {
    func testEveryPublicDeclarationIsDocumented() throws {
        let sources = TandemBinary.packageRoot.appendingPathComponent("Sources/Tandem")
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        XCTAssertGreaterThan(files.count, 50)
        let declaration = try NSRegularExpression(pattern: #"^(@\w+(\([^)]*\))?\s+)*(public|open)\s"#)
        var undocumented: [String] = [], declarations = 0
        for file in files {
            let lines = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8).components(separatedBy: "\n")
            for (index, line) in lines.enumerated() {
                let text = line.trimmingCharacters(in: .whitespaces)
                guard declaration.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil else { continue }
                declarations += 1
                var above = index - 1
                while above >= 0, lines[above].trimmingCharacters(in: .whitespaces).hasPrefix("@") { above -= 1 }
                if above < 0 || !lines[above].trimmingCharacters(in: .whitespaces).hasPrefix("///") {
                    undocumented.append("Sources/Tandem/\(file):\(index + 1): \(text.prefix(80))")
                }
            }
        }
        XCTAssertGreaterThan(declarations, 1000, "the scan must find the library's public declarations")
        XCTAssertTrue(undocumented.isEmpty, "\(undocumented.count) public declarations without a /// comment:\n" + undocumented.joined(separator: "\n"))
    }
}
