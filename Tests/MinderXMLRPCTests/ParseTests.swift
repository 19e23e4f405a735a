import Foundation
import Testing
import MinderXMLRPC

func parse(_ text: String, limits: XMLRPCLimits = .default) -> Result<XMLRPCCall, XMLRPCError> {
    XMLRPCCall.parse(Array(text.utf8), limits: limits)
}

/// A call whose params are the given `<param>` contents.
func call(_ values: String...) -> String {
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>x.y</methodName>\n<params>\n"
        + values.map { "<param>\n\($0)\n</param>\n" }.joined() + "</params>\n</methodCall>\n"
}

func params(_ text: String) throws -> [XMLRPCValue] { try parse(text).get().params }

func refusal(_ text: String, limits: XMLRPCLimits = .default) -> XMLRPCError? {
    if case .failure(let error) = parse(text, limits: limits) { error } else { nil }
}

@Test func everyType() throws {
    let values = try params(call(
        "<value><int>1</int></value>", "<value><i4>-2</i4></value>", "<value><i8>2147483647</i8></value>",
        "<value><boolean>1</boolean></value>", "<value><boolean>0</boolean></value>",
        "<value><string> a &amp; b &lt;&gt; &#x4e2d;&#13;\n </string></value>", "<value>bare &quot;text&apos;</value>",
        "<value><string/></value>", "<value/>", "<value>  </value>",
        "<value><double>-1.5e3</double></value>", "<value><double>.5</double></value>",
        "<value><dateTime.iso8601> 20240229T23:59:59 </dateTime.iso8601></value>",
        "<value><base64>\nAAEC\n/w==\n</base64></value>", "<value><base64/></value>",
        "<value><array><data>\n<value><int>1</int></value>\n<value>s</value>\n</data></array></value>",
        "<value><array><data/></array></value>",
        "<value><struct>\n<member>\n<name>k</name>\n<value><int>1</int></value>\n</member>\n<member><name></name><value><nil/></value></member></struct></value>",
        "<value><struct></struct></value>", "<value><nil/></value>",
        "<value><string><![CDATA[<raw> & ]]>tail<!-- skipped --> end</string></value>"))
    #expect(values == [
        .int(1), .int(-2), .int(2147483647), .bool(true), .bool(false),
        .string(" a & b <> 中\r\n "), .string("bare \"text'"), .string(""), .string(""), .string("  "),
        .double(-1500), .double(0.5), .dateTime("20240229T23:59:59"), .base64([0, 1, 2, 255]), .base64([]),
        .array([.int(1), .string("s")]), .array([]),
        .structure([("k", .int(1)), ("", .nil)]), .structure([]), .nil,
        .string("<raw> & tail end"),
    ])
}

@Test func paramsMayBeEmptyOrAbsent() throws {
    for text in [
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getVersion</methodName>\n<params>\n</params>\n</methodCall>\n",
        "<methodCall><methodName>supervisor.getVersion</methodName><params/></methodCall>",
        "<methodCall><methodName>supervisor.getVersion</methodName></methodCall>",
        "<!-- hello --><?pi x?><methodCall> <methodName>supervisor.getVersion</methodName> </methodCall>\n<!-- bye -->\n",
    ] {
        #expect(try parse(text).get() == XMLRPCCall(methodName: "supervisor.getVersion", params: []))
    }
}

@Test func structKeepsOrderAndDuplicates() throws {
    let text = call("<value><struct><member><name>b</name><value>1</value></member><member><name>a</name><value>2</value></member><member><name>b</name><value>3</value></member></struct></value>")
    #expect(try params(text) == [.structure([("b", .string("1")), ("a", .string("2")), ("b", .string("3"))])])
    #expect(XMLRPCValue.structure([("a", .int(1)), ("b", .int(2))]) != .structure([("b", .int(2)), ("a", .int(1))]))
}

