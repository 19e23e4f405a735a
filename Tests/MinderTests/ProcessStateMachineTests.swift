import Foundation
import Testing
@testable import Minder
import MinderConfig

/// Transitions fed by hand, checked against supervisord's state table.
@Suite struct ProcessStateMachineTests {
    func machine(_ tweak: (inout ProcessConfig) -> Void = { _ in }) -> ProcessMachine {
        var config = ProcessConfig(name: "p", programName: "p", processNum: 0, command: "p", argv: ["p"],
                                   section: "program:p", location: SourceLocation(file: "t", line: 1))
        tweak(&config)
        return ProcessMachine(config: config)
    }

    func logs(_ actions: [ProcessAction]) -> [String] {
        actions.compactMap { if case .log(_, let m) = $0 { m } else { nil } }
    }

    @Test func startThenRunningAfterStartsecs() {
        var m = machine()
        #expect(m.handle(.start, now: 100) == [.spawn])
        #expect(m.state == .starting)
        #expect(logs(m.handle(.spawned(pid: 42), now: 100)) == ["spawned: 'p' with pid 42"])
        #expect(m.deadline == 101)
        #expect(m.handle(.deadline, now: 100.5).isEmpty && m.state == .starting)
        #expect(logs(m.handle(.deadline, now: 101)) == ["success: p entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)"])
        #expect(m.state == .running && m.pid == 42 && m.deadline == nil)
    }

    /// ready=: RUNNING as supervisord has it, `ready` beside it; the start succeeds when ready.
    @Test func readyIsTrackedBesideRunning() {
        var m = machine { $0.ready = .notify; $0.readyTimeout = 30 }
        _ = m.handle(.start, now: 100)
        #expect(m.ready == false)
        _ = m.handle(.spawned(pid: 42), now: 100)
        _ = m.handle(.deadline, now: 101)
        #expect(m.state == .running && m.ready == false && m.deadline == 130, "the ready timeout, from the spawn")
        #expect(logs(m.handle(.ready, now: 105)) == ["ready: p"])
        #expect(m.ready == true && m.deadline == nil)
        #expect(m.handle(.ready, now: 106).isEmpty, "a second READY=1 changes nothing")
        // Each spawn starts not ready again.
        _ = m.handle(.exited(.exited(1)), now: 200)
        #expect(m.ready == false)
    }

