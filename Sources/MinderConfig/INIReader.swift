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
            if entries[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            entries[key] = newValue
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
        var pending: [String: (lines: [String], location: SourceLocation)] = [:]
        var pendingOrder: [(section: String, option: String)] = []
        var indentLevel = 0

        func store(_ section: String, _ option: String, _ value: String, _ loc: SourceLocation) {
            let key = section + "\u{0}" + option
            if pending[key] == nil { pendingOrder.append((section, option)) }
            pending[key] = ([value], loc)
            // Reserve the key's position now, as ConfigParser's dict does.
            if section == Self.defaultSection {
                if defaults[option] == nil { defaults[option] = INIEntry(value: value, location: loc) }
            } else if sections[section]?[option] == nil {
                sections[section]?[option] = INIEntry(value: value, location: loc)
            }
        }

        for (index, rawLine) in Self.splitLines(text).enumerated() {
            let lineNo = index + 1
            let line = Array(rawLine.unicodeScalars)
            let commentStart = Self.commentStart(line)
            let value = String(String.UnicodeScalarView(line[0..<(commentStart ?? line.count)])).pyStrip()
            if value.isEmpty {
                // empty_lines_in_values: a blank line (not a comment) inside a value is kept.
                if commentStart == nil, let section = current, let opt = optionName, !opt.isEmpty {
                    pending[section + "\u{0}" + opt]?.lines.append("")
                }
                continue
            }
            let indent = line.firstIndex { !$0.properties.isWhitespace } ?? 0
            if let section = current, let opt = optionName, !opt.isEmpty, indent > indentLevel {
                pending[section + "\u{0}" + opt]?.lines.append(value)
                continue
            }
            indentLevel = indent
            let location = SourceLocation(file: file, line: lineNo)
            if let header = Self.sectionHeader(value) {
                if header == Self.defaultSection {
                    current = header
                } else {
                    if sections[header] == nil {
                        sections[header] = INIOptions()
                        sectionNames.append(header)
                        sectionLocations[header] = location
                    }
                    current = header
                }
                optionName = nil
                continue
            }
            guard let section = current else {
                throw INIParseFailure(
                    location: location,
                    message: "text before the first [section] header: \(String(rawLine).pyRepr)")
            }
            guard let (name, optionValue) = Self.splitOption(value) else {
                bad.append(INIParseFailure(
                    location: location,
                    message: "expected `option = value` or a [section] header, found \(String(rawLine).pyRepr)"))
                continue
            }
            let key = String(name.unicodeScalars.reversed().drop { $0.properties.isWhitespace }.reversed()
                .map(Character.init)).lowercased()
            if key.isEmpty {
                bad.append(INIParseFailure(location: location, message: "option name is empty: \(String(rawLine).pyRepr)"))
            }
            optionName = key
            store(section, key, optionValue, location)
        }

        // Join continuation lines as ConfigParser does: "\n" between, trailing blank lines dropped.
        for (section, option) in pendingOrder {
            guard let p = pending[section + "\u{0}" + option] else { continue }
            let joined = p.lines.joined(separator: "\n").pyRStrip()
            let entry = INIEntry(value: joined, location: p.location)
            if section == Self.defaultSection { defaults[option] = entry } else { sections[section]?[option] = entry }
        }
        return bad
    }

    /// Lines as Python's text mode yields them: universal newlines, each kept with its "\n".
    static func splitLines(_ text: String) -> [Substring] {
        var normalized = text
        if normalized.hasPrefix("\u{FEFF}") { normalized.removeFirst() }
        normalized = normalized.replacingAll("\r\n", with: "\n").replacingAll("\r", with: "\n")
        var lines: [Substring] = []
        var start = normalized.startIndex
        while start < normalized.endIndex {
            if let nl = normalized[start...].firstIndex(of: "\n") {
                let next = normalized.index(after: nl)
                lines.append(normalized[start..<next])
                start = next
            } else {
                lines.append(normalized[start...])
                break
            }
        }
        return lines
    }

    /// ConfigParser's comment rule: a full line starting with `#`/`;` (after
    /// whitespace), or an inline `;`/`#` preceded by whitespace. The inline
    /// search advances both prefixes occurrence by occurrence and stops at the
    /// first round that finds one, exactly as CPython does.
    static func commentStart(_ line: [Unicode.Scalar]) -> Int? {
        let trimmed = String(String.UnicodeScalarView(line)).pyStrip()
        if trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { return 0 }
        var positions: [(prefix: Unicode.Scalar, index: Int)] = [(";", -1), ("#", -1)]
        while !positions.isEmpty {
            var found: Int?
            var next: [(Unicode.Scalar, Int)] = []
            for (prefix, index) in positions {
                guard let hit = line.indices.dropFirst(index + 1).first(where: { line[$0] == prefix }) else { continue }
                next.append((prefix, hit))
                if hit == 0 || line[hit - 1].properties.isWhitespace {
                    found = min(found ?? Int.max, hit)
                }
            }
            if let found { return found }
            positions = next
        }
        return nil
    }

    /// `\[(?P<header>.+)\]` matched at the start: everything up to the last `]`.
    static func sectionHeader(_ value: String) -> String? {
        let scalars = Array(value.unicodeScalars)
        guard scalars.first == "[", let close = scalars.lastIndex(of: "]"), close >= 2 else { return nil }
        return String(String.UnicodeScalarView(scalars[1..<close]))
    }

    /// `(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$`: the first `=` or `:` splits.
    static func splitOption(_ value: String) -> (String, String)? {
        guard let delimiter = value.firstIndex(where: { $0 == "=" || $0 == ":" }) else { return nil }
        let name = String(value[..<delimiter])
        let rest = String(value[value.index(after: delimiter)...]).pyStrip()
        return (name, rest)
    }
}

extension StringProtocol {
    /// Python's `str.strip()`: Unicode whitespace off both ends. Minder's one whitespace trim.
    public func pyStrip() -> String {
        let scalars = Array(unicodeScalars)
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

extension String {

    func pyRStrip() -> String {
        let scalars = Array(unicodeScalars)
        guard let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(String.UnicodeScalarView(scalars[...last]))
    }

    /// Python's `str.split()` with no argument: runs of whitespace separate, none are kept.
    func pySplit() -> [String] {
        unicodeScalars.split(whereSeparator: { $0.properties.isWhitespace }).map { String(String.UnicodeScalarView($0)) }
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
