import Foundation
import MinderControl
import Testing

/// State events on a real POSIX message queue.
@Suite(.serialized) struct EventQueueTests {

    func events(_ d: DaemonHarness) throws -> [StateEvent] {
        let out = try run(minderctlPath, ["-c", d.configPath, "--json", "events"])
        #expect(out.status == 0, "\(out.stderr)")
        return try out.stdout.split(separator: "\n").map { try JSON.decode(StateEvent.self, Array($0.utf8)) }
    }

    @Test func stateChangesArePostedInOrder() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:once]
            command=/bin/sh -c 'exit 3'
            startsecs=0
            autorestart=false
            """)
        try d.waitForLog("exited: once")
        let list = try events(d)
        #expect(list.map(\.serial) == Array(1...list.count))
        #expect(list.first?.name == nil && list.first?.to == "RUNNING", "minderd itself first")
        let once = list.filter { $0.name == "once" }.map { "\($0.from)>\($0.to)" }
        #expect(once == ["STOPPED>STARTING", "STARTING>RUNNING", "RUNNING>EXITED"])
        let exit = try #require(list.last)
        let pid = try d.pid(of: "once")
        #expect(exit.exit_status == 3 && exit.expected == false && exit.pid == pid)
        #expect(list.allSatisfy { $0.minderd_pid == d.pid })
        #expect(try events(d).isEmpty, "each message goes to one reader")
        #expect(try d.stop() == 0)
    }

    @Test func aFullQueueDropsTheOldestAndNeverBlocks() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:quick]
            command=/bin/true
            process_name=%(program_name)s_%(process_num)d
            numprocs=12
            startsecs=0
            autorestart=false
            """, supervisord: "events_queue_maxmsg=10")
        try d.waitForLog("exited: quick_", count: 12)
        // 1 event for minderd, 3 for each process (STARTING, RUNNING, EXITED): 37, of which 10 fit.
        let info = try JSON.decode(SupervisorInfo.self,
                                   ControlClient(socketPath: d.dir.path + "/m.sock").request("GET", "/api/v1/supervisor").body)
        #expect(info.events_dropped == 27)
        #expect(try events(d).map(\.serial) == Array(28...37), "the newest ten remain")
        #expect(try d.stop() == 0)
    }

    @Test func twoMinderdsHaveTheirOwnQueues() throws {
        let a = try DaemonHarness("[program:a]\ncommand=sleep 1000\nstartsecs=0\n")
        let b = try DaemonHarness("[program:b]\ncommand=sleep 1000\nstartsecs=0\n")
        try a.waitForLog("success: a entered RUNNING")
        try b.waitForLog("success: b entered RUNNING")
        #expect(Set(try events(a).compactMap(\.name)) == ["a"])
        #expect(Set(try events(b).compactMap(\.name)) == ["b"])
        #expect(try a.stop() == 0)
        #expect(try b.stop() == 0)
        let gone = try run(minderctlPath, ["-c", a.configPath, "events"])
        #expect(gone.status != 0 && gone.stderr.contains("cannot open the event queue"), "the queue is removed on exit")
    }
}
