/// The members of a ZIP archive, found through its central directory, as NumPy's `savez`
/// writes them: each member stored (not compressed), so its bytes can be used in place from a
/// memory map. ZIP64 records are read too (NumPy writes them for every member, and archives
/// beyond 4 GB need them).
///
///     local header  member bytes   ...   central directory   [ZIP64 end record + locator]   end record
///
/// Every offset and length comes from the file, so each is checked against its size before use.
public struct ZipArchive {
    /// One member of the archive: its name and where its stored bytes lie in the file.
    public struct Member: Equatable {
        /// The member's file name in the archive ("x.npy" for NumPy's array `x`).
        public let name: String
        /// Where the member's bytes start in the file, and how many there are.
        public let offset: Int
        /// Its length in bytes (stored uncompressed, so the same in the archive and out of it).
        public let size: Int
    }

    /// The members, in the central directory's order.
    public let members: [Member]

    /// Reads the directory of `bytes` (the whole file); `path` names the file in errors.
    public init(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        func fail(_ message: String) -> DataError { DataError(path, message) }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> Int? {
            let high = u32(at + 4)
            return high < 1 << 31 ? u32(at) | high << 32 : nil
        }
        func has(_ at: Int, _ count: Int) -> Bool { at >= 0 && count >= 0 && at <= bytes.count - count }

        // The end record is the last 22 bytes, unless a comment (at most 65,535 bytes) follows it.
        var end = -1
        var at = bytes.count - 22
        while at >= max(0, bytes.count - 22 - 65_535) {
            if u32(at) == 0x0605_4B50 && at + 22 + u16(at + 20) == bytes.count { end = at; break }
            at -= 1
        }
        guard end >= 0 else { throw fail(bytes.count >= 4 && u32(0) == 0x0403_4B50 ? "truncated ZIP archive (no end record)" : "not a ZIP archive (.npz)") }
        var entries = u16(end + 10), directorySize = u32(end + 12), directoryOffset = u32(end + 16)
        if entries == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            let locator = end - 20
            guard has(locator, 20), u32(locator) == 0x0706_4B50, let record = u64(locator + 8), has(record, 56),
                  u32(record) == 0x0606_4B50, let e = u64(record + 32), let s = u64(record + 40), let o = u64(record + 48) else {
                throw fail("corrupt ZIP archive: its ZIP64 end record is missing or damaged")
            }
            entries = e; directorySize = s; directoryOffset = o
        }
        guard has(directoryOffset, directorySize) else {
            throw fail("corrupt ZIP archive: its directory (\(directorySize) bytes at \(directoryOffset)) lies outside the file")
        }

        var members: [Member] = []
        var cursor = directoryOffset
        for index in 0..<entries {
            guard has(cursor, 46), cursor + 46 <= directoryOffset + directorySize, u32(cursor) == 0x0201_4B50 else {
                throw fail("corrupt ZIP archive: directory entry \(index) is damaged")
            }
            let flags = u16(cursor + 8), method = u16(cursor + 10)
            var compressedSize = u32(cursor + 20), size = u32(cursor + 24), localOffset = u32(cursor + 42)
            let nameLength = u16(cursor + 28), extraLength = u16(cursor + 30), commentLength = u16(cursor + 32)
            guard has(cursor + 46, nameLength + extraLength + commentLength) else {
                throw fail("corrupt ZIP archive: directory entry \(index) runs past the end of the file")
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(cursor + 46)..<(cursor + 46 + nameLength)]), as: UTF8.self)
            // A ZIP64 extra field holds, in this order, whichever of the three were saturated.
            var extra = cursor + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(extra), length = u16(extra + 2)
                guard extra + 4 + length <= extraEnd else { throw fail("corrupt ZIP archive: member \(name)'s extra field is damaged") }
                if id == 0x0001 {
                    var field = extra + 4
                    func next() throws -> Int {
                        guard field + 8 <= extra + 4 + length, let value = u64(field) else {
                            throw fail("corrupt ZIP archive: member \(name)'s ZIP64 field is damaged")
                        }
                        field += 8
                        return value
                    }
                    if size == 0xFFFF_FFFF { size = try next() }
                    if compressedSize == 0xFFFF_FFFF { compressedSize = try next() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                }
                extra += 4 + length
            }
            guard flags & 1 == 0 else { throw fail("member \(name) is encrypted") }
            guard method == 0 else {
                throw fail("member \(name) is compressed (numpy.savez_compressed); Tandem maps stored archives only: save with numpy.savez")
            }
            guard compressedSize == size else { throw fail("corrupt ZIP archive: stored member \(name) declares two sizes") }
            guard has(localOffset, 30), u32(localOffset) == 0x0403_4B50 else {
                throw fail("corrupt ZIP archive: member \(name)'s local header is missing")
            }
            let dataOffset = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28)
            guard has(dataOffset, size) else {
                throw fail("truncated ZIP archive: member \(name) (\(size) bytes at \(dataOffset)) runs past the end of the file")
            }
            members.append(Member(name: name, offset: dataOffset, size: size))
            cursor += 46 + nameLength + extraLength + commentLength
        }
        self.members = members
    }

    /// The member called `name` (the full name, "x.npy"), or nil if there is none.
    public func member(named name: String) -> Member? { members.first { $0.name == name } }
}
