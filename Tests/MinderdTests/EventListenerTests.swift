import Foundation
import MinderControl
import Testing

/// [eventlistener:x] pools speaking supervisord's listener protocol, with the listener from examples/.
@Suite struct EventListenerTests {
    let listener = packageRoot.path + "/examples/listener.py"

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func stateEventsReachTheListenerAndARejectedOneComesAgain() throws {
        let d = try DaemonHarness("""
            [eventlistener:watch]
            command=/usr/bin/python3 \(listener) %(here)s/events.txt reject-first
            events=PROCESS_STATE_RUNNING,PROCESS_STATE_EXITED,SUPERVISOR_STATE_CHANGE
            stderr_logfile=%(here)s/listener.err

            [program:quick]
            command=/bin/sh -c 'sleep 0.3; exit 3'
            startsecs=0
            autorestart=false
            exitcodes=0
            """)
        let events = d.dir.path + "/events.txt"
        try waitUntil("quick's exit delivered", timeout: 30) {
            lines(events).contains { $0.hasPrefix("PROCESS_STATE_EXITED") && $0.contains("processname:quick") }
        }
        let got = lines(events)
        let quick = try d.pid(of: "quick")
        // The first event was answered FAIL: it came again, with the same serial.
        #expect(Array(got.prefix(2)) == Array(repeating: "SUPERVISOR_STATE_CHANGE_RUNNING serial:0 pool:watch ", count: 2))
        try d.waitForLog("watch: event was rejected")
        #expect(got.contains { $0.hasPrefix("PROCESS_STATE_RUNNING") && $0.hasSuffix("processname:quick groupname:quick from_state:STARTING pid:\(quick)") })
        #expect(got.contains { $0.hasSuffix("processname:quick groupname:quick from_state:RUNNING expected:0 pid:\(quick)") })
        #expect(!got.contains { $0.contains("STOPPED") }, "only the subscribed types")
        #expect(try d.stop() == 0)
    }

    @Test func ticksArriveOnTheirBoundaryAndAProtocolBreakIsIsolated() throws {
        let d = try DaemonHarness("""
            [eventlistener:clock]
            command=/usr/bin/python3 \(listener) %(here)s/ticks.txt
            events=TICK_5
            startsecs=0

            [eventlistener:rude]
            command=/bin/sh -c 'echo hello; exec sleep 1000'
            events=PROCESS_STATE
            startsecs=0
            """)
        let ticks = d.dir.path + "/ticks.txt"
        try d.waitForLog("rude: has entered the UNKNOWN state")
        try waitUntil("a TICK_5", timeout: 20) { lines(ticks).contains { $0.hasPrefix("TICK_5") } }
        let tick = try #require(lines(ticks).first { $0.hasPrefix("TICK_5") })
        let when = try #require(Int(tick.split(separator: ":").last ?? ""))
        #expect(when % 5 == 0 && abs(Double(when) - Date().timeIntervalSince1970) < 10)
        #expect(lines(ticks).allSatisfy { $0.hasPrefix("TICK_5") }, "nothing it did not subscribe to")
        #expect(try d.stop() == 0)
    }

    /// stdout_events_enabled: each chunk of output becomes a PROCESS_LOG_STDOUT event.
    @Test func outputBecomesLogEventsWhenEnabled() throws {
        let d = try DaemonHarness("""
            [eventlistener:logs]
            command=/usr/bin/python3 \(listener) %(here)s/logs.txt
            events=PROCESS_LOG
            startsecs=0

            [program:talker]
            command=/bin/sh -c 'sleep 0.5; echo hello; exec sleep 1000'
            startsecs=0
            stdout_logfile=NONE
            stdout_events_enabled=true

            [program:silent]
            command=/bin/sh -c 'echo unheard; exec sleep 1000'
            startsecs=0
            """, loglevel: "info")
        let path = d.dir.path + "/logs.txt"
        try waitUntil("the log event") { lines(path).contains("hello") }
        let talker = try d.pid(of: "talker")
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        #expect(text.contains("pool:logs processname:talker groupname:talker pid:\(talker) channel:stdout\nhello\n"))
        #expect(!text.contains("unheard"), "only where *_events_enabled")
        #expect(try d.stop() == 0)
    }

