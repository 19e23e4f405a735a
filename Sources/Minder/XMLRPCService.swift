// supervisord's XML-RPC interface (API 3.0) at /RPC2, so that supervisorctl, superlance and every
// script built on xmlrpc.client drive Minder unchanged. Each method is a thin mapping onto the same
// requests the JSON API makes: the supervisor's loop answers, and the reply is reshaped into the
// structs, value types, fault codes and fault strings supervisord gives. docs/xmlrpc.md lists the
// methods and where Minder differs.

import Dispatch
import Glibc
import MinderConfig
import MinderControl
import MinderXMLRPC

/// An XML-RPC fault: supervisord's code and its `NAME` or `NAME: extra` text.
struct XMLRPCFault: Error {
    var code: Int32
    var string: String

    init(_ fault: Fault, _ extra: String? = nil) {
        code = Int32(fault.code)
        string = extra.map { "\(fault.rawValue): \($0)" } ?? fault.rawValue
    }
}

struct XMLRPCService: Sendable {
    typealias Done = @Sendable (Result<XMLRPCValue, XMLRPCFault>) -> Void

    /// A method's parameter types (for methodSignature and the count check), return type, help,
    /// and body. `required` parameters come first; the rest may be left out.
    struct Method: Sendable {
        var returns: String
        var params: [String]
        var required: Int
        var help: String
        var run: @Sendable (XMLRPCService, Params, @escaping Done) -> Void
    }

    /// The most calls one system.multicall may hold.
    static let maxMulticall = 256

    let context: HandlerContext

    /// Answers a POST to /RPC2: 400 for a body that is not an XML-RPC call, otherwise 200 with
    /// the method's response or fault.
    func handle(_ body: [UInt8], reply: @escaping @Sendable (HTTPReply) -> Void) {
        switch XMLRPCCall.parse(body) {
        case .failure(let error) where error.kind == .unavailable:
            reply(.whole(status: 503, contentType: "text/plain; charset=utf-8", body: Array("XML-RPC is unavailable: \(error.message)\n".utf8)))
        case .failure(let error):
            reply(.whole(status: 400, contentType: "text/plain; charset=utf-8", body: Array("not an XML-RPC call: \(error)\n".utf8)))
        case .success(let call):
            invoke(call.methodName, call.params, nested: false) { result in
                let bytes = switch result {
                case .success(let value): XMLRPCResponse.encode(value)
                case .failure(let fault): XMLRPCResponse.fault(code: fault.code, string: fault.string)
                }
                reply(.whole(status: 200, contentType: "text/xml", body: bytes))
            }
        }
    }

    func invoke(_ name: String, _ params: [XMLRPCValue], nested: Bool, _ done: @escaping Done) {
        guard let method = Self.methods[name] else { return done(.failure(XMLRPCFault(.UNKNOWN_METHOD))) }
        guard params.count >= method.required, params.count <= method.params.count else {
            return done(.failure(XMLRPCFault(.INCORRECT_PARAMETERS)))
        }
        if nested && name == "system.multicall" {
            return done(.failure(XMLRPCFault(.INCORRECT_PARAMETERS, "Recursive system.multicall forbidden")))
        }
        method.run(self, Params(values: params), done)
    }

    // MARK: helpers the methods share

    /// The parameters, typed as supervisord's methods take them (Python converts loosely: an int
    /// may come as a numeric string, a flag as 0 or 1).
    struct Params: Sendable {
        var values: [XMLRPCValue]

        func string(_ i: Int) throws(XMLRPCFault) -> String {
            guard i < values.count, case .string(let s) = values[i] else { throw XMLRPCFault(.INCORRECT_PARAMETERS) }
            return s
        }

        func int(_ i: Int) throws(XMLRPCFault) -> Int {
            guard i < values.count else { throw XMLRPCFault(.INCORRECT_PARAMETERS) }
            switch values[i] {
            case .int(let n): return Int(n)
            case .string(let s): if let n = Int32(s.pyStrip()) { return Int(n) }
            default: break
            }
            throw XMLRPCFault(.INCORRECT_PARAMETERS)
        }

        func flag(_ i: Int, default value: Bool) throws(XMLRPCFault) -> Bool {
            guard i < values.count else { return value }
            switch values[i] {
            case .bool(let b): return b
            case .int(let n): return n != 0
            default: throw XMLRPCFault(.INCORRECT_PARAMETERS)
            }
        }
    }

    /// Runs `body`, turning a thrown fault into the method's answer.
    static func method(_ returns: String, _ params: [String], required: Int? = nil, _ help: String,
                       _ body: @escaping @Sendable (XMLRPCService, Params, @escaping Done) throws -> Void) -> Method {
        Method(returns: returns, params: params, required: required ?? params.count, help: help) { service, params, done in
            do {
                try body(service, params, done)
            } catch {
                done(.failure(error as? XMLRPCFault ?? XMLRPCFault(.FAILED)))
            }
        }
    }

    func submit(_ request: ControlRequest, _ then: @escaping @Sendable (ControlReply) -> Void) {
        context.bridge.submit(request, reply: then)
    }

    func withConfig(_ make: @escaping @Sendable (ConfigLoadResult) -> ControlRequest, _ then: @escaping @Sendable (ControlReply) -> Void) {
        let load = context.loadConfig, bridge = context.bridge
        DispatchQueue.global().async { bridge.submit(make(load()), reply: then) }
    }

