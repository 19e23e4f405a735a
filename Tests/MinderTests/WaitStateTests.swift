@testable import MinderControl
import Testing

/// `minderctl wait`'s view of the processes it waits for, kept by the state events: what an
/// event changes without a request, and which process it has to read again.
@Suite struct WaitStateTests {
    func process(_ group: String, _ name: String, _ statename: String, ready: Bool? = nil) -> ProcessStatus {
        var s = ProcessStatus(name: name, group: group, statename: statename, state: 0, description: "", pid: 0, start: 0,
                              stop: 0, now: 0, spawnerr: statename == "FATAL" ? "couldn't exec" : "", exitstatus: 0,
                              restarts: 0, stdout_logfile: "", stderr_logfile: "")
        s.ready = ready
        return s
    }

    func event(_ group: String?, _ name: String?, _ from: String, _ to: String) -> StateEvent {
        StateEvent(serial: 1, time: 0, minderd_pid: 1, group: group, name: name, from: from, to: to, pid: nil,
                   exit_status: nil, expected: nil)
    }

    @Test func runningIsKeptFromTheEventsAlone() {
        var w = WaitState(condition: .running, names: ["web:*"])
        w.replaceAll([process("web", "web_0", "STOPPED"), process("web", "web_1", "STOPPED")])
        #expect(w.unmet == ["web:web_0", "web:web_1"])
        #expect(w.apply(event("web", "web_0", "STOPPED", "STARTING")) == .current)
        #expect(w.apply(event("web", "web_0", "STARTING", "RUNNING")) == .current)
        #expect(w.unmet == ["web:web_1"])
        // Another program's event changes nothing and asks for nothing.
        #expect(w.apply(event("db", "db", "STARTING", "RUNNING")) == .current)
        #expect(w.known["db"] == nil)
        #expect(w.apply(event("web", "web_1", "STARTING", "RUNNING")) == .current)
        #expect(w.unmet.isEmpty && w.failed == nil)
        // Met, then no longer: the wait is for all of them at once.
        #expect(w.apply(event("web", "web_0", "RUNNING", "EXITED")) == .current)
        #expect(w.unmet == ["web:web_0"])
    }

    @Test func stoppedIsMetByEveryStateThatIsNotUp() {
        var w = WaitState(condition: .stopped, names: ["api"])
        w.replaceAll([process("api", "api", "RUNNING")])
        #expect(w.apply(event("api", "api", "RUNNING", "STOPPING")) == .current && w.unmet == ["api"])
        #expect(w.apply(event("api", "api", "STOPPING", "STOPPED")) == .current && w.unmet.isEmpty)
    }

    @Test func readinessIsKeptFromTheEventsToo() {
        var w = WaitState(condition: .ready, names: ["api", "plain"])
        w.replaceAll([process("api", "api", "STOPPED", ready: false), process("plain", "plain", "STOPPED")])
        #expect(w.apply(event("api", "api", "STOPPED", "STARTING")) == .current)
        #expect(w.apply(event("api", "api", "STARTING", "RUNNING")) == .current)
        #expect(w.apply(event("plain", "plain", "STARTING", "RUNNING")) == .current)
        // Without ready= (null), RUNNING is enough; with it, RUNNING waits for the readiness event.
        #expect(w.unmet == ["api"])
        var ready = event("api", "api", "RUNNING", "RUNNING")
        ready.ready = true
        #expect(w.apply(ready) == .current && w.unmet.isEmpty)
        // A new spawn is not ready again.
        #expect(w.apply(event("api", "api", "RUNNING", "EXITED")) == .current)
        #expect(w.apply(event("api", "api", "EXITED", "STARTING")) == .current)
        #expect(w.apply(event("api", "api", "STARTING", "RUNNING")) == .current)
        #expect(w.unmet == ["api"] && w.known["api"]?.ready == false)
    }

    @Test func healthAndFatalAreReadFromMinderd() {
        let spec = NameSpec.process(group: "api", name: "api")
        var h = WaitState(condition: .healthy, names: ["api", "plain"])
        var checked = process("api", "api", "STARTING", ready: false)
        checked.healthy = false
        h.replaceAll([checked, process("plain", "plain", "STARTING")])
        // Health checks post no event: a process with one is read; one without follows its events.
        #expect(h.apply(event("api", "api", "STARTING", "RUNNING")) == .read(spec))
        #expect(h.apply(event("plain", "plain", "STARTING", "RUNNING")) == .current)
        checked.statename = "RUNNING"
        checked.ready = true
        checked.healthy = true
        h.note(checked)
        #expect(h.unmet.isEmpty)
        // FATAL is read for its spawn error, and fails a wait for a process to be up.
        var r = WaitState(condition: .running, names: ["api"])
        r.replaceAll([process("api", "api", "BACKOFF")])
        #expect(r.apply(event("api", "api", "BACKOFF", "FATAL")) == .read(spec))
        r.note(process("api", "api", "FATAL"))
        #expect(r.failed == "api is FATAL: couldn't exec")
    }

    @Test func aProcessAddedToANamedGroupIsReadAndMinderdsOwnEventsReadAll() {
        var w = WaitState(condition: .running, names: ["web", "db:db_0", "all2:"])
        w.replaceAll([process("web", "web_0", "RUNNING"), process("db", "db_0", "STOPPED")])
        // A bare name may be a group's: its new member is read.
        #expect(w.apply(event("web", "web_1", "STOPPED", "STARTING")) == .read(.process(group: "web", name: "web_1")))
        #expect(w.apply(event("all2", "x", "STOPPED", "STARTING")) == .read(.process(group: "all2", name: "x")))
        // `group:name` names that process only.
        #expect(w.apply(event("db", "db_1", "STOPPED", "STARTING")) == .current)
        #expect(w.apply(event(nil, nil, "RUNNING", "RESTARTING")) == .readAll)
        var all = WaitState(condition: .running, names: ["all"])
        #expect(all.apply(event("z", "z", "STOPPED", "STARTING")) == .read(.process(group: "z", name: "z")))
        w.forget("db:db_0")
        #expect(w.unmet.isEmpty && w.known["db:db_0"] == nil)
    }
}
