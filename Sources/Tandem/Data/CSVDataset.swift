import Foundation

/// A table of samples: one per line, the integer class label first, then the features.
/// A first line none of whose fields is a number is taken as a header (a first line with some
/// numbers is data, and a broken one is reported, not skipped). Every problem is reported with
/// the file and line number.
public enum CSVDataset {
    /// Reads the table at `path` (gzip allowed). `classCount` (a test set's, from its training set) bounds the
    /// labels, which otherwise give it (the largest label + 1); `name` defaults to the path.
    public static func load(path: String, classCount: Int? = nil, name: String? = nil) throws -> Dataset {
        let bytes = try FileBytes.read(path)
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw DataError(path, "not UTF-8 text") }
        var labels: [Int32] = []
        var features: [Float] = []
        var width: Int?
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if number == 0, fields.allSatisfy({ Double($0) == nil }) { continue }   // a header
            guard fields.count >= 2 else {
                throw DataError(path, "line \(number + 1): expected a label and at least one feature")
            }
            if let width, fields.count - 1 != width {
                throw DataError(path, "line \(number + 1): \(fields.count - 1) features, earlier lines have \(width)")
            }
            width = fields.count - 1
            guard let label = Int32(fields[0]), label >= 0 else {
                throw DataError(path, "line \(number + 1): label '\(fields[0])' is not a non-negative integer")
            }
            if let classCount, Int(label) >= classCount {
                throw DataError(path, "line \(number + 1): label \(label) is out of range 0...\(classCount - 1)")
            }
            labels.append(label)
            for (column, field) in fields.dropFirst().enumerated() {
                guard let value = Float(field), value.isFinite else {
                    throw DataError(path, "line \(number + 1), column \(column + 2): '\(field)' is not a finite number")
                }
                features.append(value)
            }
        }
        guard let width, !labels.isEmpty else { throw DataError(path, "no samples") }
        let classes = classCount ?? Int(labels.max()! + 1)
        return Dataset(name: name ?? path, sampleShape: [width], classCount: classes,
                       storage: .floats(features), labels: labels)
    }
}
