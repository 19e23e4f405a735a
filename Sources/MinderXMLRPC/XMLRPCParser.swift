// Request parsing: libxml2's streaming reader over the body in memory, and a strict
// recursive descent over its nodes. The body comes from any client on the socket, so no
// DTD is read, no entity is expanded, nothing is fetched and every size is bounded.

import CXMLReader

extension XMLRPCCall {
    /// Parses a `<methodCall>` document: what supervisor 4.3 and Python's xmlrpc.client accept,
    /// less what could make a small body costly (DOCTYPEs, entities, deep nesting).
    public static func parse(_ body: [UInt8], limits: XMLRPCLimits = .default) -> Result<XMLRPCCall, XMLRPCError> {
        guard body.count <= min(limits.maxBytes, Int(Int32.max)) else {
            return .failure(XMLRPCError(.tooLarge, "request body of \(body.count) bytes is over the limit of \(limits.maxBytes)"))
        }
        if let refusal = Screen.check(body) { return .failure(refusal) }
        if let failure = mn_xml_load() {
            return .failure(XMLRPCError(.unavailable, String(cString: failure)))
        }
        // Messages without a parser context bypass the reader's handler and would reach stderr.
        let saved = mn_xml_silence()
        defer { mn_xml_restore(saved) }
        let firstError = FirstError()
        return body.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                // The reader reads the buffer in place: it must not outlive this closure.
                guard let reader = mn_xml_reader_new(chars.baseAddress, Int32(chars.count), { context, line, message in
                    guard let context, let message else { return }
                    let box = Unmanaged<FirstError>.fromOpaque(context).takeUnretainedValue()
                    if box.message == nil {
                        // One line: some of libxml2's messages have a second, with the bytes.
                        box.message = "line \(line): " + String(cString: message).split(whereSeparator: \.isNewline).joined(separator: "; ")
                    }
                }, Unmanaged.passUnretained(firstError).toOpaque()) else {
                    return .failure(XMLRPCError(.malformed, "not an XML document"))
                }
                defer { mn_xml_reader_free(reader) }
                var parser = Parser(reader: reader, limits: limits, firstError: firstError)
                do throws(XMLRPCError) {
                    return .success(try parser.call())
                } catch {
                    return .failure(error)
                }
            }
        }
    }
}

/// A pass over the raw bytes before libxml2 sees them, for what libxml2 spends before the
/// reader returns a node the grammar could refuse: it reads a whole DTD (checking every
/// entity it declares), and a start tag costs time quadratic in its attributes (2.9's
/// duplicate check: one 1 MiB tag of 110,000 attributes took 15 s). So a DOCTYPE is refused
/// here, and a tag may not be longer than maxTagBytes; XML-RPC's longest is 18.
///
/// The bytes are read as UTF-8 (so libxml2 is told to ignore a declared encoding): in UTF-16,
/// or after an encoding declaration, the markup would not be the bytes seen here. Python's
/// clients and supervisorctl send UTF-8; a body in Latin-1 is refused as not UTF-8, unless it
/// is ASCII (as from clients that write other characters as references).
enum Screen {
    static let maxTagBytes = 1024

    static func check(_ body: [UInt8]) -> XMLRPCError? {
        // A UTF-8 byte-order mark, then '<' (perhaps after whitespace): nothing else starts
        // an ASCII-compatible XML document. UTF-16 and UTF-32 have NULs, which XML never allows.
        let start = body.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        guard let first = body[start...].firstIndex(where: { !$0.isXMLSpace }), body[first] == UInt8(ascii: "<"), !body.contains(0) else {
            return XMLRPCError(.malformed, body.isEmpty ? "empty request body" : "not an XML document in UTF-8")
        }
        var index = first
        while let open = body[index...].firstIndex(of: UInt8(ascii: "<")) {
            let end: Int?
            if has("<!--", in: body, at: open) {
                end = find("-->", in: body, from: open + 4)
            } else if has("<![CDATA[", in: body, at: open) {
                end = find("]]>", in: body, from: open + 9)
            } else if has("<?", in: body, at: open) {
                end = find("?>", in: body, from: open + 2)
            } else if has("<!", in: body, at: open) {
                return XMLRPCError(.forbidden, "a DOCTYPE (or any <! declaration) is not accepted")
            } else {
                end = tagEnd(body, from: open + 1)
                if (end ?? body.count) - open > maxTagBytes {
                    return XMLRPCError(.tooLarge, "a tag is longer than \(maxTagBytes) bytes")
                }
            }
            guard let end else { break }  // unterminated: libxml2 says what is wrong
            index = end
        }
        return nil
    }

