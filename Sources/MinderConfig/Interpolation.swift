// supervisord expands every value with Python's `value % expansions`, so the
// rules are printf-style formatting against a mapping: `%(name)s`,
// `%(process_num)02d`, `%%` for a literal percent sign.

import Glibc

/// A value that `%(name)…` can refer to.
public enum ExpansionValue: Sendable, Equatable {
    case string(String)
    case int(Int)
}

public typealias Expansions = [String: ExpansionValue]

public enum ExpansionError: Error, Sendable, Equatable {
    /// `%(name)s` where no such name exists.
    case unknownName(String, available: [String])
    /// Anything else Python would reject (`%Y`, a dangling `%`, `%d` of a string...).
    case badFormat(String)
    /// A bare `%s`/`%r`: Python would paste the whole expansion table into the value.
    case wholeTable(String)

    public var message: String {
        switch self {
        case let .unknownName(name, available):
            if name.hasPrefix("ENV_") {
                return "%(\(name))s: the environment variable \(name.dropFirst(4)) is not set (neither in minderd's environment nor in an environment= line read before this one)"
            }
            let names = available.filter { !$0.hasPrefix("ENV_") }
            var message = "%(\(name))s is not a name that can be expanded here (available: \((names + ["ENV_<variable>"]).joined(separator: ", ")))"
            if let close = names.min(by: { KnownOptions.editDistance($0, name) < KnownOptions.editDistance($1, name) }),
               KnownOptions.editDistance(close, name) <= 2 {
                message += "; did you mean %(\(close))s?"
            }
            return message + "; write %% for a literal %"
        case let .badFormat(detail):
            return "bad %-format: \(detail); write %% for a literal %"
        case let .wholeTable(spec):
            return "\(spec) without a (name) would insert supervisord's whole table of expansions; write %% for a literal %"
        }
    }
}

/// `format % expansions` with CPython's rules.
public func pyFormat(_ format: String, _ expansions: Expansions) throws(ExpansionError) -> String {
    try pyFormat(format, expansions, over: [:])
}

