// The value types of supervisord's config (its datatypes.py), with the same
// leniency: what supervisord accepts is accepted, what it rejects is an error.

#if canImport(Glibc)
import Glibc  // inet_pton, for probe addresses
#endif

public struct ValueError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

enum Values {
    /// Python's `int(text)`: surrounding whitespace, a sign, `_` between digits.
    static func integer(_ text: String) throws(ValueError) -> Int {
        let t = text.pyStrip()
        var body = Substring(t)
        var negative = false
        if let first = body.first, first == "+" || first == "-" {
            negative = first == "-"
            body = body.dropFirst()
        }
        let valid = !body.isEmpty && body.first != "_" && body.last != "_" && !body.includes("__")
            && body.allSatisfy { $0 == "_" || ($0.isASCII && $0.isNumber) }
        guard valid, let magnitude = Int(body.filter { $0 != "_" }) else {
            throw ValueError("\(text.pyRepr) is not an integer")
        }
        return negative ? -magnitude : magnitude
    }

    static func boolean(_ text: String) throws(ValueError) -> Bool {
        switch text.lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: throw ValueError("\(text.pyRepr) is not a boolean (use true/false, yes/no, on/off or 1/0)")
        }
    }

    /// A byte count with an optional KB/MB/GB suffix (powers of 1024, any case).
    static func byteSize(_ text: String) throws(ValueError) -> Int {
        let lower = text.lowercased()
        for (suffix, multiplier) in [("kb", 1024), ("mb", 1024 * 1024), ("gb", 1024 * 1024 * 1024)]
        where lower.hasSuffix(suffix) {
            if let n = try? integer(String(lower.dropLast(2))) { return n * multiplier }
            throw ValueError("\(text.pyRepr) is not a byte size (a number with an optional KB, MB or GB suffix)")
        }
        do { return try integer(lower) } catch {
            throw ValueError("\(text.pyRepr) is not a byte size (a number with an optional KB, MB or GB suffix)")
        }
    }

    /// Python's `int(text, 8)`.
    static func octal(_ text: String) throws(ValueError) -> Int {
        var t = text.pyStrip().lowercased()
        var negative = false
        if t.hasPrefix("-") || t.hasPrefix("+") {
            negative = t.hasPrefix("-")
            t.removeFirst()
        }
        if t.hasPrefix("0o") { t.removeFirst(2) }
        let digits = t.filter { $0 != "_" }
        guard !digits.isEmpty, !t.hasPrefix("_"), !t.hasSuffix("_"), !t.includes("__"),
              let value = Int(digits, radix: 8) else {
            throw ValueError("\(text.pyRepr) is not an octal number")
        }
        return negative ? -value : value
    }

    static func exitCodes(_ text: String) throws(ValueError) -> [Int] {
        if text.isEmpty { return [] }
        var codes: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let code = try? integer(String(part)), (0...255).contains(code) else {
                throw ValueError("\(text.pyRepr) is not a list of exit codes (numbers 0-255 separated by commas)")
            }
            codes.append(code)
        }
        return codes
    }

    static let logLevels = ["critical", "error", "warn", "info", "debug", "trace", "blather"]

    static func logLevel(_ text: String) throws(ValueError) -> String {
        let lower = text.lowercased()
        guard logLevels.contains(lower) else {
            throw ValueError("\(text.pyRepr) is not a log level (one of \(logLevels.joined(separator: ", ")))")
        }
        return lower
    }

    /// `leftover_children=`: what minderd does with live children that a killed minderd of the
    /// same config left behind.
    static func leftoverChildren(_ text: String) throws(ValueError) -> SupervisordSettings.LeftoverChildren {
        guard let value = SupervisordSettings.LeftoverChildren(rawValue: text.pyStrip().lowercased()) else {
            throw ValueError("\(text.pyRepr) is not stop or leave")
        }
        return value
    }

    /// `ready=notify` or a probe.
    static func readySource(_ text: String) throws(ValueError) -> ReadySource {
        let t = text.pyStrip().lowercased()
        if t == "notify" { return .notify }
        if t.hasPrefix("fd:") {
            guard let n = Int32(t.dropFirst(3)), (3...9).contains(n) else {
                throw ValueError("\(text.pyRepr): the descriptor must be 3 to 9 (0 to 2 are stdio)")
            }
            return .fd(n)
        }
        guard t.hasPrefix("tcp:") || t.hasPrefix("http://") || t.hasPrefix("exec:") else {
            throw ValueError("\(text.pyRepr) is not a readiness source this Minder knows (notify, fd:N, tcp:ADDRESS:PORT, http://ADDRESS:PORT/PATH, exec:COMMAND)")
        }
        return .probe(try probe(text))
    }

    /// `tcp:HOST:PORT` or `http://HOST[:PORT]/PATH` (`[v6]` for IPv6): an IP address, `localhost`,
    /// or a name, which minderd looks up off its loop at each attempt.
    static func probe(_ text: String) throws(ValueError) -> Probe {
        let t = text.pyStrip()
        if t.lowercased().hasPrefix("exec:") {
            let command = String(t.dropFirst(5)).pyStrip()
            guard !command.isEmpty else { throw ValueError("\(text.pyRepr) has no command (exec:COMMAND)") }
            return .exec(command: command)
        }
        if t.lowercased().hasPrefix("http://") {
            var rest = t.dropFirst(7)
            var path = "/"
            if let slash = rest.firstIndex(of: "/") {
                path = String(rest[slash...])
                rest = rest[..<slash]
            }
            guard !path.contains(where: { $0 == " " || $0.isNewline }) else { throw ValueError("\(text.pyRepr): the path may not hold spaces or line ends") }
            let hasPort = rest.hasPrefix("[") ? rest.includes("]:") : rest.contains(":")
            let (host, port) = try address(text, hasPort ? rest : rest + ":80")
            return .http(host: host, port: port, path: path)
        }
        guard t.lowercased().hasPrefix("tcp:") else {
            throw ValueError("\(text.pyRepr) is not a probe this Minder knows (tcp:ADDRESS:PORT, http://ADDRESS:PORT/PATH, exec:COMMAND)")
        }
        let (host, port) = try address(text, t.dropFirst(4))
        return .tcp(host: host, port: port)
    }

    /// `HOST:PORT`, or `[v6]:PORT` for an IPv6 address: the two parts, unchecked; nil without a port.
    private static func splitHostPort(_ rest: Substring) -> (host: Substring, port: Substring)? {
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") {
            return (rest[rest.index(after: rest.startIndex)..<close], rest[rest.index(close, offsetBy: 2)...])
        }
        if let colon = rest.lastIndex(of: ":"), !rest[..<colon].contains(":") {
            return (rest[..<colon], rest[rest.index(after: colon)...])
        }
        return nil
    }

    /// `ADDRESS:PORT` or `[v6]:PORT` of a probe.
    private static func address(_ text: String, _ rest: Substring) throws(ValueError) -> (String, Int) {
        guard let (host, portText) = splitHostPort(rest) else { throw ValueError("\(text.pyRepr) has no port") }
        guard let port = Int(portText), (1...65535).contains(port) else { throw ValueError("\(text.pyRepr) has no valid port") }
        let address = host.lowercased() == "localhost" ? "127.0.0.1" : String(host)
        // A name: letters, digits, '-' and '.', as DNS and /etc/hosts have them.
        let isName = !address.isEmpty && address.count <= 253 && !address.hasPrefix("-")
            && address.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
        guard Probe.isAddress(address) || isName else {
            throw ValueError("\(text.pyRepr): \(host) is neither an IP address nor a host name")
        }
        return (address, port)
    }

    /// `NAME[:CONDITION], ...`: a condition is the part after the last colon when it is one of
    /// the condition words, so `group:process` names one process and `group:process:ready` too.
    static func dependencies(_ text: String) throws(ValueError) -> [Dependency] {
        var out: [Dependency] = []
        for item in text.split(separator: ",").map({ String($0).pyStrip() }) where !item.isEmpty {
            var name = item, condition = DependencyCondition.ready
            if let colon = item.lastIndex(of: ":"), let c = DependencyCondition(rawValue: item[item.index(after: colon)...].lowercased()) {
                name = String(item[..<colon])
                condition = c
            }
            guard !name.isEmpty, !name.contains(where: \.isWhitespace) else {
                throw ValueError("\(item.pyRepr) is not NAME or NAME:CONDITION (started, ready, healthy, completed)")
            }
            out.append(Dependency(name: name, condition: condition))
        }
        return out
    }

    /// `notify_access=main|exec|all`.
    static func shutdownWhen(_ text: String) throws(ValueError) -> ShutdownWhen {
        guard let when = ShutdownWhen(rawValue: text.pyStrip().lowercased()) else {
            throw ValueError("\(text.pyRepr) is not never, exited or fatal")
        }
        return when
    }

    static func notifyAccess(_ text: String) throws(ValueError) -> NotifyAccess {
        guard let access = NotifyAccess(rawValue: text.pyStrip().lowercased()) else {
            throw ValueError("\(text.pyRepr) is not main, exec or all")
        }
        return access
    }

    /// `syslog_server=udp://HOST:PORT` (`[v6]` for an IPv6 address).
    static func syslogServer(_ text: String) throws(ValueError) -> SyslogServer {
        let t = text.pyStrip()
        guard t.hasPrefix("udp://") else { throw ValueError("\(text.pyRepr) is not udp://HOST:PORT") }
        guard let (host, portText) = splitHostPort(t.dropFirst("udp://".count)) else {
            throw ValueError("\(text.pyRepr) has no port (udp://HOST:PORT)")
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else {
            throw ValueError("\(text.pyRepr) is not udp://HOST:PORT with a port 1-65535")
        }
        return SyslogServer(host: String(host), port: port)
    }

    /// Process and group names end up in URLs and the event protocol.
    static func name(_ text: String) throws(ValueError) -> String {
        let s = text.pyStrip()
        for bad in [" ", ":", "/"] where s.includes(bad) {
            throw ValueError("invalid name \(text.pyRepr): names may not contain \(bad.pyRepr)")
        }
        return s
    }

    static func autoRestart(_ text: String) throws(ValueError) -> AutoRestart {
        switch text.lowercased() {
        case "yes", "true", "on", "1": return .always
        case "no", "false", "off", "0": return .never
        case "unexpected": return .unexpected
        default: throw ValueError("\(text.pyRepr) is not an autorestart policy (true, false or unexpected)")
        }
    }

    /// A logfile value: NONE/OFF, AUTO, the deprecated `syslog`, or a path.
    static func logFileName(_ text: String) -> LogFileName {
        switch text.lowercased() {
        case "none", "off": return .none
        case "auto": return .auto
        case "syslog": return .syslog
        default: return .path(text)
        }
    }

    /// supervisord's `signal_number`: a number or a name with or without SIG.
    static func signal(_ text: String) throws(ValueError) -> Int32 {
        if let number = try? integer(text) {
            guard Signals.validNumbers.contains(number) else {
                throw ValueError("\(text.pyRepr) is not a valid signal number")
            }
            return Int32(number)
        }
        var name = text.pyStrip().uppercased()
        if !name.hasPrefix("SIG") { name = "SIG" + name }
        guard let number = Signals.pythonNames[name] else {
            throw ValueError("\(text.pyRepr) is not a signal name (such as TERM, HUP, INT, QUIT, KILL, USR1, USR2)")
        }
        return number
    }
}