    private static func has(_ marker: StaticString, in body: [UInt8], at index: Int) -> Bool {
        marker.withUTF8Buffer { body[index...].starts(with: $0) }
    }

    /// The index after `marker`'s first occurrence from `from`.
    private static func find(_ marker: StaticString, in body: [UInt8], from: Int) -> Int? {
        var index = from
        while let candidate = body[min(index, body.count)...].firstIndex(of: marker.utf8Start.pointee) {
            if has(marker, in: body, at: candidate) { return candidate + marker.utf8CodeUnitCount }
            index = candidate + 1
        }
        return nil
    }

    /// The index after a tag's closing '>', which may be inside a quoted attribute value.
    private static func tagEnd(_ body: [UInt8], from: Int) -> Int? {
        var quote: UInt8?
        for index in from..<body.count {
            switch (body[index], quote) {
            case (UInt8(ascii: ">"), nil): return index + 1
            case (UInt8(ascii: "\""), nil), (UInt8(ascii: "'"), nil): quote = body[index]
            case (let c, let q?) where c == q: quote = nil
            default: break
            }
        }
        return nil
    }
}

/// Where libxml2's first error message goes: it says more than the ones that follow it.
private final class FirstError {
    var message: String?
}

/// A node of the document, with adjacent text (text, CDATA, whitespace) joined.
private enum Event {
    case start(String)
    case end
    case text([UInt8])
    case eof

    var described: String {
        switch self {
        case .start(let name): "<\(name)>"
        case .end: "an end tag"
        case .text(let bytes): "text '\(String(decoding: bytes.prefix(40), as: UTF8.self))'"
        case .eof: "the end of the document"
        }
    }
}

private struct Parser {
    let reader: OpaquePointer
    let limits: XMLRPCLimits
    let firstError: FirstError
    /// An event read ahead while joining text.
    var pending: Event?
    /// `<x/>` has no end node in the reader; the grammar wants one.
    var owedEnd = false
    var valueCount = 0
    var paramCount = 0

    init(reader: OpaquePointer, limits: XMLRPCLimits, firstError: FirstError) {
        self.reader = reader
        self.limits = limits
        self.firstError = firstError
    }

    // MARK: Grammar

    mutating func call() throws(XMLRPCError) -> XMLRPCCall {
        try expectStart("methodCall", in: "")
        try expectStart("methodName", in: "methodCall")
        let name = try text(of: "methodName")
        guard (1...256).contains(name.count), name.allSatisfy(Self.isMethodNameByte) else {
            throw invalid("method name '\(String(decoding: name.prefix(64), as: UTF8.self))' is not 1 to 256 of A-Z a-z 0-9 _ . :")
        }
        var params: [XMLRPCValue] = []
        switch try significant(in: "methodCall") {
        case .start("params"):
            while case let event = try significant(in: "params"), !event.isEnd {
                guard case .start("param") = event else { throw unexpected(event, in: "params") }
                paramCount += 1
                guard paramCount <= limits.maxParams else { throw tooLarge("more than \(limits.maxParams) params") }
                try expectStart("value", in: "param")
                params.append(try value())
                try expectEnd(of: "param")
            }
            try expectEnd(of: "methodCall")
        case .end:
            break
        case let event:
            throw unexpected(event, in: "methodCall")
        }
        let after = try next()
        guard case .eof = after else { throw unexpected(after, in: "") }
        return XMLRPCCall(methodName: String(decoding: name, as: UTF8.self), params: params)
    }

    /// The value whose `<value>` was just read: a typed element, or bare text as a string.
    mutating func value() throws(XMLRPCError) -> XMLRPCValue {
        valueCount += 1
        guard valueCount <= limits.maxValues else { throw tooLarge("more than \(limits.maxValues) values") }
        var event = try next()
        var bare: [UInt8] = []
        if case .text(let bytes) = event {
            bare = bytes
            event = try next()
        }
        guard case .start(let type) = event else {
            guard event.isEnd else { throw unexpected(event, in: "value") }
            return .string(try string(bare))
        }
        guard bare.allSatisfy(\.isXMLSpace) else { throw invalid("text beside <\(type)> in <value>") }
        let result = try typed(type)
        try expectEnd(of: "value")
        return result
    }

