import Foundation
import Testing
@testable import Minder

/// supervisord's listener protocol, fed byte runs as a listener's stdout delivers them.
struct ListenerProtocolTests {
    func feed(_ p: inout ListenerProtocol, _ text: String) -> [ListenerProtocol.Outcome] {
        p.consume(Array(text.utf8)[...])
    }

    @Test func readyMayArriveInPieces() {
        var p = ListenerProtocol()
        #expect(feed(&p, "REA").isEmpty && p.state == .acknowledged)
        #expect(feed(&p, "DY\n") == [.ready] && p.state == .ready)
    }

    @Test func outputWhileReadyOrAnythingButReadyIsAViolation() {
        var p = ListenerProtocol()
        #expect(feed(&p, "hello\n") == [.violation] && p.state == .unknown)
        #expect(feed(&p, "READY\n").isEmpty, "UNKNOWN is for good")
        var q = ListenerProtocol()
        #expect(feed(&q, "READY\nx") == [.ready, .violation])
    }

    @Test func resultsWithTheirLengthThenReadyAgain() {
        var p = ListenerProtocol()
        _ = feed(&p, "READY\n")
        p.sent()
        #expect(feed(&p, "RESULT 2\nO").isEmpty && p.state == .busy)
        #expect(feed(&p, "KREADY\n") == [.result(Array("OK".utf8)), .ready])
        p.sent()
        #expect(feed(&p, "RESULT 4\nFAIL") == [.result(Array("FAIL".utf8))] && p.state == .acknowledged)
        _ = feed(&p, "READY\n")
        p.sent()
        #expect(feed(&p, "RESULT 0\n") == [.result([])])
    }

    @Test func aResultLineWithoutALengthIsABadResult() {
        var p = ListenerProtocol()
        _ = feed(&p, "READY\n")
        p.sent()
        #expect(feed(&p, "RESULT two\n") == [.badResultLine("RESULT two")] && p.state == .unknown)
    }
}
