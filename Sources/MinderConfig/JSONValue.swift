// A JSON value with ordered keys and distinct booleans and integers, its writer, and a strict
// RFC 8259 parser. Every request body minderd reads is parsed here (through MinderControl's
// `JSON.decode`), so the parser takes hostile input: it bounds nesting, rejects bad UTF-8, bad
// escapes and lone surrogates, and never traps (FuzzRouter feeds it).

public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            // Key order does not matter.
            guard x.count == y.count else { return false }
            let dy = Dictionary(y, uniquingKeysWith: { $1 })
            return x.allSatisfy { key, value in dy[key] == value }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// An integer or a Double, as a Double.
    public var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    // MARK: writing

    /// Compact, or pretty with two-space indents; object keys in their order.
    public func write(to out: inout [UInt8], pretty: Bool = false) {
        write(to: &out, indent: pretty ? 0 : nil)
    }

    public func serialized(pretty: Bool = true) -> String {
        var out: [UInt8] = []
        write(to: &out, pretty: pretty)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(to out: inout [UInt8], indent: Int?) {
        func newline(_ level: Int) {
            guard indent != nil else { return }
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
        }
        let level = indent ?? 0
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value): out.append(contentsOf: Self.numberText(value).utf8)
        case .string(let text): Self.appendString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                item.write(to: &out, indent: indent.map { $0 + 1 })
            }
            if !items.isEmpty { newline(level) }
            out.append(UInt8(ascii: "]"))
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            for (n, (key, value)) in pairs.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                Self.appendString(key, to: &out)
                out.append(contentsOf: (indent == nil ? ":" : ": ").utf8)
                value.write(to: &out, indent: indent.map { $0 + 1 })
            }
            if !pairs.isEmpty { newline(level) }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A quoted string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or `\u00XX`.
    public static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        // Runs that need no escape are copied whole: status replies are mostly such runs.
        text.withUTF8 { bytes in
            var run = 0
            for (i, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i]))
                run = i + 1
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), byte])
                case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// As JSONEncoder writes a finite Double: Swift's shortest form, whole numbers without `.0`.
    public static func numberText(_ value: Double) -> String {
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    // MARK: reading

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var description: String { "invalid JSON at byte \(offset): \(message)" }
    }

    /// Deeper documents are refused rather than recursed into: the parser's stack is bounded.
    public static let maxDepth = 256

    public static func parse(_ text: String) throws(ParseError) -> JSONValue { try parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(ParseError) -> JSONValue in
            var parser = JSONParser(bytes: buffer)
            parser.skipSpace()
            let value = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.at == buffer.count else { throw parser.fail("data after the value") }
            return value
        }
    }

    /// Reads an array of objects without building each object: `member` gets each member of
    /// each object in turn (false stops the read, which then fails), and `end` follows each
    /// object's last member (false, likewise). Flat records read this way cost no tree of values.
    public static func forEachMember(inArrayOfObjects bytes: [UInt8], _ member: (String, JSONValue) -> Bool,
                                     end: () -> Bool) throws(ParseError) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(ParseError) in
            var parser = JSONParser(bytes: buffer)
            parser.skipSpace()
            guard parser.next == UInt8(ascii: "[") else { throw parser.fail("expected '['") }
            try parser.items(closedBy: UInt8(ascii: "]"), depth: 1) { (p) throws(ParseError) in
                guard p.next == UInt8(ascii: "{") else { throw p.fail("expected '{'") }
                try p.members(depth: 2) { (key, p) throws(ParseError) in
                    guard member(key, try p.value(depth: 2)) else { throw p.fail("a value not accepted") }
                }
                guard end() else { throw p.fail("an object not accepted") }
            }
            parser.skipSpace()
            guard parser.at == buffer.count else { throw parser.fail("data after the value") }
        }
    }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ reason: String) -> JSONValue.ParseError { JSONValue.ParseError(offset: at, message: reason) }

    var next: UInt8? { at < bytes.count ? bytes[at] : nil }

    mutating func skipSpace() {
        while let byte = next, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { at += 1 }
    }

    mutating func expect(_ byte: UInt8) throws(JSONValue.ParseError) {
        guard next == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
        at += 1
    }

    mutating func value(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        guard let byte = next else { throw fail("unexpected end") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONValue.ParseError) {
        let text = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - at >= text.count, bytes[at..<at + text.count].elementsEqual(text) else {
            throw fail("expected \(word)")
        }
        at += text.count
    }

    mutating func object(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        var members: [(String, JSONValue)] = []
        try self.members(depth: depth) { (key, p) throws(JSONValue.ParseError) in members.append((key, try p.value(depth: depth))) }
        return .object(members)
    }

    /// An object's members, from its `{`: `member` gets each key, with the parser at its value.
    mutating func members(depth: Int, _ member: (String, inout JSONParser) throws(JSONValue.ParseError) -> Void)
        throws(JSONValue.ParseError) {
        try items(closedBy: UInt8(ascii: "}"), depth: depth) { (p) throws(JSONValue.ParseError) in
            guard p.next == UInt8(ascii: "\"") else { throw p.fail("expected a key") }
            let key = try p.string()
            p.skipSpace()
            try p.expect(UInt8(ascii: ":"))
            p.skipSpace()
            try member(key, &p)
        }
    }

    mutating func array(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        var elements: [JSONValue] = []
        try items(closedBy: UInt8(ascii: "]"), depth: depth) { (p) throws(JSONValue.ParseError) in
            elements.append(try p.value(depth: depth))
        }
        return .array(elements)
    }

    /// The comma-separated items of an object or an array, from its opening byte to `close`.
    mutating func items(closedBy close: UInt8, depth: Int,
                        _ item: (inout JSONParser) throws(JSONValue.ParseError) -> Void) throws(JSONValue.ParseError) {
        guard depth <= JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth)") }
        at += 1
        skipSpace()
        if next == close {
            at += 1
            return
        }
        while true {
            skipSpace()
            try item(&self)
            skipSpace()
            guard next == UInt8(ascii: ",") else { return try expect(close) }
            at += 1
        }
    }

    /// RFC 8259's grammar exactly: no leading zeros, no bare `.`, no `+`, no hex. An integer that
    /// fits in an Int is one; any other number is a Double, and one too large for that is refused.
    /// What the writer writes, this reads as the value that writes the same bytes again.
    mutating func number() throws(JSONValue.ParseError) -> JSONValue {
        let start = at
        func digits(_ p: inout JSONParser) -> Int {
            let from = p.at
            while let byte = p.next, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { p.at += 1 }
            return p.at - from
        }
        if next == UInt8(ascii: "-") { at += 1 }
        if next == UInt8(ascii: "0") {
            at += 1
        } else if digits(&self) == 0 {
            throw fail("expected a digit")
        }
        if next == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { throw fail("expected a digit after '.'") }
        }
        if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            at += 1
            if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { throw fail("expected an exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        // `-0` is a Double: as an Int it would lose its sign, and be written back as `0`.
        if let value = Int(text), value != 0 || text.first != "-" { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw JSONValue.ParseError(offset: start, message: "a number out of range")
        }
        return .double(value)
    }

    mutating func string() throws(JSONValue.ParseError) -> String {
        at += 1
        let start = at
        // The common case: no escapes, so the bytes are the string; ASCII needs no validating.
        var ascii = true
        while let byte = next, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 {
            ascii = ascii && byte < 0x80
            at += 1
        }
        if ascii, next == UInt8(ascii: "\"") {
            at += 1
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at - 1]), as: UTF8.self)
        }
        var text = Array(bytes[start..<at])
        while true {
            guard let byte = next else { throw fail("unterminated string") }
            at += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: text, as: UTF8.self) else {
                    throw JSONValue.ParseError(offset: start, message: "a string that is not UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                try escape(into: &text)
            case 0..<0x20:
                at -= 1
                throw fail("a control character in a string")
            default:
                text.append(byte)
            }
        }
    }

    mutating func escape(into text: inout [UInt8]) throws(JSONValue.ParseError) {
        guard let byte = next else { throw fail("unterminated string") }
        at += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(byte)
        case UInt8(ascii: "b"): text.append(0x08)
        case UInt8(ascii: "f"): text.append(0x0C)
        case UInt8(ascii: "n"): text.append(0x0A)
        case UInt8(ascii: "r"): text.append(0x0D)
        case UInt8(ascii: "t"): text.append(0x09)
        case UInt8(ascii: "u"):
            var code = UInt32(try hex4())
            if (0xD800..<0xDC00).contains(code) {
                // A high surrogate must be followed by an escaped low one.
                guard next == UInt8(ascii: "\\") else { throw fail("a lone surrogate") }
                at += 1
                guard next == UInt8(ascii: "u") else { throw fail("a lone surrogate") }
                at += 1
                let low = UInt32(try hex4())
                guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else { throw fail("a lone surrogate") }
            text.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw fail("an unknown escape")
        }
    }

    mutating func hex4() throws(JSONValue.ParseError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = next else { throw fail("unterminated string") }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("expected four hex digits")
            }
            value = value << 4 | UInt16(digit)
            at += 1
        }
        return value
    }
}
