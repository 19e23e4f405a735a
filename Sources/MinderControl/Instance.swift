// One instance, one identity: the names of minderd's IPC objects derive from
// its config file's real path, so any tool given the same -c finds them and two
// minderd never collide.

#if canImport(Glibc)
import Glibc
#endif

public struct InstanceID: Sendable, Equatable, CustomStringConvertible {
    /// The first 16 hex digits of the SHA-256 of the config's real path.
    public let value: String

    public init(configPath: String) {
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let real = realpath(configPath, &resolved) != nil
            ? String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : configPath
        value = Digest.hex(Array(Digest.sha256(Array(real.utf8)).prefix(8)))
    }

    /// The POSIX message queue of state events.
    public var eventQueue: String { "/minder.\(value).events" }
    /// The shared-memory stats segment.
    public var statsSegment: String { "/minder.\(value).stats" }
    /// The semaphore guarding it; a recovery publishes a new generation.
    public func statsSemaphore(_ generation: Int) -> String { "/minder.\(value).sem\(generation)" }
    /// Where readers ask for a fresh sample.
    public var statsRequests: String { "/minder.\(value).requests" }
    /// Posted when a fresh sample answers requests; a recovery publishes a new generation.
    public func statsFresh(_ generation: Int) -> String { "/minder.\(value).fresh\(generation)" }

    public var description: String { value }
}

/// One state change, as posted on the event queue (docs/events.md).
public struct StateEvent: Codable, Sendable, Equatable {
    public var serial: Int
    public var time: Double
    public var minderd_pid: Int32
    /// nil for minderd's own state changes.
    public var group: String?
    public var name: String?
    public var from: String
    public var to: String
    public var pid: Int32?
    public var exit_status: Int?
    public var expected: Bool?
    /// Set when a field had to be shortened to fit the queue's message size.
    public var truncated: Bool?
    /// Present only on a readiness event (docs/events.md): the process said it is ready; `from`
    /// and `to` are then both its state.
    public var ready: Bool?

    /// Absent values are written as null, so every record has every key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serial, forKey: .serial)
        try c.encode(time, forKey: .time)
        try c.encode(minderd_pid, forKey: .minderd_pid)
        try c.encode(group, forKey: .group)
        try c.encode(name, forKey: .name)
        try c.encode(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encode(pid, forKey: .pid)
        try c.encode(exit_status, forKey: .exit_status)
        try c.encode(expected, forKey: .expected)
        try c.encodeIfPresent(truncated, forKey: .truncated)
        try c.encodeIfPresent(ready, forKey: .ready)
    }

    public init(serial: Int, time: Double, minderd_pid: Int32, group: String?, name: String?, from: String, to: String,
                pid: Int32?, exit_status: Int?, expected: Bool?) {
        self.serial = serial
        self.time = time
        self.minderd_pid = minderd_pid
        self.group = group
        self.name = name
        self.from = from
        self.to = to
        self.pid = pid
        self.exit_status = exit_status
        self.expected = expected
    }
}
