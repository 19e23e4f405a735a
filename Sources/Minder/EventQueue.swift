// State changes on a POSIX message queue. Sends never block: when the queue
// is full the oldest message is taken off and counted as dropped.

import CMinder
import Glibc
import MinderControl

public final class EventQueue {
    public let name: String
    let mqd: Int32
    let msgsize: Int
    var serial = 0
    /// In every event; asked once (getpid is a system call each time).
    let minderdPID = getpid()
    /// Messages taken off a full queue to make room.
    public private(set) var dropped = 0
    /// Followers of GET /api/v1/events get every event too, and so do subscribers' own queues.
    public var stream: EventStream?
    var subscribers: EventSubscribers?

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(name: String, maxmsg: Int, msgsize: Int, group: UInt32? = nil) throws(SetupError) {
        self.name = name
        self.msgsize = msgsize
        mqd = mn_mq_create(name, maxmsg, msgsize, group == nil ? 0o600 : 0o660, group.map(Int64.init) ?? -1)
        guard mqd >= 0 else {
            let err = errno
            switch err {
            case EINVAL:
                throw SetupError(description: "the event queue \(name) cannot hold \(maxmsg) messages of \(msgsize) bytes: the kernel allows at most /proc/sys/fs/mqueue/msg_max messages and msgsize_max bytes (10 and 8192 by default) without CAP_SYS_RESOURCE")
            case EMFILE:
                throw SetupError(description: "the event queue \(name) does not fit this user's RLIMIT_MSGQUEUE byte budget (lower events_queue_maxmsg or events_queue_msgsize)")
            default:
                throw SetupError(description: "cannot create the event queue \(name): \(String(cString: strerror(err)))")
            }
        }
    }

    /// Posts one event; never waits.
    public func post(group: String?, name: String?, from: String, to: String, pid: Int32?, exitStatus: Int?, expected: Bool?,
                     ready: Bool? = nil) {
        serial += 1
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var event = StateEvent(serial: serial, time: Double(time.tv_sec) + Double(time.tv_nsec / 1_000_000) / 1000,
                               minderd_pid: minderdPID, group: group, name: name, from: from, to: to, pid: pid,
                               exit_status: exitStatus, expected: expected)
        event.ready = ready
        let whole = event.json()
        stream?.publish(serial: serial, json: whole)
        subscribers?.post(at: event.time) { Self.fit(event, whole, $0) }
        if Self.send(Self.fit(event, whole, msgsize), to: mqd, msgsize: msgsize) != .sent { dropped += 1 }
    }

    /// The event's JSON within `msgsize` bytes: shortened, never dropped; the names give way first.
    static func fit(_ event: StateEvent, _ whole: [UInt8], _ msgsize: Int) -> [UInt8] {
        guard whole.count > msgsize else { return whole }
        var event = event
        event.truncated = true
        let room = max(8, (msgsize - (whole.count - (event.group?.utf8.count ?? 0) - (event.name?.utf8.count ?? 0))) / 2 - 16)
        event.group = event.group.map { String($0.prefix(room)) }
        event.name = event.name.map { String($0.prefix(room)) }
        let bytes = event.json()
        return bytes.count > msgsize ? Array(bytes.prefix(msgsize)) : bytes
    }

    enum SendOutcome { case sent, sentAfterDrop, failed }

    /// Never waits: on a full queue the oldest message is taken off to make room.
    static func send(_ bytes: [UInt8], to mqd: Int32, msgsize: Int) -> SendOutcome {
        var dropped = false
        for _ in 0..<2 {
            let rc = bytes.withUnsafeBufferPointer { ptr in
                ptr.withMemoryRebound(to: CChar.self) { mn_mq_send(mqd, $0.baseAddress, $0.count) }
            }
            if rc == 0 { return dropped ? .sentAfterDrop : .sent }
            if errno != EAGAIN { return .failed }
            let taken = withUnsafeTemporaryAllocation(of: CChar.self, capacity: msgsize) { mn_mq_receive(mqd, $0.baseAddress, msgsize) }
            if taken >= 0 { dropped = true }
        }
        return .failed
    }

    public func close() {
        subscribers?.closeAll()
        _ = mn_mq_close(mqd)
        _ = mn_mq_unlink(name)
    }
}
