// The two ways supervisord tokenizes values with Python's shlex module:
// commands with `shlex.split` (POSIX shell quoting, no shell), and
// `environment=` with a non-POSIX shlex whose quirks decide what is valid.

public struct CommandSplitError: Error, Sendable, Equatable {
    public var message: String
}

/// `shlex.split(command)`: POSIX mode, whitespace-separated words, '…' literal,
/// "…" with backslash escaping only `\` and `"`, backslash outside quotes
/// escaping any character.
public func splitCommand(_ command: String) throws(CommandSplitError) -> [String] {
    var words: [String] = []
    var token = String.UnicodeScalarView()
    var inWord = false  // a token is started (possibly empty, from quotes)
    var scalars = command.unicodeScalars.makeIterator()
    let whitespace = shlexWhitespace
    while let c = scalars.next() {
        switch c {
        case _ where whitespace.contains(c):
            if inWord {
                words.append(String(token))
                token = String.UnicodeScalarView()
                inWord = false
            }
        case "\\":
            guard let next = scalars.next() else { throw CommandSplitError(message: "No escaped character") }
            token.append(next)
            inWord = true
        case "'":
            inWord = true
            var closed = false
            while let q = scalars.next() {
                if q == "'" { closed = true; break }
                token.append(q)
            }
            if !closed { throw CommandSplitError(message: "No closing quotation") }
        case "\"":
            inWord = true
            var closed = false
            while let q = scalars.next() {
                if q == "\"" { closed = true; break }
                if q == "\\" {
                    guard let escaped = scalars.next() else { break }
                    if escaped != "\"" && escaped != "\\" { token.append("\\") }
                    token.append(escaped)
                    continue
                }
                token.append(q)
            }
            if !closed { throw CommandSplitError(message: "No closing quotation") }
        default:
            token.append(c)
            inWord = true
        }
    }
    if inWord { words.append(String(token)) }
    return words
}

// Made once: a config with numprocs=1000 splits a command and reads an environment= for each process.
private let shlexWordChars = Set("abcdfeghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.+-():".unicodeScalars)
private let shlexWhitespace: Set<Unicode.Scalar> = [" ", "\t", "\r", "\n"]
private let shlexQuotes: Set<Unicode.Scalar> = ["'", "\""]

/// Tokens of `shlex.shlex(value)` in its default non-POSIX mode, with
/// `/.+-():` added to the word characters as supervisord does. Quoted tokens
/// keep their quotes; any other character is a token of its own.
func environmentTokens(_ value: String) throws(EnvironmentParseError) -> [String] {
    let (wordChars, whitespace, quotes) = (shlexWordChars, shlexWhitespace, shlexQuotes)
    let input = Array(value.unicodeScalars)
    var i = 0
    var tokens: [String] = []

    func skipComment() {
        while i < input.count, input[i] != "\n" { i += 1 }
        if i < input.count { i += 1 }
    }

    while i < input.count {
        let c = input[i]
        i += 1
        if whitespace.contains(c) { continue }
        if c == "#" { skipComment(); continue }
        var token = String.UnicodeScalarView([c])
        if quotes.contains(c) {
            var closed = false
            while i < input.count {
                let q = input[i]
                i += 1
                token.append(q)
                if q == c { closed = true; break }
            }
            if !closed { throw EnvironmentParseError(message: "a quote is not closed in \(value.pyRepr)") }
        } else if wordChars.contains(c) {
            while i < input.count {
                let w = input[i]
                if whitespace.contains(w) { break }
                i += 1
                // Non-POSIX shlex goes on with the same word after a comment.
                if w == "#" { skipComment(); continue }
                if wordChars.contains(w) || quotes.contains(w) { token.append(w); continue }
                i -= 1  // this character is the next token
                break
            }
        }
        tokens.append(String(token))
    }
    return tokens
}

public struct EnvironmentParseError: Error, Sendable, Equatable {
    public var message: String
}

/// supervisord's `dict_of_key_value_pairs`: tokens taken as KEY = VALUE
/// followed by one separator token of any kind; quotes stripped off the value's ends.
/// Pairs keep their order; a repeated key keeps its first place and its last value.
public func parseEnvironment(_ value: String) throws(EnvironmentParseError) -> [(String, String)] {
    let tokens = try environmentTokens(value)
    var pairs: [(String, String)] = []
    var i = 0
    while i < tokens.count {
        guard i + 2 < tokens.count, tokens[i + 1] == "=" else {
            let near = tokens[i..<min(tokens.count, i + 3)].joined(separator: " ")
            throw EnvironmentParseError(
                message: "expected KEY=value pairs separated by commas near \(near.pyRepr) in \(value.pyRepr); quote values that contain anything but letters, digits and _/.+-():")
        }
        let key = tokens[i]
        let v = tokens[i + 2].trimmingScalars(in: ["'", "\""])
        if let existing = pairs.firstIndex(where: { $0.0 == key }) {
            pairs[existing].1 = v
        } else {
            pairs.append((key, v))
        }
        i += 4
    }
    return pairs
}

extension String {
    func trimmingScalars(in set: Set<Unicode.Scalar>) -> String {
        let scalars = Array(unicodeScalars)
        guard let first = scalars.firstIndex(where: { !set.contains($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !set.contains($0) })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
