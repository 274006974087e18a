import Foundation

/// The processes of a job, read from /proc: for tests that stop, signal or kill ranks.
enum ProcessTable {
    /// Running, sleeping or stopped; a zombie (dead, waiting for a reaper that containers may
    /// lack) is not alive.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    static func children(of parent: Int32) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }.sorted()
    }

    /// Live processes whose command line contains `text` (a run directory names its job).
    static func mentioning(_ text: String) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(text) && isAlive(pid)
        }
    }

    /// The MPI rank of a process started by mpirun (from its environment).
    static func mpiRank(of pid: Int32) -> Int? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if text.hasPrefix("OMPI_COMM_WORLD_RANK=") { return Int(text.dropFirst("OMPI_COMM_WORLD_RANK=".count)) }
        }
        return nil
    }

    /// The ranks of an mpirun job, by rank: waits until all `count` have started.
    static func ranks(of mpirun: Int32, count: Int, timeout: Double = 30) throws -> [Int32] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let found = try children(of: mpirun).compactMap { pid in mpiRank(of: pid).map { (pid, $0) } }
            if found.count == count { return found.sorted { $0.1 < $1.1 }.map(\.0) }
            usleep(50_000)
        }
        return []
    }

    /// Waits until a training job in `run` is under way (step records in its metrics).
    static func waitForTraining(in run: String, timeout: Double = 60) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8),
               text.contains("\"event\":\"step\"") { return }
            usleep(50_000)
        }
    }

    /// Waits for a process to end, up to `timeout` seconds; true when it did.
    static func waitForExit(_ process: Process, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        return !process.isRunning
    }
}
