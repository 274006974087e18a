import Foundation

/// Where data sets made or fetched by the scripts live: `$TANDEM_DATA`, else `data/` in the
/// checkout the running binary was built in (found by walking up from it), else `data/` in the
/// current directory.
public enum DataDirectory {
    /// The path of `name` in the data directory; `marker` (a path inside `name`, or nil for
    /// `name` itself) is what must exist for a checkout's copy to be chosen.
    public static func path(of name: String, marker: String? = nil) -> String {
        if let directory = ProcessInfo.processInfo.environment["TANDEM_DATA"], !directory.isEmpty {
            return directory + "/" + name
        }
        var url = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").standardizedFileURL.resolvingSymlinksInPath()
        for _ in 0..<6 {
            url = url.deletingLastPathComponent()
            let candidate = url.appendingPathComponent("data/" + name).path
            if FileManager.default.fileExists(atPath: candidate + (marker.map { "/" + $0 } ?? "")) { return candidate }
        }
        return "data/" + name
    }
}
