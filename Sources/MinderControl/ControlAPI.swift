// What minderd's control API and minderctl share: the fault codes, the JSON
// shapes, and how a process is named. docs/api.md documents each endpoint.

import Glibc

/// Minder's version: minderd's, minderctl's, and what getSupervisorVersion reports.
public enum MinderVersion {
    public static let current = "0.1.0"
}

public enum ControlAPI {
    public static let version = "1.0"
    public static let prefix = "/api/v1"
    /// Bodies above this are refused with 413.
    public static let maxBodyBytes = 1 << 20
    /// The most log bytes one reply carries (tail, length, a follow's first tail): bigger
    /// asks get the last this many bytes, so no request makes minderd hold more than a few MB.
    public static let maxLogReadBytes = 1 << 20
}

/// supervisord's fault codes, with the HTTP status Minder answers them with.
public enum Fault: String, Codable, Sendable, CaseIterable, Error {
    case UNKNOWN_METHOD, INCORRECT_PARAMETERS, BAD_ARGUMENTS, SIGNATURE_UNSUPPORTED, SHUTDOWN_STATE, BAD_NAME, BAD_SIGNAL, NO_FILE,
         NOT_EXECUTABLE, FAILED, ABNORMAL_TERMINATION, SPAWN_ERROR, ALREADY_STARTED, NOT_RUNNING, SUCCESS,
         ALREADY_ADDED, STILL_RUNNING, CANT_REREAD

    public var code: Int {
        switch self {
        case .UNKNOWN_METHOD: 1
        case .INCORRECT_PARAMETERS: 2
        case .BAD_ARGUMENTS: 3
        case .SIGNATURE_UNSUPPORTED: 4
        case .SHUTDOWN_STATE: 6
        case .BAD_NAME: 10
        case .BAD_SIGNAL: 11
        case .NO_FILE: 20
        case .NOT_EXECUTABLE: 21
        case .FAILED: 30
        case .ABNORMAL_TERMINATION: 40
        case .SPAWN_ERROR: 50
        case .ALREADY_STARTED: 60
        case .NOT_RUNNING: 70
        case .SUCCESS: 80
        case .ALREADY_ADDED: 90
        case .STILL_RUNNING: 91
        case .CANT_REREAD: 92
        }
    }

    public var httpStatus: Int {
        switch self {
        case .UNKNOWN_METHOD: 404
        case .INCORRECT_PARAMETERS, .BAD_ARGUMENTS, .BAD_SIGNAL, .SIGNATURE_UNSUPPORTED: 400
        case .BAD_NAME, .NO_FILE: 404
        case .SHUTDOWN_STATE: 503
        case .ALREADY_STARTED, .NOT_RUNNING, .ALREADY_ADDED, .STILL_RUNNING: 409
        case .CANT_REREAD: 422
        case .SUCCESS: 200
        case .NOT_EXECUTABLE, .FAILED, .ABNORMAL_TERMINATION, .SPAWN_ERROR: 500
        }
    }
}

/// An error reply: `{"error": {"code": "BAD_NAME", "fault": 10, "message": "..."}}`.
public struct ErrorReply: Codable, Sendable, Error {
    public struct Body: Codable, Sendable {
        public var code: Fault
        public var fault: Int
        public var message: String
    }

    public var error: Body

    public init(_ fault: Fault, _ message: String) {
        error = Body(code: fault, fault: fault.code, message: message)
    }
}

/// One process as getProcessInfo describes it.
public struct ProcessStatus: Codable, Sendable, Equatable {
    public var name: String
    public var group: String
    /// `group:name`, or `name` when the two are equal.
    public var namespec: String
    public var statename: String
    public var state: Int
    public var description: String
    public var pid: Int32
    /// Unix times in seconds; 0 when never.
    public var start: Double
    public var stop: Double
    public var now: Double
    public var spawnerr: String
    public var exitstatus: Int
    public var restarts: Int
    public var stdout_logfile: String
    public var stderr_logfile: String
    /// Output that reached the process's log targets, and output lost on the way (a full disk,
    /// a FIFO whose reader left), over all its runs.
    public var log_bytes_written: UInt64
    public var log_bytes_dropped: UInt64
    /// Whether the program said it is ready (docs/readiness.md); nil when it has no `ready=`.
    public var ready: Bool?
    /// Whether its health check passes; nil when it has none.
    public var healthy: Bool?
    /// The last `STATUS=` it sent, shown in the description; empty when none.
    public var status_text: String = ""
    /// A start that waits for depends_on=: what for (`db to be ready`); empty when not waiting.
    public var waiting_for: String = ""

