import Foundation
import Glibc

/// A file mapped read-only into memory. The pages belong to the kernel's page cache, so the
/// ranks of one host that map the same file share one copy of it instead of each reading its
/// own, and pages never touched are never read.
public final class MappedFile {
    /// The file mapped.
    public let path: String
    /// Its size in bytes.
    public let size: Int
    /// The first byte (nil for an empty file, which has nothing to map).
    public let base: UnsafeRawPointer?

    /// Maps the file at `path` read-only; a missing, unreadable or unmappable file is a `DataError`.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError(path, "no such file") }
        guard !isDirectory.boolValue else { throw DataError(path, "is a directory, not a data file") }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DataError(path, "cannot open for reading (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw DataError(path, "cannot read its size") }
        self.path = path
        size = Int(status.st_size)
        guard size > 0 else { base = nil; return }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), mapped != MAP_FAILED else {
            throw DataError(path, "cannot map into memory (\(String(cString: strerror(errno))))")
        }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The mapped bytes (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: base == nil ? 0 : size) }
}
