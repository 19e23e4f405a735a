// How the control server (on NIO's thread) hands requests to the supervisor's
// loop, which alone owns process state: a locked queue plus an eventfd that
// wakes the loop. Replies go back through a callback that is safe to call
// from the loop's thread.

import CMinder
import MinderConfig
import MinderControl
import NIOConcurrencyHelpers

public struct LookupFailure: Error, Sendable {
    public let message: String
}

public enum ControlRequest: Sendable {
    case supervisorInfo
    /// `deps`: start what it depends on first (depends_on=); without, refuse when that is not up.
    case start(NameSpec, wait: Bool, deps: Bool = true)
    case stop(NameSpec, wait: Bool)
    case restart(NameSpec, wait: Bool)
    case signal(NameSpec, String)
    case stdin(NameSpec, String)
    /// Where a process's log is, for the server to read it off the loop.
    case logPath(NameSpec, channel: String)
    case mainLogPath
    /// supervisord's clearLog: the main log file emptied.
    case clearMainLog
    case clearLogs(NameSpec)
    /// The config was read (off the loop); compare it with the running one.
    case reread(ConfigLoadResult)
    case update(ConfigLoadResult, groups: [String]?)
    case reload(ConfigLoadResult)
    /// SIGHUP's config, read off the loop.
    case signalReload(ConfigLoadResult)
    /// A probe's host name, looked up off the loop: an address, or why not.
    case probeResolved(attempt: UInt64, key: String, Result<String, LookupFailure>)
    /// POST /events: a REMOTE_COMMUNICATION event.
    case remoteEvent(type: String, data: String)
    /// A chunk of a program's output, from the log thread, for PROCESS_LOG_x listeners; or, with
    /// `communication`, a capture-mode message for PROCESS_COMMUNICATION_x.
    case processOutput(communication: Bool, group: String, name: String, pid: Int32, channel: String, data: [UInt8])
    /// supervisorctl's add: a group of the config file that is not active yet.
    case addGroup(ConfigLoadResult, String)
    case removeGroup(String)
    /// supervisorctl's avail: every process of the config file, and whether it is in use.
    case configInfo(ConfigLoadResult)
    case shutdown
    /// A subscriber's own event queue, for a peer on the Unix socket (uid and pid from SO_PEERCRED).
    case subscribe(SubscribeRequest, uid: UInt32, pid: Int32)
    case subscriptions
    case unsubscribe(Int, uid: UInt32)
    /// A /proc sample of every running process now (rate-limited), for GET /metrics; the empty
    /// reply comes once the status board holds it.
    case freshSample
}

public enum ControlReply: Sendable {
    case json(status: Int, body: [UInt8])
    /// A file the server reads itself.
    case file(String)

    static func ok<T: Encodable>(_ value: T) -> ControlReply { .json(status: 200, body: JSON.encode(value)) }

    static func fault(_ fault: Fault, _ message: String) -> ControlReply {
        .json(status: fault.httpStatus, body: JSON.encode(ErrorReply(fault, message)))
    }
}

public final class ControlBridge: Sendable {
    public typealias Reply = @Sendable (ControlReply) -> Void

    private let queue = Locked<[(ControlRequest, Reply)]>([])
    let wakeFD = mn_eventfd()
    /// What status queries are answered from, without a request to the loop.
    public let board = StatusBoard()

    public init() {}

    /// From any thread: the request is handled on the supervisor's next turn.
    public func submit(_ request: ControlRequest, reply: @escaping Reply) {
        queue.withLock { $0.append((request, reply)) }
        mn_eventfd_signal(wakeFD)
    }

    func take() -> [(ControlRequest, Reply)] {
        mn_eventfd_drain(wakeFD)
        return queue.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
    }
}
