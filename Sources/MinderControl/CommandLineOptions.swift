// minderd's command line: a table of options, read the way supervisord's getopt reads them
// (`-c FILE`, `-cFILE`, `-nk`, `--configuration=FILE`, `--configuration FILE`, `--config FILE`), and from the same
// table its --help, the help dump that generate-manual makes the man page from, and its bash, zsh
// and fish completions. swift-argument-parser would bring FoundationEssentials into minderd (for
// its JSON help dump), a third of the stripped binary; minderctl, with its many commands, keeps it.

import MinderConfig

/// One option: a flag, or an option that takes a value.
public struct CommandLineOption: Sendable {
    public enum Completion: Sendable, Equatable {
        case none, file, directory, user
        case list([String])
    }

    public let short: Character?
    public let long: String
    /// The value's name (`<configuration>`), or nil for a flag.
    public let valueName: String?
    public let help: String
    public let completion: Completion
    /// Kept out of --help, the man page and completions: for minderd's own use.
    public let hidden: Bool

    public static func flag(_ short: Character?, _ long: String, _ help: String, hidden: Bool = false) -> Self {
        Self(short: short, long: long, valueName: nil, help: help, completion: .none, hidden: hidden)
    }

    public static func option(_ short: Character?, _ long: String, _ help: String, completion: Completion = .none,
                              hidden: Bool = false) -> Self {
        Self(short: short, long: long, valueName: long, help: help, completion: completion, hidden: hidden)
    }

    var names: String {
        let long = "--" + long + (valueName.map { " <\($0)>" } ?? "")
        return short.map { "-\($0), \(long)" } ?? long
    }
}

/// What a command line asked for.
public enum CommandLineRequest: Equatable, Sendable {
    /// Run with these values, by long name (a flag's value is "true"; the last of a repeated option wins).
    case run([String: String])
    case help
    case dumpHelp
    case completion(shell: String)
}

public struct CommandLineError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

public struct CommandLineSpec: Sendable {
    public let command: String
    public let abstract: String
    public let options: [CommandLineOption]

    public init(command: String, abstract: String, options: [CommandLineOption]) {
        self.command = command
        self.abstract = abstract
        self.options = options
    }

    private var visible: [CommandLineOption] { options.filter { !$0.hidden } }
    /// What help, its dump and the completions list: the visible options and -h/--help.
    private var listed: [CommandLineOption] { visible + [.flag("h", "help", "Show help information.")] }

    public func parse(_ arguments: [String]) throws(CommandLineError) -> CommandLineRequest {
        var values: [String: String] = [:]
        var rest = arguments[...]
        while let word = rest.popFirst() {
            if word == "-h" || word == "--help" { return .help }
            if word == "--experimental-dump-help" { return .dumpHelp }
            if word == "--generate-completion-script" {
                guard let shell = rest.popFirst(), ["bash", "zsh", "fish"].contains(shell) else {
                    throw CommandLineError(description: "--generate-completion-script takes bash, zsh or fish")
                }
                return .completion(shell: shell)
            }
            if word == "--" {
                // getopt's end of options; minderd takes no other words.
                if let stray = rest.first { throw CommandLineError(description: "unexpected argument '\(stray)'") }
                break
            }
            if word.hasPrefix("--") {
                let body = word.dropFirst(2)
                let (given, inline) = body.firstIndex(of: "=").map { (String(body[..<$0]), String(body[body.index(after: $0)...])) }
                    ?? (String(body), nil)
                let option = try longOption(given)
                let name = option.long
                if option.valueName == nil {
                    guard inline == nil else { throw CommandLineError(description: "--\(name) takes no value") }
                    values[name] = "true"
                } else {
                    guard let value = inline ?? rest.popFirst() else { throw CommandLineError(description: "--\(name) needs a value") }
                    values[name] = value
                }
            } else if word.hasPrefix("-"), word.count > 1 {
                // A group of short flags, the last of which may take a value: `-nk`, `-nc FILE`, `-cFILE`.
                var letters = word.dropFirst()
                while let letter = letters.popFirst() {
                    if letter == "h" { return .help }
                    guard let option = options.first(where: { $0.short == letter }) else {
                        throw CommandLineError(description: "unknown option '-\(letter)'")
                    }
                    if option.valueName == nil {
                        values[option.long] = "true"
                        continue
                    }
                    guard let value = letters.isEmpty ? rest.popFirst() : String(letters) else {
                        throw CommandLineError(description: "-\(letter) needs a value")
                    }
                    values[option.long] = value
                    break
                }
            } else {
                throw CommandLineError(description: "unexpected argument '\(word)'")
            }
        }
        return .run(values)
    }

    /// By its whole name, or, as Python's getopt takes them, by a prefix that only it has.
    private func longOption(_ given: String) throws(CommandLineError) -> CommandLineOption {
        if let exact = options.first(where: { $0.long == given }) { return exact }
        let matches = given.isEmpty ? [] : visible.filter { $0.long.hasPrefix(given) }
        guard matches.count == 1 else {
            if matches.isEmpty { throw CommandLineError(description: "unknown option '--\(given)'") }
            let names = matches.map { "--" + $0.long }.joined(separator: ", ")
            throw CommandLineError(description: "option '--\(given)' is ambiguous (\(names))")
        }
        return matches[0]
    }

