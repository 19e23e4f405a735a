import CMinder
import Foundation
import MinderControl
@testable import Minder
import Testing

/// Subscribers' own event queues, on real POSIX message queues: the caps, who may watch what,
/// drops of the oldest, and the removal of a queue nobody reads.
@Suite(.serialized) final class EventSubscribersTests {
    let epollFD = mn_epoll_create()

    deinit { close(epollFD) }

    func instance() -> InstanceID { InstanceID(configPath: "/nonexistent/subscribers-\(UUID().uuidString).conf") }

    /// The smallest queue: 16 of them must not crowd this user's RLIMIT_MSGQUEUE, which other
    /// tests running at the same time share.
    let tiny = SubscribeRequest(maxmsg: 1, msgsize: 256)

    @Test func capsPerUserAndInAll() throws {
        let subscribers = EventSubscribers(instance: instance())
        defer { subscribers.closeAll() }
        let me = getpid()
        for uid in UInt32(1)...4 {
            for _ in 0..<EventSubscribers.perUID {
                guard case .success = subscribers.subscribe(tiny, uid: uid, peer: me, epollFD: epollFD) else {
                    Issue.record("uid \(uid) refused below its cap")
                    return
                }
            }
        }
        guard case .failure(let perUser) = subscribers.subscribe(tiny, uid: 1, peer: me, epollFD: epollFD) else {
            Issue.record("a fifth queue for one user")
            return
        }
        #expect(perUser.status == 429 && perUser.message.contains("the most one user may have"))
        guard case .failure(let total) = subscribers.subscribe(tiny, uid: 9, peer: me, epollFD: epollFD) else {
            Issue.record("a queue beyond the total")
            return
        }
        #expect(total.status == 503 && total.message.contains("the most it makes"))
        #expect(subscribers.list.count == EventSubscribers.total)
        // Only the queue's own user (or root) ends it; then its id is free again.
        guard case .failure(let notYours) = subscribers.unsubscribe(1, uid: 2) else { Issue.record("another user ended a queue"); return }
        #expect(notYours.status == 403)
        guard case .success(let ended) = subscribers.unsubscribe(1, uid: 1) else { Issue.record("its user could not end it"); return }
        #expect(mn_mq_open_reader(ended.queue, 1) < 0 && errno == ENOENT, "the queue is unlinked")
        guard case .success(let again) = subscribers.subscribe(tiny, uid: 9, peer: me, epollFD: epollFD) else {
            Issue.record("no room after an end"); return
        }
        #expect(again.id == 1)
    }

    @Test func sizesAndWatchedProcessesAreChecked() {
        let subscribers = EventSubscribers(instance: instance())
        defer { subscribers.closeAll() }
        for request in [SubscribeRequest(maxmsg: 0), SubscribeRequest(maxmsg: 1_000_000), SubscribeRequest(msgsize: 16),
                        SubscribeRequest(msgsize: 1 << 20)] {
            guard case .failure(let r) = subscribers.subscribe(request, uid: 0, peer: getpid(), epollFD: epollFD) else {
                Issue.record("\(request) was accepted")
                continue
            }
            #expect(r.status == 400)
        }
        // pid 1 is root's: a user other than root may not have its subscription watch it.
        guard case .failure(let other) = subscribers.subscribe(SubscribeRequest(pid: 1), uid: 4242, peer: getpid(), epollFD: epollFD) else {
            Issue.record("a user watched another's process"); return
        }
        #expect(other.status == 403)
        guard case .failure(let none) = subscribers.subscribe(SubscribeRequest(pid: -5), uid: 0, peer: getpid(), epollFD: epollFD) else {
            Issue.record("a pid that does not exist"); return
        }
        #expect(none.status == 400)
    }

    /// A full queue loses its own oldest events, counted; one left full and unread for the idle
    /// time is removed at the next event; another queue that is read loses nothing.
    @Test func aFullQueueDropsItsOldestAndAnUnreadOneGoes() throws {
        let subscribers = EventSubscribers(instance: instance())
        defer { subscribers.closeAll() }
        guard case .success(let silent) = subscribers.subscribe(SubscribeRequest(maxmsg: 3, msgsize: 256), uid: 0, peer: getpid(), epollFD: epollFD),
              case .success(let reader) = subscribers.subscribe(SubscribeRequest(maxmsg: 3, msgsize: 256), uid: 0, peer: getpid(), epollFD: epollFD) else {
            Issue.record("no queues"); return
        }
        let readFD = mn_mq_open_reader(reader.queue, 1)
        defer { _ = mn_mq_close(readFD) }
        var got: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        for n in 1...10 {
            subscribers.post(at: Double(n)) { _ in Array("event \(n)".utf8) }
            while case let size = mn_mq_receive(readFD, &buffer, 256), size >= 0 {
                got.append(String(decoding: buffer.prefix(size).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        #expect(got == (1...10).map { "event \($0)" })
        let counts = subscribers.list.first { $0.id == silent.id }
        #expect(counts?.sent == 10 && counts?.dropped == 7)
        let silentFD = mn_mq_open_reader(silent.queue, 1)
        var kept: [String] = []
        while case let size = mn_mq_receive(silentFD, &buffer, 256), size >= 0 {
            kept.append(String(decoding: buffer.prefix(size).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        _ = mn_mq_close(silentFD)
        #expect(kept == ["event 8", "event 9", "event 10"])
        // Full again and unread past the idle time: gone at the next event, with a notice.
        for at in [100, 101, 102, 103, 100 + EventSubscribers.idleTimeout + 5] {
            subscribers.post(at: at) { _ in Array("later".utf8) }
            while mn_mq_receive(readFD, &buffer, 256) >= 0 {}
        }
        #expect(subscribers.list.map(\.id) == [reader.id])
        #expect(subscribers.notices.contains { $0.contains("\(silent.queue)") && $0.contains("unread for") })
    }

    @Test func aWatchedProcessThatExitsEndsItsQueue() throws {
        let subscribers = EventSubscribers(instance: instance())
        defer { subscribers.closeAll() }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["1000"]
        try child.run()
        guard case .success(let s) = subscribers.subscribe(SubscribeRequest(pid: child.processIdentifier), uid: 0, peer: getpid(), epollFD: epollFD) else {
            Issue.record("no queue"); return
        }
        #expect(s.pid == child.processIdentifier)
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        // The kernel tells the loop through the pidfd in its epoll set.
        var tokens = [UInt64](repeating: 0, count: 4)
        let n = tokens.withUnsafeMutableBufferPointer { mn_epoll_wait(epollFD, $0.baseAddress, 4, 10_000) }
        #expect(n == 1 && tokens[0] == EventSubscribers.token | UInt64(s.id))
        subscribers.watchedExited(tokens[0])
        #expect(subscribers.list.isEmpty)
        #expect(mn_mq_open_reader(s.queue, 1) < 0)
    }

    @Test func staleQueuesOfTheSameInstanceAreUnlinked() {
        let id = instance()
        let stale = mn_mq_create("/minder.\(id.value).events.5", 2, 256, 0o600, -1)
        #expect(stale >= 0)
        _ = mn_mq_close(stale)
        _ = EventSubscribers(instance: id)
        #expect(mn_mq_open_reader("/minder.\(id.value).events.5", 1) < 0 && errno == ENOENT)
    }
}
