import Foundation
import Testing
import MinderXMLRPC

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Test func faultIsPythons() {
    #expect(text(XMLRPCResponse.fault(code: 10, string: "BAD_NAME: a<b>&c")) == """
        <?xml version='1.0'?>
        <methodResponse>
        <fault>
        <value><struct>
        <member>
        <name>faultCode</name>
        <value><int>10</int></value>
        </member>
        <member>
        <name>faultString</name>
        <value><string>BAD_NAME: a&lt;b&gt;&amp;c</string></value>
        </member>
        </struct></value>
        </fault>
        </methodResponse>

        """)
}

@Test func nestedValuesArePythons() {
    let value = XMLRPCValue.array([
        .structure([("name", .string("web")), ("pid", .int(-1)), ("ok", .bool(true)), ("load", .double(0.25)),
                    ("groups", .array([])), ("none", .nil)]),
        .structure([]),
        .array([.base64([1, 2, 3, 4]), .dateTime("20240101T00:00:00"), .bool(false)]),
    ])
    #expect(text(XMLRPCResponse.encode(value)) == """
        <?xml version='1.0'?>
        <methodResponse>
        <params>
        <param>
        <value><array><data>
        <value><struct>
        <member>
        <name>name</name>
        <value><string>web</string></value>
        </member>
        <member>
        <name>pid</name>
        <value><int>-1</int></value>
        </member>
        <member>
        <name>ok</name>
        <value><boolean>1</boolean></value>
        </member>
        <member>
        <name>load</name>
        <value><double>0.25</double></value>
        </member>
        <member>
        <name>groups</name>
        <value><array><data>
        </data></array></value>
        </member>
        <member>
        <name>none</name>
        <value><nil/></value></member>
        </struct></value>
        <value><struct>
        </struct></value>
        <value><array><data>
        <value><base64>
        AQIDBA==
        </base64></value>
        <value><dateTime.iso8601>20240101T00:00:00</dateTime.iso8601></value>
        <value><boolean>0</boolean></value>
        </data></array></value>
        </data></array></value>
        </param>
        </params>
        </methodResponse>

        """)
}

@Test func callIsPythons() {
    #expect(text(encodeCall(methodName: "supervisor.getVersion", params: [])) == """
        <?xml version='1.0'?>
        <methodCall>
        <methodName>supervisor.getVersion</methodName>
        <params>
        </params>
        </methodCall>

        """)
}

@Test func base64LinesAre76Characters() throws {
    let data = (0..<200).map { UInt8($0) }
    let body = text(XMLRPCResponse.encode(.base64(data)))
    let inside = body.split(separator: "\n").drop { !$0.hasSuffix("<base64>") }.dropFirst().prefix { !$0.hasPrefix("</base64>") }
    #expect(inside.map(\.count) == [76, 76, 76, 40])
    #expect(try XMLRPCCall.parse(encodeCall(methodName: "x", params: [.base64(data)])).get().params == [.base64(data)])
}

@Test func forbiddenCharactersBecomeReplacementCharacters() throws {
    let sent = "a\u{0}b\u{1}c\u{8}\u{B}\u{C}\u{E}\u{1F}d\u{FFFE}\u{FFFF}e\u{FFFD}\u{FFFC}\u{10FFFF}\t\n\r"
    let body = XMLRPCResponse.encode(.structure([("k\u{2}", .string(sent))]))
    #expect(text(body).contains("<name>k\u{FFFD}</name>"))
    #expect(text(body).contains("<string>a\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}d\u{FFFD}\u{FFFD}e\u{FFFD}\u{FFFC}\u{10FFFF}\t\n&#13;</string>"))
    let call = try XMLRPCCall.parse(encodeCall(methodName: "x", params: [.string(sent)])).get()
    #expect(call.params == [.string("a\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}d\u{FFFD}\u{FFFD}e\u{FFFD}\u{FFFC}\u{10FFFF}\t\n\r")])
}

let roundTripValues: [XMLRPCValue] = [
    .int(0), .int(.max), .int(.min), .bool(true), .bool(false),
    .string(""), .string("  spaces kept \t\n"), .string("\r\n and \r alone"), .string("<&>\"' ]]> &amp;"),
    .string("é中😀\u{7F}\u{85}\u{FFFD}"),
    .double(0), .double(-0.0), .double(0.1), .double(1e300), .double(-Double.leastNonzeroMagnitude), .double(1e16), .double(123456.789),
    .dateTime("19700101T00:00:00"), .base64([]), .base64([0]), .base64([0, 1]), .base64(Array(0...255)),
    .array([]), .structure([]), .nil,
    .array([.array([.array([.int(1)])]), .structure([("a", .structure([("b", .array([.nil, .string("x")]))]))])]),
    .structure([("", .int(1)), ("dup", .int(1)), ("dup", .int(2)), ("<&>\r", .string("v"))]),
]

@Test(arguments: roundTripValues)
func roundTrip(value: XMLRPCValue) throws {
    let call = XMLRPCCall(methodName: "system.multicall", params: [value, value])
    #expect(try XMLRPCCall.parse(encodeCall(methodName: call.methodName, params: call.params)).get() == call)
}

@Test func largeResponsesEncode() throws {
    let process = XMLRPCValue.structure([
        ("name", .string("worker_0000")), ("group", .string("workers")), ("start", .int(1_795_675_570)),
        ("state", .int(20)), ("statename", .string("RUNNING")), ("description", .string("pid 6362, uptime 0:00:23")),
    ])
    let body = XMLRPCResponse.encode(.array(Array(repeating: process, count: 5000)))
    #expect(body.count > 5000 * 300)
    #expect(text(body).hasSuffix("</data></array></value>\n</param>\n</params>\n</methodResponse>\n"))
}
