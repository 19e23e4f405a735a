// Python's RawConfigParser as supervisord configures it (strict=False,
// inline comments `;`/`#` after whitespace, empty lines kept inside values),
// reproduced rule for rule: real configs depend on its quirks.

/// Where a value or section came from.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { line > 0 ? "\(file):\(line)" : file }
}

/// One option as read: its value (continuation lines joined by "\n") and where it was written.
struct INIEntry: Sendable {
    var value: String
    var location: SourceLocation
}

/// The options of one section, in first-seen order (a repeated key keeps its place, later value wins).
struct INIOptions: Sendable {
    private(set) var keys: [String] = []
    private var entries: [String: INIEntry] = [:]

    subscript(key: String) -> INIEntry? {
        get { entries[key] }
        set {
            if let newValue {
                if entries.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if entries.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}

struct INIParseFailure: Error, Sendable {
    var location: SourceLocation
    var message: String
}

/// The merged content of the main file and its includes.
struct INIDocument: Sendable {
    static let defaultSection = "DEFAULT"

    private(set) var sectionNames: [String] = []
    private var sections: [String: INIOptions] = [:]
    private(set) var defaults = INIOptions()
    /// Header of the first appearance of each section.
    private(set) var sectionLocations: [String: SourceLocation] = [:]

    func hasSection(_ name: String) -> Bool { sections[name] != nil }

    /// Own options first, then those inherited from [DEFAULT], as ConfigParser's `options()`.
    func optionNames(_ section: String) -> [String] {
        guard let own = sections[section] else { return [] }
        return own.keys + defaults.keys.filter { own[$0] == nil }
    }

    func ownOptionNames(_ section: String) -> [String] { sections[section]?.keys ?? [] }

    /// ConfigParser's `get`: the section's value, else [DEFAULT]'s.
    func entry(_ section: String, _ option: String) -> INIEntry? {
        if section == Self.defaultSection { return defaults[option] }
        return sections[section]?[option] ?? defaults[option]
    }

    mutating func set(_ section: String, _ option: String, _ entry: INIEntry) {
        sections[section]?[option] = entry
    }

    /// supervisord's `expand_here`: after each file is read, `%(here)s` is
    /// replaced literally in every value seen so far (inherited ones included).
    mutating func replaceHere(with directory: String) {
        let token = "%(here)s"
        for name in sectionNames {
            for key in optionNames(name) {
                guard let entry = entry(name, key), entry.value.includes(token) else { continue }
                set(name, key, INIEntry(value: entry.value.replacingAll(token, with: directory), location: entry.location))
            }
        }
    }

    /// Reads one file into the document. Throws on the first line before any
    /// section header; other bad lines are all returned (the file still counts as read).
    mutating func read(text: String, file: String) throws(INIParseFailure) -> [INIParseFailure] {
        var bad: [INIParseFailure] = []
        var current: String?  // section being filled; DEFAULT included
        var optionName: String?
        var indentLevel = 0
        // The option being read: only it can take continuation lines, so it is stored when the
        // next option, a section header or the end of the file ends it.
        var pending: (section: String, option: String, lines: [String], location: SourceLocation)?

        func storePending() {
            guard let p = pending else { return }
            pending = nil
            // Continuation lines are joined as ConfigParser does: "\n" between, trailing blank lines dropped.
            let entry = INIEntry(value: p.lines.count == 1 ? p.lines[0] : p.lines.joined(separator: "\n").pyRStrip(), location: p.location)
            if p.section == Self.defaultSection { defaults[p.option] = entry } else { sections[p.section]?[p.option] = entry }
        }

        // Lines are read as UTF-8 bytes: every character the syntax looks for is ASCII, and only
        // whitespace needs a character decoded (a config of 1000 programs is 3000 lines).
        let text = UTF8Text(text)
        var lineNo = 0
        var next = 0
        while next < text.bytes.count {
            let start = next
            let end = text.bytes[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? text.bytes.count
            next = end
            lineNo += 1
            let commentStart = text.commentStart(start..<end)
            let valueRange = text.strip(start..<(commentStart ?? end))
            if valueRange.isEmpty {
                // empty_lines_in_values: a blank line (not a comment) inside a value is kept.
                if commentStart == nil, current != nil, optionName?.isEmpty == false {
                    pending?.lines.append("")
                }
                continue
            }
            let indent = text.leadingSpaces(start..<end)
            if current != nil, optionName?.isEmpty == false, indent > indentLevel {
                pending?.lines.append(text.string(valueRange))
                continue
            }
            indentLevel = indent
            let location = SourceLocation(file: file, line: lineNo)
            if text.bytes[valueRange.lowerBound] == UInt8(ascii: "["), let header = Self.sectionHeader(text.string(valueRange)) {
                storePending()
                if header != Self.defaultSection, sections[header] == nil {
                    sections[header] = INIOptions()
                    sectionNames.append(header)
                    sectionLocations[header] = location
                }
                current = header
                optionName = nil
                continue
            }
            guard let section = current else {
                throw INIParseFailure(
                    location: location,
                    message: "text before the first [section] header: \(text.string(start..<end).pyRepr)")
            }
            // `(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$`: the first `=` or `:` splits.
            guard let delimiter = text.bytes[valueRange].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":") }) else {
                bad.append(INIParseFailure(
                    location: location,
                    message: "expected `option = value` or a [section] header, found \(text.string(start..<end).pyRepr)"))
                continue
            }
            let key = text.string(text.strip(valueRange.lowerBound..<delimiter)).lowercased()
            if key.isEmpty {
                bad.append(INIParseFailure(location: location, message: "option name is empty: \(text.string(start..<end).pyRepr)"))
            }
            optionName = key
            storePending()
            pending = (section, key, [text.string(text.strip(delimiter + 1..<valueRange.upperBound))], location)
        }
        storePending()
        return bad
    }

    /// `\[(?P<header>.+)\]` matched at the start: everything up to the last `]`.
    static func sectionHeader(_ value: String) -> String? {
        let scalars = value.unicodeScalars
        guard scalars.first == "[", let close = scalars.lastIndex(of: "]") else { return nil }
        let open = scalars.index(after: scalars.startIndex)
        guard close > open else { return nil }
        return String(scalars[open..<close])
    }
}

/// A file's text as UTF-8 bytes, with Python's universal newlines (CRLF and CR read as LF) and
/// without a leading byte-order mark.
struct UTF8Text {
    private(set) var bytes: [UInt8] = []

