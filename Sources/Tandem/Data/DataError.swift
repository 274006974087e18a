/// A data file that cannot be used, with a one-line message naming the file and the problem.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String
    public init(_ path: String, _ problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
}
