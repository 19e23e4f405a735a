// The control API's router: a request's method, target and body to what it
// asks for, or to the error reply it gets. Pure and total: every input, however
// malformed, gives a route or an error, never a trap (a fuzz target feeds it
// arbitrary bytes). The server dispatches the route; docs/api.md lists them.

import Glibc

public enum ControlRoute: Equatable, Sendable {
    case supervisorInfo
    /// nil: every process. `fields`: only these keys of each record (nil: all).
    case statuses(NameSpec?, fields: Set<String>? = nil)
    /// `?deps=false`: do not start what it depends on (refused when that is not up).
    case start(NameSpec, wait: Bool, deps: Bool = true)
    case stop(NameSpec, wait: Bool)
    case restart(NameSpec, wait: Bool)
    case signal(NameSpec, String)
    case stdin(NameSpec, String)
    case clearLogs(NameSpec)
    case readLog(LogTarget, LogQuery)
    case reread
    case update(groups: [String]?)
    case reload
    case addGroup(String)
    case removeGroup(String)
    case config
    case remoteEvent(type: String, data: String)
    /// GET /events: every state event from now on (after `Last-Event-ID`), as server-sent events.
    case followEvents
    /// A message queue of the peer's own for every event; the list of them; the end of one.
    case subscribe(SubscribeRequest)
    case subscriptions
    case unsubscribe(Int)
    case shutdown

    public enum LogTarget: Equatable, Sendable {
        case main
        case process(NameSpec, channel: String)
    }

    /// `tail` bytes from the end, or supervisord's `offset`/`length` protocol; `follow` streams.
    public struct LogQuery: Equatable, Sendable {
        public var tail: Int?
        public var offset: Int?
        public var length: Int
        public var follow: Bool

        public init(tail: Int?, offset: Int?, length: Int, follow: Bool) {
            self.tail = tail
            self.offset = offset
            self.length = length
            self.follow = follow
        }
    }

    /// An error reply before anything reaches minderd's loop.
    public struct Refusal: Error, Equatable, Sendable {
        public var fault: Fault
        public var message: String
        /// The HTTP status when it is not the fault's own.
        public var status: Int

        init(_ fault: Fault, _ message: String, status: Int? = nil) {
            self.fault = fault
            self.message = message
            self.status = status ?? fault.httpStatus
        }
    }

    /// `target` is the request line's target (path and query) as sent.
    public static func parse(method: String, target: String, body: [UInt8]) -> Result<ControlRoute, Refusal> {
        let (path, query) = split(target)
        guard path == ControlAPI.prefix || path.hasPrefix(ControlAPI.prefix + "/") else {
            return .failure(Refusal(.UNKNOWN_METHOD, "no such endpoint: \(path)"))
        }
        let parts = path.dropFirst(ControlAPI.prefix.count).split(separator: "/").map { decoded($0) }
        let wait = flag(query["wait"], default: true)
        func wrongMethod(_ allowed: String) -> Result<ControlRoute, Refusal> {
            .failure(Refusal(.INCORRECT_PARAMETERS, "use \(allowed) here", status: 405))
        }
        func only(_ allowed: String, _ route: ControlRoute) -> Result<ControlRoute, Refusal> {
            method == allowed ? .success(route) : wrongMethod(allowed)
        }
        func decodedBody<T: Decodable>(_ type: T.Type, _ expected: String) -> Result<T, Refusal> {
            guard let value = try? JSON.decode(type, body) else {
                return .failure(Refusal(.INCORRECT_PARAMETERS, "expected \(expected)"))
            }
            return .success(value)
        }
        let noSuch = Result<ControlRoute, Refusal>.failure(Refusal(.UNKNOWN_METHOD, "no such endpoint: \(path)"))

        switch (parts.first, parts.count) {
        case ("supervisor", 1): return only("GET", .supervisorInfo)
        case ("processes", 1): return statusFields(query).flatMap { only("GET", .statuses(nil, fields: $0)) }
        case ("processes", 2): return statusFields(query).flatMap { only("GET", .statuses(NameSpec(parts[1]), fields: $0)) }
        case ("processes", 3):
            let spec = NameSpec(parts[1])
            switch parts[2] {
            case "log": return only("DELETE", .clearLogs(spec))
            case "start": return only("POST", .start(spec, wait: wait, deps: flag(query["deps"], default: true)))
            case "stop": return only("POST", .stop(spec, wait: wait))
            case "restart": return only("POST", .restart(spec, wait: wait))
            case "signal":
                guard method == "POST" else { return wrongMethod("POST") }
                return decodedBody(SignalRequest.self, "{\"signal\": \"HUP\"}").map { .signal(spec, $0.signal) }
            case "stdin":
                guard method == "POST" else { return wrongMethod("POST") }
                return decodedBody(StdinRequest.self, "{\"data\": \"...\"}").map { .stdin(spec, $0.data) }
            default: return noSuch
            }
        case ("processes", 4) where parts[2] == "log" && (parts[3] == "stdout" || parts[3] == "stderr"):
            return logQuery(query).flatMap { only("GET", .readLog(.process(NameSpec(parts[1]), channel: parts[3]), $0)) }
        case ("log", 1):
            return logQuery(query).flatMap { only("GET", .readLog(.main, $0)) }
        case ("reread", 1): return only("POST", .reread)
        case ("update", 1):
            return only("POST", .update(groups: query["groups"].map { $0.split(separator: ",").map(String.init) }))
        case ("reload", 1): return only("POST", .reload)
        case ("groups", 2):
            switch method {
            case "POST": return .success(.addGroup(parts[1]))
            case "DELETE": return .success(.removeGroup(parts[1]))
            default: return wrongMethod("POST or DELETE")
            }
        case ("config", 1): return only("GET", .config)
        case ("events", 1):
            if method == "GET" { return .success(.followEvents) }
            guard method == "POST" else { return wrongMethod("GET or POST") }
            return decodedBody(RemoteEventRequest.self, "{\"type\": \"...\", \"data\": \"...\"}").map {
                .remoteEvent(type: $0.type, data: $0.data)
            }
        case ("events", 2) where parts[1] == "subscriptions":
            switch method {
            case "GET": return .success(.subscriptions)
            case "POST":
                // An empty body asks for the defaults.
                if body.isEmpty { return .success(.subscribe(SubscribeRequest())) }
                return decodedBody(SubscribeRequest.self, "{\"maxmsg\": 64, \"msgsize\": 1024, \"pid\": 1234} (each optional)").map { .subscribe($0) }
            default: return wrongMethod("GET or POST")
            }
        case ("events", 3) where parts[1] == "subscriptions":
            guard let id = Int(parts[2]), id > 0 else { return noSuch }
            return only("DELETE", .unsubscribe(id))
        case ("shutdown", 1): return only("POST", .shutdown)
        default: return noSuch
        }
    }

