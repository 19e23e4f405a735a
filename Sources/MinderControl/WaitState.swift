// What `minderctl wait` knows of the processes it waits for: each one's last status, kept
// current by minderd's state events. An event changes what is known of the one process it
// names, so a wait over 1000 programs reads at most one process per event, not all 1000, and
// none at all for the state and readiness the events carry.

/// The processes named by `wait`'s arguments and which of them are not yet in its condition.
public struct WaitState: Sendable {
    /// What to do for an event: nothing more (applied, or not about a named process), read the
    /// one process it names, or read them all again (one of minderd's own events, as a reload).
    public enum Step: Equatable, Sendable {
        case current
        case read(NameSpec)
        case readAll
    }

    /// What `--for` asks of every named process.
    public enum Condition: String, CaseIterable, Sendable {
        /// RUNNING and, with `ready=`, ready.
        case ready
        /// Ready and, with `health_check=`, healthy.
        case healthy
        case running
        /// Not STARTING, RUNNING, BACKOFF nor STOPPING.
        case stopped
    }

    public let condition: Condition
    /// The arguments as given: a bare name may be a group's.
    public let names: [String]
    public private(set) var known: [String: ProcessStatus] = [:]
    /// The namespecs not in the condition yet.
    public private(set) var unmet: Set<String> = []
    /// Why the wait fails: one it waits to see up is FATAL.
    public private(set) var failed: String?

    public init(condition: Condition, names: [String]) {
        self.condition = condition
        self.names = names
    }

    public func satisfied(_ s: ProcessStatus) -> Bool {
        switch condition {
        case .running: s.statename == "RUNNING"
        case .ready: s.statename == "RUNNING" && s.ready != false
        case .healthy: s.statename == "RUNNING" && s.ready != false && s.healthy != false
        case .stopped: !["STARTING", "RUNNING", "BACKOFF", "STOPPING"].contains(s.statename)
        }
    }

    public mutating func note(_ s: ProcessStatus) {
        known[s.namespec] = s
        if satisfied(s) { unmet.remove(s.namespec) } else { unmet.insert(s.namespec) }
        if condition != .stopped, s.statename == "FATAL" { failed = failed ?? "\(s.namespec) is FATAL: \(s.spawnerr)" }
    }

    /// Every named process, as read now.
    public mutating func replaceAll(_ all: [ProcessStatus]) {
        known = [:]
        unmet = []
        for s in all { note(s) }
    }

    /// A process that is gone (removed by a reload).
    public mutating func forget(_ namespec: String) {
        known[namespec] = nil
        unmet.remove(namespec)
    }

    public mutating func apply(_ event: StateEvent) -> Step {
        guard let group = event.group, let name = event.name else { return .readAll }
        let spec = NameSpec.process(group: group, name: name)
        guard var s = known[spec.description] else {
            // One added to a named group since it was read.
            return names.contains { Self.covers($0, group: group, name: name) } ? .read(spec) : .current
        }
        // FATAL's message needs its spawn error, and a health check's verdicts come in no event.
        guard event.to != "FATAL", condition != .healthy || s.healthy == nil else { return .read(spec) }
        s.statename = event.to
        // With ready= (`ready` not nil): not ready from each spawn, until a readiness event. A
        // RELOADING=1 comes in no event, but a wait that seems met is confirmed by a read.
        if event.ready == true {
            s.ready = true
        } else if event.to == "STARTING", s.ready != nil {
            s.ready = false
        }
        note(s)
        return .current
    }

    /// Whether the argument `text` names the process `group:name`: `all`, its group (`group:*`,
    /// `group:`, or the bare group name), or itself.
    static func covers(_ text: String, group: String, name: String) -> Bool {
        switch NameSpec(text) {
        case .all: true
        case .group(let g): g == group
        case .process(let g, let n): g == group && (n == name || !text.contains(":"))
        }
    }
}