    init(_ text: String) {
        var utf8 = text.utf8[...]
        if utf8.starts(with: [0xEF, 0xBB, 0xBF]) { utf8 = utf8.dropFirst(3) }
        bytes.reserveCapacity(utf8.count)
        var afterCR = false
        for byte in utf8 {
            if byte == UInt8(ascii: "\r") {
                bytes.append(UInt8(ascii: "\n"))
            } else if !(afterCR && byte == UInt8(ascii: "\n")) {
                bytes.append(byte)
            }
            afterCR = byte == UInt8(ascii: "\r")
        }
    }

    func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    /// The character starting at `i`, and its length in bytes. The bytes came from a String, so
    /// they are valid UTF-8.
    func scalar(at i: Int) -> (Unicode.Scalar, length: Int) {
        let lead = bytes[i]
        if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
        var value = UInt32(lead & (0x7F >> length))
        for k in 1..<length { value = value << 6 | UInt32(bytes[i + k] & 0x3F) }
        return (Unicode.Scalar(value) ?? "\u{FFFD}", length)
    }

    /// Where the character that ends just before `i` starts.
    func start(before i: Int) -> Int {
        var j = i - 1
        while bytes[j] & 0xC0 == 0x80 { j -= 1 }
        return j
    }

    /// Python's `str.strip()` of a range.
    func strip(_ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi {
            let (c, length) = scalar(at: lo)
            guard c.isPySpace else { break }
            lo += length
        }
        while hi > lo {
            let j = start(before: hi)
            guard scalar(at: j).0.isPySpace else { break }
            hi = j
        }
        return lo..<hi
    }

