// The web page's router: which page a request asks for, and whether an action
// acts now or asks first. Pure and total like ControlRoute (the router's fuzz
// target feeds it too). supervisord's URLs are kept (`/`, `index.html` with
// `processname` and `action`, `tail.html`); docs/web.md lists them.

public enum WebRoute: Equatable, Sendable {
    /// The status table, with the message a finished action left (`?message=`).
    case status(message: String?)
    /// An action: done now (a script, or the page's own POST), or, for a GET from a browser,
    /// a form that asks to confirm it (a link from another site cannot act).
    case action(WebAction, confirm: Bool)
    /// The last `limit` bytes of a log, followed live by the page's script.
    case tail(WebTail)
    /// The page's stylesheet or script, built into minderd.
    case asset(String)
    /// `page.events`: one server-sent event stream per open page with every change.
    case stream

    public static let assets = ["page.css", "page.js"]
}

public struct WebAction: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case start, stop, restart, clearlog, signal, stopall, restartall
    }

    public var kind: Kind
    /// `name`, `group:name` or `group:*`; empty for stopall and restartall.
    public var processname: String
    /// For `signal`: a name (`HUP`, `SIGHUP`) or number.
    public var signal: String

    public init(kind: Kind, processname: String, signal: String = "") {
        self.kind = kind
        self.processname = processname
        self.signal = signal
    }
}

public struct WebTail: Equatable, Sendable {
    /// nil: minderd's main log.
    public var processname: String?
    public var channel: String
    public var limit: Int

    public init(processname: String?, channel: String, limit: Int) {
        self.processname = processname
        self.channel = channel
        self.limit = limit
    }
}

extension WebRoute {
    /// nil when `target` is not one of the page's URLs. `fromBrowser`: the request carries fetch
    /// metadata (`Sec-Fetch-Site` and friends), which every current browser sends and scripts do not.
    public static func parse(method: String, target: String, body: [UInt8], fromBrowser: Bool) -> Result<WebRoute, ControlRoute.Refusal>? {
        let (path, query) = ControlRoute.split(target, plusIsSpace: true)
        let wrongMethod = Result<WebRoute, ControlRoute.Refusal>.failure(
            ControlRoute.Refusal(.INCORRECT_PARAMETERS, "use GET here", status: 405))
        switch path {
        case "/", "/index.html":
            if method == "POST" {
                guard path == "/index.html" else { return .failure(ControlRoute.Refusal(.INCORRECT_PARAMETERS, "post actions to index.html", status: 405)) }
                let form = ControlRoute.split("?" + String(decoding: body, as: UTF8.self), plusIsSpace: true).1
                guard let action = action(form) else {
                    return .failure(ControlRoute.Refusal(.BAD_ARGUMENTS, "expected processname, action (\(actionNames)) and, for signal, signal"))
                }
                return .success(.action(action, confirm: false))
            }
            guard method == "GET" || method == "HEAD" else { return wrongMethod }
            // supervisord's `refresh` and an unknown action just show the page.
            guard let action = action(query) else { return .success(.status(message: query["message"])) }
            return .success(.action(action, confirm: fromBrowser))
        case "/tail.html":
            guard method == "GET" || method == "HEAD" else { return wrongMethod }
            let name = query["processname"].flatMap { $0.isEmpty ? nil : $0 }
            let channel = query["channel"] == "stderr" ? "stderr" : "stdout"
            // supervisord's default; a page never carries more than the API's cap.
            let limit = query["limit"].flatMap { Int($0) }.map { min(max($0, 0), ControlAPI.maxLogReadBytes) } ?? 1024
            return .success(.tail(WebTail(processname: name, channel: channel, limit: limit)))
        case "/page.events":
            return method == "GET" ? .success(.stream) : wrongMethod
        default:
            let name = String(path.dropFirst())
            guard path.hasPrefix("/"), assets.contains(name) else { return nil }
            return method == "GET" || method == "HEAD" ? .success(.asset(name)) : wrongMethod
        }
    }

    static let actionNames = WebAction.Kind.allCases.map(\.rawValue).joined(separator: ", ")

    /// The action a query or form asks for; nil for none, `refresh` or an unknown one.
    static func action(_ fields: [String: String]) -> WebAction? {
        guard let kind = fields["action"].flatMap(WebAction.Kind.init(rawValue:)) else { return nil }
        let name = fields["processname"] ?? ""
        switch kind {
        case .stopall, .restartall: return WebAction(kind: kind, processname: "")
        case .signal:
            guard !name.isEmpty, let signal = fields["signal"], !signal.isEmpty else { return nil }
            return WebAction(kind: kind, processname: name, signal: signal)
        default:
            return name.isEmpty ? nil : WebAction(kind: kind, processname: name)
        }
    }
}

/// Text made safe to put into HTML, in an element or a quoted attribute.
public func htmlEscaped(_ text: String) -> String {
    guard text.utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">")
        || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }) else { return text }
    var out = ""
    out.reserveCapacity(text.utf8.count + 16)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// A query value percent-encoded: everything but unreserved characters.
public func urlQueryEscaped(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        }
    }
    return out
}

/// `%XX` escapes decoded; nil when one is malformed or the bytes are not UTF-8 (as Foundation's
/// removingPercentEncoding).
public func percentDecoded(_ text: some StringProtocol) -> String? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var rest = text.utf8[...]
    func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    while let byte = rest.popFirst() {
        guard byte == UInt8(ascii: "%") else {
            bytes.append(byte)
            continue
        }
        guard let high = rest.popFirst().flatMap(hexValue), let low = rest.popFirst().flatMap(hexValue) else { return nil }
        bytes.append(high << 4 | low)
    }
    return String(validating: bytes, as: UTF8.self)
}
