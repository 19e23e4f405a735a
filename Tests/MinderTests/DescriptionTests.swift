@testable import Minder
import MinderControl
import Testing

/// The status description column, written as bytes, as supervisorctl words it.
@Suite struct DescriptionTests {
    @Test func uptimeAsSupervisorctlWritesIt() {
        let cases: [(Double, String)] = [
            (0, "0:00:00"), (5.9, "0:00:05"), (65, "0:01:05"), (3661, "1:01:01"), (86399, "23:59:59"),
            (86400, "1 day, 0:00:00"), (90061, "1 day, 1:01:01"), (2 * 86400 + 600, "2 days, 0:10:00"),
            (400 * 86400 + 36000, "400 days, 10:00:00"),
        ]
        for (seconds, text) in cases {
            var written: [UInt8] = []
            Supervisor.appendUptime(seconds, to: &written)
            #expect(String(decoding: written, as: UTF8.self) == text)
        }
    }

    @Test func runningProcessesShowPidUptimeAndNote() {
        var s = ProcessStatus(name: "web", group: "web", statename: "RUNNING", state: 20, description: "", pid: 4242,
                              start: 1000, stop: 0, now: 0, spawnerr: "", exitstatus: 0, restarts: 0,
                              stdout_logfile: "", stderr_logfile: "")
        s.describe(now: 1000 + 3725.5)
        #expect(s.description == "pid 4242, uptime 1:02:05")
        #expect(s.now == 4725.5)
        s.ready = false
        s.status_text = "warming up"
        s.describe(now: 999)  // a clock that went back shows no negative uptime
        #expect(s.description == "pid 4242, uptime 0:00:00, not ready, warming up")
        s.waiting_for = "db to be ready"
        s.describe(now: 2000)
        #expect(s.description == "waiting for db to be ready")
    }
}