    mutating func typed(_ type: String) throws(XMLRPCError) -> XMLRPCValue {
        switch type {
        case "int", "i4", "i8":
            return .int(try int(text(of: type)))
        case "boolean":
            switch try text(of: type) {
            case [UInt8(ascii: "0")]: return .bool(false)
            case [UInt8(ascii: "1")]: return .bool(true)
            case let other: throw invalid("boolean '\(String(decoding: other.prefix(40), as: UTF8.self))' is not 0 or 1")
            }
        case "string":
            return .string(try string(text(of: type)))
        case "double":
            return .double(try double(text(of: type)))
        case "dateTime.iso8601":
            return .dateTime(try dateTime(text(of: type)))
        case "base64":
            guard let bytes = Base64.decode(try text(of: type)) else { throw invalid("<base64> holds invalid base64") }
            return .base64(bytes)
        case "nil":
            guard try text(of: type).allSatisfy(\.isXMLSpace) else { throw invalid("<nil> holds text") }
            return .nil
        case "array":
            try expectStart("data", in: "array")
            var items: [XMLRPCValue] = []
            while case let event = try significant(in: "data"), !event.isEnd {
                guard case .start("value") = event else { throw unexpected(event, in: "data") }
                items.append(try value())
            }
            try expectEnd(of: "array")
            return .array(items)
        case "struct":
            var members: [(String, XMLRPCValue)] = []
            while case let event = try significant(in: "struct"), !event.isEnd {
                guard case .start("member") = event else { throw unexpected(event, in: "struct") }
                try expectStart("name", in: "member")
                let name = try string(text(of: "name"))
                try expectStart("value", in: "member")
                members.append((name, try value()))
                try expectEnd(of: "member")
            }
            return .structure(members)
        default:
            throw invalid("unknown value type <\(type)>")
        }
    }

    // MARK: Scalars

    /// Optional sign and decimal digits, surrounding whitespace allowed; Int32 only.
    func int(_ raw: [UInt8]) throws(XMLRPCError) -> Int32 {
        var digits = raw.trimmingXMLSpace()[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        var magnitude: Int64 = 0
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw invalid("'\(String(decoding: raw.prefix(40), as: UTF8.self))' is not an integer")
        }
        for digit in digits {
            magnitude = magnitude * 10 + Int64(digit - UInt8(ascii: "0"))
            guard magnitude <= 1 << 31 else { break }  // out of range already; stop before Int64 overflows
        }
        let value = negative ? -magnitude : magnitude
        guard let result = Int32(exactly: value) else {
            throw invalid("integer \(String(decoding: raw.trimmingXMLSpace().prefix(40), as: UTF8.self)) is outside the 32-bit range")
        }
        return result
    }

    /// Decimal notation only, and finite. Swift's parser wants the whole text to be one number
    /// but would also take inf, nan and hex floats: the characters keep those out.
    func double(_ raw: [UInt8]) throws(XMLRPCError) -> Double {
        let text = raw.trimmingXMLSpace()
        guard text.allSatisfy(Self.isDecimalByte), let value = Double(String(decoding: text, as: UTF8.self))
        else { throw invalid("'\(String(decoding: raw.prefix(40), as: UTF8.self))' is not a number") }
        guard value.isFinite else { throw invalid("double \(String(decoding: text.prefix(40), as: UTF8.self)) is out of range") }
        return value
    }