@Test(arguments: [
    ("2147483647", Int32.max), ("-2147483648", Int32.min), (" +12 ", 12), ("\n007\t", 7), ("-0", 0),
])
func integersInRange(text: String, value: Int32) throws {
    #expect(try params(call("<value><int>\(text)</int></value>")) == [.int(value)])
    #expect(try params(call("<value><i8>\(text)</i8></value>")) == [.int(value)])
}

@Test(arguments: ["2147483648", "-2147483649", "99999999999999999999999999999999", "9223372036854775808"])
func integersOutOfRange(text: String) throws {
    let error = try #require(refusal(call("<value><i8>\(text)</i8></value>")))
    #expect(error.kind == .invalid)
    #expect(error.message.contains("outside the 32-bit range"))
}

@Test(arguments: [
    "<value><int></int></value>", "<value><int>1_000</int></value>", "<value><int>1.0</int></value>",
    "<value><int>- 1</int></value>", "<value><int>0x10</int></value>", "<value><int>+</int></value>",
    "<value><int>١</int></value>",
    "<value><boolean>2</boolean></value>", "<value><boolean> 1</boolean></value>", "<value><boolean>true</boolean></value>",
    "<value><double>nan</double></value>", "<value><double>inf</double></value>", "<value><double>1e999</double></value>",
    "<value><double>0x1p3</double></value>", "<value><double>1_0</double></value>", "<value><double>.</double></value>",
    "<value><double>1e</double></value>", "<value><double></double></value>",
    "<value><dateTime.iso8601>20230229T00:00:00</dateTime.iso8601></value>",
    "<value><dateTime.iso8601>20231301T00:00:00</dateTime.iso8601></value>",
    "<value><dateTime.iso8601>20230101T24:00:00</dateTime.iso8601></value>",
    "<value><dateTime.iso8601>20230101T00:60:00</dateTime.iso8601></value>",
    "<value><dateTime.iso8601>2023-01-01T00:00:00</dateTime.iso8601></value>",
    "<value><dateTime.iso8601>00000101T00:00:00</dateTime.iso8601></value>",
    "<value><base64>QUJD=RA==</base64></value>", "<value><base64>QQ=</base64></value>", "<value><base64>QR==</base64></value>",
    "<value><base64>Q===</base64></value>", "<value><base64>QUJ</base64></value>", "<value><base64>QU*D</base64></value>",
    "<value><base64>QUJD-_==</base64></value>",
    "<value><nil>x</nil></value>", "<value><string><b>x</b></string></value>",
    "<value><int>1</int>junk</value>", "<value>junk<int>1</int></value>", "<value><int>1</int><int>2</int></value>",
    "<value><array><value>1</value></array></value>", "<value><array><data>x</data></array></value>",
    "<value><array><data><int>1</int></data></array></value>", "<value><array><data/><data/></array></value>",
    "<value><struct><member><value>1</value></member></struct></value>",
    "<value><struct><member><name>a</name></member></struct></value>",
    "<value><struct><member><name>a</name><value>1</value><value>2</value></member></struct></value>",
    "<value><struct><value>1</value></struct></value>", "<value><struct>text</struct></value>",
    "<value><unknown>1</unknown></value>", "<value><Int>1</Int></value>", "<value><x:int xmlns:x='u'>1</x:int></value>",
    "<value>1</value><value>2</value>", "", "<int>1</int>", "text",
])
func badValuesAreRefused(param: String) throws {
    let error = try #require(refusal(call(param)))
    #expect(error.kind == .invalid, "\(error)")
}

