// Against the real client: Python's xmlrpc.client writes the requests Minder parses and
// reads the responses Minder writes.

import Foundation
import Testing
import MinderXMLRPC

let python = "/usr/bin/python3"
let hasPython = FileManager.default.isExecutableFile(atPath: python)

/// A directory of its own for one test, removed when it ends.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("minder-xmlrpc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Runs a Python script with `input` in a file whose path is sys.argv[1]; returns its stdout,
/// and records an issue with its stderr when it fails.
func runPython(_ script: String, input: [UInt8] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    let directory = try TemporaryDirectory()
    let inputFile = directory.url.appendingPathComponent("input.xml")
    let errorFile = directory.url.appendingPathComponent("stderr")
    try Data(input).write(to: inputFile)
    try Data().write(to: errorFile)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", "import sys, datetime, xmlrpc.client as x\n" + script, inputFile.path]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = try FileHandle(forWritingTo: errorFile)
    try process.run()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationStatus != 0 {
        let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        Issue.record("python exited \(process.terminationStatus): \(String(decoding: stdout, as: UTF8.self))\(stderr)", sourceLocation: sourceLocation)
    }
    return Array(stdout)
}

struct PythonCase: Sendable, CustomTestStringConvertible {
    /// A Python expression for the params tuple.
    var python: String
    var values: [XMLRPCValue]
    var testDescription: String { python }
}

let pythonRequests: [PythonCase] = [
    PythonCase(python: "()", values: []),
    PythonCase(python: "('web:web_00', True)", values: [.string("web:web_00"), .bool(true)]),
    PythonCase(python: "(0, -1024, 2**31 - 1, -2**31, False)", values: [.int(0), .int(-1024), .int(.max), .int(.min), .bool(false)]),
    PythonCase(python: #"('caf\u00e9 \u4e2d \U0001F600', 'a<b>&c;&amp; "q" \'s\'', '\t line\n  ', '')"#,
               values: [.string("café 中 😀"), .string("a<b>&c;&amp; \"q\" 's'"), .string("\t line\n  "), .string("")]),
    PythonCase(python: "(0.1, -2.5e-300, 1e16, 123456789.125)", values: [.double(0.1), .double(-2.5e-300), .double(1e16), .double(123456789.125)]),
    PythonCase(python: "(x.Binary(bytes(range(256))), x.Binary(b''), b'raw')",
               values: [.base64(Array(0...255)), .base64([]), .base64(Array("raw".utf8))]),
    PythonCase(python: "(x.DateTime(datetime.datetime(2024, 2, 29, 23, 59, 59)), datetime.datetime(1999, 12, 31, 0, 0, 1))",
               values: [.dateTime("20240229T23:59:59"), .dateTime("19991231T00:00:01")]),
    PythonCase(python: "([1, ['two', [3.0, []]], {}], {'b': {'inner': [True]}, 'a<&>': 'v', '': None})",
               values: [.array([.int(1), .array([.string("two"), .array([.double(3), .array([])])]), .structure([])]),
                        .structure([("b", .structure([("inner", .array([.bool(true)]))])), ("a<&>", .string("v")), ("", .nil)])]),
    PythonCase(python: "([{'methodName': 'supervisor.getState', 'params': []}, {'methodName': 'supervisor.startProcess', 'params': ['web', False]}],)",
               values: [.array([
                   .structure([("methodName", .string("supervisor.getState")), ("params", .array([]))]),
                   .structure([("methodName", .string("supervisor.startProcess")), ("params", .array([.string("web"), .bool(false)]))]),
               ])]),
]

@Test(.enabled(if: hasPython), arguments: pythonRequests)
func parsesPythonRequests(_ request: PythonCase) throws {
    let body = try runPython("sys.stdout.buffer.write(x.dumps(\(request.python), methodname='system.multicall', allow_none=True).encode())")
    #expect(try XMLRPCCall.parse(body).get() == XMLRPCCall(methodName: "system.multicall", params: request.values))
}

