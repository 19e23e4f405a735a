// Probes minderd makes itself (docs/readiness.md): `ready=tcp:...` or
// `ready=http://...` until the program is ready, and `health_check=` from then
// on. A probe is a non-blocking connect (then, for HTTP, one small request and
// the status line of the reply) in the loop's epoll set, with a deadline in its
// timer, so it never blocks the loop, and a program without probes costs nothing.

import CMinder
import Dispatch
import Glibc
import Logging
import MinderConfig

/// One probe's schedule and its attempt in flight.
struct ProbeState {
    let probe: Probe
    let settings: ProbeSettings
    /// When the next attempt starts (monotonic seconds).
    var nextAt: Double
    /// The attempt in flight: its socket (or, for exec, its process), its key in
    /// `probeAttempts`, and when it times out.
    var fd: Int32 = -1
    var pid: Int32 = 0
    var attempt: UInt64 = 0
    var attemptDeadline = 0.0
    /// A host name is being looked up (off the loop) for this attempt.
    var resolving = false
    /// HTTP: the request went out, and what of the reply has come.
    var requested = false
    var reply: [UInt8] = []
    var successes = 0, failures = 0

    init(_ probe: Probe, _ settings: ProbeSettings, now: Double) {
        self.probe = probe
        self.settings = settings
        nextAt = now + Double(settings.delay)
    }

    var inFlight: Bool { fd >= 0 || pid > 0 || resolving }

    /// When the loop must look at it next.
    var due: Double { inFlight ? attemptDeadline : nextAt }
}

extension Supervisor {
    /// epoll tokens of probe sockets: this bit and the attempt's number.
    static let probeToken: UInt64 = 1 << 36
    /// epoll tokens of `ready=fd:N` pipes: this bit and minderd's descriptor.
    static let readyPipeToken: UInt64 = 1 << 37

    func readyDescriptor(_ c: ProcessConfig) -> Int32 {
        if case .fd(let n) = c.ready { return n }
        return -1
    }

    /// `ready=fd:N`: a newline on the pipe means ready (s6's protocol); the pipe is then done with,
    /// and so it is when the program closes its end without one, or writes 4 KiB without one.
    func readyPipeReadable(_ fd: Int32) {
        guard let i = entries.firstIndex(where: { $0.readyPipe == fd }) else { return }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        let newline = n > 0 && buffer.prefix(n).contains(10)
        if !newline && n > 0 {
            entries[i].readyPipeBytes += n
            guard entries[i].readyPipeBytes >= 4096 else { return }
            logger.warning("ready: \(entries[i].machine.name) wrote 4 KiB to its notification descriptor without a newline; no longer reading it")
        }
        closeReadyPipe(i)
        if newline, entries[i].machine.ready == false, [.starting, .running].contains(entries[i].machine.state) {
            becameReady(i)
        }
    }

    func closeReadyPipe(_ i: Int) {
        guard entries[i].readyPipe >= 0 else { return }
        _ = mn_epoll_del(epollFD, entries[i].readyPipe)
        close(entries[i].readyPipe)
        entries[i].readyPipe = -1
        entries[i].readyPipeBytes = 0
    }