public enum AutoRestart: String, Sendable, Equatable {
    case always, never, unexpected
}

enum LogFileName: Equatable {
    case none, auto, syslog
    case path(String)
}

/// Linux signal names and numbers, as Python's `signal` module names them.
public enum Signals {
    /// Every `SIG*` attribute of Python's signal module (supervisord accepts each).
    static let pythonNames: [String: Int32] = [
        "SIG_BLOCK": 0, "SIG_DFL": 0, "SIGHUP": 1, "SIG_IGN": 1, "SIG_UNBLOCK": 1, "SIGINT": 2, "SIG_SETMASK": 2,
        "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGIOT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9,
        "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16,
        "SIGCHLD": 17, "SIGCLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22,
        "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29,
        "SIGPOLL": 29, "SIGPWR": 30, "SIGSYS": 31, "SIGRTMIN": 34, "SIGRTMAX": 64,
    ]
    static let validNumbers = Set(pythonNames.values.map(Int.init))

    static let canonical: [Int32: String] = [
        1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE", 9: "KILL", 10: "USR1",
        11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 16: "STKFLT", 17: "CHLD", 18: "CONT",
        19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU", 23: "URG", 24: "XCPU", 25: "XFSZ", 26: "VTALRM",
        27: "PROF", 28: "WINCH", 29: "IO", 30: "PWR", 31: "SYS", 34: "RTMIN", 64: "RTMAX",
    ]

    /// The name without `SIG` ("TERM"), or nil for 0.
    public static func name(of number: Int32) -> String? { canonical[number] }

    /// A signal given as a name (with or without SIG, any case) or a number, for API and CLI use.
    public static func parse(_ text: String) -> Int32? {
        guard let n = try? Values.signal(text), n > 0 else { return nil }
        return n
    }
}
