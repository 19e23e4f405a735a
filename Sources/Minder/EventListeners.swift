// supervisord's event listener protocol, for [eventlistener:x] pools. A
// listener says READY on its stdout; minderd writes one event (a header line
// and a payload) to its stdin; the listener answers RESULT <len>\n<body>,
// where the body OK accepts the event and anything else rejects it (the
// event is then offered again). Each pool buffers up to buffer_size events
// while none of its listeners is ready. All of it runs on the supervisor's
// loop: listener output is read there, never blocking (non-blocking pipes).

import CMinder
import Glibc
import Logging
import MinderConfig
import MinderControl

/// One event on its way to the pools that subscribe to it.
struct ListenerEvent {
    let serial: Int
    let name: String
    let payload: String
    /// Each pool numbers the events it accepts.
    var poolSerials: [String: Int] = [:]
}

/// A pool's buffer and subscriptions.
final class ListenerPool {
    let name: String
    let settings: EventListenerSettings
    var buffer: [ListenerEvent] = []
    var serial = -1

    init(name: String, settings: EventListenerSettings) {
        self.name = name
        self.settings = settings
    }

    /// supervisord subscribes by class: PROCESS_STATE takes every PROCESS_STATE_x, EVENT everything.
    func wants(_ event: String) -> Bool {
        settings.events.contains { $0 == "EVENT" || $0 == event || event.hasPrefix($0 + "_") }
    }
}

/// One listener's side of the protocol, fed with what it writes to its stdout.
struct ListenerProtocol {
    enum State: String { case acknowledged = "ACKNOWLEDGED", ready = "READY", busy = "BUSY", unknown = "UNKNOWN" }

    enum Outcome: Equatable {
        case ready
        case result([UInt8])
        case badResultLine(String)
        /// Output where none was due: the listener is UNKNOWN from now on.
        case violation
    }

    private(set) var state = State.acknowledged
    private var pending: [UInt8] = []
    private var resultLength: Int?
    private var result: [UInt8] = []

    /// An event was written to the listener.
    mutating func sent() { state = .busy }

    /// It cannot take events any more (its stdin failed).
    mutating func giveUp() {
        state = .unknown
        pending = []
    }

    mutating func consume(_ data: ArraySlice<UInt8>) -> [Outcome] {
        pending += data
        var outcomes: [Outcome] = []
        while !pending.isEmpty {
            switch state {
            case .unknown:
                pending = []
            case .ready:
                state = .unknown
                pending = []
                outcomes.append(.violation)
            case .acknowledged:
                guard pending.count >= 6 else { return outcomes }
                if pending.starts(with: "READY\n".utf8) {
                    pending.removeFirst(6)
                    state = .ready
                    outcomes.append(.ready)
                } else {
                    state = .unknown
                    pending = []
                    outcomes.append(.violation)
                }
            case .busy:
                if resultLength == nil {
                    guard let end = pending.firstIndex(of: UInt8(ascii: "\n")) else { return outcomes }
                    let line = pending[..<end]
                    pending.removeFirst(end + 1)
                    // As supervisord: the length is what follows the 7 bytes of "RESULT ".
                    let text = String(decoding: line.dropFirst(7), as: UTF8.self).pyStrip()
                    guard let length = Int(text), length >= 0 else {
                        state = .unknown
                        pending = []
                        outcomes.append(.badResultLine(String(decoding: line, as: UTF8.self)))
                        return outcomes
                    }
                    resultLength = length
                }
                let take = min(resultLength! - result.count, pending.count)
                result += pending.prefix(take)
                pending.removeFirst(take)
                guard result.count == resultLength else { return outcomes }
                outcomes.append(.result(result))
                (result, resultLength, state) = ([], nil, .acknowledged)
            }
        }
        return outcomes
    }
}

/// A listener process's connection: its protocol state, the event it holds, its stdout.
struct ListenerLink {
    var proto = ListenerProtocol()
    var event: ListenerEvent?
    var stdoutFD: Int32 = -1
}

extension Supervisor {
    static let tickPeriods = [5, 60, 3600]
    /// epoll tokens of listener stdouts: this bit and the descriptor.
    static let listenerToken: UInt64 = 1 << 32

    /// After the process table changed shape: a pool for each [eventlistener:x] group (one that
    /// did not change keeps its buffer), and the tick timer for the periods they want.
    func rebuildPools() {
        var next: [String: ListenerPool] = [:]
        for g in config.groups where g.kind == .eventlistener {
            guard let settings = g.eventListener else { continue }
            if let kept = pools[g.name], kept.settings == settings {
                next[g.name] = kept
            } else {
                next[g.name] = ListenerPool(name: g.name, settings: settings)
            }
        }
        pools = next
        let now = Int(wallClockNow())
        for period in Self.tickPeriods where lastTick[period] == nil { lastTick[period] = now - now % period }
        armTicks()
    }

