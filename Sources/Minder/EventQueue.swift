// State changes on a POSIX message queue. Sends never block: when the queue
// is full the oldest message is taken off and counted as dropped.

import CMinder
import Foundation
import MinderControl

public final class EventQueue {
    public let name: String
    let mqd: Int32
    let msgsize: Int
    var serial = 0
    /// Messages taken off a full queue to make room.
    public private(set) var dropped = 0
    /// Followers of GET /api/v1/events get every event too.
    public var stream: EventStream?

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
    public func post(group: String?, name: String?, from: String, to: String, pid: Int32?, exitStatus: Int?, expected: Bool?) {
        serial += 1
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var event = StateEvent(serial: serial, time: Double(time.tv_sec) + Double(time.tv_nsec / 1_000_000) / 1000,
                               minderd_pid: getpid(), group: group, name: name, from: from, to: to, pid: pid,
                               exit_status: exitStatus, expected: expected)
        var bytes = event.json()
        stream?.publish(serial: serial, json: bytes)
        if bytes.count > msgsize {
            // Shortened, never dropped: the names give way first.
            event.truncated = true
            let room = max(8, (msgsize - (bytes.count - (group?.utf8.count ?? 0) - (name?.utf8.count ?? 0))) / 2 - 16)
            event.group = group.map { String($0.prefix(room)) }
            event.name = name.map { String($0.prefix(room)) }
            bytes = event.json()
            if bytes.count > msgsize { bytes = Array(bytes.prefix(msgsize)) }
        }
        send(bytes)
    }

    private func send(_ bytes: [UInt8]) {
        for _ in 0..<2 {
            let rc = bytes.withUnsafeBufferPointer { ptr in
                ptr.withMemoryRebound(to: CChar.self) { mn_mq_send(mqd, $0.baseAddress, $0.count) }
            }
            if rc == 0 || errno != EAGAIN { return }
            // Full: the oldest message makes room.
            var scratch = [CChar](repeating: 0, count: msgsize)
            if mn_mq_receive(mqd, &scratch, msgsize) >= 0 { dropped += 1 }
        }
    }

    public func close() {
        _ = mn_mq_close(mqd)
        _ = mn_mq_unlink(name)
    }
}