    /// tail, offset and length are counts of bytes; a reply never carries more than
    /// ControlAPI.maxLogReadBytes of the log, whatever is asked.
    /// `?fields=name,statename`: the keys of ProcessStatus to write, so that a client that shows a
    /// few of them (`minderctl status`) does not make minderd write, and itself read, the rest.
    static func statusFields(_ query: [String: String]) -> Result<Set<String>?, Refusal> {
        guard let text = query["fields"] else { return .success(nil) }
        let fields = text.split(separator: ",").map(String.init)
        if let unknown = fields.first(where: { !ProcessStatus.keys.contains($0) }) ?? (fields.isEmpty ? "" : nil) {
            return .failure(Refusal(.INCORRECT_PARAMETERS,
                                    "unknown field '\(unknown)'; fields are \(ProcessStatus.keys.joined(separator: ","))"))
        }
        return .success(Set(fields))
    }

    static func logQuery(_ query: [String: String]) -> Result<LogQuery, Refusal> {
        var numbers: [String: Int] = [:]
        for key in ["tail", "offset", "length"] {
            guard let text = query[key] else { continue }
            guard let n = Int(text), n >= 0 else {
                return .failure(Refusal(.BAD_ARGUMENTS, "tail, offset and length must be numbers, 0 or more"))
            }
            numbers[key] = key == "offset" ? n : min(n, ControlAPI.maxLogReadBytes)
        }
        let tail = numbers["offset"] == nil ? (numbers["tail"] ?? 1600) : nil
        return .success(LogQuery(tail: tail, offset: numbers["offset"], length: numbers["length"] ?? 1600,
                                 follow: flag(query["follow"], default: false)))
    }

    /// A path segment or query value without its %XX escapes (Foundation's decoder, which is
    /// slow enough to show in status queries, only when there is one).
    static func decoded(_ text: Substring) -> String {
        let plain = String(text)
        return text.utf8.contains(UInt8(ascii: "%")) ? percentDecoded(plain) ?? plain : plain
    }

    /// A boolean query parameter: absent gives the default; false/0/no/off turn it off.
    static func flag(_ value: String?, default: Bool) -> Bool {
        guard let value else { return `default` }
        return !["false", "0", "no", "off"].contains(value.lowercased())
    }

    /// The path and the query's parameters. A parameter with no name (`?=`, `?&`) is ignored,
    /// one with no `=` has an empty value, and the last of repeated ones wins.
    /// `plusIsSpace`: a `+` is a space, as in HTML forms and supervisord's query parsing.
    static func split(_ target: String, plusIsSpace: Bool = false) -> (String, [String: String]) {
        guard let q = target.firstIndex(of: "?") else { return (target, [:]) }
        func decoded(_ text: Substring) -> String {
            ControlRoute.decoded(plusIsSpace && text.contains("+") ? Substring(String(text.map { $0 == "+" ? " " : $0 })) : text)
        }
        var query: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let name: Substring, value: Substring
            if let eq = pair.firstIndex(of: "=") {
                name = pair[..<eq]
                value = pair[pair.index(after: eq)...]
            } else {
                name = pair
                value = ""
            }
            guard !name.isEmpty else { continue }
            query[decoded(name)] = decoded(value)
        }
        return (String(target[..<q]), query)
    }
}
