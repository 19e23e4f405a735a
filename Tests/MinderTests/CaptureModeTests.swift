import Foundation
import Testing
@testable import Minder

/// supervisord's capture mode, fed reads as a pipe delivers them.
struct CaptureModeTests {
    func run(_ mode: inout CaptureMode, _ reads: [String]) -> (log: String, messages: [String]) {
        var log: [UInt8] = [], messages: [String] = []
        for read in reads {
            let (text, found) = mode.filter(Array(read.utf8)[...])
            log += text
            messages += found.map { String(decoding: $0, as: UTF8.self) }
        }
        log += mode.end()
        return (String(decoding: log, as: UTF8.self), messages)
    }

    @Test func tokensSplitBetweenReadsAreFound() {
        var mode = CaptureMode(maxBytes: 100)
        let (log, messages) = run(&mode, ["a <!--XSUPER", "VISOR:BEGIN-->sec", "ret<!--XSUPERVISOR:E", "ND--> b <!--X"])
        #expect(log == "a  b <!--X", "a token's start at EOF was output after all")
        #expect(messages == ["secret"])
    }

    @Test func aMessageKeepsItsLastMaxBytes() {
        var mode = CaptureMode(maxBytes: 4)
        let (log, messages) = run(&mode, ["<!--XSUPERVISOR:BEGIN-->123456<!--XSUPERVISOR:END--><!--XSUPERVISOR:BEGIN--><!--XSUPERVISOR:END-->"])
        #expect(log.isEmpty && messages == ["3456", ""])
    }
}