    @Test func notReadyInTimeIsStoppedAndFailsItsStart() {
        var m = machine { $0.ready = .notify; $0.readyTimeout = 5; $0.startsecs = 0; $0.startretries = 1 }
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawned(pid: 42), now: 0)
        #expect(m.handle(.deadline, now: 4.9).isEmpty && m.state == .running)
        let actions = m.handle(.deadline, now: 5)
        #expect(m.state == .stopping && actions.contains(.signal(15, group: false)))
        _ = m.handle(.exited(.signaled(15)), now: 5.1)
        #expect(m.state == .backoff && m.spawnError == "not ready within 5 seconds (ready_timeout)")
        #expect(m.exits.unexpected == 1)
        // The retry is not ready either, and exits before it is: FATAL, as startretries=1 says.
        _ = m.handle(.deadline, now: 7)
        _ = m.handle(.spawned(pid: 43), now: 7)
        #expect(m.state == .running && m.ready == false)
        _ = m.handle(.exited(.exited(0)), now: 8)
        #expect(m.state == .fatal)
    }

    /// An exit noticed after startsecs, before the RUNNING transition ran, of a program not ready yet:
    /// a failed start too, as an exit from RUNNING before readiness is.
    @Test func anExitAfterStartsecsBeforeReadyIsAFailedStart() {
        var m = machine { $0.ready = .notify; $0.startsecs = 1 }
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawned(pid: 42), now: 0)
        _ = m.handle(.exited(.exited(0)), now: 2)
        #expect(m.state == .backoff && m.spawnError == "exited before it was ready" && m.exits.unexpected == 1)
    }

    /// RELOADING=1 after READY=1: not ready until READY=1 again, and an exit meanwhile is an exit
    /// from RUNNING (it was ready once in this run), judged by exitcodes; a new spawn starts over.
    @Test func notReadyAfterReadyIsNoFailedStart() {
        var m = machine { $0.ready = .notify; $0.startsecs = 0; $0.autorestart = .never }
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawned(pid: 42), now: 0)
        _ = m.handle(.ready, now: 1)
        _ = m.handle(.notReady, now: 2)
        #expect(m.state == .running && m.ready == false && m.deadline == nil, "no ready timeout for a reload")
        _ = m.handle(.ready, now: 3)
        #expect(m.ready == true)
        _ = m.handle(.notReady, now: 4)
        _ = m.handle(.exited(.exited(3)), now: 5)
        #expect(m.state == .exited && m.exits.unexpected == 1 && m.spawnError == nil)
        _ = m.handle(.start, now: 6)
        _ = m.handle(.spawned(pid: 43), now: 6)
        _ = m.handle(.exited(.exited(0)), now: 7)
        #expect(m.state == .backoff && m.spawnError == "exited before it was ready", "the new run was never ready")
    }

    @Test func startsecsZeroIsRunningAtOnce() {
        var m = machine { $0.startsecs = 0 }
        _ = m.handle(.start, now: 1)
        _ = m.handle(.spawned(pid: 7), now: 1)
        #expect(m.state == .running)
    }

    @Test func quickExitsBackOffOneTwoThreeSecondsThenFatal() {
        var m = machine { $0.startretries = 3 }
        var now = 10.0
        var spawns = 0
        while m.state != .fatal {
            let actions = m.state == .backoff ? m.handle(.deadline, now: now) : m.handle(.start, now: now)
            if actions.contains(.spawn) { spawns += 1 }
            _ = m.handle(.spawned(pid: Int32(spawns)), now: now)
            _ = m.handle(.exited(.exited(1)), now: now + 0.1)
            if m.state == .backoff {
                #expect(m.deadline == now + 0.1 + Double(spawns), "waits 1 s, 2 s, 3 s")
                now = m.deadline!
            }
        }
        #expect(spawns == 4, "startretries + 1 attempts")
        #expect(m.spawnError == "Exited too quickly (process log may have details)")
    }

    @Test func spawnErrorGoesBackoffThenFatal() {
        var m = machine { $0.startretries = 1 }
        _ = m.handle(.start, now: 0)
        #expect(logs(m.handle(.spawnFailed("can't find command 'nope'"), now: 0)) == ["spawnerr: can't find command 'nope'"])
        #expect(m.state == .backoff && m.deadline == 1)
        #expect(m.handle(.deadline, now: 1) == [.spawn])
        let last = m.handle(.spawnFailed("can't find command 'nope'"), now: 1)
        #expect(m.state == .fatal)
        #expect(logs(last).last == "gave up: p entered FATAL state, too many start retries too quickly")
    }

    @Test func autorestartPolicies() {
        func afterExit(_ policy: AutoRestart, _ status: ProcessExit) -> ProcessMachine {
            var m = machine { $0.autorestart = policy; $0.exitcodes = [0, 2]; $0.startsecs = 0 }
            _ = m.handle(.start, now: 0)
            _ = m.handle(.spawned(pid: 1), now: 0)
            _ = m.handle(.exited(status), now: 5)
            return m
        }
        #expect(afterExit(.unexpected, .exited(2)).state == .exited)
        #expect(afterExit(.unexpected, .exited(1)).state == .starting)
        #expect(afterExit(.unexpected, .signaled(9)).state == .starting, "death by signal is never expected")
        #expect(afterExit(.always, .exited(0)).state == .starting)
        #expect(afterExit(.never, .exited(1)).state == .exited)
        #expect(afterExit(.always, .exited(0)).restarts == 1)
    }

    @Test func exitAfterStartsecsBeforeTheTimerCountsAsRunning() {
        var m = machine { $0.autorestart = .never }
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawned(pid: 1), now: 0)
        let actions = logs(m.handle(.exited(.exited(0)), now: 1.5))
        #expect(m.state == .exited)
        #expect(actions.first?.hasPrefix("success: p entered RUNNING") == true)
        #expect(actions.last == "exited: p (exit status 0; expected)")
    }

    @Test func stopSignalsThenKillsAfterStopwaitsecs() {
        var m = machine { $0.stopsignal = 2; $0.stopwaitsecs = 5; $0.stopasgroup = true; $0.killasgroup = true }
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawned(pid: 9), now: 0)
        _ = m.handle(.deadline, now: 1)
        #expect(m.handle(.stop, now: 10).contains(.signal(2, group: true)))
        #expect(m.state == .stopping && m.deadline == 15)
        #expect(m.handle(.deadline, now: 15).contains(.signal(9, group: true)))
        #expect(logs(m.handle(.exited(.signaled(9)), now: 15.1)) == ["stopped: p (terminated by SIGKILL)"])
        #expect(m.state == .stopped && m.pid == nil)
    }

    @Test func stopInBackoffIsImmediate() {
        var m = machine()
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawnFailed("x"), now: 0)
        #expect(m.handle(.stop, now: 0.5).isEmpty && m.state == .stopped && m.deadline == nil)
    }

    @Test func noAutomaticRestartWhileShuttingDown() {
        var m = machine { $0.autorestart = .always; $0.startsecs = 0 }
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawned(pid: 1), now: 0)
        m.autoRestartAllowed = false
        _ = m.handle(.exited(.exited(1)), now: 3)
        #expect(m.state == .exited)
    }

    @Test func backoffDoesNotRespawnWhileStopping() {
        var m = machine()
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawnFailed("x"), now: 0)
        m.autoRestartAllowed = false
        #expect(m.handle(.deadline, now: 1).isEmpty)
        #expect(m.state == .stopped && m.deadline == nil)
    }

    @Test func crashLoopIsRateLimited() {
        var m = machine { $0.autorestart = .always; $0.startsecs = 0 }
        var now = 0.0
        var spawnTimes: [Double] = []
        var actions = m.handle(.start, now: now)
        while spawnTimes.count < 25 {
            if actions.contains(.spawn) {
                spawnTimes.append(now)
                _ = m.handle(.spawned(pid: 1), now: now)
                now += 0.001
                actions = m.handle(.exited(.exited(1)), now: now)
            } else {
                let deadline = m.deadline!
                #expect(deadline > now)
                now = deadline
                actions = m.handle(.deadline, now: now)
            }
        }
        // Never more than 10 spawns inside any one-second window.
        for (i, t) in spawnTimes.enumerated() where i >= ProcessMachine.maxSpawnsPerSecond {
            #expect(t - spawnTimes[i - ProcessMachine.maxSpawnsPerSecond] >= 1 - 1e-9)
        }
        #expect(spawnTimes[9] < 0.1, "the first ten restarts are immediate")
    }

    /// A restart the rate limit holds back shows as BACKOFF, and a stop cancels it at once.
    @Test func aHeldBackRestartIsBackoffAndStopCancelsIt() {
        var m = machine { $0.autorestart = .always; $0.startsecs = 0 }
        var now = 0.0
        var actions = m.handle(.start, now: now)
        for _ in 0..<ProcessMachine.maxSpawnsPerSecond {
            #expect(actions.contains(.spawn))
            _ = m.handle(.spawned(pid: 1), now: now)
            now += 0.001
            actions = m.handle(.exited(.exited(0)), now: now)
        }
        #expect(!actions.contains(.spawn))
        #expect(m.state == .backoff && m.isHeldBack && m.deadline != nil)
        #expect(m.spawnError == "restart held back: 10 spawns in the last second")
        #expect(m.handle(.stop, now: now).isEmpty)
        #expect(m.state == .stopped && !m.isHeldBack && m.deadline == nil)
        #expect(m.handle(.deadline, now: now + 1).isEmpty && m.state == .stopped, "nothing respawns after the stop")
    }

    /// A manual start held back by the rate limit spawns when the window allows.
    @Test func aHeldBackStartSpawnsLater() {
        var m = machine { $0.autorestart = .never; $0.startsecs = 0 }
        var now = 0.0
        for _ in 0..<ProcessMachine.maxSpawnsPerSecond {
            #expect(m.handle(.start, now: now).contains(.spawn))
            _ = m.handle(.spawned(pid: 1), now: now)
            now += 0.001
            _ = m.handle(.exited(.exited(0)), now: now)
        }
        #expect(!m.handle(.start, now: now).contains(.spawn))
        #expect(m.isHeldBack && m.state == .backoff)
        #expect(m.handle(.deadline, now: m.deadline!) == [.spawn])
        #expect(m.state == .starting && !m.isHeldBack)
    }

    /// Every exit is counted: from RUNNING by exitcodes (as PROCESS_STATE_EXITED's `expected`), a
    /// too-quick one as unexpected, one after a stop Minder asked for as expected (even by SIGTERM).
    @Test func exitsAreCountedExpectedOrNot() {
        var m = machine { $0.exitcodes = [0, 2]; $0.autorestart = .never }
        _ = m.handle(.start, now: 0)
        _ = m.handle(.spawned(pid: 1), now: 0)
        _ = m.handle(.deadline, now: 1)
        _ = m.handle(.exited(.exited(2)), now: 5)
        #expect(m.state == .exited && m.exits == ExitCounts(expected: 1, unexpected: 0))
        _ = m.handle(.start, now: 6)
        _ = m.handle(.spawned(pid: 2), now: 6)
        _ = m.handle(.deadline, now: 7)
        _ = m.handle(.exited(.signaled(9)), now: 8)
        #expect(m.exits == ExitCounts(expected: 1, unexpected: 1), "a death by a signal it was not asked to stop by")
        _ = m.handle(.start, now: 9)
        _ = m.handle(.spawned(pid: 3), now: 9)
        _ = m.handle(.exited(.exited(0)), now: 9.5)
        #expect(m.state == .backoff && m.exits == ExitCounts(expected: 1, unexpected: 2), "too quick, whatever its code")
        _ = m.handle(.deadline, now: 10.5)
        _ = m.handle(.spawned(pid: 4), now: 10.5)
        _ = m.handle(.deadline, now: 11.5)
        _ = m.handle(.stop, now: 12)
        _ = m.handle(.exited(.signaled(15)), now: 12.1)
        #expect(m.state == .stopped && m.exits == ExitCounts(expected: 2, unexpected: 2), "a stop Minder asked for")
        _ = m.handle(.start, now: 13)
        #expect(m.handle(.spawnFailed("can't find command 'p'"), now: 13).contains { if case .log = $0 { true } else { false } })
        #expect(m.exits == ExitCounts(expected: 2, unexpected: 2), "a spawn that failed is no exit")
    }
}