    /// The next boundary of the shortest period any pool wants, or nothing at all.
    func armTicks() {
        let wanted = Self.tickPeriods.filter { p in pools.values.contains { $0.wants("TICK_\(p)") } }
        guard let period = wanted.min() else {
            _ = mn_timerfd_set(tickFD, 0)
            return
        }
        let now = wallClockNow()
        let boundary = (now / Double(period)).rounded(.down) * Double(period) + Double(period)
        _ = mn_timerfd_set(tickFD, mn_monotonic_ns() + Int64((boundary - now) * 1e9) + 1_000_000)
    }

    /// supervisord's TICK_5, TICK_60 and TICK_3600: `when` is the start of the new period.
    func fireTicks() {
        mn_timerfd_drain(tickFD)
        let now = Int(wallClockNow())
        for period in Self.tickPeriods {
            let slice = now - now % period
            if let last = lastTick[period], slice != last {
                lastTick[period] = slice
                notifyListeners("TICK_\(period)", "when:\(slice)")
            }
        }
        armTicks()
    }

    /// Offers an event to every pool that subscribes to it.
    func notifyListeners(_ name: String, _ payload: String) {
        let takers = pools.values.filter { $0.wants(name) }
        guard !takers.isEmpty else { return }
        eventSerial += 1
        let event = ListenerEvent(serial: eventSerial, name: name, payload: payload)
        for pool in takers.sorted(by: { $0.name < $1.name }) {
            accept(event, into: pool, head: false)
            dispatch(pool)
        }
    }

    /// supervisord's payload of a PROCESS_STATE_x event for entry `i`.
    func processStatePayload(_ i: Int, from: ProcessState, to: ProcessState) -> String {
        let m = entries[i].machine
        var fields = "processname:\(m.name) groupname:\(entries[i].group) from_state:\(from.description)"
        let pid = m.pid ?? entries[i].lastPID ?? 0
        switch to {
        case .starting, .backoff: fields += " tries:\(m.backoffCount)"
        case .running, .stopping, .stopped: fields += " pid:\(pid)"
        case .exited:
            let expected = m.lastExitExpected ?? false
            fields += " expected:\(expected ? 1 : 0) pid:\(pid)"
        default: break
        }
        return fields
    }

    func accept(_ event: ListenerEvent, into pool: ListenerPool, head: Bool) {
        var event = event
        if event.poolSerials[pool.name] == nil {
            pool.serial += 1
            event.poolSerials[pool.name] = pool.serial
        } else {
            logger.debug("rebuffering event \(event.serial) for pool \(pool.name) (buf size=\(pool.buffer.count), max=\(pool.settings.bufferSize))")
        }
        if pool.buffer.count >= pool.settings.bufferSize, !pool.buffer.isEmpty {
            let discarded = pool.buffer.removeFirst()
            logger.error("pool \(pool.name) event buffer overflowed, discarding event \(discarded.serial)")
        }
        if head { pool.buffer.insert(event, at: 0) } else { pool.buffer.append(event) }
    }

    /// Oldest first, to listeners that are RUNNING and READY, until none is.
    func dispatch(_ pool: ListenerPool) {
        while let event = pool.buffer.first {
            guard let i = entries.indices.first(where: { entries[$0].group == pool.name && entries[$0].machine.state == .running
                && entries[$0].listener?.proto.state == .ready && entries[$0].stdinFD >= 0 }) else { return }
            let envelope = Array(("ver:3.0 server:\(config.supervisord.identifier) serial:\(event.serial) pool:\(pool.name) "
                + "poolserial:\(event.poolSerials[pool.name] ?? 0) eventname:\(event.name) len:\(event.payload.utf8.count)\n"
                + event.payload).utf8)
            let written = envelope.withUnsafeBytes { write(entries[i].stdinFD, $0.baseAddress, $0.count) }
            guard written == envelope.count else {
                // A ready listener's pipe is empty, so a short write means it is gone or broken.
                logger.warning("\(entries[i].machine.name): could not write event \(event.serial) to its stdin: \(written < 0 ? errnoText() : "short write")")
                entries[i].listener?.proto.giveUp()
                logger.warning("\(entries[i].machine.name): has entered the UNKNOWN state and will no longer receive events")
                continue
            }
            pool.buffer.removeFirst()
            entries[i].listener?.proto.sent()
            entries[i].listener?.event = event
            logger.debug("event \(event.serial) sent to listener \(entries[i].machine.name)")
        }
    }

    /// At a listener's spawn: its stdout is read here, on the loop, and its stdin written without blocking.
    func attachListener(_ i: Int, stdout fd: Int32) {
        entries[i].listener = ListenerLink(stdoutFD: fd)
        _ = fcntl(entries[i].stdinFD, F_SETFL, fcntl(entries[i].stdinFD, F_GETFL) | O_NONBLOCK)
        _ = mn_epoll_add(epollFD, fd, Self.listenerToken | UInt64(UInt32(bitPattern: fd)))
    }