    /// `YYYYMMDDTHH:MM:SS`, each field in range; surrounding whitespace dropped, as Python does.
    func dateTime(_ raw: [UInt8]) throws(XMLRPCError) -> String {
        let text = raw.trimmingXMLSpace()
        func number(_ at: Int, _ count: Int) -> Int? {
            var result = 0
            for c in text[at..<at + count] {
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                result = result * 10 + Int(c - UInt8(ascii: "0"))
            }
            return result
        }
        guard text.count == 17, let year = number(0, 4), let month = number(4, 2), let day = number(6, 2),
              let hour = number(9, 2), let minute = number(12, 2), let second = number(15, 2),
              text[8] == UInt8(ascii: "T"), text[11] == UInt8(ascii: ":"), text[14] == UInt8(ascii: ":"),
              year >= 1, (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { throw invalid("'\(String(decoding: raw.prefix(40), as: UTF8.self))' is not a dateTime.iso8601 YYYYMMDDTHH:MM:SS") }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { throw invalid("dateTime.iso8601 '\(String(decoding: text, as: UTF8.self))' has no such day") }
        return String(decoding: text, as: UTF8.self)
    }

    /// libxml2 hands out UTF-8 only; checked all the same, since a string is all the dispatcher trusts.
    func string(_ bytes: [UInt8]) throws(XMLRPCError) -> String {
        guard let string = String(validating: bytes, as: UTF8.self) else { throw invalid("text is not UTF-8") }
        return string
    }

    static func isDecimalByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "e"), UInt8(ascii: "E"): true
        default: false
        }
    }

    static func isMethodNameByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"): true
        default: false
        }
    }

    // MARK: Events

    mutating func expectStart(_ name: String, in container: String) throws(XMLRPCError) {
        let event = try significant(in: container)
        guard case .start(name) = event else {
            throw invalid("expected <\(name)> in \(place(container)), found \(event.described)")
        }
    }

    mutating func expectEnd(of element: String) throws(XMLRPCError) {
        let event = try significant(in: element)
        guard event.isEnd else { throw unexpected(event, in: element) }
    }

    /// The text of an element that holds text only, up to and including its end tag.
    mutating func text(of element: String) throws(XMLRPCError) -> [UInt8] {
        var event = try next()
        var text: [UInt8] = []
        if case .text(let bytes) = event {
            text = bytes
            event = try next()
        }
        guard event.isEnd else { throw unexpected(event, in: element) }
        return text
    }

    /// The next event that is not whitespace between elements; other text is out of place.
    mutating func significant(in container: String) throws(XMLRPCError) -> Event {
        let event = try next()
        guard case .text(let bytes) = event else { return event }
        guard bytes.allSatisfy(\.isXMLSpace) else { throw unexpected(event, in: container) }
        return try next()  // text is joined, so the next event is not text
    }

    mutating func next() throws(XMLRPCError) -> Event {
        let event: Event
        if let pending {
            event = pending
            self.pending = nil
        } else {
            event = try node()
        }
        guard case .text(var bytes) = event else { return event }
        while true {
            let following = try node()
            guard case .text(let more) = following else {
                pending = following
                return .text(bytes)
            }
            bytes += more
        }
    }

    /// The reader's next node that matters. Comments and processing instructions are
    /// skipped, as Python's parser skips them; DTDs and entities end the parse.
    mutating func node() throws(XMLRPCError) -> Event {
        if owedEnd {
            owedEnd = false
            return .end
        }
        while true {
            let status = mn_xml_read(reader)
            guard status >= 0 else { throw XMLRPCError(.malformed, firstError.message ?? "not well-formed XML") }
            guard status == 1 else { return .eof }
            let type = mn_xml_node_type(reader)
            switch Int(type) {
            case MN_XML_ELEMENT:
                guard Int(mn_xml_depth(reader)) < limits.maxDepth else {
                    throw tooLarge("elements nested more than \(limits.maxDepth) deep")
                }
                owedEnd = mn_xml_is_empty_element(reader) == 1
                return .start(mn_xml_name(reader).map { String(cString: $0) } ?? "")
            case MN_XML_END_ELEMENT:
                return .end
            case MN_XML_TEXT, MN_XML_CDATA, MN_XML_WHITESPACE, MN_XML_SIGNIFICANT_WHITESPACE:
                var length: UInt = 0
                guard let value = mn_xml_value(reader, &length) else { return .text([]) }
                return .text(Array(UnsafeBufferPointer(start: value, count: Int(length))))
            case MN_XML_COMMENT, MN_XML_PROCESSING_INSTRUCTION, MN_XML_DECLARATION:
                continue
            case MN_XML_DOCUMENT_TYPE:
                throw XMLRPCError(.forbidden, "a DOCTYPE is not accepted")
            case MN_XML_ENTITY_REFERENCE, MN_XML_ENTITY, MN_XML_END_ENTITY:
                throw XMLRPCError(.forbidden, "entities are not accepted")
            default:
                throw invalid("unexpected XML node of type \(type)")
            }
        }
    }

    /// Containers are named without brackets, the document as "": no message is built
    /// until one is needed.
    func unexpected(_ event: Event, in container: String) -> XMLRPCError {
        invalid("unexpected \(event.described) in \(place(container))")
    }

    func place(_ element: String) -> String { element.isEmpty ? "the document" : "<\(element)>" }

    func invalid(_ message: String) -> XMLRPCError { XMLRPCError(.invalid, message) }
    func tooLarge(_ message: String) -> XMLRPCError { XMLRPCError(.tooLarge, message) }
}

private extension Event {
    var isEnd: Bool {
        if case .end = self { true } else { false }
    }
}

extension UInt8 {
    /// XML's whitespace: space, tab, LF, CR.
    var isXMLSpace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}

extension [UInt8] {
    func trimmingXMLSpace() -> [UInt8] {
        guard let first = firstIndex(where: { !$0.isXMLSpace }), let last = lastIndex(where: { !$0.isXMLSpace }) else { return [] }
        return Array(self[first...last])
    }
}