/// `format % fallback.merging(expansions)`, without building the merged table for every value
/// (the environment's ENV_ names make it large, and a config with numprocs reads many values).
public func pyFormat(_ format: String, _ expansions: Expansions, over fallback: Expansions) throws(ExpansionError) -> String {
    guard format.unicodeScalars.contains("%") else { return format }
    let s = Array(format.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    while i < s.count {
        let c = s[i]
        if c != "%" {
            out.append(c)
            i += 1
            continue
        }
        let start = i
        i += 1
        guard i < s.count else { throw .badFormat("incomplete format") }
        var key: String?
        if s[i] == "(" {
            var depth = 1
            var j = i + 1
            while j < s.count, depth > 0 {
                if s[j] == "(" { depth += 1 } else if s[j] == ")" { depth -= 1 }
                j += 1
            }
            guard depth == 0 else { throw .badFormat("incomplete format key") }
            key = String(String.UnicodeScalarView(s[(i + 1)..<(j - 1)]))
            i = j
        }
        var flags = Set<Unicode.Scalar>()
        while i < s.count, "-+ #0".unicodeScalars.contains(s[i]) {
            flags.insert(s[i])
            i += 1
        }
        // A width or precision is bounded: Python would build the whole padded string, and a
        // typo of a few more digits must not exhaust memory (or overflow).
        func number() throws(ExpansionError) -> Int? {
            if i < s.count, s[i] == "*" { throw .badFormat("* wants int") }
            var n: Int?
            while i < s.count, let d = Int(String(s[i])), s[i].isASCII {
                n = (n ?? 0) * 10 + d
                guard n! <= maxFormatWidth else { throw .badFormat("width or precision above \(maxFormatWidth)") }
                i += 1
            }
            return n
        }
        let width = try number() ?? 0
        var precision: Int?
        if i < s.count, s[i] == "." {
            i += 1
            precision = try number() ?? 0
        }
        while i < s.count, "hlL".unicodeScalars.contains(s[i]) { i += 1 }
        guard i < s.count else { throw .badFormat("incomplete format") }
        let conversion = s[i]
        i += 1
        if conversion == "%" {
            out.append("%")
            continue
        }
        guard "sradiuoxXeEfFgGc".unicodeScalars.contains(conversion) else {
            let code = String(conversion.value, radix: 16)
            throw .badFormat("unsupported format character '\(conversion)' (0x\(code)) at index \(i - 1)")
        }
        guard let key else {
            throw .wholeTable(String(String.UnicodeScalarView(s[start..<i])))
        }
        guard let value = expansions[key] ?? fallback[key] else {
            throw .unknownName(key, available: Set(expansions.keys).union(fallback.keys).sorted())
        }
        let text = try formatOne(value, conversion: conversion, flags: flags, precision: precision)
        out.append(contentsOf: pad(text, width: width, flags: flags, numeric: !"src".unicodeScalars.contains(conversion)).unicodeScalars)
    }
    return String(out)
}

private func formatOne(_ value: ExpansionValue, conversion: Unicode.Scalar, flags: Set<Unicode.Scalar>,
                       precision: Int?) throws(ExpansionError) -> String {
    func truncated(_ text: String) -> String {
        guard let precision else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.prefix(precision)))
    }
    switch (conversion, value) {
    case ("s", .string(let v)): return truncated(v)
    case ("s", .int(let v)), ("r", .int(let v)), ("a", .int(let v)): return truncated(String(v))
    case ("r", .string(let v)), ("a", .string(let v)): return truncated(v.pyRepr)
    case ("c", .int(let v)):
        guard let scalar = Unicode.Scalar(UInt32(clamping: max(v, 0))), v >= 0 else {
            throw .badFormat("%c arg not in range(0x110000)")
        }
        return String(Character(scalar))
    case ("c", .string(let v)):
        guard v.unicodeScalars.count == 1 else { throw .badFormat("%c requires an int or a unicode character, not a string of length \(v.unicodeScalars.count)") }
        return v
    case (_, .string):
        throw .badFormat("%\(conversion) format: a real number is required, not str")
    case (_, .int(let v)):
        var sign = v < 0 ? "-" : (flags.contains("+") ? "+" : (flags.contains(" ") ? " " : ""))
        let magnitude = v.magnitude
        var digits: String
        switch conversion {
        case "d", "i", "u": digits = String(magnitude)
        case "o": digits = String(magnitude, radix: 8); if flags.contains("#") { sign += "0o" }
        case "x": digits = String(magnitude, radix: 16); if flags.contains("#") { sign += "0x" }
        case "X": digits = String(magnitude, radix: 16).uppercased(); if flags.contains("#") { sign += "0X" }
        default:
            let spec = "%" + (flags.contains("#") ? "#" : "") + ".\(precision ?? 6)" + String(conversion)
            return sign + cFormat(spec, Double(magnitude))
        }
        if let precision, digits.count < precision { digits = digits.leftPadded(to: precision) }
        return sign + digits
    }
}

/// The widest `%` field Minder makes.
let maxFormatWidth = 65536

private func pad(_ text: String, width: Int, flags: Set<Unicode.Scalar>, numeric: Bool) -> String {
    let length = text.unicodeScalars.count
    guard width > length else { return text }
    let fill = width - length
    if flags.contains("-") { return text + String(repeating: " ", count: fill) }
    if numeric, flags.contains("0") {
        // Zeros go after the sign and radix prefix.
        let signPart = String(text.prefix(while: { "+- ".contains($0) }))
        var rest = String(text.dropFirst(signPart.count))
        var radix = ""
        if rest.hasPrefix("0x") || rest.hasPrefix("0X") || rest.hasPrefix("0o") {
            radix = String(rest.prefix(2))
            rest = String(rest.dropFirst(2))
        }
        return signPart + radix + String(repeating: "0", count: fill) + rest
    }
    return String(repeating: " ", count: fill) + text
}

/// printf's rendering of one number (Python's % applies C's rules for the float conversions).
/// The whole of it, however long: a second pass has the size the first one reported.
public func cFormat(_ spec: String, _ value: Double) -> String {
    var buffer = [CChar](repeating: 0, count: 512)
    var n = withVaList([value]) { vsnprintf(&buffer, buffer.count, spec, $0) }
    if n >= buffer.count {
        buffer = [CChar](repeating: 0, count: Int(n) + 1)
        n = withVaList([value]) { vsnprintf(&buffer, buffer.count, spec, $0) }
    }
    return String(decoding: buffer.prefix(max(0, min(Int(n), buffer.count - 1))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