    /// The number of whitespace characters a line starts with (ConfigParser's indent level).
    func leadingSpaces(_ range: Range<Int>) -> Int {
        var count = 0, i = range.lowerBound
        while i < range.upperBound {
            let (c, length) = scalar(at: i)
            guard c.isPySpace else { break }
            count += 1
            i += length
        }
        return count
    }

    /// ConfigParser's comment rule: a full line starting with `#`/`;` (after
    /// whitespace), or an inline `;`/`#` preceded by whitespace. The inline
    /// search advances both prefixes occurrence by occurrence and stops at the
    /// first round that finds one, exactly as CPython does.
    func commentStart(_ line: Range<Int>) -> Int? {
        let content = strip(line)
        if let first = content.first, bytes[first] == UInt8(ascii: "#") || bytes[first] == UInt8(ascii: ";") {
            return line.lowerBound
        }
        // One prefix's next occurrence from `from` (nil once there is none), if whitespace precedes it.
        func round(_ prefix: UInt8, _ from: inout Int?) -> Int? {
            guard let f = from, let hit = bytes[f..<line.upperBound].firstIndex(of: prefix) else {
                from = nil
                return nil
            }
            from = hit + 1
            return hit == line.lowerBound || scalar(at: start(before: hit)).0.isPySpace ? hit : nil
        }
        var semicolon: Int? = line.lowerBound, hash: Int? = line.lowerBound
        while semicolon != nil || hash != nil {
            switch (round(UInt8(ascii: ";"), &semicolon), round(UInt8(ascii: "#"), &hash)) {
            case let (a?, b?): return min(a, b)
            case let (a?, nil): return a
            case let (nil, b?): return b
            case (nil, nil): continue
            }
        }
        return nil
    }
}

extension Unicode.Scalar {
    /// Python's `str.isspace()`: Unicode White_Space and the four ASCII separators 0x1C-0x1F.
    /// ASCII is answered directly: the property lookup is slow, and a config of 1000 programs
    /// asks it for every character.
    var isPySpace: Bool {
        value < 0x80 ? value == 0x20 || (0x09...0x0D).contains(value) || (0x1C...0x1F).contains(value) : properties.isWhitespace
    }
}

extension Substring.UnicodeScalarView {
    /// Python's `str.strip()`: Unicode whitespace off both ends. Minder's one whitespace trim.
    func pyStrip() -> String {
        guard let first = firstIndex(where: { !$0.isPySpace }) else { return "" }
        let last = lastIndex(where: { !$0.isPySpace })!
        return String(self[first...last])
    }

    func pyRStrip() -> String {
        guard let last = lastIndex(where: { !$0.isPySpace }) else { return "" }
        return String(self[...last])
    }
}

extension Substring {
    /// Python's `str.strip()`.
    public func pyStrip() -> String { unicodeScalars.pyStrip() }
}

extension String {
    /// Python's `str.strip()`.
    public func pyStrip() -> String { unicodeScalars[...].pyStrip() }

    func pyRStrip() -> String { unicodeScalars[...].pyRStrip() }

    /// Python's `str.split()` with no argument: runs of whitespace separate, none are kept.
    func pySplit() -> [String] {
        unicodeScalars.split(whereSeparator: { $0.isPySpace }).map { String($0) }
    }

    /// Python's `repr()` of a str, for messages that quote a value.
    var pyRepr: String {
        let quote: Character = (contains("'") && !contains("\"")) ? "\"" : "'"
        var out = String(quote)
        for scalar in unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
