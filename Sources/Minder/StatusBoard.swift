// A copy of every process's status that the control server reads on its own
// thread. Status queries are the most frequent requests; answering them from
// here saves two thread wake-ups per request and never waits for the
// supervisor's loop. The supervisor, which owns the process table, is the only
// writer, and it publishes every change as it happens, before the log line,
// the event or the reply that tells of it.

import MinderControl
import NIOConcurrencyHelpers

public final class StatusBoard: Sendable {
    private struct Contents {
        /// Index-aligned with the supervisor's process table.
        var processes: [ProcessStatus] = []
        /// The log thread's counts, read when asked.
        var counters: [LogCounters] = []
        /// The last /proc sample of each process (stats_interval), for /metrics.
        var samples: [ResourceSample?] = []
        /// Each process's exits, expected and not, for /metrics.
        var exits: [ExitCounts] = []
        /// Spawns that failed, over minderd's life (kept when the table changes shape).
        var spawnFailures: UInt64 = 0
        /// getAllProcessInfo's order: by group name, then process name.
        var displayOrder: [Int] = []
        var byNamespec: [String: Int] = [:]
        /// Groups of the running config, including those with no process.
        var groups: Set<String> = []

        /// Process `i` with the log thread's counts as of now.
        func status(_ i: Int) -> ProcessStatus {
            var s = processes[i]
            if counters.indices.contains(i) { (s.log_bytes_written, s.log_bytes_dropped) = counters[i].both }
            return s
        }
    }

    private let contents = Locked(Contents())
    /// Replies of every HTTP server, by status class.
    let requests = RequestOutcomes()
    /// The event counts as of the last sample (the loop owns the queues).
    private let eventCounts = Locked(EventCounts())

    /// Open web pages' wake-ups, called after every change of a process (docs/web.md).
    private let watchers = Locked((next: 0, all: [Int: @Sendable () -> Void]()))

    public init() {}

    /// `wake` runs on the supervisor's loop after each change, so it must only note that one came.
    func watch(_ wake: @escaping @Sendable () -> Void) -> Int {
        watchers.withLock { w in
            w.next += 1
            w.all[w.next] = wake
            return w.next
        }
    }

    func unwatch(_ id: Int) {
        _ = watchers.withLock { $0.all.removeValue(forKey: id) }
    }

    private func changed() {
        let wakes = watchers.withLock { $0.all.isEmpty ? [] : Array($0.all.values) }
        for wake in wakes { wake() }
    }

    func record(_ events: EventCounts) { eventCounts.withLock { $0 = events } }
    var events: EventCounts { eventCounts.withLock { $0 } }

    /// After the table changed shape (start, reload, update, add, remove).
    func replace(_ processes: [ProcessStatus], counters: [LogCounters], exits: [ExitCounts], groups: [String]) {
        let order = processes.indices.sorted { (processes[$0].group, processes[$0].name) < (processes[$1].group, processes[$1].name) }
        let names = Dictionary(processes.enumerated().map { ($1.namespec, $0) }, uniquingKeysWith: { a, _ in a })
        contents.withLock {
            $0 = Contents(processes: processes, counters: counters, samples: Array(repeating: nil, count: processes.count),
                          exits: exits, spawnFailures: $0.spawnFailures, displayOrder: order, byNamespec: names,
                          groups: Set(groups))
        }
        changed()
    }

    func update(_ i: Int, _ status: ProcessStatus, exits: ExitCounts) {
        contents.withLock { c in
            if c.processes.indices.contains(i) { c.processes[i] = status }
            if c.exits.indices.contains(i) { c.exits[i] = exits }
        }
        changed()
    }

    func countSpawnFailure() {
        contents.withLock { $0.spawnFailures += 1 }
    }

    func record(_ samples: [(Int, ResourceSample)]) {
        guard !samples.isEmpty else { return }
        contents.withLock { c in
            for (i, sample) in samples where c.samples.indices.contains(i) { c.samples[i] = sample }
        }
    }

    /// Every process in display order with its last sample (nil unless it runs now) and its exits,
    /// and the spawns that failed, for /metrics.
    func metricsRows() -> (rows: [Metrics.Row], spawnFailures: UInt64) {
        contents.withLock { c in
            let rows = c.displayOrder.map { i -> Metrics.Row in
                let s = c.status(i)
                return (s, s.pid != 0 ? c.samples[i] : nil, c.exits.indices.contains(i) ? c.exits[i] : ExitCounts())
            }
            return (rows, c.spawnFailures)
        }
    }