@Test(arguments: [
    "<methodCall><params/></methodCall>",
    "<methodCall/>",
    "<methodCall><methodName></methodName></methodCall>",
    "<methodCall><methodName>has space</methodName></methodCall>",
    "<methodCall><methodName> x.y</methodName></methodCall>",
    "<methodCall><methodName>caf\u{e9}</methodName></methodCall>",
    "<methodCall><methodName>x/y</methodName></methodCall>",
    "<methodCall><methodName>\(String(repeating: "a", count: 257))</methodName></methodCall>",
    "<methodCall><methodName>x<b/>y</methodName></methodCall>",
    "<methodCall><methodName>x</methodName><methodName>y</methodName></methodCall>",
    "<methodCall><methodName>x</methodName><params/><params/></methodCall>",
    "<methodCall><methodName>x</methodName>text</methodCall>",
    "<methodCall><methodName>x</methodName><params>text</params></methodCall>",
    "<methodCall><methodName>x</methodName><params><value>1</value></params></methodCall>",
    "<methodCall><methodName>x</methodName><params><param>1</param></params></methodCall>",
    "<methodCall><methodName>x</methodName><params><param></param></params></methodCall>",
    "<methodResponse><params/></methodResponse>",
    "<methodCall><methodName>x</methodName><xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='file:///etc/passwd'/></methodCall>",
])
func badCallsAreRefused(text: String) throws {
    let error = try #require(refusal(text))
    #expect(error.kind == .invalid, "\(error)")
}

@Test func longestMethodName() throws {
    let name = String(repeating: "a", count: 255) + ":"
    #expect(try parse("<methodCall><methodName>\(name)</methodName></methodCall>").get().methodName == name)
}

let billionLaughs = """
    <?xml version="1.0"?>
    <!DOCTYPE lolz [
     <!ENTITY lol "lol">
     <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
     <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
     <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
     <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
     <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
     <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
     <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
     <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
    ]>
    <methodCall><methodName>x.y</methodName><params><param><value>&lol9;</value></param></params></methodCall>
    """

struct Hostile: Sendable, CustomTestStringConvertible {
    var name: String
    var body: [UInt8]
    var kind: XMLRPCError.Kind
    var testDescription: String { name }

    init(_ name: String, _ text: String, _ kind: XMLRPCError.Kind) {
        self.init(name, Array(text.utf8), kind)
    }

    init(_ name: String, _ body: [UInt8], _ kind: XMLRPCError.Kind) {
        self.name = name
        self.body = body
        self.kind = kind
    }
}

