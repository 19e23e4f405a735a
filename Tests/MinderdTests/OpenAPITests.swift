import Foundation
import MinderConfig
import MinderControl
import Testing

/// docs/openapi.json against the running implementation: every documented
/// operation is called, must answer with a documented status, and its body
/// must validate against the documented schema.
@Suite(.serialized) struct OpenAPITests {
    struct Call {
        var method: String
        var path: String
        var body: String = ""
        var status: Int
    }

    /// One concrete call per documented operation (and some error answers).
    static let calls: [Call] = [
        Call(method: "GET", path: "/supervisor", status: 200),
        Call(method: "GET", path: "/processes", status: 200),
        Call(method: "GET", path: "/processes/web", status: 200),
        Call(method: "GET", path: "/processes/nope", status: 404),
        Call(method: "POST", path: "/processes/manual/start", status: 200),
        Call(method: "POST", path: "/processes/manual/start", status: 409),
        Call(method: "POST", path: "/processes/manual/stop", status: 200),
        Call(method: "POST", path: "/processes/pool:*/restart", status: 200),
        Call(method: "POST", path: "/processes/web/signal", body: #"{"signal":"CONT"}"#, status: 200),
        Call(method: "POST", path: "/processes/web/signal", body: #"{"signal":"NOPE"}"#, status: 400),
        Call(method: "POST", path: "/processes/cat/stdin", body: #"{"data":"hi\n"}"#, status: 200),
        Call(method: "GET", path: "/processes/web/log/stdout?tail=100", status: 200),
        Call(method: "GET", path: "/processes/web/log/stderr?offset=0&length=100", status: 200),
        Call(method: "DELETE", path: "/processes/web/log", status: 200),
        Call(method: "GET", path: "/log?tail=200", status: 200),
        Call(method: "GET", path: "/config", status: 200),
        Call(method: "POST", path: "/reread", status: 200),
        Call(method: "POST", path: "/update", status: 200),
        Call(method: "POST", path: "/groups/manual", status: 409),
        Call(method: "DELETE", path: "/groups/web", status: 409),
        Call(method: "POST", path: "/events", body: #"{"type":"deploy","data":"version 2"}"#, status: 200),
        Call(method: "POST", path: "/events", body: #"{"kind":"deploy"}"#, status: 400),
        Call(method: "POST", path: "/events/subscriptions", body: #"{"maxmsg":5,"msgsize":512}"#, status: 201),
        Call(method: "POST", path: "/events/subscriptions", body: #"{"maxmsg":0}"#, status: 400),
        Call(method: "GET", path: "/events/subscriptions", status: 200),
        Call(method: "DELETE", path: "/events/subscriptions/1", status: 200),
        Call(method: "DELETE", path: "/events/subscriptions/1", status: 404),
        Call(method: "POST", path: "/reload", status: 200),
        Call(method: "POST", path: "/shutdown", status: 200),
    ]

    static let config = """
        [unix_http_server]
        file=%(here)s/m.sock

        [program:web]
        command=/bin/sh -c 'echo listening;exec sleep 1000'
        startsecs=0

        [program:cat]
        command=cat
        startsecs=0

        [program:manual]
        command=sleep 1000
        autostart=false
        startsecs=0

        [program:w]
        command=sleep 1000
        process_name=w%(process_num)d
        numprocs=2
        startsecs=0

        [group:pool]
        programs=w
        """

    @Test func everyDocumentedOperationAnswersAsDocumented() throws {
        let document = try JSONValue.parse(String(contentsOf: packageRoot.appendingPathComponent("docs/openapi.json"), encoding: .utf8))
        let schema = SchemaChecker(document: document)
        let operations = schema.operations()
        #expect(!operations.isEmpty)

        let d = try DaemonHarness(Self.config)
        try d.waitForLog("success: w1 entered RUNNING")
        let client = ControlClient(socketPath: d.dir.path + "/m.sock")
        var covered = Set<String>()
        for call in Self.calls {
            let response = try client.request(call.method, ControlAPI.prefix + call.path.replacingOccurrences(of: "*", with: "%2A"),
                                              body: Array(call.body.utf8))
            #expect(response.status == call.status, "\(call.method) \(call.path): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
            guard let operation = schema.operation(call.method, call.path) else {
                Issue.record("\(call.method) \(call.path) is not documented in docs/openapi.json")
                continue
            }
            covered.insert(operation.key)
            guard let responseSchema = schema.responseSchema(operation.value, status: response.status) else {
                Issue.record("\(operation.key) does not document status \(response.status)")
                continue
            }
            let body = try JSONValue.parse(String(decoding: response.body, as: UTF8.self))
            let problems = schema.validate(body, against: responseSchema, at: "$")
            #expect(problems.isEmpty, "\(call.method) \(call.path): \(problems)")
            if call.path == "/reload" { try d.waitForLog("reloaded ") }
        }
        #expect(try d.waitForExit() == 0)
        let missing = Set(operations.map(\.key)).subtracting(covered)
        #expect(missing.isEmpty, "documented but not called: \(missing.sorted())")
    }
}

/// Just enough of OpenAPI 3.0 and JSON Schema to check replies: $ref, type,
/// properties, required, items, enum, nullable, oneOf/anyOf.
struct SchemaChecker {
    let document: JSONValue

    /// "METHOD /template" → operation object.
    func operations() -> [(key: String, value: JSONValue)] {
        guard case .object(let paths)? = document["paths"] else { return [] }
        return paths.flatMap { path, item -> [(key: String, value: JSONValue)] in
            guard case .object(let ops) = item else { return [] }
            return ops.filter { ["get", "post", "put", "delete", "patch"].contains($0.0) }
                .map { (key: "\($0.0.uppercased()) \(path)", value: $0.1) }
        }
    }

    func operation(_ method: String, _ concrete: String) -> (key: String, value: JSONValue)? {
        let path = concrete.split(separator: "?").first.map(String.init) ?? concrete
        let segments = path.split(separator: "/").map(String.init)
        return operations().first { op in
            let parts = op.key.split(separator: " ", maxSplits: 1)
            guard parts[0] == method else { return false }
            var template = String(parts[1])
            if template.hasPrefix(ControlAPI.prefix) { template.removeFirst(ControlAPI.prefix.count) }
            let t = template.split(separator: "/").map(String.init)
            return t.count == segments.count && zip(t, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
    }

    func responseSchema(_ operation: JSONValue, status: Int) -> JSONValue? {
        let response = operation["responses"]?[String(status)] ?? operation["responses"]?["default"]
        guard let resolved = response.map(resolve) else { return nil }
        return resolved["content"]?["application/json"]?["schema"] ?? resolved["content"]?["text/plain"]?["schema"]
    }

    func resolve(_ node: JSONValue) -> JSONValue {
        guard let ref = node["$ref"]?.stringValue, ref.hasPrefix("#/") else { return node }
        var target: JSONValue? = document
        for part in ref.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
        return target.map(resolve) ?? node
    }

    func validate(_ value: JSONValue, against raw: JSONValue, at path: String) -> [String] {
        let schema = resolve(raw)
        if value == .null, schema["nullable"] == .bool(true) { return [] }
        for key in ["oneOf", "anyOf"] {
            if let options = schema[key]?.arrayValue {
                return options.contains { validate(value, against: $0, at: path).isEmpty } ? [] : ["\(path): matches none of \(key)"]
            }
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            return ["\(path): \(value.serialized(pretty: false)) is not one of the enum"]
        }
        switch (schema["type"]?.stringValue, value) {
        case (nil, _): return []
        case ("object", .object(let pairs)):
            var problems: [String] = []
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !pairs.contains(where: { $0.0 == name }) {
                problems.append("\(path).\(name) is required")
            }
            for (name, v) in pairs {
                if let property = schema["properties"]?[name] {
                    problems += validate(v, against: property, at: "\(path).\(name)")
                } else if let extra = schema["additionalProperties"], extra != .bool(true), extra != .bool(false) {
                    problems += validate(v, against: extra, at: "\(path).\(name)")
                }
            }
            return problems
        case ("array", .array(let items)):
            guard let itemSchema = schema["items"] else { return [] }
            return items.enumerated().flatMap { validate($1, against: itemSchema, at: "\(path)[\($0)]") }
        case ("string", .string), ("boolean", .bool), ("integer", .int), ("number", .int), ("number", .double):
            return []
        default:
            return ["\(path): \(value.serialized(pretty: false)) is not of type \(schema["type"]?.stringValue ?? "?")"]
        }
    }
}
