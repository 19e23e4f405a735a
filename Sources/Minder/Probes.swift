// Probes minderd makes itself (docs/readiness.md): `ready=tcp:...` until the
// program is ready, and `health_check=tcp:...` from then on. A probe is a
// non-blocking connect in the loop's epoll set and a deadline in its timer, so
// it never blocks the loop, and a program without probes costs nothing.

import CMinder
import Glibc
import MinderConfig

/// One probe's schedule and its attempt in flight.
struct ProbeState {
    let probe: Probe
    let settings: ProbeSettings
    /// When the next attempt starts (monotonic seconds).
    var nextAt: Double
    /// The attempt in flight: its socket, its key in `probeAttempts`, and when it times out.
    var fd: Int32 = -1
    var attempt: UInt64 = 0
    var attemptDeadline = 0.0
    var successes = 0, failures = 0

    init(_ probe: Probe, _ settings: ProbeSettings, now: Double) {
        self.probe = probe
        self.settings = settings
        nextAt = now + Double(settings.delay)
    }

    /// When the loop must look at it next.
    var due: Double { fd >= 0 ? attemptDeadline : nextAt }
}

extension Supervisor {
    /// epoll tokens of probe sockets: this bit and the attempt's number.
    static let probeToken: UInt64 = 1 << 36

    /// At a spawn: the readiness probe, or (without one) the health check, from `probe_delay` on.
    func startProbes(_ i: Int) {
        stopProbes(i)
        let c = entries[i].machine.config
        // Not healthy until its checks begin (once it is ready).
        entries[i].healthy = c.healthCheck == nil ? nil : false
        if case .probe(let probe) = c.ready {
            entries[i].readyProbe = ProbeState(probe, c.probes, now: Self.now())
        } else {
            startHealthCheck(i)
        }
    }

    func startHealthCheck(_ i: Int) {
        let c = entries[i].machine.config
        guard let check = c.healthCheck else { return }
        entries[i].healthProbe = ProbeState(check, c.probes, now: Self.now())
        // Healthy until the checks say otherwise.
        setHealthy(i, true)
    }

    /// When the process is gone (or going): no attempt stays in flight.
    func stopProbes(_ i: Int) {
        for var state in [entries[i].readyProbe, entries[i].healthProbe].compactMap({ $0 }) where state.fd >= 0 {
            abandon(&state)
        }
        entries[i].readyProbe = nil
        entries[i].healthProbe = nil
    }

    private func abandon(_ state: inout ProbeState) {
        _ = mn_epoll_del(epollFD, state.fd)
        close(state.fd)
        probeAttempts[state.attempt] = nil
        state.fd = -1
    }

    /// The earliest moment a probe needs the loop.
    var nextProbeDue: Double? {
        entries.flatMap { [$0.readyProbe?.due, $0.healthProbe?.due].compactMap { $0 } }.min()
    }

    /// From the timer: attempts to start, and attempts that took longer than `probe_timeout`.
    func fireProbes(now: Double) {
        for i in entries.indices {
            for health in [false, true] {
                guard let state = health ? entries[i].healthProbe : entries[i].readyProbe, state.due <= now + 0.0005 else { continue }
                if state.fd >= 0 {
                    finish(i, health: health, passed: false, why: "no answer within \(state.settings.timeout) s")
                } else {
                    begin(i, health: health, now: now)
                }
            }
        }
    }

    private func begin(_ i: Int, health: Bool, now: Double) {
        guard var state = health ? entries[i].healthProbe : entries[i].readyProbe else { return }
        switch state.probe {
        case .tcp(let host, let port):
            let fd = mn_tcp_connect_start(host, Int32(port))
            guard fd >= 0 else {
                // Refused at once (a local port nobody listens on, say): a failed attempt.
                state.nextAt = now + Double(state.settings.interval)
                if health { entries[i].healthProbe = state } else { entries[i].readyProbe = state }
                return finish(i, health: health, passed: false, why: String(cString: strerror(errno)))
            }
            nextProbeAttempt += 1
            state.fd = fd
            state.attempt = nextProbeAttempt
            state.attemptDeadline = now + Double(state.settings.timeout)
            state.nextAt = now + Double(state.settings.interval)
            probeAttempts[nextProbeAttempt] = (entries[i].namespec, health)
            _ = mn_epoll_add_writable(epollFD, fd, Self.probeToken | nextProbeAttempt)
        }
        if health { entries[i].healthProbe = state } else { entries[i].readyProbe = state }
    }

    /// A probe socket polled writable: its connect is done, one way or the other.
    func probeWritable(_ token: UInt64) {
        let attempt = token & ~Self.probeToken
        guard let (namespec, health) = probeAttempts[attempt], let i = index(of: namespec),
              let state = health ? entries[i].healthProbe : entries[i].readyProbe, state.attempt == attempt, state.fd >= 0 else { return }
        let error = mn_tcp_connect_result(state.fd)
        finish(i, health: health, passed: error == 0, why: error == 0 ? "" : String(cString: strerror(error)))
    }

    private func finish(_ i: Int, health: Bool, passed: Bool, why: String) {
        guard var state = health ? entries[i].healthProbe : entries[i].readyProbe else { return }
        if state.fd >= 0 { abandon(&state) }
        if passed {
            state.successes += 1
            state.failures = 0
        } else {
            state.failures += 1
            state.successes = 0
        }
        let name = entries[i].machine.name
        guard [.starting, .running].contains(entries[i].machine.state) else {
            if health { entries[i].healthProbe = state } else { entries[i].readyProbe = state }
            return
        }
        if !health {
            entries[i].readyProbe = state
            if !passed { logger.debug("probe: \(name) \(state.probe) not ready: \(why)") }
            guard state.successes >= state.settings.successes else { return }
            entries[i].readyProbe = nil
            becameReady(i)
            startHealthCheck(i)
            return
        }
        entries[i].healthProbe = state
        if passed {
            if entries[i].healthy != true { setHealthy(i, true) }
            return
        }
        logger.info("health: \(name) \(state.probe) failed (\(state.failures) of \(state.settings.failures)): \(why)")
        guard state.failures >= state.settings.failures else { return }
        setHealthy(i, false)
        entries[i].healthProbe = nil
        logger.warning("health: \(name) failed \(state.failures) checks in a row; restarting it")
        _ = restart(i, wait: false)
    }

    func setHealthy(_ i: Int, _ healthy: Bool) {
        entries[i].healthy = healthy
        bridge.board.update(i, info(i), exits: entries[i].machine.exits)
        writeStats(i)
    }

    /// READY=1 or a readiness probe that passed: the machine, the views, the events.
    func becameReady(_ i: Int) {
        feed(i, .ready)
        writeStats(i)
        let m = entries[i].machine, state = m.state.description
        events?.post(group: entries[i].group, name: m.name, from: state, to: state, pid: m.pid, exitStatus: nil,
                     expected: nil, ready: true)
        notifyListeners("PROCESS_READY", "processname:\(m.name) groupname:\(entries[i].group) pid:\(m.pid ?? 0)")
    }
}
