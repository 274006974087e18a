import Foundation

/// A plot that could not be drawn: gnuplot is missing, failed, or a file could not be written.
public struct PlotError: Error, CustomStringConvertible {
    /// The problem, in one line.
    public var description: String
    /// A plot error with this message.
    public init(_ description: String) { self.description = description }
}

/// Runs gnuplot on scripts we write. Each plot is a `.gp` script plus its data file, left
/// next to the PNG, so a user can edit the script and re-run `gnuplot loss.gp` by hand; the
/// scripts therefore name their files relative to their own directory, and gnuplot is run
/// from there.
public struct Gnuplot {
    /// The executable to run.
    public let executable: String

    /// Finds `command` (a path, or a name to look up on PATH), or says how to get it.
    public init(command: String = "gnuplot") throws {
        if command.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: command) else {
                throw PlotError("gnuplot not found at \(command)")
            }
            executable = command
            return
        }
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(command)"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                executable = candidate
                return
            }
        }
        throw PlotError("\(command) not found on PATH: install gnuplot (e.g. apt-get install gnuplot-nox), or pass --gnuplot PATH")
    }

    /// Runs `script` (a file name in `directory`) and returns what gnuplot printed on stderr,
    /// which is where it puts warnings even when it succeeds. Throws when it fails.
    @discardableResult
    public func run(script: String, in directory: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [script]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch { throw PlotError("cannot run \(executable): \(Gnuplot.reason(error))") }
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            // gnuplot echoes the offending line, then a line marker, then the message: the
            // message is the most useful single line.
            let message = lines.last(where: { !$0.allSatisfy { $0 == "^" } }) ?? "exit status \(process.terminationStatus)"
            throw PlotError("gnuplot failed on \(directory)/\(script): \(message)")
        }
        return lines
    }

    /// Writes `name.dat` and `name.gp` into `directory` and runs the script, which draws
    /// `name.png`. Returns gnuplot's warnings.
    @discardableResult
    public func draw(name: String, script: String, data: String, in directory: String) throws -> [String] {
        try Gnuplot.write(data, to: "\(directory)/\(name).dat")
        try Gnuplot.write(script, to: "\(directory)/\(name).gp")
        let warnings = try run(script: "\(name).gp", in: directory)
        guard FileManager.default.fileExists(atPath: "\(directory)/\(name).png") else {
            throw PlotError("gnuplot ran \(directory)/\(name).gp but wrote no \(name).png")
        }
        return warnings
    }

    /// A gnuplot string literal. Single quotes, because inside them gnuplot interprets nothing
    /// but a doubled quote: layer names and class names come through unchanged.
    public static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''").replacingOccurrences(of: "\n", with: " ") + "'"
    }

    /// A number as gnuplot reads it back exactly enough for a plot.
    public static func number(_ value: Double) -> String {
        String(format: "%.9g", value)
    }

    /// The terminal line all plots share: anti-aliased PNG, and no "enhanced" text mode, so
    /// that `_` and `^` in names are printed instead of turned into sub- and superscripts.
    public static func pngTerminal(width: Int, height: Int) -> String {
        "set terminal pngcairo size \(width),\(height) noenhanced font 'Sans,11'"
    }

    /// Creates `path` (and its parents) if it is not there yet.
    public static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw PlotError("cannot write plots to \(path): it is a file, not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PlotError("cannot create \(path): \(reason(error))")
        }
    }

    /// A Foundation error's cause on one line: the POSIX reason when there is one, because
    /// Foundation's own text ("The file doesn't exist") often names the wrong problem.
    static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
        return nsError.localizedDescription.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// Writes `text` to `path`, replacing what was there.
    public static func write(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw PlotError("cannot write \(path): \(reason(error))")
        }
    }
}
