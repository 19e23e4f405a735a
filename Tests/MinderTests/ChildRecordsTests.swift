import MinderControl
import Testing
@testable import Minder

/// The child-records file's own writer against Codable's, which reads it back.
@Suite struct ChildRecordsTests {
    @Test func bytesAreJSONEncodersAndReadBack() throws {
        let file = ChildRecords.File(boot: "4f0c-\"boot\"\n", children: [
            ChildRecord(pid: 42, start: 123_456_789, uid: 0, exe: "/usr/bin/sleep", namespec: "pool:w_1",
                        stopsignal: 15, stopwaitsecs: 10, stopasgroup: false),
            ChildRecord(pid: Int32.max, start: UInt64(Int.max), uid: UInt32.max, exe: "/opt/é 日本/a\\b", namespec: "web",
                        stopsignal: 9, stopwaitsecs: 0, stopasgroup: true),
        ])
        #expect(String(decoding: file.json(), as: UTF8.self) == String(decoding: JSON.encode(file), as: UTF8.self))
        let read = try JSON.decode(ChildRecords.File.self, file.json())
        #expect(read.boot == file.boot && read.children == file.children)
        #expect(ChildRecords.File(boot: "", children: []).json() == Array(#"{"boot":"","children":[]}"#.utf8))
    }
}
