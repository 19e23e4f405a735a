// Fresh stats on demand (docs/stats.md): a reader sends any message to the
// request queue, which the loop waits on with its other descriptors, and then
// waits on the "fresh" semaphore. The loop samples /proc, writes the segment,
// and posts the semaphore once for each request the sample answers. A post
// wakes one waiter, and a count left by a reader that gave up would wake a
// later one early, so readers also wait for the segment's sample_generation to
// pass the value it had before they asked.
//
// Both objects are input from other processes: messages are read and
// discarded (their content means nothing), a bounded number per turn, and
// posts owed are capped, so a flood costs one sample per rate-limit period.

import CMinder
import MinderControl

final class StatsRequests {
    let queueName: String
    let queueFD: Int32
    private let fresh: GuardedSemaphore
    var freshName: String { fresh.name }
    /// Requests read from the queue that no sample has answered yet.
    private(set) var waiting = 0
    /// Requests a sample answered whose numbers are not in the segment yet.
    private var answered = 0
    /// The most posts owed at once: readers beyond it time out and take the numbers they find.
    static let maxOwed = 1024
    /// Messages read per loop turn.
    static let maxPerTurn = 64
    static let messageSize = 16
    var notices: [String] = []

    init?(instance: InstanceID, group: UInt32?) {
        let mode: Int32 = group == nil ? 0o600 : 0o660, gid = group.map(Int64.init) ?? -1
        queueName = instance.statsRequests
        guard let sem = GuardedSemaphore(nameOf: instance.statsFresh, value: 0, mode: mode, gid: gid) else { return nil }
        // Ten messages fit the kernel's default msg_max for any user.
        let fd = mn_mq_create(queueName, 10, Self.messageSize, mode, gid)
        guard fd >= 0 else {
            sem.close(unlink: true)
            return nil
        }
        queueFD = fd
        fresh = sem
    }

    /// Reads what is queued, up to `maxPerTurn` messages; true when there were any.
    func drain() -> Bool {
        var buffer = [CChar](repeating: 0, count: Self.messageSize)
        var got = 0
        while got < Self.maxPerTurn, mn_mq_receive(queueFD, &buffer, buffer.count) >= 0 {
            got += 1
        }
        waiting = min(waiting + got, Self.maxOwed)
        return got > 0
    }

    /// A sample was taken: the requests read so far are answered by it.
    func sampleTaken() {
        answered = min(answered + waiting, Self.maxOwed)
        waiting = 0
    }

    /// The sample's numbers are in the segment: wake the readers who asked for them.
    func published() {
        while answered > 0 {
            answered -= 1
            // EOVERFLOW: someone else posted it to the limit; the readers it wakes check the generation.
            if mn_sem_post(fresh.pointer) != 0 { break }
        }
        answered = 0
    }

    /// When the semaphore's file was truncated (its pages are private now, see the fault guard):
    /// a new one, before the header that names it is written.
    func replaceIfLost() {
        guard fresh.lost, fresh.replace() else { return }
        notices.append("stats: the fresh-sample semaphore's file was truncated by another process; replaced by \(fresh.name)")
    }

    func close() {
        fresh.close(unlink: true)
        _ = mn_mq_close(queueFD)
        _ = mn_mq_unlink(queueName)
    }
}
