import Foundation

/// Small JSON helpers for the safetensors header.
///
/// Writing: the header is written by hand rather than with `JSONSerialization`, so that the
/// output is byte-for-byte deterministic (`__metadata__` first, tensors in payload order,
/// compact like Python's writer) and the same checkpoint always gives the same file.
///
/// Reading: `JSONSerialization` hands numbers back as `NSNumber`, which blurs JSON's types.
/// A JSON `true` is an `NSNumber` that `as? Int` happily turns into 1, `0` and `1` even
/// answer `is Bool`, `3.0` turns into 3, and a big number can come back as an
/// `NSDecimalNumber` whose `as? Int` is silently wrong. `integer(_:)` looks at the number's
/// underlying C type to accept only what was written as a JSON integer that fits `Int`.
enum HeaderJSON {
    // MARK: Writing

    /// `text` as a JSON string literal, quotes included. Non-ASCII characters stay UTF-8;
    /// only the characters JSON requires are escaped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// A JSON array of integers, compact: `[256,784]`.
    static func integerArray(_ values: [Int]) -> String {
        "[" + values.map(String.init).joined(separator: ",") + "]"
    }

    // MARK: Reading

    /// The value as an `Int`, if and only if the JSON had an integer literal (no fraction or
    /// exponent, not a boolean) within `Int`'s range.
    static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber, !(value is NSDecimalNumber) else { return nil }
        switch String(cString: number.objCType) {
        case "c", "B":
            return nil  // a JSON boolean
        case "f", "d":
            return nil  // written with a fraction or exponent
        case "Q", "L", "I", "S", "C":
            return Int(exactly: number.uint64Value)
        case "q", "l", "i", "s":
            return Int(exactly: number.int64Value)
        default:
            return nil
        }
    }

    /// How a JSON value reads in an error message: `true`, `2.5`, `"F16"`, `null`, `an array`.
    static func spelling(_ value: Any) -> String {
        if let number = value as? NSNumber, !(value is NSDecimalNumber) {
            let kind = String(cString: number.objCType)
            if kind == "c" || kind == "B" { return number.boolValue ? "true" : "false" }
            return shortened(number.stringValue)
        }
        if let number = value as? NSDecimalNumber { return shortened(number.stringValue) }
        if let text = value as? String { return quoted(shortened(text)) }  // quoted: "2" is not 2
        if value is NSNull { return "null" }
        if value is [Any] { return "an array" }
        if value is [String: Any] { return "an object" }
        return "an unknown value"
    }

    /// A name or string from the file, made safe for a one-line message: printed bare when it
    /// is plain (`0.weight`), otherwise quoted with escapes, and shortened if very long.
    static func displayed(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "\\" && scalar != ","
        }
        return plain ? shortened(text) : quoted(shortened(text))
    }

    /// At most `limit` characters of `text`, then "..." if there was more; a corrupted header
    /// can hold a name megabytes long.
    static func shortened(_ text: String, limit: Int = 80) -> String {
        guard text.unicodeScalars.count > limit else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit))) + "..."
    }

    /// A shape as it reads in messages: `[256, 784]`.
    static func describe(_ shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }
}