    /// `GET /processes[/{name}]`: the named processes (all for nil) in display order, with the
    /// time-dependent fields (`now`, a running process's uptime) filled in now.
    public func statuses(_ spec: NameSpec?, fields: Set<String>? = nil) -> ControlReply {
        switch list(spec) {
        case .failure(let error): return error.reply
        case .success(let list): return .json(status: 200, body: ProcessStatus.jsonArray(list, fields: fields))
        }
    }

    /// The named processes (all for nil) in display order, described as of now.
    func list(_ spec: NameSpec?) -> Result<[ProcessStatus], ControlReplyError> {
        var found: Result<[ProcessStatus], ControlReplyError> = contents.withLock { c in
            switch spec {
            case nil, .all?:
                return .success(c.displayOrder.map(c.status))
            case .group(let g)?:
                let members = c.displayOrder.filter { c.processes[$0].group == g }.map(c.status)
                return members.isEmpty && !c.groups.contains(g)
                    ? .failure(ControlReplyError(.fault(.BAD_NAME, "no such group: \(g)"))) : .success(members)
            case .process?:
                let namespec = spec!.description  // `name` or `group:name`, as in ProcessStatus
                guard let i = c.byNamespec[namespec] else {
                    return .failure(ControlReplyError(.fault(.BAD_NAME, "no such process: \(namespec)")))
                }
                return .success([c.status(i)])
            }
        }
        let now = wallClockNow()
        switch found {
        case .failure: return found
        case .success(var list):
            // Described in place, `list` being the array's only owner: a copy of each record would
            // cost a retain for each of its strings.
            found = .success([])
            for i in list.indices { list[i].describe(now: now) }
            return .success(list)
        }
    }
}

extension ProcessStatus {
    /// supervisorctl's description column as of `now`.
    func described(now: Double) -> ProcessStatus {
        var s = self
        s.describe(now: now)
        return s
    }

    mutating func describe(now: Double) {
        self.now = now
        let note = self.note
        if waiting_for.isEmpty, ProcessState(rawValue: state) == .running {
            // Written as bytes, one string made: a `status` of 1000 programs describes each, and
            // interpolating made a string for each part.
            var text: [UInt8] = []
            text.reserveCapacity(32 + note.utf8.count)
            text.append(contentsOf: "pid ".utf8)
            appendDecimal(Int(pid), to: &text)
            text.append(contentsOf: ", uptime ".utf8)
            Supervisor.appendUptime(max(0, now - start), to: &text)
            if !note.isEmpty {
                text.append(contentsOf: ", ".utf8)
                text.append(contentsOf: note.utf8)
            }
            description = String(decoding: text, as: UTF8.self)
        } else {
            description = note
        }
    }

    /// The description but for a running process's pid and uptime, which change by the second.
    var note: String {
        if !waiting_for.isEmpty { return "waiting for " + waiting_for }
        switch ProcessState(rawValue: state) {
        case .running?:
            guard ready == false else { return status_text }
            return status_text.isEmpty ? "not ready" : "not ready, " + status_text
        case .backoff?, .fatal?:
            return spawnerr.isEmpty ? "unknown error (try \"tail \(namespec)\")" : spawnerr
        case .stopped?, .exited?:
            return start == 0 ? "Not started" : Supervisor.stopTime(stop)
        default:
            return ""
        }
    }
}

/// Events posted, and those dropped, by where they were dropped: for /metrics.
struct EventCounts: Sendable {
    var posted: UInt64 = 0
    /// Taken off the full main queue; lost by stream followers that did not keep up; taken off
    /// subscribers' full queues.
    var queueDropped: UInt64 = 0, streamDropped: UInt64 = 0, subscriberDropped: UInt64 = 0
}

/// Control replies by status class (2xx, 3xx, 4xx, 5xx), counted as they are written.
final class RequestOutcomes: Sendable {
    private let counts = Locked([UInt64](repeating: 0, count: 4))

    func count(_ status: Int) {
        let i = min(max(status / 100 - 2, 0), 3)
        counts.withLock { $0[i] += 1 }
    }

    var byClass: [(String, UInt64)] {
        let c = counts.withLock { $0 }
        return [("2xx", c[0]), ("3xx", c[1]), ("4xx", c[2]), ("5xx", c[3])]
    }
}
