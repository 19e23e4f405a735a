import Foundation
import MinderConfig
import MinderControl
import Testing

/// The status records' own JSON writer against JSONEncoder and JSONDecoder.
struct StatusJSONTests {
    func status(_ name: String, description: String = "", start: Double = 0, now: Double = 0, path: String = "") -> ProcessStatus {
        ProcessStatus(name: name, group: "g", statename: "RUNNING", state: 20, description: description, pid: 4242,
                      start: start, stop: 0, now: now, spawnerr: "", exitstatus: -1, restarts: 3,
                      stdout_logfile: path, stderr_logfile: "")
    }

    @Test func bytesAreJSONEncodersForPlainRecords() {
        let list = [status("web", description: "pid 4242, uptime 0:01:02", start: 1795692514, now: 1795692576.3356638),
                    status("w_1", start: 0.5, now: -2)]
        #expect(String(decoding: ProcessStatus.jsonArray(list), as: UTF8.self) == String(decoding: JSON.encode(list), as: UTF8.self))
        #expect(ProcessStatus.jsonArray([]) == Array("[]".utf8))
    }

    @Test func awkwardStringsDecodeToWhatWasWritten() throws {
        let awkward = ["quote \" and \\ backslash", "line\nbreak\r\ttab", "control \u{01}\u{1f}", "é 日本 🚀", "/var/log/a b.log", ""]
        let list = awkward.map { status($0, description: $0, path: $0) }
        let decoded = try JSON.decode([ProcessStatus].self, ProcessStatus.jsonArray(list))
        #expect(decoded == list)
        #expect(try JSONSerialization.jsonObject(with: Data(ProcessStatus.jsonArray(list))) is [Any])
    }

    /// minderctl's reader of the status list against Codable's: the same records, and nil (so
    /// that Codable's error is shown) wherever Codable refuses.
    @Test func theDirectReaderAgreesWithCodable() throws {
        var list = ["quote \" and \\", "é 日本 🚀", ""].map { status($0, description: $0, start: 1795692514.5, now: 12, path: $0) }
        list[0].ready = true
        list[1].healthy = false
        list[2].log_bytes_written = 1 << 40
        let bytes = ProcessStatus.jsonArray(list)
        #expect(ProcessStatus.fromJSONArray(bytes) == list)
        #expect(try JSON.decode([ProcessStatus].self, bytes) == list)
        var record = String(decoding: ProcessStatus.jsonArray([list[0]]), as: UTF8.self)
        record.insert(contentsOf: #""unknown":[1],"#, at: record.index(after: record.index(after: record.startIndex)))
        #expect(ProcessStatus.fromJSONArray(Array(record.utf8)) == [list[0]], "a key it does not know is skipped")
        for (key, replacement) in [("\"pid\":4242", "\"pid\":\"4242\""), ("\"pid\":4242", "\"pid\":1e20"),
                                   ("\"restarts\":3,", ""), ("\"ready\":true", "\"ready\":1"), ("\"state\":20", "\"state\":20.5")] {
            let bad = Array(record.replacingOccurrences(of: key, with: replacement).utf8)
            #expect(ProcessStatus.fromJSONArray(bad) == nil, "\(replacement)")
            #expect(throws: (any Error).self) { try JSON.decode([ProcessStatus].self, bad) }
        }
        #expect(ProcessStatus.fromJSONArray(Array("{}".utf8)) == nil)
    }

    @Test func theReadersKeysAreTheRecordsKeys() throws {
        var record = status("a")
        record.ready = true
        record.healthy = true
        guard case .array(let items) = try JSONValue.parse(ProcessStatus.jsonArray([record])), case .object(let pairs) = items.first else {
            Issue.record("not an array of objects")
            return
        }
        #expect(pairs.map(\.0).sorted() == ProcessStatus.keys.sorted())
        // Each key's bit (its place in `keys`) is the one the writer and the reader give that key.
        for key in ProcessStatus.keys {
            let bytes = ProcessStatus.jsonArray([record], fields: [key])
            guard case .array(let one) = try JSONValue.parse(bytes), case .object(let only) = one.first else {
                Issue.record("not an array of objects")
                return
            }
            #expect(only.map(\.0) == [key])
            #expect(ProcessStatus.fromJSONArray(bytes, fields: [key]) != nil, "\(key)")
        }
    }

    /// `?fields=`: the records have those keys only, with the values of the whole record, and the
    /// reader asks for exactly those.
    @Test func someFieldsOnly() throws {
        let list = [status("web", description: "pid 4242, uptime 0:01:02", start: 1795692514, now: 1795692576.5), status("b\"c")]
        let fields: Set<String> = ["name", "namespec", "description", "healthy"]
        let bytes = ProcessStatus.jsonArray(list, fields: fields)
        guard case .array(let some) = try JSONValue.parse(bytes), case .array(let all) = try JSONValue.parse(ProcessStatus.jsonArray(list)) else {
            Issue.record("not arrays")
            return
        }
        for (part, whole) in zip(some, all) {
            guard case .object(let partPairs) = part, case .object(let wholePairs) = whole else { continue }
            #expect(partPairs.map(\.0) == wholePairs.map(\.0).filter(fields.contains))
            for (key, value) in partPairs { #expect(wholePairs.first { $0.0 == key }?.1 == value) }
        }
        let read = try #require(ProcessStatus.fromJSONArray(bytes, fields: fields))
        #expect(read.map(\.namespec) == list.map(\.namespec) && read.map(\.description) == list.map(\.description))
        #expect(read.allSatisfy { $0.statename == "" && $0.pid == 0 }, "what was not asked for keeps its zero value")
        #expect(ProcessStatus.fromJSONArray(bytes) == nil, "without fields, every key must be there")
        #expect(ProcessStatus.fromJSONArray(bytes, fields: fields.union(["pid"])) == nil)
        #expect(ProcessStatus.jsonArray(list, fields: []) == Array("[{},{}]".utf8))
        #expect(ProcessStatus.fromJSONArray(Array("[{},{}]".utf8), fields: [])?.count == 2)
    }

    @Test func eventBytesAreJSONEncoders() {
        var events = [StateEvent(serial: 7, time: 1795692514.125, minderd_pid: 99, group: "pool", name: "w_1", from: "STARTING",
                                 to: "RUNNING", pid: 1234, exit_status: nil, expected: nil),
                      StateEvent(serial: 8, time: 1795692515, minderd_pid: 99, group: nil, name: nil, from: "RUNNING",
                                 to: "SHUTDOWN", pid: 99, exit_status: -9, expected: false)]
        events[1].truncated = true
        for event in events {
            #expect(String(decoding: event.json(), as: UTF8.self) == String(decoding: JSON.encode(event), as: UTF8.self))
        }
    }
}
