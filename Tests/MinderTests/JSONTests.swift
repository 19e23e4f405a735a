import Foundation
import MinderConfig
import MinderControl
import Testing

/// MinderControl's JSON coding against Foundation's JSONEncoder and JSONDecoder, which the control
/// API's clients (and earlier Minder) use: the same bytes out, the same values in.
@Suite struct JSONTests {
    func foundationBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    func roundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let ours = JSON.encode(value)
        #expect(ours == (try foundationBytes(value)), "\(String(decoding: ours, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(try JSONDecoder().decode(T.self, from: Data(ours)) == value, sourceLocation: sourceLocation)
        #expect(try JSON.decode(T.self, foundationBytes(value)) == value, sourceLocation: sourceLocation)
    }

    @Test func everyReplyTypeMatchesFoundation() throws {
        var status = ProcessStatus(name: "web", group: "g", statename: "RUNNING", state: 20, description: "pid 7, uptime 0:00:01",
                                   pid: 7, start: 1_733_000_000.25, stop: 0, now: 1_733_000_001.5, spawnerr: "",
                                   exitstatus: 0, restarts: 3, stdout_logfile: "/var/log/a b/ü.log", stderr_logfile: "",
                                   logBytesWritten: 1 << 40, logBytesDropped: 0)
        status.ready = true
        status.status_text = "quote \" backslash \\ tab \t nl \n bell \u{7} emoji 😀"
        try roundTrip(status)
        status.ready = nil
        try roundTrip([status, status])
        // Numbers written without making strings: negative, zero and the extremes as Foundation.
        for (exit, pid) in [(-15, Int32.max), (0, 1), (Int.min, 0), (Int.max, 10)] {
            status.exitstatus = exit
            status.pid = pid
            try roundTrip(status)
        }
        try roundTrip(ProcessResult(name: "a", group: "a", code: .SUCCESS, description: "OK"))
        try roundTrip(SupervisorInfo(statename: "RUNNING", state: 1, identifier: "minder", pid: 1, version: "0.1.0"))
        try roundTrip(ConfigDiff(added: ["x"], changed: [], removed: ["y", "z"]))
        try roundTrip(LogChunk(data: "line\r\n\u{0}\u{1f}", offset: 12, overflow: true))
        try roundTrip(Subscription(id: 1, queue: "/q", maxmsg: 10, msgsize: 8192, uid: 0, pid: 2, minderd_pid: 3, sent: 4, dropped: 5))
        try roundTrip(SubscribeRequest(maxmsg: 5))
        try roundTrip(StateEvent(serial: 1, time: 0.1, minderd_pid: 9, group: "g", name: "n", from: "STARTING", to: "RUNNING",
                                 pid: 4, exit_status: nil, expected: nil))
        try roundTrip(ConfigEntry(name: "n", group: "g", inuse: true, autostart: false, group_priority: 999, process_priority: -1))
        try roundTrip(["a": 1, "b": -2])
        try roundTrip([1.5, -0.0, 1e-7, 123_456_789.125, 1e300, 1e16, 9_007_199_254_740_992, 0.1, 100, -3])
        let fault = JSON.encode(ErrorReply(.BAD_NAME, "no such process: x"))
        #expect(try JSONDecoder().decode(ErrorReply.self, from: Data(fault)).error.code == .BAD_NAME)
    }

    @Test func decodingIsStrictAboutTypesAndKeys() throws {
        struct Numbers: Codable, Equatable {
            var small: UInt8
            var count: Int
            var ratio: Double
            var flag: Bool?
        }
        // A key given twice counts the last time.
        #expect(try JSON.decode(Numbers.self, Array(#"{"small":1,"small":255,"count":1.0,"ratio":2,"extra":[{}]}"#.utf8))
            == Numbers(small: 255, count: 1, ratio: 2, flag: nil))
        for bad in [#"{"small":256,"count":1,"ratio":0}"#, #"{"small":1,"count":1.5,"ratio":0}"#,
                    #"{"small":1,"ratio":0}"#, #"{"small":"1","count":1,"ratio":0}"#,
                    #"{"small":1,"count":1,"ratio":0,"flag":"yes"}"#, #"[1]"#, #"null"#] {
            #expect(throws: DecodingError.self, "\(bad)") { try JSON.decode(Numbers.self, Array(bad.utf8)) }
        }
        #expect(JSON.encode(Double.infinity) == Array("{}".utf8), "a value JSON cannot hold")
    }

    @Test func theParserTakesRFC8259AndNothingElse() throws {
        let good: [(String, JSONValue)] = [
            (" [1, -0, 2.5e3, 1E-2, true, false, null] ", .array([.int(1), .double(-0.0), .double(2500), .double(0.01), .bool(true), .bool(false), .null])),
            (#"{"a":{"b":[]},"c":2}"#, .object([("c", .int(2)), ("a", .object([("b", .array([]))]))])),
            (#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#, .string("\"\\/\u{8}\u{c}\n\r\té😀")),
            ("\"ü\"", .string("ü")),
            ("123456789012345678901234567890", .double(1.2345678901234568e29)),
            ("[-0, -0.0, 0]", .array([.double(-0.0), .double(-0.0), .int(0)])),
        ]
        for (text, value) in good {
            #expect(try JSONValue.parse(text) == value, "\(text)")
        }
        let bad = ["", " ", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "-", "1e", "0x10", "NaN", "Infinity", "1e400",
                   "tru", "nul", "[1 2]", "{\"a\" 1}", "{a:1}", "'a'", "\"\u{1}\"", "\"a", "\"\\x\"", "\"\\u12\"",
                   "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "[1]]", "{}{}", "[" + String(repeating: "[", count: 300)]
        for text in bad {
            #expect(throws: JSONValue.ParseError.self, "\(text.debugDescription)") { try JSONValue.parse(text) }
        }
        // Bytes that are not UTF-8, and nesting just inside and just outside the bound.
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }
        let deep = JSONValue.maxDepth
        #expect((try? JSONValue.parse(String(repeating: "[", count: deep) + String(repeating: "]", count: deep))) != nil)
        #expect((try? JSONValue.parse(String(repeating: "[", count: deep + 1) + String(repeating: "]", count: deep + 1))) == nil)
    }

    /// What FuzzRouter checks of every body: the writer's bytes read back and write the same bytes.
    @Test func writtenBytesWriteTheSameBytesAgain() throws {
        for text in ["[-0, -0.0e-3, 1.0, 1e2, 100]", "9223372036854775808", "-9223372036854775808",
                     "[0.1, 5e-324, 1.7976931348623157e308]", #"{"\u00e9\ud83d\ude00": "\"\\\/\b\f\n\r\t", "": []}"#] {
            var once: [UInt8] = [], twice: [UInt8] = []
            try JSONValue.parse(text).write(to: &once)
            try JSONValue.parse(once).write(to: &twice)
            #expect(once == twice, "\(text): \(String(decoding: once, as: UTF8.self)) then \(String(decoding: twice, as: UTF8.self))")
        }
        var out: [UInt8] = []
        try JSONValue.parse("-0").write(to: &out)
        #expect(out == Array("-0".utf8))
    }

    @Test func writingThenReadingGivesTheSameValue() throws {
        let value = JSONValue.object([("z", .array([.int(-3), .double(0.5), .string("a\u{0}b")])), ("a", .null), ("m", .bool(false))])
        for pretty in [false, true] {
            var out: [UInt8] = []
            value.write(to: &out, pretty: pretty)
            #expect(try JSONValue.parse(out) == value)
            #expect(try JSONSerialization.jsonObject(with: Data(out)) is [String: Any])
        }
    }

    @Test func base64MatchesFoundation() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString())
            #expect(Base64.decode(encoded) == bytes)
        }
        for bad in ["a", "abc", "ab=c", "a===", "=abc", "ab\ncd", "ab c", "abc*", "ab==ab=="] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
    }
}