let hostile: [Hostile] = [
    Hostile("billion laughs", billionLaughs, .forbidden),
    Hostile("external entity", """
        <?xml version="1.0"?>
        <!DOCTYPE methodCall [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
        <methodCall><methodName>x.y</methodName><params><param><value>&xxe;</value></param></params></methodCall>
        """, .forbidden),
    Hostile("external DTD", "<!DOCTYPE methodCall SYSTEM \"http://127.0.0.1:1/x.dtd\"><methodCall><methodName>x</methodName></methodCall>", .forbidden),
    Hostile("harmless DOCTYPE", "<!DOCTYPE methodCall><methodCall><methodName>x</methodName></methodCall>", .forbidden),
    Hostile("parameter entity", "<!DOCTYPE m [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><m/>", .forbidden),
    Hostile("undeclared entity", call("<value>&nbsp;</value>"), .malformed),
    Hostile("forbidden character reference", call("<value>a&#1;b</value>"), .malformed),
    Hostile("U+FFFE reference", call("<value>&#xFFFE;</value>"), .malformed),
    Hostile("raw control character", call("<value>a\u{1}b</value>"), .malformed),
    Hostile("truncated", "<?xml version='1.0'?>\n<methodCall>\n<methodName>x.y</methodName>\n<params>\n<param>\n<value><string>web", .malformed),
    Hostile("not UTF-8", Array(call("<value>caf").utf8) + [0xE9, 0xFF] + Array("</value></param></params></methodCall>".utf8), .malformed),
    // A declared encoding is ignored: this is not UTF-8 (and iconv, whose complaints would
    // reach stderr, never runs).
    Hostile("bad Shift JIS", Array("<?xml version='1.0' encoding='SHIFT_JIS'?><methodCall><methodName>x</methodName><params><param><value>".utf8)
        + [0x81, 0xFF] + Array("</value></param></params></methodCall>".utf8), .malformed),
    Hostile("empty", "", .malformed),
    Hostile("not XML", "GET / HTTP/1.1", .malformed),
    Hostile("two roots", "<methodCall><methodName>x</methodName></methodCall><methodCall/>", .malformed),
    Hostile("trailing text", "<methodCall><methodName>x</methodName></methodCall>junk", .malformed),
    Hostile("mismatched tags", "<methodCall><methodName>x</methodCall></methodName>", .malformed),
    Hostile("deep nesting", call(String(repeating: "<value><array><data>", count: 40) + String(repeating: "</data></array></value>", count: 40)), .tooLarge),
    Hostile("UTF-16 with a byte-order mark", [0xFF, 0xFE] + Array("<methodCall/>".utf8).flatMap { [$0, 0] }, .malformed),
    Hostile("UTF-16 without one", Array("<methodCall/>".utf8).flatMap { [$0, 0] }, .malformed),
    Hostile("EBCDIC", [0x4C, 0x6F, 0xA7, 0x94, 0x93], .malformed),
    Hostile("NUL", Array(call("<value>a").utf8) + [0] + Array("</value></param></params></methodCall>".utf8), .malformed),
    // libxml2 2.9 checks each attribute against all the ones before it: this would take seconds.
    Hostile("100,000 attributes", "<methodCall " + (0..<100_000).map { "a\($0)=''" }.joined(separator: " ") + "><methodName>x</methodName></methodCall>", .tooLarge),
    Hostile("unterminated long tag", "<methodCall><methodName>x</methodName><params a='" + String(repeating: "x", count: 2000), .tooLarge),
    Hostile("long tag hiding behind a quoted >", "<methodCall a='>' " + String(repeating: "b='>' ", count: 400) + "/>", .tooLarge),
    Hostile("DOCTYPE after a comment", "<!-- x --><!DOCTYPE m><m/>", .forbidden),
    Hostile("deep unknown elements", String(repeating: "<a>", count: 1000) + String(repeating: "</a>", count: 1000), .invalid),
]

@Test(arguments: hostile)
func hostileInputIsRefused(_ input: Hostile) throws {
    guard case .failure(let error) = XMLRPCCall.parse(input.body) else {
        Issue.record("\(input.name) was accepted")
        return
    }
    #expect(error.kind == input.kind, "\(error)")
    #expect(!error.message.contains("root:"), "a file's contents leaked into the message")
}

@Test func malformedXMLSaysWhereAndWhy() throws {
    let error = try #require(refusal("<methodCall>\n<methodName>x</methodCall>"))
    #expect(error.kind == .malformed)
    #expect(error.message.hasPrefix("line 2: "), "\(error)")
    #expect(error.message.contains("mismatch"), "\(error)")
}

@Test func declaredEncodingIsIgnored() throws {
    func body(_ bytes: [UInt8]) -> [UInt8] {
        Array("<?xml version='1.0' encoding='iso-8859-1'?>\n<methodCall><methodName>x</methodName><params><param><value>".utf8)
            + bytes + Array("</value></param></params></methodCall>\n".utf8)
    }
    #expect(try XMLRPCCall.parse(body(Array("caf&#233;".utf8))).get().params == [.string("caf\u{e9}")])
    #expect(try XMLRPCCall.parse(body(Array("caf\u{e9}".utf8))).get().params == [.string("caf\u{e9}")])
    guard case .failure(let error) = XMLRPCCall.parse(body(Array("caf".utf8) + [0xE9])) else {
        Issue.record("Latin-1 bytes were accepted")
        return
    }
    #expect(error.kind == .malformed)
}

