import Foundation

extension CheckpointFile {
    /// Parses and validates the bytes of a checkpoint file; `path` is used only in messages.
    ///
    /// Everything is checked before anything is returned: the header length and bounds, the
    /// header's JSON and types, the format name and version, every tensor's dtype, shape and
    /// offsets, that the tensors tile the payload exactly, and the header's and the payload's
    /// SHA-256. Any problem throws a `CheckpointError` with a one-line message. No input, however
    /// malformed, can crash the decoder: every index is bounds-checked and every integer
    /// conversion and product is checked for overflow.
    public static func decode(_ bytes: [UInt8], path: String) throws -> CheckpointFile {
        try CheckpointDecoder(bytes: bytes, path: path).decode()
    }
}

/// One tensor's header entry after its fields have been checked.
private struct TensorEntry {
    var name: String
    var shape: [Int]
    var begin: Int
    var end: Int
}

/// The steps of `CheckpointFile.decode`, one method per layer of the format, each throwing
/// on the first problem it finds.
private struct CheckpointDecoder {
    let bytes: [UInt8]
    let path: String

    func fail(_ problem: String) -> CheckpointError {
        CheckpointError(path: path, problem: problem)
    }

    func decode() throws -> CheckpointFile {
        let headerRange = try headerByteRange()
        let object = try headerObject(bytes[headerRange])
        let metadata = try checkedMetadata(object)
        let payloadStart = headerRange.upperBound
        let payloadSize = bytes.count - payloadStart
        var entries = try object.keys.sorted()
            .filter { $0 != SafeTensorsLayout.metadataKey }
            .map { try tensorEntry(named: $0, value: object[$0] as Any, payloadSize: payloadSize) }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        try checkPayloadIsTiled(by: entries, payloadSize: payloadSize)
        try checkHeaderChecksum(metadata: metadata, entries: entries)
        try checkChecksum(declared: metadata[CheckpointFormat.payloadChecksumKey] ?? "", payloadStart: payloadStart)
        let tensors = entries.map { entry in
            TensorRecord(name: entry.name, shape: entry.shape,
                         values: floats(from: payloadStart + entry.begin, to: payloadStart + entry.end))
        }
        return CheckpointFile(metadata: metadata, tensors: tensors)
    }

    // MARK: Length field

    /// Where the JSON header lies in the file, from the 8-byte little-endian length field.
    func headerByteRange() throws -> Range<Int> {
        let fieldSize = SafeTensorsLayout.lengthFieldSize
        guard bytes.count >= fieldSize else {
            throw fail("file is \(bytes.count) bytes, too short to hold the \(fieldSize)-byte header length; not a checkpoint")
        }
        var length: UInt64 = 0
        for index in 0..<fieldSize { length |= UInt64(bytes[index]) << UInt64(8 * index) }
        guard length > 0 else { throw fail("header length is 0; not a checkpoint") }
        guard length <= UInt64(SafeTensorsLayout.maximumHeaderLength) else {
            throw fail("header length \(length) bytes is absurd (limit \(SafeTensorsLayout.maximumHeaderLength)); not a checkpoint, or a corrupted one")
        }
        // Safe: the length is at most 100 MB, so neither the conversion nor the sum overflows.
        let end = fieldSize + Int(length)
        guard end <= bytes.count else {
            throw fail("header length \(length) bytes runs past the end of the file (only \(bytes.count - fieldSize) bytes follow the length); file truncated?")
        }
        return fieldSize..<end
    }

    // MARK: Header JSON

