extension CheckpointFile {
    /// The checkpoint as the bytes of a safetensors file (layout in `SafeTensorsLayout`).
    ///
    /// Adds four metadata entries: `payload_sha256` and `header_sha256`, always recomputed, and
    /// `format` / `format_version`, unless the caller already set them. Tensors are packed in
    /// the order of `tensors`, so encoding the same checkpoint always gives the same bytes.
    ///
    /// The tensors must be well-formed: unique names other than `__metadata__`, non-negative
    /// shapes, and exactly as many values as the shape holds. Those come from the program, not
    /// from a file, so a violation is a bug in the caller and stops the program with a message.
    public func encode() -> [UInt8] {
        if let problem = encodingProblem() {
            preconditionFailure("CheckpointFile.encode: \(problem)")
        }

        // Where each tensor goes, relative to the payload start: back to back, in order.
        var offsets: [(begin: Int, end: Int)] = []
        var payloadSize = 0
        for tensor in tensors {
            let size = tensor.values.count * CheckpointFormat.bytesPerValue
            offsets.append((payloadSize, payloadSize + size))
            payloadSize += size
        }

        // The checksum covers the payload exactly as it will be written.
        var hasher = SHA256.Hasher()
        for tensor in tensors {
            CheckpointFile.withLittleEndianBytes(of: tensor.values) { hasher.update($0) }
        }
        var metadata = self.metadata
        if metadata[CheckpointFormat.formatKey] == nil { metadata[CheckpointFormat.formatKey] = CheckpointFormat.name }
        if metadata[CheckpointFormat.versionKey] == nil { metadata[CheckpointFormat.versionKey] = CheckpointFormat.version }
        metadata[CheckpointFormat.payloadChecksumKey] = SHA256.hexString(hasher.finalize())
        metadata[CheckpointFormat.headerChecksumKey] = CheckpointFormat.headerDigest(
            metadata: metadata,
            tensors: zip(tensors, offsets).map { (name: $0.name, shape: $0.shape, begin: $1.begin, end: $1.end) })

        let header = CheckpointFile.headerBytes(metadata: metadata, tensors: tensors, offsets: offsets)

        var bytes: [UInt8] = []
        bytes.reserveCapacity(SafeTensorsLayout.lengthFieldSize + header.count + payloadSize)
        let headerLength = UInt64(header.count)
        for byteIndex in 0..<SafeTensorsLayout.lengthFieldSize {
            bytes.append(UInt8(truncatingIfNeeded: headerLength >> UInt64(8 * byteIndex)))
        }
        bytes.append(contentsOf: header)
        for tensor in tensors {
            CheckpointFile.withLittleEndianBytes(of: tensor.values) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// Why these tensors cannot be encoded, or nil when they can.
    func encodingProblem() -> String? {
        var seen = Set<String>()
        for tensor in tensors {
            let name = HeaderJSON.displayed(tensor.name)
            if tensor.name == SafeTensorsLayout.metadataKey { return "a tensor may not be named \(SafeTensorsLayout.metadataKey)" }
            if !seen.insert(tensor.name).inserted { return "two tensors are named \(name)" }
            guard let count = TensorRecord.elementCount(of: tensor.shape) else {
                return "tensor \(name) has an invalid shape \(HeaderJSON.describe(tensor.shape))"
            }
            if count != tensor.values.count {
                return "tensor \(name) has shape \(HeaderJSON.describe(tensor.shape)) (\(count) values) but holds \(tensor.values.count) values"
            }
        }
        return nil
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes as Python's writer does.
    private static func headerBytes(metadata: [String: String], tensors: [TensorRecord],
                                    offsets: [(begin: Int, end: Int)]) -> [UInt8] {
        // Metadata keys sorted so the output does not depend on dictionary order.
        let metadataPairs = metadata.sorted { $0.key < $1.key }
            .map { HeaderJSON.quoted($0.key) + ":" + HeaderJSON.quoted($0.value) }
        var json = "{" + HeaderJSON.quoted(SafeTensorsLayout.metadataKey) + ":{" + metadataPairs.joined(separator: ",") + "}"
        for (tensor, offset) in zip(tensors, offsets) {
            json += "," + HeaderJSON.quoted(tensor.name) + ":{"
                + HeaderJSON.quoted(SafeTensorsLayout.dtypeField) + ":" + HeaderJSON.quoted(CheckpointFormat.dtype) + ","
                + HeaderJSON.quoted(SafeTensorsLayout.shapeField) + ":" + HeaderJSON.integerArray(tensor.shape) + ","
                + HeaderJSON.quoted(SafeTensorsLayout.offsetsField) + ":" + HeaderJSON.integerArray([offset.begin, offset.end])
                + "}"
        }
        json += "}"
        var bytes = Array(json.utf8)
        let remainder = bytes.count % SafeTensorsLayout.headerAlignment
        if remainder != 0 {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: SafeTensorsLayout.headerAlignment - remainder))
        }
        return bytes
    }

    /// Calls `body` with the values' bytes in little-endian order: the values' own memory on a
    /// little-endian machine (no copy), a byte-swapped copy elsewhere.
    static func withLittleEndianBytes<R>(of values: [Float], _ body: (UnsafeRawBufferPointer) -> R) -> R {
        #if _endian(little)
        return values.withUnsafeBytes(body)
        #else
        return values.map { $0.bitPattern.littleEndian }.withUnsafeBytes(body)
        #endif
    }
}