    /// In the layout swift-argument-parser uses, as minderctl's help is.
    public var help: String {
        var text = wrapped("OVERVIEW: " + abstract, width: 80).joined(separator: "\n")
            + "\n\nUSAGE: \(command) <options>\n\nOPTIONS:\n"
        // Names in a column of 26, the help beside them (or below, when the names are longer).
        let column = 26
        let pad = String(repeating: " ", count: column)
        for option in listed {
            let names = "  " + option.names
            let lines = wrapped(option.help, width: 80 - column)
            text += (names.count <= column - 2 ? names + String(repeating: " ", count: column - names.count)
                                               : names + "\n" + pad) + lines[0] + "\n"
            for line in lines.dropFirst() { text += pad + line + "\n" }
        }
        return text
    }

    /// The words of `text` in lines of at most `width` columns.
    private func wrapped(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        return lines + [line]
    }

    /// swift-argument-parser's help dump (ToolInfo, serialization version 0), which its
    /// generate-manual tool turns into a man page.
    public var dumpHelp: [UInt8] {
        struct Name: Encodable { let kind: String, name: String }
        struct Argument: Encodable {
            let kind: String
            let names: [Name]
            let preferredName: Name
            let valueName: String
            let abstract: String
            let isOptional = true, isRepeating = false, shouldDisplay = true
            let parsingStrategy = "default"
        }
        struct Command: Encodable { let commandName: String, abstract: String, arguments: [Argument] }
        struct Info: Encodable { let serializationVersion = 0, command: Command }
        let arguments = listed.map { option in
            let long = Name(kind: "long", name: option.long)
            return Argument(kind: option.valueName == nil ? "flag" : "option",
                            names: (option.short.map { [Name(kind: "short", name: String($0))] } ?? []) + [long],
                            preferredName: long, valueName: option.valueName ?? option.long, abstract: option.help)
        }
        return JSON.encode(Info(command: Command(commandName: command, abstract: abstract, arguments: arguments)))
    }

    public func completionScript(shell: String) -> String {
        switch shell {
        case "bash": bashCompletion
        case "zsh": zshCompletion
        default: fishCompletion
        }
    }

    private func spellings(_ option: CommandLineOption) -> [String] {
        (option.short.map { ["-\($0)"] } ?? []) + ["--\(option.long)"]
    }

    private var bashCompletion: String {
        var cases = ""
        for option in visible where option.valueName != nil {
            let reply = switch option.completion {
            case .file: "COMPREPLY=($(compgen -f -- \"$cur\"))"
            case .directory: "COMPREPLY=($(compgen -d -- \"$cur\"))"
            case .user: "COMPREPLY=($(compgen -u -- \"$cur\"))"
            case .list(let words): "COMPREPLY=($(compgen -W \"\(words.joined(separator: " "))\" -- \"$cur\"))"
            case .none: "COMPREPLY=()"
            }
            cases += "        \(spellings(option).joined(separator: "|"))) \(reply); return ;;\n"
        }
        let words = listed.flatMap(spellings).joined(separator: " ")
        return """
            _\(command)() {
                local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
                case "$prev" in
            \(cases)    esac
                COMPREPLY=($(compgen -W "\(words)" -- "$cur"))
            }
            complete -F _\(command) \(command)

            """
    }

    private var zshCompletion: String {
        func quoted(_ text: String) -> String {
            text.replacingAll("'", with: "'\\''").replacingAll("[", with: "\\[").replacingAll("]", with: "\\]")
        }
        var lines = ["#compdef \(command)", "", "_arguments -s \\"]
        for option in visible {
            let names = spellings(option)
            let exclusive = names.count > 1 ? "'(\(names.joined(separator: " ")))'" : ""
            let spelled = names.count > 1 ? "{\(names.joined(separator: ","))}" : names[0]
            var action = ""
            if let value = option.valueName {
                action = switch option.completion {
                case .file: ":\(value):_files"
                case .directory: ":\(value):_files -/"
                case .user: ":\(value):_users"
                case .list(let words): ":\(value):(\(words.joined(separator: " ")))"
                case .none: ":\(value): "
                }
            }
            lines.append("  \(exclusive)\(spelled)'[\(quoted(option.help))]\(quoted(action))' \\")
        }
        lines.append("  '(- *)'{-h,--help}'[Show help information.]'")
        return lines.joined(separator: "\n") + "\n"
    }

    private var fishCompletion: String {
        var lines: [String] = []
        for option in visible {
            var line = "complete -c \(command)"
            if let short = option.short { line += " -s \(short)" }
            line += " -l \(option.long) -d '\(option.help.replacingAll("\\", with: "\\\\").replacingAll("'", with: "\\'"))'"
            if option.valueName != nil {
                let value: String = switch option.completion {
                case .file: " -r -F"
                case .directory: " -x -a '(__fish_complete_directories)'"
                case .user: " -x -a '(__fish_complete_users)'"
                case .list(let words): " -x -a '\(words.joined(separator: " "))'"
                case .none: " -x"
                }
                line += value
            }
            lines.append(line)
        }
        lines.append("complete -c \(command) -s h -l help -d 'Show help information.'")
        return lines.joined(separator: "\n") + "\n"
    }
}