/// Has Python load `body` and compare what it decoded with `expected`, a Python expression;
/// also compares `body` with Python's own dumps of it, unless `sameBytes` is false.
func checkWithPython(_ body: [UInt8], _ expected: String, sameBytes: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let output = try runPython("""
        data = open(sys.argv[1], 'rb').read()
        expected = \(expected)
        try:
            params, method = x.loads(data, use_builtin_types=True)
        except x.Fault as fault:
            got = x.Fault(fault.faultCode, fault.faultString)
            same = (fault.faultCode, fault.faultString) == (expected.faultCode, expected.faultString)
            mine = x.dumps(expected)
        else:
            got = (params, method)
            same = got == expected
            mine = x.dumps(params, methodname=method, methodresponse=method is None, allow_none=True)
        if not same:
            sys.exit('decoded %r, expected %r' % (got, expected))
        if \(sameBytes ? "True" : "False") and mine.encode() != data:
            sys.exit('Python writes %r' % mine)
        print('ok')
        """, input: body, sourceLocation: sourceLocation)
    #expect(String(decoding: output, as: UTF8.self) == "ok\n", sourceLocation: sourceLocation)
}

@Test(.enabled(if: hasPython))
func pythonReadsResponses() throws {
    try checkWithPython(XMLRPCResponse.encode(.string("3.0")), "(('3.0',), None)")
    try checkWithPython(XMLRPCResponse.encode(.bool(true)), "((True,), None)")
    try checkWithPython(XMLRPCResponse.encode(.int(-2147483648)), "((-2**31,), None)")
    try checkWithPython(XMLRPCResponse.encode(.string("caf\u{e9} <&> ]]> \t\n")), #"(('caf\u00e9 <&> ]]> \t\n',), None)"#)
    try checkWithPython(XMLRPCResponse.encode(.array([
        .structure([("name", .string("web")), ("pid", .int(6362)), ("description", .string("pid 6362, uptime 0:00:23"))]),
        .structure([]), .array([]), .nil, .base64(Array(0...255)), .double(0.1), .double(1e16), .double(-0.0),
        .dateTime("20240229T23:59:59"),
    ])), "(([{'name': 'web', 'pid': 6362, 'description': 'pid 6362, uptime 0:00:23'}, {}, [], None, bytes(range(256)), 0.1, 1e16, -0.0, datetime.datetime(2024, 2, 29, 23, 59, 59)],), None)")
    // Python writes \r raw, and then reads it back as \n; Minder's &#13; survives.
    try checkWithPython(XMLRPCResponse.encode(.string("a\r\nb\r")), #"(('a\r\nb\r',), None)"#, sameBytes: false)
}

@Test(.enabled(if: hasPython))
func pythonReadsFaults() throws {
    try checkWithPython(XMLRPCResponse.fault(code: 10, string: "BAD_NAME: nosuch"), "x.Fault(10, 'BAD_NAME: nosuch')")
    try checkWithPython(XMLRPCResponse.fault(code: 1, string: "UNKNOWN_METHOD <&>"), "x.Fault(1, 'UNKNOWN_METHOD <&>')")
}

@Test(.enabled(if: hasPython))
func pythonReadsCalls() throws {
    try checkWithPython(encodeCall(methodName: "supervisor.getVersion", params: []), "((), 'supervisor.getVersion')")
    try checkWithPython(encodeCall(methodName: "supervisor.startProcess", params: [.string("web"), .bool(false)]),
                        "(('web', False), 'supervisor.startProcess')")
}

@Test(.enabled(if: hasPython))
func pythonReadsReplacedCharacters() throws {
    // supervisord would send these raw and Python would refuse the whole reply.
    try checkWithPython(XMLRPCResponse.encode(.structure([("k\u{1}", .string("a\u{0}b\u{1B}[31mc\u{FFFF}"))])),
                        #"(({'k\ufffd': 'a\ufffdb\ufffd[31mc\ufffd'},), None)"#, sameBytes: false)
}