@Test func markupInCommentsQuotesAndCDATAIsNotMarkup() throws {
    let text = "\u{FEFF}\n <!-- <!DOCTYPE x> <a " + String(repeating: "b ", count: 1000) + "--><?pi <!DOCTYPE?>"
        + "<methodCall note='a > b'><methodName>x</methodName><params><param><value><![CDATA[<!DOCTYPE x>]]></value></param></params></methodCall>"
    #expect(try parse(text).get().params == [.string("<!DOCTYPE x>")])
}

@Test func depthLimit() throws {
    // methodCall, params, param, value: 4; each array level adds array, data, value.
    func nested(_ levels: Int) -> String {
        call(String(repeating: "<value><array><data>", count: levels) + "<value><int>1</int></value>"
            + String(repeating: "</data></array></value>", count: levels))
    }
    // The innermost <value> is at 4 + 3 * 9 = 31, its <int> at 32.
    #expect(try params(nested(9)).count == 1)
    #expect(refusal(nested(10))?.kind == .tooLarge)
    #expect(refusal(nested(1), limits: XMLRPCLimits(maxDepth: 7))?.kind == .tooLarge)
    #expect(try parse(nested(1), limits: XMLRPCLimits(maxDepth: 8)).get().params.count == 1)
}

@Test func sizeLimit() throws {
    let text = call("<value>\(String(repeating: "x", count: 2000))</value>")
    #expect(try parse(text, limits: XMLRPCLimits(maxBytes: text.utf8.count)).get().params == [.string(String(repeating: "x", count: 2000))])
    let error = try #require(refusal(text, limits: XMLRPCLimits(maxBytes: text.utf8.count - 1)))
    #expect(error.kind == .tooLarge)
    let big = call("<value>\(String(repeating: "x", count: 1 << 20))</value>")
    #expect(refusal(big)?.kind == .tooLarge)
}

@Test func valueAndParamLimits() throws {
    let array = "<value><array><data>" + String(repeating: "<value/>", count: 9) + "</data></array></value>"
    #expect(try params(call(array)).count == 1)
    #expect(refusal(call(array), limits: XMLRPCLimits(maxValues: 9))?.kind == .tooLarge)
    #expect(try parse(call(array), limits: XMLRPCLimits(maxValues: 10)).get().params.count == 1)
    let many = Array(repeating: "<value/>", count: 3)
    #expect(refusal(call(many[0], many[1], many[2]), limits: XMLRPCLimits(maxParams: 2))?.kind == .tooLarge)
    let flood = call(String(repeating: "<value><array><data>" + String(repeating: "<value/>", count: 1000) + "</data></array></value></param><param>", count: 101) + "<value/>")
    #expect(refusal(flood)?.kind == .tooLarge)
}

@Test func longTextSurvivesTheReadersChunks() throws {
    // The reader takes its input 512 bytes at a time; text crosses many of those.
    let text = String(repeating: "abc<&>\u{e9}中\n", count: 3_000)
    let body = encodeCall(methodName: "x.y", params: [.string(text), .base64(Array(text.utf8))])
    #expect(try XMLRPCCall.parse(body).get().params == [.string(text), .base64(Array(text.utf8))])
}

@Test func parsesConcurrently() async throws {
    let body = encodeCall(methodName: "system.multicall", params: [.array((0..<50).map { .structure([("methodName", .string("m.\($0)")), ("params", .array([.int(Int32($0))]))]) })])
    let expected = try XMLRPCCall.parse(body).get()
    let bad = Array(call("<value>&#1;</value>").utf8)
    let results = await withTaskGroup(of: Bool.self) { group in
        for task in 0..<8 {
            group.addTask {
                (0..<200).allSatisfy { round in
                    if (task + round) % 3 == 0 {
                        if case .failure(let error) = XMLRPCCall.parse(bad) { error.kind == .malformed } else { false }
                    } else {
                        (try? XMLRPCCall.parse(body).get()) == expected
                    }
                }
            }
        }
        return await group.reduce(into: [Bool]()) { $0.append($1) }
    }
    #expect(results == Array(repeating: true, count: 8))
}
