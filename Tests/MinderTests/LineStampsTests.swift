import Foundation
import Testing
@testable import Minder

/// `*_log_timestamps`: one prefix at the start of each line, fed reads as a pipe delivers them.
struct LineStampsTests {
    /// The reads stamped one after another, each starting where the last one left the target.
    func run(_ reads: [String], atLineStart: Bool = true, calls: inout Int) -> String {
        var start = atLineStart
        var out: [UInt8] = []
        for read in reads {
            let stamped = LineStamps.stamp(Array(read.utf8)[...], atLineStart: start) {
                calls += 1
                return Array("T ".utf8)
            }
            out += stamped
            if let last = stamped.last { start = last == 10 }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func run(_ reads: [String], atLineStart: Bool = true) -> String {
        var calls = 0
        return run(reads, atLineStart: atLineStart, calls: &calls)
    }

    @Test func aLineSplitBetweenReadsGetsOnePrefix() {
        #expect(run(["ab", "c\n"]) == "T abc\n")
        #expect(run(["one\ntwo\nthr", "ee\nfour"]) == "T one\nT two\nT three\nT four")
        #expect(run(["a", "", "b", "\n", "\n"]) == "T ab\nT \n")
    }

    @Test func carriageReturnsAndBinaryPassUnchanged() {
        #expect(run(["10%\r50%\r", "100%\n"]) == "T 10%\r50%\r100%\n")
        #expect(run(["\u{0}\u{1b}[1m\r\n"]) == "T \u{0}\u{1b}[1m\r\n")
    }

    @Test func aTargetInTheMiddleOfALineGetsNoPrefixUntilItEnds() {
        #expect(run(["rest\nnext"], atLineStart: false) == "rest\nT next")
        #expect(run([""], atLineStart: true) == "", "no bytes, no prefix")
    }

    @Test func theTimeIsTakenOncePerRead() {
        var calls = 0
        _ = run(["a\nb\nc\n", "d", "e\n"], calls: &calls)
        #expect(calls == 2, "one read of three lines, one of a line's start, none for a line's end")
    }

    @Test func thePrefixIsTheMainLogsTimestamp() {
        let prefix = String(decoding: LineStamps.now(), as: UTF8.self)
        let shape = "0000-00-00 00:00:00,000 "
        #expect(prefix.count == shape.count)
        #expect(zip(prefix, shape).allSatisfy { p, s in s == "0" ? p.isASCII && p.isNumber : p == s }, "\(prefix)")
    }

    /// A log file opened again (a reload, a rotation) takes its state from its last byte.
    @Test func aFileOpenedAgainKnowsWhetherItEndsALine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("linestamps-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.path + "/x.log"
        #expect(RotatingFile(sink: LogSink(path: path, maxBytes: 0, backups: 0)).atLineStart, "a new file")
        try Data("whole\npartial".utf8).write(to: URL(fileURLWithPath: path))
        let file = RotatingFile(sink: LogSink(path: path, maxBytes: 20, backups: 1))
        #expect(!file.atLineStart)
        file.write(Array(" line\n".utf8)[...], counters: nil)
        #expect(file.atLineStart)
        file.write(Array("cut".utf8)[...], counters: nil)
        #expect(file.atLineStart, "rotated at 20 bytes: the fresh file starts a line")
        #expect(FileManager.default.contents(atPath: path + ".1") == Data("whole\npartial line\ncut".utf8))
        file.write(Array("x".utf8)[...], counters: nil)
        #expect(!file.atLineStart)
        file.truncate()
        #expect(file.atLineStart)
        file.close()
    }
}