    /// The header parsed as a JSON object.
    func headerObject(_ header: ArraySlice<UInt8>) throws -> [String: Any] {
        // The reference implementation insists on '{' first; so do we, which also rules out
        // byte-order marks and other encodings that JSONSerialization would guess at.
        guard header.first == UInt8(ascii: "{") else {
            throw fail("header does not start with '{'; not a checkpoint, or a corrupted one")
        }
        guard isValidUTF8(header) else { throw fail("header is not valid UTF-8") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(header), options: [])
        } catch {
            throw fail("header is not valid JSON (\(reason(error)))")
        }
        guard let object = parsed as? [String: Any] else { throw fail("header is not a JSON object") }
        return object
    }

    private func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// The parser's own explanation, flattened to one line and shortened (it quotes the
    /// offending text, which in a corrupted file can be megabytes long).
    private func reason(_ error: Error) -> String {
        let nsError = error as NSError
        let text = (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
        return HeaderJSON.shortened(text.split(whereSeparator: \.isNewline).joined(separator: " "), limit: 160)
    }

    // MARK: Metadata

    /// `__metadata__` as string pairs, after checking the format, version and checksum entry.
    func checkedMetadata(_ object: [String: Any]) throws -> [String: String] {
        let key = SafeTensorsLayout.metadataKey
        guard let raw = object[key] else { throw fail("header has no \(key) object; not a Tandem checkpoint") }
        guard let pairs = raw as? [String: Any] else {
            throw fail("\(key) is \(HeaderJSON.spelling(raw)), not a JSON object")
        }
        var metadata: [String: String] = [:]
        for (name, value) in pairs {
            guard let text = value as? String else {
                throw fail("\(key) entry \(HeaderJSON.displayed(name)) is \(HeaderJSON.spelling(value)), not a string")
            }
            metadata[name] = text
        }

        guard let format = metadata[CheckpointFormat.formatKey] else {
            throw fail("metadata has no \(CheckpointFormat.formatKey) entry; not a Tandem checkpoint")
        }
        guard format == CheckpointFormat.name else {
            throw fail("metadata format is \(HeaderJSON.displayed(format)), expected \(CheckpointFormat.name)")
        }
        guard let version = metadata[CheckpointFormat.versionKey] else {
            throw fail("metadata has no \(CheckpointFormat.versionKey) entry")
        }
        guard CheckpointFormat.readableVersions.contains(version) else {
            throw fail("format_version \(HeaderJSON.displayed(version)) is not supported (this build reads versions "
                       + CheckpointFormat.readableVersions.joined(separator: " and ") + ")")
        }
        if version != "1" && metadata[CheckpointFormat.headerChecksumKey] == nil {
            throw fail("metadata has no \(CheckpointFormat.headerChecksumKey) entry, so the header cannot be verified")
        }
        guard let checksum = metadata[CheckpointFormat.payloadChecksumKey] else {
            throw fail("metadata has no \(CheckpointFormat.payloadChecksumKey) entry, so the tensors cannot be verified")
        }
        let hexDigits = Set("0123456789abcdefABCDEF".utf8)
        guard checksum.utf8.count == 64, checksum.utf8.allSatisfy(hexDigits.contains) else {
            throw fail("metadata \(CheckpointFormat.payloadChecksumKey) is \(HeaderJSON.displayed(checksum)), not a 64-digit hex SHA-256")
        }
        return metadata
    }

    // MARK: Tensor entries

    /// One tensor's header entry, checked on its own: fields present and of the right JSON
    /// types, F32, a valid shape, and offsets that lie in the payload and match the shape.
    func tensorEntry(named name: String, value: Any, payloadSize: Int) throws -> TensorEntry {
        let tensor = "tensor \(HeaderJSON.displayed(name))"
        guard let fields = value as? [String: Any] else {
            throw fail("\(tensor) is described by \(HeaderJSON.spelling(value)), not a JSON object")
        }
        let known: Set = [SafeTensorsLayout.dtypeField, SafeTensorsLayout.shapeField, SafeTensorsLayout.offsetsField]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("\(tensor) has an unexpected field \(HeaderJSON.displayed(unknown))")
        }

        // dtype: only Float32 is stored.
        guard let dtypeValue = fields[SafeTensorsLayout.dtypeField] else { throw fail("\(tensor) has no dtype") }
        guard let dtype = dtypeValue as? String else {
            throw fail("\(tensor) dtype is \(HeaderJSON.spelling(dtypeValue)), not a string")
        }
        guard dtype == CheckpointFormat.dtype else {
            throw fail("\(tensor) has dtype \(HeaderJSON.displayed(dtype)); only \(CheckpointFormat.dtype) is supported")
        }

        // shape: non-negative integers whose product (and byte size) fits in Int.
        let shape = try integers(in: fields[SafeTensorsLayout.shapeField], field: "shape", of: tensor)
        guard let count = TensorRecord.elementCount(of: shape) else {
            throw fail("\(tensor) shape \(HeaderJSON.describe(shape)) has more elements than this machine can address")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: CheckpointFormat.bytesPerValue)
        guard !overflow else {
            throw fail("\(tensor) shape \(HeaderJSON.describe(shape)) has more elements than this machine can address")
        }

        // data_offsets: [begin, end] inside the payload, spanning exactly the shape's bytes.
        let offsets = try integers(in: fields[SafeTensorsLayout.offsetsField], field: "data_offsets", of: tensor)
        guard offsets.count == 2 else {
            throw fail("\(tensor) data_offsets \(HeaderJSON.describe(offsets)) should be [begin, end]")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else {
            throw fail("\(tensor) data_offsets [\(begin), \(end)] end before they begin")
        }
        guard end <= payloadSize else {
            throw fail("\(tensor) data_offsets [\(begin), \(end)] run past the end of the payload (\(payloadSize) bytes); file truncated?")
        }
        guard end - begin == byteCount else {
            throw fail("\(tensor) has shape \(HeaderJSON.describe(shape)) (\(byteCount) bytes) but data_offsets [\(begin), \(end)] span \(end - begin) bytes")
        }
        return TensorEntry(name: name, shape: shape, begin: begin, end: end)
    }

    /// A field that must be a JSON array of non-negative integers.
    private func integers(in value: Any?, field: String, of tensor: String) throws -> [Int] {
        guard let value = value else { throw fail("\(tensor) has no \(field)") }
        guard let array = value as? [Any] else {
            throw fail("\(tensor) \(field) is \(HeaderJSON.spelling(value)), not a JSON array")
        }
        var result: [Int] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let integer = HeaderJSON.integer(element), integer >= 0 else {
                throw fail("\(tensor) \(field) contains \(HeaderJSON.spelling(element)); expected non-negative integers")
            }
            result.append(integer)
        }
        return result
    }

    // MARK: Payload

    /// The tensors, sorted by offset, must cover every payload byte exactly once: no gaps
    /// (bytes nobody accounts for), no overlaps (two tensors sharing bytes) and nothing after
    /// the last tensor. The reference implementation requires the same.
    func checkPayloadIsTiled(by entries: [TensorEntry], payloadSize: Int) throws {
        var covered = 0
        var previous: TensorEntry?
        for entry in entries {
            if entry.begin < covered, let previous = previous {
                throw fail("tensors \(HeaderJSON.displayed(previous.name)) [\(previous.begin), \(previous.end)] and \(HeaderJSON.displayed(entry.name)) [\(entry.begin), \(entry.end)] overlap in the payload")
            }
            if entry.begin > covered {
                throw fail("payload bytes \(covered)..<\(entry.begin) belong to no tensor")
            }
            covered = entry.end
            previous = entry
        }
        if covered < payloadSize {
            throw fail("\(payloadSize - covered) trailing bytes after the last tensor (payload is \(payloadSize) bytes, tensors end at \(covered))")
        }
    }

    /// The header's content must hash to the digest recorded when it was written (files of
    /// format version 1 have none, and are read as they always were).
    func checkHeaderChecksum(metadata: [String: String], entries: [TensorEntry]) throws {
        guard let declared = metadata[CheckpointFormat.headerChecksumKey] else { return }
        let actual = CheckpointFormat.headerDigest(metadata: metadata,
                                                   tensors: entries.map { ($0.name, $0.shape, $0.begin, $0.end) })
        guard actual == declared.lowercased() else {
            throw fail("header SHA-256 mismatch: the tensor table or metadata was edited or corrupted after writing "
                       + "(recorded \(HeaderJSON.shortened(declared, limit: 64)), content hashes to \(actual))")
        }
    }

    /// The payload must hash to the digest recorded when it was written.
    func checkChecksum(declared: String, payloadStart: Int) throws {
        let actual = bytes.withUnsafeBytes { all in
            SHA256.hex(UnsafeRawBufferPointer(rebasing: all[payloadStart...]))
        }
        guard actual == declared.lowercased() else {
            throw fail("payload SHA-256 mismatch: header records \(declared.lowercased()), tensors hash to \(actual); file corrupted")
        }
    }

    /// The little-endian Float32 values in `bytes[begin..<end]` (a multiple of 4 bytes long,
    /// already checked to lie inside the file).
    func floats(from begin: Int, to end: Int) -> [Float] {
        let count = (end - begin) / CheckpointFormat.bytesPerValue
        return bytes.withUnsafeBytes { all in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                let source = UnsafeRawBufferPointer(rebasing: all[begin..<end])
                #if _endian(little)
                // The payload may be at any alignment in the file, so copy bytes, not Floats.
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                #else
                for index in 0..<count {
                    let bits = source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                    buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
                #endif
                initialized = count
            }
        }
    }
}