    public init(name: String, group: String, statename: String, state: Int, description: String, pid: Int32,
                start: Double, stop: Double, now: Double, spawnerr: String, exitstatus: Int, restarts: Int,
                stdout_logfile: String, stderr_logfile: String, logBytesWritten: UInt64 = 0, logBytesDropped: UInt64 = 0) {
        self.log_bytes_written = logBytesWritten
        self.log_bytes_dropped = logBytesDropped
        self.name = name
        self.group = group
        self.namespec = group == name ? name : "\(group):\(name)"
        self.statename = statename
        self.state = state
        self.description = description
        self.pid = pid
        self.start = start
        self.stop = stop
        self.now = now
        self.spawnerr = spawnerr
        self.exitstatus = exitstatus
        self.restarts = restarts
        self.stdout_logfile = stdout_logfile
        self.stderr_logfile = stderr_logfile
    }

    /// `ready` and `healthy` are written as null when absent, so every record has every key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(group, forKey: .group)
        try c.encode(namespec, forKey: .namespec)
        try c.encode(statename, forKey: .statename)
        try c.encode(state, forKey: .state)
        try c.encode(description, forKey: .description)
        try c.encode(pid, forKey: .pid)
        try c.encode(start, forKey: .start)
        try c.encode(stop, forKey: .stop)
        try c.encode(now, forKey: .now)
        try c.encode(spawnerr, forKey: .spawnerr)
        try c.encode(exitstatus, forKey: .exitstatus)
        try c.encode(restarts, forKey: .restarts)
        try c.encode(stdout_logfile, forKey: .stdout_logfile)
        try c.encode(stderr_logfile, forKey: .stderr_logfile)
        try c.encode(log_bytes_written, forKey: .log_bytes_written)
        try c.encode(log_bytes_dropped, forKey: .log_bytes_dropped)
        try c.encode(ready, forKey: .ready)
        try c.encode(healthy, forKey: .healthy)
        try c.encode(status_text, forKey: .status_text)
        try c.encode(waiting_for, forKey: .waiting_for)
    }
}

/// The outcome for one process of an operation on several (`group:*`, `all`).
public struct ProcessResult: Codable, Sendable, Equatable {
    public var name: String
    public var group: String
    public var namespec: String
    /// SUCCESS or the fault.
    public var code: Fault
    public var status: Int
    public var description: String

    public init(name: String, group: String, code: Fault, description: String) {
        self.name = name
        self.group = group
        self.namespec = group == name ? name : "\(group):\(name)"
        self.code = code
        self.status = code.code
        self.description = description
    }
}

public struct SupervisorInfo: Codable, Sendable, Equatable {
    /// RUNNING, RESTARTING or SHUTDOWN (supervisord's getState).
    public var statename: String
    public var state: Int
    public var identifier: String
    public var pid: Int32
    public var version: String
    public var api_version: String
    /// Events taken off a full event queue to make room for newer ones.
    public var events_dropped: Int
    /// Events not written to a follower of GET /events that was not reading (all followers).
    public var stream_events_dropped: Int

    public init(statename: String, state: Int, identifier: String, pid: Int32, version: String, eventsDropped: Int = 0,
                streamEventsDropped: Int = 0) {
        self.events_dropped = eventsDropped
        self.stream_events_dropped = streamEventsDropped
        self.statename = statename
        self.state = state
        self.identifier = identifier
        self.pid = pid
        self.version = version
        self.api_version = ControlAPI.version
    }
}

public struct ConfigDiff: Codable, Sendable, Equatable {
    public var added: [String]
    public var changed: [String]
    public var removed: [String]