    /// stdout_capture_maxbytes: what a program writes between supervisord's capture tokens becomes a
    /// PROCESS_COMMUNICATION_STDOUT event instead of log output.
    @Test func captureModeSendsCommunicationEvents() throws {
        let d = try DaemonHarness("""
            [eventlistener:comm]
            command=/usr/bin/python3 \(listener) %(here)s/comm.txt
            events=PROCESS_COMMUNICATION
            startsecs=0

            [program:talker]
            command=/bin/sh -c 'sleep 0.5; printf "before <!--XSUPERVISOR:BEGIN-->secret<!--XSUPERVISOR:END--> after\\n"; exec sleep 1000'
            startsecs=0
            stdout_capture_maxbytes=1KB
            stdout_logfile=%(here)s/talker.log
            """, loglevel: "info")
        let path = d.dir.path + "/comm.txt"
        try waitUntil("the communication event") { lines(path).contains("secret") }
        let talker = try d.pid(of: "talker")
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        #expect(text.hasPrefix("PROCESS_COMMUNICATION_STDOUT serial:"))
        #expect(text.contains("pool:comm processname:talker groupname:talker pid:\(talker)\nsecret\n"))
        try waitUntil("the output around the capture in the log") {
            (try? String(contentsOfFile: d.dir.path + "/talker.log", encoding: .utf8)) == "before  after\n"
        }
        #expect(try d.stop() == 0)
    }

    /// POST /events: supervisord's sendRemoteCommEvent, for REMOTE_COMMUNICATION listeners.
    @Test func remoteEventsComeThroughTheAPI() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [eventlistener:remote]
            command=/usr/bin/python3 \(listener) %(here)s/remote.txt
            events=REMOTE_COMMUNICATION
            startsecs=0
            """, loglevel: "info")
        try d.waitForLog("success: remote entered RUNNING")
        let reply = try ControlClient(socketPath: d.dir.path + "/m.sock")
            .request("POST", ControlAPI.prefix + "/events", body: Array(#"{"type":"deploy","data":"version 2"}"#.utf8))
        #expect(reply.status == 200)
        let path = d.dir.path + "/remote.txt"
        try waitUntil("the remote event") { lines(path).contains("version 2") }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        #expect(text.hasPrefix("REMOTE_COMMUNICATION serial:0 pool:remote type:deploy\nversion 2\n"))
        #expect(try d.stop() == 0)
    }

    /// A listener that exits after each event is restarted and gets the next one: what the dead
    /// one held is released before its successor starts.
    @Test func aRestartedListenerGetsEventsAgain() throws {
        let d = try DaemonHarness("""
            [eventlistener:oneshot]
            command=/usr/bin/python3 \(listener) %(here)s/once.txt once
            events=PROCESS_STATE_EXITED
            startsecs=0
            autorestart=true

            [program:blink]
            command=/bin/sh -c 'sleep 0.2'
            startsecs=0
            autorestart=true
            """, loglevel: "info")
        let path = d.dir.path + "/once.txt"
        try waitUntil("events to eight listener lifetimes", timeout: 120) { lines(path).count >= 8 }
        // Each lifetime ended after its event; none lost its stdout to its predecessor's cleanup.
        try d.waitForLog("exited: oneshot (exit status 0; expected)", count: 8, timeout: 120)
        #expect(!d.log.contains("exited: oneshot (exit status 1"))
        #expect(try d.stop() == 0)
    }

    /// Listeners that exit together each have their pipe closed once. The event for a pipe whose
    /// listener's exit, earlier in the same wait, had closed it used to close the number again,
    /// when another thread may have opened it (libdispatch's epoll set, whose loss took minderd
    /// down). The harness's close checker aborts minderd at such a close.
    @Test(.enabled(if: closeChecker != nil, "needs the close checker (cc, and no sanitizer)"))
    func listenersExitingTogetherHaveEachPipeClosedOnce() throws {
        let d = try DaemonHarness("""
            [eventlistener:pool]
            command=/usr/bin/python3 \(listener) %(here)s/events.txt
            process_name=%(program_name)s_%(process_num)d
            numprocs=8
            events=PROCESS_STATE
            startsecs=0
            """)
        try waitUntil("eight listeners ready") {
            let log = d.log
            return (0..<8).allSatisfy { log.contains("pool_\($0): ACKNOWLEDGED -> READY") }
        }
        #expect(try d.stop() == 0)
    }
}
