/// A data file that cannot be used, with a one-line message naming the file and the problem.
public struct DataError: Error, CustomStringConvertible, Equatable {
    /// The file (or option) the problem is with.
    public var path: String
    /// What is wrong with it, as a phrase that follows the path ("no such file").
    public var problem: String
    /// A problem with the file at `path`.
    public init(_ path: String, _ problem: String) { self.path = path; self.problem = problem }
    /// "path: problem", the one line a command prints.
    public var description: String { "\(path): \(problem)" }
}