    public init(added: [String], changed: [String], removed: [String]) {
        self.added = added
        self.changed = changed
        self.removed = removed
    }
}

public struct LogChunk: Codable, Sendable, Equatable {
    /// The bytes read, as UTF-8 text (invalid sequences replaced).
    public var data: String
    /// The offset to ask from next time (tail protocol).
    public var offset: Int
    /// True when more than `length` bytes were new and some were skipped.
    public var overflow: Bool

    public init(data: String, offset: Int, overflow: Bool) {
        self.data = data
        self.offset = offset
        self.overflow = overflow
    }
}

public struct SignalRequest: Codable, Sendable {
    public var signal: String
    public init(signal: String) { self.signal = signal }
}

/// POST /events/subscriptions: a message queue of the subscriber's own that gets every state
/// event (docs/events.md). Absent fields take minderd's defaults.
public struct SubscribeRequest: Codable, Sendable, Equatable {
    public var maxmsg: Int?
    public var msgsize: Int?
    /// The process whose exit ends the subscription; the peer that asked when absent.
    public var pid: Int32?
    public init(maxmsg: Int? = nil, msgsize: Int? = nil, pid: Int32? = nil) {
        self.maxmsg = maxmsg
        self.msgsize = msgsize
        self.pid = pid
    }
}

/// One subscriber's queue, as created and as counted since.
public struct Subscription: Codable, Sendable, Equatable {
    public var id: Int
    public var queue: String
    public var maxmsg: Int
    public var msgsize: Int
    public var uid: UInt32
    /// The process whose exit ends it (0: none watched).
    public var pid: Int32
    public var minderd_pid: Int32
    /// Events put on the queue, and the oldest taken off a full queue to make room for them.
    public var sent: Int
    public var dropped: Int
    public init(id: Int, queue: String, maxmsg: Int, msgsize: Int, uid: UInt32, pid: Int32, minderd_pid: Int32, sent: Int, dropped: Int) {
        self.id = id
        self.queue = queue
        self.maxmsg = maxmsg
        self.msgsize = msgsize
        self.uid = uid
        self.pid = pid
        self.minderd_pid = minderd_pid
        self.sent = sent
        self.dropped = dropped
    }
}

/// supervisord's sendRemoteCommEvent: a REMOTE_COMMUNICATION event for listeners.
public struct RemoteEventRequest: Codable, Sendable {
    public var type: String
    public var data: String
    public init(type: String, data: String) {
        self.type = type
        self.data = data
    }
}

public struct StdinRequest: Codable, Sendable {
    public var data: String
    public init(data: String) { self.data = data }
}

/// What an operation names: one process, a whole group, or everything.
public enum NameSpec: Equatable, Sendable, CustomStringConvertible {
    case all
    case group(String)
    case process(group: String, name: String)

    /// supervisorctl's syntax: `name`, `group:name`, `group:*`, `group:`, `all`.
    public init(_ text: String) {
        if text == "all" {
            self = .all
            return
        }
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 {
            self = parts[1].isEmpty || parts[1] == "*" ? .group(parts[0]) : .process(group: parts[0], name: parts[1])
        } else {
            self = .process(group: text, name: text)
        }
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .group(let g): "\(g):*"
        case .process(let g, let n): g == n ? n : "\(g):\(n)"
        }
    }

    /// For a URL path segment.
    public var pathComponent: String {
        urlQueryEscaped(description)
    }
}

/// One process of the config file, for `avail`.
public struct ConfigEntry: Codable, Sendable, Equatable {
    public var name: String
    public var group: String
    public var namespec: String
    public var inuse: Bool
    public var autostart: Bool
    public var group_priority: Int
    public var process_priority: Int

    public init(name: String, group: String, inuse: Bool, autostart: Bool, group_priority: Int, process_priority: Int) {
        self.name = name
        self.group = group
        self.namespec = group == name ? name : "\(group):\(name)"
        self.inuse = inuse
        self.autostart = autostart
        self.group_priority = group_priority
        self.process_priority = process_priority
    }
}
