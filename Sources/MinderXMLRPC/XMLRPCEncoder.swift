// Response encoding: the documents Python's xmlrpc.client.dumps writes, byte for byte where
// Python can write them, built straight into bytes since a reply may hold thousands of
// process structs.

/// Bodies of `<methodResponse>` documents.
public enum XMLRPCResponse {
    /// A successful call's reply: one value, as `dumps((value,), methodresponse=True)` writes it.
    public static func encode(_ value: XMLRPCValue) -> [UInt8] {
        var writer = XMLWriter()
        writer.raw("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n")
        writer.value(value)
        writer.raw("</param>\n</params>\n</methodResponse>\n")
        return writer.bytes
    }

    /// A fault reply, as `dumps(Fault(code, string))` writes it.
    public static func fault(code: Int32, string: String) -> [UInt8] {
        var writer = XMLWriter()
        writer.raw("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n")
        writer.value(.structure([("faultCode", .int(code)), ("faultString", .string(string))]))
        writer.raw("</fault>\n</methodResponse>\n")
        return writer.bytes
    }
}

/// A `<methodCall>` document, as `dumps(params, methodname=...)` writes it (for clients and tests).
public func encodeCall(methodName: String, params: [XMLRPCValue]) -> [UInt8] {
    var writer = XMLWriter()
    writer.raw("<?xml version='1.0'?>\n<methodCall>\n<methodName>")
    writer.text(methodName)
    writer.raw("</methodName>\n<params>\n")
    for param in params {
        writer.raw("<param>\n")
        writer.value(param)
        writer.raw("</param>\n")
    }
    writer.raw("</params>\n</methodCall>\n")
    return writer.bytes
}

struct XMLWriter {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(512) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func value(_ value: XMLRPCValue) {
        switch value {
        case .int(let number):
            raw("<value><int>")
            bytes.append(contentsOf: String(number).utf8)
            raw("</int></value>\n")
        case .bool(let flag):
            raw(flag ? "<value><boolean>1</boolean></value>\n" : "<value><boolean>0</boolean></value>\n")
        case .string(let string):
            raw("<value><string>")
            text(string)
            raw("</string></value>\n")
        case .double(let number):
            // Swift's description is the shortest text that reads back to the same Double, as Python's repr.
            raw("<value><double>")
            bytes.append(contentsOf: number.description.utf8)
            raw("</double></value>\n")
        case .dateTime(let stamp):
            raw("<value><dateTime.iso8601>")
            text(stamp)
            raw("</dateTime.iso8601></value>\n")
        case .base64(let data):
            raw("<value><base64>\n")
            Base64.encode(data, into: &bytes)
            raw("</base64></value>\n")
        case .array(let items):
            raw("<value><array><data>\n")
            for item in items { self.value(item) }
            raw("</data></array></value>\n")
        case .structure(let members):
            raw("<value><struct>\n")
            for (name, member) in members {
                raw("<member>\n<name>")
                text(name)
                raw("</name>\n")
                self.value(member)
                raw("</member>\n")
            }
            raw("</struct></value>\n")
        case .nil:
            raw("<value><nil/></value>")  // no newline: Python writes none after this one
        }
    }

    /// Character data: `&`, `<` and `>` escaped as Python escapes them, and `\r` as `&#13;`
    /// so that it survives the reader's line-end normalization (Python's does not).
    ///
    /// Deliberately unlike supervisord: the characters XML 1.0 forbids outright (C0 controls
    /// other than tab, LF and CR; U+FFFE and U+FFFF) cannot be written even as references,
    /// so each becomes U+FFFD. supervisord writes them raw, and then its clients fail to parse
    /// the whole reply (a process name or log text with one would break `status`).
    mutating func text(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            var index = 0
            while index < utf8.count {
                let byte = utf8[index]
                index += 1
                switch byte {
                case UInt8(ascii: "&"): raw("&amp;")
                case UInt8(ascii: "<"): raw("&lt;")
                case UInt8(ascii: ">"): raw("&gt;")
                case UInt8(ascii: "\r"): raw("&#13;")
                case UInt8(ascii: "\t"), UInt8(ascii: "\n"): bytes.append(byte)
                case 0..<0x20: raw("\u{FFFD}")
                case 0xEF where index + 1 < utf8.count && utf8[index] == 0xBF && utf8[index + 1] >= 0xBE:
                    // U+FFFE is EF BF BE, U+FFFF is EF BF BF.
                    raw("\u{FFFD}")
                    index += 2
                default: bytes.append(byte)
                }
            }
        }
    }
}

/// RFC 4648 base64, standard alphabet.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Lines of 76 characters, each ending in a newline, as Python's base64.encodebytes.
    static func encode(_ data: [UInt8], into out: inout [UInt8]) {
        var line = 0
        var index = 0
        while index < data.count {
            let count = min(3, data.count - index)
            let group = (UInt32(data[index]) << 16)
                | (count > 1 ? UInt32(data[index + 1]) << 8 : 0)
                | (count > 2 ? UInt32(data[index + 2]) : 0)
            for slot in 0..<4 {
                out.append(slot <= count ? alphabet[Int(group >> (18 - 6 * slot) & 63)] : UInt8(ascii: "="))
            }
            index += 3
            line += 4
            if line == 76 || index >= data.count {
                out.append(UInt8(ascii: "\n"))
                line = 0
            }
        }
    }

    /// Whitespace anywhere is skipped (Python breaks lines); anything else must be canonical
    /// base64: alphabet characters, padding to a multiple of 4, zero bits after the last byte.
    static func decode(_ text: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var group: UInt32 = 0
        var count = 0  // characters in the current group of 4
        var padding = 0
        for char in text where !char.isXMLSpace {
            if char == UInt8(ascii: "=") {
                guard count >= 2, count + padding < 4 else { return nil }
                padding += 1
                continue
            }
            guard padding == 0, let sextet = sextet(char) else { return nil }
            group = group << 6 | sextet
            count += 1
            if count == 4 {
                out.append(UInt8(group >> 16))
                out.append(UInt8(group >> 8 & 0xFF))
                out.append(UInt8(group & 0xFF))
                group = 0
                count = 0
            }
        }
        switch (count, padding) {
        case (0, 0):
            return out
        case (2, 2) where group & 0xF == 0:
            out.append(UInt8(group >> 4))
            return out
        case (3, 1) where group & 0x3 == 0:
            out += [UInt8(group >> 10), UInt8(group >> 2 & 0xFF)]
            return out
        default:
            return nil
        }
    }

    private static func sextet(_ char: UInt8) -> UInt32? {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(char - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(char - UInt8(ascii: "a") + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(char - UInt8(ascii: "0") + 52)
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