    /// A reply's body as `T`, or its fault with `extra` (supervisord names the process, group or
    /// signal concerned; without `extra` Minder's own message is kept).
    static func decode<T: Decodable>(_ reply: ControlReply, as type: T.Type, extra: String?) -> Result<T, XMLRPCFault> {
        guard case .json(let status, let body) = reply else { return .failure(XMLRPCFault(.FAILED)) }
        if status == 200, let value = try? JSON.decode(T.self, body) { return .success(value) }
        guard let error = try? JSON.decode(ErrorReply.self, body) else { return .failure(XMLRPCFault(.FAILED)) }
        return .failure(XMLRPCFault(error.error.code, commandProblem(error.error.code, error.error.message) ?? extra ?? error.error.message))
    }

    /// A start that cannot find or execute its command: supervisord's fault names the command
    /// (`NO_FILE: can't find command '/bin/x'`), not the process.
    static func commandProblem(_ fault: Fault, _ message: String) -> String? {
        guard fault == .NO_FILE || fault == .NOT_EXECUTABLE,
              let start = message.find("can't find command ") ?? message.find("command at ") else { return nil }
        return String(message[start.lowerBound...])
    }

    /// A reply that is only a success or a fault: true, or the fault.
    static func done(_ reply: ControlReply, extra: String?, _ done: Done) {
        struct Anything: Decodable {}
        done(decode(reply, as: Anything.self, extra: extra).map { _ in .bool(true) })
    }

    /// supervisord's names: `group:*` and `group:` name a group, `group:name` and `name` a
    /// process. `all` is a process name like any other here.
    static func spec(_ name: String) -> NameSpec {
        let parts = name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return .process(group: name, name: name) }
        return parts[1].isEmpty || parts[1] == "*" ? .group(parts[0]) : .process(group: parts[0], name: parts[1])
    }

    static func int(_ n: Int) -> XMLRPCValue { .int(Int32(clamping: n)) }

    /// Timestamps as supervisord sends them: whole seconds, capped to the 32-bit range.
    static func time(_ t: Double) -> XMLRPCValue { .int(Int32(clamping: Int64(t.isFinite ? t : 0))) }

    static func info(_ s: ProcessStatus) -> XMLRPCValue {
        .structure([
            ("name", .string(s.name)), ("group", .string(s.group)), ("start", time(s.start)), ("stop", time(s.stop)),
            ("now", time(s.now)), ("state", int(s.state)), ("statename", .string(s.statename)),
            ("spawnerr", .string(s.spawnerr)), ("exitstatus", int(s.exitstatus)), ("logfile", .string(s.stdout_logfile)),
            ("stdout_logfile", .string(s.stdout_logfile)), ("stderr_logfile", .string(s.stderr_logfile)),
            ("pid", int(Int(s.pid))), ("description", .string(s.description)),
        ])
    }

    /// The per-process results of a group or all operation: `OK`, or the fault with the process's name.
    static func results(_ list: [ProcessResult], keep: (ProcessResult) -> Bool = { _ in true }) -> XMLRPCValue {
        .array(list.filter(keep).map { r in
            .structure([("name", .string(r.name)), ("group", .string(r.group)), ("status", int(r.code.code)),
                        ("description", .string(r.code == .SUCCESS ? "OK"
                            : XMLRPCFault(r.code, commandProblem(r.code, r.description) ?? r.namespec).string))])
        })
    }

    /// startProcess, stopProcess, signalProcess and the like: one process gives true or a fault,
    /// a group (`group:*`) or everything gives the group call's array.
    func operate(_ name: String, single: Bool, _ request: (NameSpec) -> ControlRequest,
                 keep: @escaping @Sendable (ProcessResult) -> Bool = { _ in true }, _ done: @escaping Done) {
        let spec: NameSpec = single ? Self.spec(name) : (name == "" ? .all : .group(name))
        let isProcess: Bool = if case .process = spec { true } else { false }
        submit(request(spec)) { reply in
            if isProcess { return Self.done(reply, extra: name, done) }
            done(Self.decode(reply, as: [ProcessResult].self, extra: name).map { Self.results($0, keep: keep) })
        }
    }

    /// The log of one process or the main log, with supervisord's readFile rules.
    func readLog(_ request: ControlRequest, name: String?, offset: Int, length: Int, _ done: @escaping Done) {
        if (offset < 0 && length != 0) || length < 0 { return done(.failure(XMLRPCFault(.BAD_ARGUMENTS))) }
        submit(request) { reply in
            guard case .file(let path) = reply else {
                return done(Self.decode(reply, as: [String: String].self, extra: name).map { _ in .string("") })
            }
            DispatchQueue.global().async {
                done(LogReader.readFile(path: path, offset: offset, length: length).map { .string($0) }
                    .mapError { XMLRPCFault($0, $0 == .NO_FILE ? path : nil) })
            }
        }
    }

    /// tailProcess*Log: supervisord's tail protocol; no log, or none written yet, is `['', 0, false]`.
    func tailLog(_ name: String, channel: String, offset: Int, length: Int, _ done: @escaping Done) {
        submit(.logPath(Self.spec(name), channel: channel)) { reply in
            guard case .file(let path) = reply else {
                // Not a file: a fault, of which NO_FILE (no such log configured) tails as empty.
                let fault = Self.decode(reply, as: [String: String].self, extra: name).failure ?? XMLRPCFault(.FAILED)
                return done(fault.code == Int32(Fault.NO_FILE.code) ? .success(.array([.string(""), .int(0), .bool(false)])) : .failure(fault))
            }
            DispatchQueue.global().async {
                let chunk = LogReader.tail(path: path, offset: offset, length: min(length, ControlAPI.maxLogReadBytes))
                done(.success(.array([.string(chunk.data), Self.int(chunk.offset), .bool(chunk.overflow)])))
            }
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