    /// A listener wrote to its stdout (or closed it).
    func listenerReadable(_ fd: Int32) {
        // No listener's pipe: an event from the same wait as the listener's exit, whose handling
        // (earlier in the batch) closed the pipe. The number is not ours any more: another thread
        // may have opened it since, so it is neither closed nor taken off the epoll set.
        guard let i = entries.indices.first(where: { entries[$0].listener?.stdoutFD == fd }) else { return }
        let name = entries[i].machine.name
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return }  // EAGAIN: all read
            if n == 0 {
                _ = mn_epoll_del(epollFD, fd)
                close(fd)
                entries[i].listener?.stdoutFD = -1
                return
            }
            let data = buffer[0..<n]
            logger.debug("'\(name)' stdout output:\n\(String(decoding: data, as: UTF8.self))")
            if let sink = logSinks(i).stdout { capture.write(Array(data), to: sink) }
            let before = entries[i].listener?.proto.state ?? .unknown
            for outcome in entries[i].listener?.proto.consume(data) ?? [] {
                handle(outcome, i, from: before)
            }
        }
    }

    private func handle(_ outcome: ListenerProtocol.Outcome, _ i: Int, from before: ListenerProtocol.State) {
        let name = entries[i].machine.name
        guard let pool = pools[entries[i].group] else { return }
        switch outcome {
        case .ready:
            logger.debug("\(name): ACKNOWLEDGED -> READY")
            dispatch(pool)
        case .violation:
            entries[i].listener?.event = nil
            logger.debug("\(name): \(before.rawValue) -> UNKNOWN")
            logger.warning("\(name): has entered the UNKNOWN state and will no longer receive events, this usually indicates the process violated the eventlistener protocol")
        case .badResultLine(let line):
            logger.warning("\(name): bad result line: '\(line)'")
            logger.warning("\(name): has entered the UNKNOWN state and will no longer receive events, this usually indicates the process violated the eventlistener protocol")
            rebuffer(i)
        case .result(let body):
            if body == Array("OK".utf8) {
                logger.debug("\(name): event was processed")
                entries[i].listener?.event = nil
            } else {
                logger.warning("\(name): event was rejected")
                rebuffer(i)
            }
            logger.debug("\(name): BUSY -> ACKNOWLEDGED")
        }
    }

    /// The event a listener held goes back to the head of its pool's buffer.
    func rebuffer(_ i: Int) {
        guard let event = entries[i].listener?.event, let pool = pools[entries[i].group] else { return }
        entries[i].listener?.event = nil
        accept(event, into: pool, head: true)
        dispatch(pool)
    }

    /// A listener exited: an event it held is offered again, and its stdout is closed.
    func detachListener(_ i: Int) {
        guard entries[i].listener != nil else { return }
        rebuffer(i)
        if let fd = entries[i].listener?.stdoutFD, fd >= 0 {
            // What it wrote before it died still goes to its log.
            listenerReadable(fd)
            if entries[i].listener?.stdoutFD == fd {
                _ = mn_epoll_del(epollFD, fd)
                close(fd)
            }
        }
        entries[i].listener = nil
    }

    /// Capture mode for a channel with `*_capture_maxbytes`: its messages become PROCESS_COMMUNICATION_x events.
    func communication(_ i: Int, pid: Int32, channel: Int32) -> (maxBytes: Int, emit: LogCapture.Observer)? {
        let p = entries[i].machine.config
        let maxBytes = (channel == 1 ? p.stdout : p.stderr).captureMaxBytes
        guard maxBytes > 0 else { return nil }
        let name = p.name, group = entries[i].group, label = channel == 1 ? "stdout" : "stderr", bridge = bridge
        return (maxBytes, { bytes in
            bridge.submit(.processOutput(communication: true, group: group, name: name, pid: pid, channel: label,
                                         data: Array(bytes))) { _ in }
        })
    }

    /// What else sees a program's output, as supervisord does: the main log at debug level
    /// (`'name' stdout output:` and the bytes), and PROCESS_LOG_STDOUT/STDERR events when
    /// `*_events_enabled`. Nil when neither applies, which is the usual case.
    func outputObserver(_ i: Int, pid: Int32, channel: Int32) -> LogCapture.Observer? {
        let p = entries[i].machine.config
        let name = p.name, group = entries[i].group
        // With redirect_stderr, stderr comes through stdout's pipe and counts as stdout.
        let label = channel == 1 ? "stdout" : "stderr"
        let events = (channel == 1 ? p.stdout : p.stderr).eventsEnabled && !pools.isEmpty
        let debug = logger.logLevel <= .debug
        guard events || debug else { return nil }
        let (logger, bridge) = (logger, bridge)
        return { bytes in
            if debug { logger.debug("'\(name)' \(label) output:\n\(String(decoding: bytes, as: UTF8.self))") }
            if events {
                bridge.submit(.processOutput(communication: false, group: group, name: name, pid: pid, channel: label,
                                             data: Array(bytes))) { _ in }
            }
        }
    }
}