    /// At a spawn: the readiness probe, or (without ready=) the health check, from `probe_delay` on.
    func startProbes(_ i: Int) {
        stopProbes(i)
        let c = entries[i].machine.config
        // Not healthy until its checks begin (once it is ready).
        entries[i].healthy = c.healthCheck == nil ? nil : false
        switch c.ready {
        case .probe(let probe)?: entries[i].readyProbe = ProbeState(probe, c.probes, now: Self.now())
        case nil: startHealthCheck(i)
        default: break  // the health check begins once the program is ready
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
        for var state in [entries[i].readyProbe, entries[i].healthProbe].compactMap({ $0 }) where state.inFlight {
            abandon(&state)
        }
        entries[i].readyProbe = nil
        entries[i].healthProbe = nil
    }

    private func abandon(_ state: inout ProbeState) {
        if state.fd >= 0 {
            _ = mn_epoll_del(epollFD, state.fd)
            close(state.fd)
        }
        if state.pid > 0 {
            // Its exit is reaped and ignored (probePIDs no longer names it).
            kill(-state.pid, SIGKILL)
            probePIDs[state.pid] = nil
        }
        probeAttempts[state.attempt] = nil
        // A lookup under way finishes on its thread; its answer finds no attempt and is dropped.
        state.resolving = false
        state.fd = -1
        state.pid = 0
        state.requested = false
        state.reply = []
    }

    /// Where an entry keeps one of its two probes.
    static func slot(_ health: Bool) -> WritableKeyPath<Entry, ProbeState?> { health ? \.healthProbe : \.readyProbe }

    /// From the timer: attempts to start, and attempts that took longer than `probe_timeout`.
    func fireProbes(now: Double) {
        for i in entries.indices {
            for health in [false, true] {
                guard let state = entries[i][keyPath: Self.slot(health)], state.due <= now + 0.0005 else { continue }
                if state.inFlight {
                    finish(i, health: health, passed: false, why: "no answer within \(state.settings.timeout) s")
                } else {
                    begin(i, health: health, now: now)
                }
            }
        }
    }

    private func begin(_ i: Int, health: Bool, now: Double) {
        let slot = Self.slot(health)
        guard var state = entries[i][keyPath: slot] else { return }
        state.nextAt = now + Double(state.settings.interval)
        // Every attempt is registered first; one that fails at once is finished, which forgets it.
        register(&state, i, health, now: now)
        switch state.probe {
        case .tcp(let host, let port), .http(let host, let port, _):
            guard Probe.isAddress(host) else {
                // A name: looked up on a thread of its own, never on the loop; one lookup per probe
                // at a time, so a resolver that hangs cannot pile threads up.
                let key = "\(entries[i].namespec)|\(health)"
                guard !lookups.contains(key) else {
                    entries[i][keyPath: slot] = state
                    return finish(i, health: health, passed: false, why: "the lookup of \(host) has not returned yet")
                }
                lookups.insert(key)
                state.resolving = true
                let (attempt, bridge) = (state.attempt, bridge)
                DispatchQueue.global().async {
                    var text = [CChar](repeating: 0, count: 64)
                    let rc = mn_resolve_first(host, &text, text.count)
                    let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    let result: Result<String, LookupFailure> = rc == 0
                        ? .success(address) : .failure(LookupFailure(message: "\(host): \(String(cString: gai_strerror(rc)))"))
                    bridge.submit(.probeResolved(attempt: attempt, key: key, result)) { _ in }
                }
                entries[i][keyPath: slot] = state
                return
            }
            // connect stores the state (or finishes the failed attempt).
            return connect(&state, i, health, host: host, port: port)
        case .exec(let command):
            // The program's own user, environment and limits; its output goes nowhere.
            var c = entries[i].machine.config
            c.command = command
            c.argv = ["/bin/sh", "-c", command]
            c.redirectStderr = false
            for keyPath in [\ProcessConfig.stdout, \ProcessConfig.stderr] {
                c[keyPath: keyPath].syslog = false
                c[keyPath: keyPath].eventsEnabled = false
                c[keyPath: keyPath].captureMaxBytes = 0
            }
            switch Spawner.prepare(c, group: entries[i].group, sinks: (nil, nil), context: context, paths: commandPaths)
                .flatMap({ $0.finish() }) {
            case .failure(let failure):
                entries[i][keyPath: slot] = state
                return finish(i, health: health, passed: false, why: failure.description)
            case .success(let child):
                close(child.stdinFD)
                for output in child.outputs { close(output.fd) }
                state.pid = child.pid
                probePIDs[child.pid] = state.attempt
            }
        }
        entries[i][keyPath: slot] = state
    }

    /// Starts the registered attempt's connection to `address`; a refusal at once (a local port
    /// nobody listens on, say) is a failed attempt.
    private func connect(_ state: inout ProbeState, _ i: Int, _ health: Bool, host address: String, port: Int) {
        let fd = mn_tcp_connect_start(address, Int32(port))
        let why = fd < 0 ? String(cString: strerror(errno)) : ""
        state.resolving = false
        state.fd = fd
        entries[i][keyPath: Self.slot(health)] = state
        guard fd >= 0 else { return finish(i, health: health, passed: false, why: why) }
        _ = mn_epoll_add_writable(epollFD, fd, Self.probeToken | state.attempt)
    }

    /// A probe's host name was looked up: the attempt goes on with the address, or fails.
    func probeResolved(_ attempt: UInt64, key: String, _ result: Result<String, LookupFailure>) {
        lookups.remove(key)
        guard let (i, health, found) = inFlight(attempt), found.resolving else { return }
        var state = found
        switch (result, state.probe) {
        case (.success(let address), .tcp(_, let port)), (.success(let address), .http(_, let port, _)):
            connect(&state, i, health, host: address, port: port)
        case (.failure(let failure), _):
            finish(i, health: health, passed: false, why: failure.message)
        case (.success, .exec):
            break  // an exec probe looks nothing up
        }
    }

    /// An attempt in flight gets a number (its epoll token, its key in `probeAttempts`) and a deadline.
    private func register(_ state: inout ProbeState, _ i: Int, _ health: Bool, now: Double) {
        nextProbeAttempt += 1
        state.attempt = nextProbeAttempt
        state.attemptDeadline = now + Double(state.settings.timeout)
        probeAttempts[nextProbeAttempt] = (entries[i].namespec, health)
    }

    /// The attempt `attempt` when it is still the one in flight: its entry and which probe.
    private func inFlight(_ attempt: UInt64) -> (i: Int, health: Bool, state: ProbeState)? {
        guard let (namespec, health) = probeAttempts[attempt], let i = index(of: namespec),
              let state = entries[i][keyPath: Self.slot(health)], state.attempt == attempt, state.inFlight else { return nil }
        return (i, health, state)
    }

    /// A probe socket polled: its connect is done, one way or the other; or, for HTTP, the reply
    /// has bytes to read.
    func probeWritable(_ token: UInt64) {
        guard let (i, health, found) = inFlight(token & ~Self.probeToken), found.fd >= 0 else { return }
        var state = found
        if state.requested { return readReply(i, health: health, &state) }
        let error = mn_tcp_connect_result(state.fd)
        guard error == 0 else { return finish(i, health: health, passed: false, why: String(cString: strerror(error))) }
        guard case .http(let host, let port, let path) = state.probe else { return finish(i, health: health, passed: true, why: "") }
        // One small request: it fits the socket's buffer, so a short write is a failure.
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(Probe.hostPort(host, port))\r\nUser-Agent: minderd\r\nConnection: close\r\n\r\n".utf8)
        let sent = request.withUnsafeBytes { send(state.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        guard sent == request.count else { return finish(i, health: health, passed: false, why: "could not send the request") }
        state.requested = true
        _ = mn_epoll_del(epollFD, state.fd)
        _ = mn_epoll_add(epollFD, state.fd, token)
        entries[i][keyPath: Self.slot(health)] = state
    }

    /// Reads until the status line is whole (at most 1 KiB of it), then judges it: 200 to 399 pass.
    private func readReply(_ i: Int, health: Bool, _ state: inout ProbeState) {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = buffer.withUnsafeMutableBytes { recv(state.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n > 0 { state.reply += buffer.prefix(n) }
        entries[i][keyPath: Self.slot(health)] = state
        let line = state.reply.firstIndex(of: 10).map { Array(state.reply[..<$0]) }
        guard line != nil || n <= 0 || state.reply.count >= 1024 else { return }
        let words = String(decoding: line ?? state.reply, as: UTF8.self).split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/"), let code = Int(words[1]) else {
            return finish(i, health: health, passed: false, why: "no HTTP status line in the reply")
        }
        finish(i, health: health, passed: (200..<400).contains(code), why: "HTTP \(code)")
    }

    /// An exec probe's process ended: exit 0 passes.
    func probeExited(_ pid: Int32, _ exit: ProcessExit) {
        guard let attempt = probePIDs.removeValue(forKey: pid), let (i, health, found) = inFlight(attempt) else { return }
        var state = found
        state.pid = 0
        probeAttempts[attempt] = nil
        entries[i][keyPath: Self.slot(health)] = state
        finish(i, health: health, passed: exit == .exited(0), why: "\(exit)")
    }

    private func finish(_ i: Int, health: Bool, passed: Bool, why: String) {
        let slot = Self.slot(health)
        guard var state = entries[i][keyPath: slot] else { return }
        abandon(&state)
        if passed {
            state.successes += 1
            state.failures = 0
        } else {
            state.failures += 1
            state.successes = 0
        }
        entries[i][keyPath: slot] = state
        guard [.starting, .running].contains(entries[i].machine.state) else { return }
        let name = entries[i].machine.name
        if !health {
            if !passed { logger.debug("probe: \(name) \(state.probe) not ready: \(why)") }
            guard state.successes >= state.settings.successes else { return }
            entries[i].readyProbe = nil
            becameReady(i)
            return
        }
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
        dependenciesChanged = true
        bridge.board.update(i, info(i), exits: entries[i].machine.exits)
        writeStats(i)
    }

    /// READY=1, a newline on fd:N or a readiness probe that passed: the machine, the views, the
    /// health check, then the events, so that whoever an event wakes (`minderctl wait --for
    /// healthy`) reads the process healthy already.
    func becameReady(_ i: Int) {
        feed(i, .ready)
        writeStats(i)
        // Ready again after RELOADING=1: the checks under way go on.
        if entries[i].healthProbe == nil { startHealthCheck(i) }
        let m = entries[i].machine, state = m.state.description
        events?.post(group: entries[i].group, name: m.name, from: state, to: state, pid: m.pid, exitStatus: nil,
                     expected: nil, ready: true)
        notifyListeners("PROCESS_READY", "processname:\(m.name) groupname:\(entries[i].group) pid:\(m.pid ?? 0)")
    }
}
