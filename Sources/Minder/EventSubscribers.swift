// A message queue of its own for each event subscriber (docs/events.md), so
// that two readers never steal each other's events. Queues are made by
// minderd, given to the subscriber's uid (from SO_PEERCRED), and charged to
// minderd's RLIMIT_MSGQUEUE: so they are capped per uid and in all, and only
// peers on the Unix socket get one. Each drops its own oldest when full and
// counts it. A queue ends when its watched process exits (a pidfd in the
// loop's epoll set), when its subscriber deletes it, or when it has stayed
// full, unread, for `idleTimeout` of events.

import CMinder
import Glibc
import MinderControl

final class EventSubscribers {
    static let perUID = 4
    static let total = 16
    static let defaultMaxmsg = 10
    static let maxMaxmsg = 4096
    static let defaultMsgsize = 1024
    static let msgsizeRange = 256...8192
    /// A queue left full this long (by the clock of the events that found it full) is removed.
    static let idleTimeout = 300.0
    /// epoll tokens of the watched processes' pidfds: this bit and the subscription's id.
    static let token: UInt64 = 1 << 34

    struct Subscriber {
        var info: Subscription
        let mqd: Int32
        let pidfd: Int32
        /// When a send first found the queue full with nothing read since.
        var fullSince: Double?
    }

    private let instance: String
    private(set) var subscribers: [Int: Subscriber] = [:]
    /// Events taken off subscribers' full queues, over minderd's life (ended queues included).
    private(set) var dropped = 0
    var notices: [String] = []

    /// `instance`: the id in the queue names. Queues of an earlier minderd of the same config are unlinked.
    init(instance: InstanceID) {
        self.instance = instance.value
        for id in 1...Self.total { _ = mn_mq_unlink(name(id)) }
    }

    func name(_ id: Int) -> String { "/minder.\(instance).events.\(id)" }

    struct Refused: Error {
        var status: Int
        var message: String
    }

    func subscribe(_ request: SubscribeRequest, uid: UInt32, peer: Int32, epollFD: Int32) -> Result<Subscription, Refused> {
        let maxmsg = request.maxmsg ?? Self.defaultMaxmsg, msgsize = request.msgsize ?? Self.defaultMsgsize
        guard (1...Self.maxMaxmsg).contains(maxmsg), Self.msgsizeRange.contains(msgsize) else {
            return .failure(Refused(status: 400, message: "maxmsg must be 1 to \(Self.maxMaxmsg) and msgsize \(Self.msgsizeRange.lowerBound) to \(Self.msgsizeRange.upperBound) bytes"))
        }
        let watched = request.pid ?? peer
        if request.pid != nil {
            // Only a process of the subscriber's own (any, for root) may end its subscription.
            let owner = mn_pid_uid(watched)
            guard owner >= 0 else { return .failure(Refused(status: 400, message: "no process \(watched) to watch")) }
            guard uid == 0 || owner == Int64(uid) else {
                return .failure(Refused(status: 403, message: "process \(watched) is not yours to watch"))
            }
        }
        guard subscribers.values.filter({ $0.info.uid == uid }).count < Self.perUID else {
            return .failure(Refused(status: 429, message: "uid \(uid) has \(Self.perUID) event queues already, the most one user may have; delete one (DELETE /api/v1/events/subscriptions/ID) or follow GET /api/v1/events"))
        }
        guard let id = (1...Self.total).first(where: { subscribers[$0] == nil }) else {
            return .failure(Refused(status: 503, message: "minderd has \(Self.total) event queues already, the most it makes; follow GET /api/v1/events instead"))
        }
        let mqd = mn_mq_create(name(id), maxmsg, msgsize, 0o600, -1)
        guard mqd >= 0 else {
            let err = errno
            let why = switch err {
            case EINVAL: "the kernel allows at most /proc/sys/fs/mqueue/msg_max messages of msgsize_max bytes (10 and 8192 by default) to a minderd without CAP_SYS_RESOURCE"
            case EMFILE: "minderd's RLIMIT_MSGQUEUE has no room for \(maxmsg) messages of \(msgsize) bytes more; ask for a smaller queue"
            default: String(cString: strerror(err))
            }
            return .failure(Refused(status: err == EINVAL ? 400 : 503, message: "cannot make an event queue: \(why)"))
        }
        guard mn_mq_give(mqd, uid) == 0 else {
            let err = errno
            _ = mn_mq_close(mqd)
            _ = mn_mq_unlink(name(id))
            return .failure(Refused(status: 500, message: "cannot give the event queue to uid \(uid): \(String(cString: strerror(err)))"))
        }
        let pidfd = mn_pidfd_open(watched)
        if pidfd >= 0 { _ = mn_epoll_add(epollFD, pidfd, Self.token | UInt64(id)) }
        let info = Subscription(id: id, queue: name(id), maxmsg: maxmsg, msgsize: msgsize, uid: uid,
                                pid: pidfd >= 0 ? watched : 0, minderd_pid: getpid(), sent: 0, dropped: 0)
        subscribers[id] = Subscriber(info: info, mqd: mqd, pidfd: pidfd)
        return .success(info)
    }

    /// `uid`: who asks; only the queue's own user or root may end it.
    func unsubscribe(_ id: Int, uid: UInt32) -> Result<Subscription, Refused> {
        guard let s = subscribers[id] else { return .failure(Refused(status: 404, message: "no event subscription \(id)")) }
        guard uid == 0 || uid == s.info.uid else { return .failure(Refused(status: 403, message: "event subscription \(id) is not yours")) }
        remove(id)
        return .success(s.info)
    }

    /// A watched process exited: its queue goes.
    func watchedExited(_ token: UInt64) {
        let id = Int(token & 0xffff)
        guard let s = subscribers[id] else { return }
        notices.append("events: removed \(s.info.queue) (uid \(s.info.uid)): process \(s.info.pid) exited")
        remove(id)
    }

    func remove(_ id: Int) {
        guard let s = subscribers.removeValue(forKey: id) else { return }
        if s.pidfd >= 0 { close(s.pidfd) }
        _ = mn_mq_close(s.mqd)
        _ = mn_mq_unlink(s.info.queue)
    }

    var list: [Subscription] { subscribers.keys.sorted().compactMap { subscribers[$0]?.info } }

    /// One event to every queue, shortened to each one's message size by `fit`.
    func post(at time: Double, _ fit: (Int) -> [UInt8]) {
        var fitted: [Int: [UInt8]] = [:]
        for id in subscribers.keys.sorted() {
            guard var s = subscribers[id] else { continue }
            let bytes = fitted[s.info.msgsize] ?? fit(s.info.msgsize)
            fitted[s.info.msgsize] = bytes
            switch EventQueue.send(bytes, to: s.mqd, msgsize: s.info.msgsize) {
            case .sent: s.fullSince = nil
            case .sentAfterDrop:
                s.info.dropped += 1
                dropped += 1
                if s.fullSince == nil { s.fullSince = time }
            case .failed:
                s.info.dropped += 1
                dropped += 1
            }
            s.info.sent += 1
            subscribers[id] = s
            if let since = s.fullSince, time - since > Self.idleTimeout {
                notices.append("events: removed \(s.info.queue) (uid \(s.info.uid)): unread for \(Int(Self.idleTimeout)) s, \(s.info.dropped) events dropped")
                remove(id)
            }
        }
    }

    func closeAll() {
        for id in Array(subscribers.keys) { remove(id) }
    }
}
