// Live state of every process in shared memory (docs/stats.md). minderd
// never waits for the semaphore: when a reader holds it, the write is kept
// and retried on a timer; readers hold it for microseconds.
//
// Other processes may write these objects (a stats_group member can), so
// minderd never reads back from them what decides a size, an index or a
// counter: the layout and counters live here. A truncated object would give
// SIGBUS; the fault guard (stats_plane.h) turns that into private pages and a
// flag, and the object is replaced on the next write.

import CMinder
import Glibc
import MinderControl

final class StatsSegment {
    let name: String
    /// nil after a replacement failed: writes are dropped (and the failure was reported).
    private var base: UnsafeMutableRawPointer?
    private var length: UInt64 = 0
    private var segmentGuard: Int32 = -1
    private let semaphore: GuardedSemaphore
    var semaphoreName: String { semaphore.name }
    /// When the semaphore was first found busy with no holder recorded.
    private var busySince: Double?
    let slots: Int
    /// Slots whose latest values are not in the segment yet.
    private var pending = Set<Int>()
    /// The header changed without a slot (a round with nothing running).
    private var headerPending = false
    /// Each slot's latest values, kept to write again into a replaced segment.
    private var staged: [SlotValues?]
    private var sequences: [UInt64]
    private var writes: UInt64 = 0
    private var recoveries: UInt64 = 0
    private var droppedEvents: UInt64 = 0
    private let startTime: Double
    /// Where readers ask for fresh numbers; nil when its objects could not be made.
    let requests: StatsRequests?
    /// The rounds of /proc samples over minderd's life (a new segment carries them on), and the last one's time.
    var sampleGeneration: UInt64 = 0
    var sampleTime = 0.0

    struct SlotValues {
        var group: String, name: String, state: Int32, pid: Int32, start: Double, change: Double
        var restarts: UInt32, exitStatus: Int32, spawnError: String
        var cpuUser = 0.0, cpuSystem = 0.0, rss: UInt64 = 0, fds: UInt32 = 0, threads: UInt32 = 0
        var logWritten: UInt64 = 0, logDropped: UInt64 = 0
        /// 1, 0, or -1 where not configured.
        var ready: Int32 = -1, healthy: Int32 = -1
    }

    private let mode: Int32
    private let gid: Int64

    /// What happened to the objects since the caller last looked (a recovery, a replacement); logged by the caller.
    var notices: [String] = []

    /// `group`: read-write access for that group ([supervisord] stats_group), else 0600.
    init?(instance: InstanceID, slots: Int, group: UInt32? = nil, requests: StatsRequests? = nil) {
        self.requests = requests
        mode = group == nil ? 0o600 : 0o660
        gid = group.map(Int64.init) ?? -1
        name = instance.statsSegment
        self.slots = slots
        sequences = Array(repeating: 0, count: slots)
        staged = Array(repeating: nil, count: slots)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        startTime = Double(now.tv_sec)
        guard let sem = GuardedSemaphore(nameOf: instance.statsSemaphore, value: 1, mode: mode, gid: gid) else { return nil }
        semaphore = sem
        guard mapSegment() else {
            sem.close(unlink: true)
            return nil
        }
    }

    private func mapSegment() -> Bool {
        guard let segment = mn_stats_create(name, UInt32(slots), getpid(), startTime, semaphoreName, requests?.queueName ?? "",
                                            requests?.freshName ?? "", mode, gid, &length) else {
            return false
        }
        base = segment
        segmentGuard = mn_guard_add(segment, Int(length))
        return true
    }

    /// Records new values; returns false when they wait for the semaphore (call flush later).
    @discardableResult
    func write(_ index: Int, _ values: SlotValues, droppedEvents: Int) -> Bool {
        stage(index, values)
        return flush(droppedEvents: droppedEvents)
    }

    /// Records new values for the next flush: a round of samples takes the semaphore once.
    func stage(_ index: Int, _ values: SlotValues) {
        guard index < slots else { return }
        staged[index] = values
        pending.insert(index)
    }

    /// A round of samples was staged: the header says so at the next flush.
    func sampled(at time: Double) {
        sampleGeneration += 1
        sampleTime = time
        headerPending = true
    }

    /// Writes what is pending if the semaphore is free right now.
    func flush(droppedEvents: Int) -> Bool {
        for attempt in 0..<2 {
            replaceLostObjects()
            guard !pending.isEmpty || headerPending, let base else { return true }
            if mn_sem_trywait(semaphore.pointer) != 0 {
                guard recoverIfAbandoned(), mn_sem_trywait(semaphore.pointer) == 0 else { return false }
            }
            busySince = nil
            for index in pending {
                guard let v = staged[index] else { continue }
                sequences[index] += 1
                writes += 1
                mn_stats_write_slot(base, UInt32(slots), UInt32(index), sequences[index], v.group, v.name, v.state,
                                    v.pid, v.start, v.change, v.restarts, v.exitStatus, v.spawnError, v.cpuUser,
                                    v.cpuSystem, v.rss, v.fds, v.threads, v.logWritten, v.logDropped, v.ready, v.healthy)
            }
            self.droppedEvents = UInt64(droppedEvents)
            writeHeader(base)
            pending.removeAll()
            headerPending = false
            _ = mn_sem_post(semaphore.pointer)
            requests?.published()
            // A fault during the writes sent them to private pages: write again into new objects, once.
            guard mn_guard_lost(segmentGuard) != 0 || semaphore.lost, attempt == 0 else { return true }
            pending = stagedSlots
        }
        return false
    }

    private var stagedSlots: Set<Int> { Set(staged.indices.filter { staged[$0] != nil }) }

    private func writeHeader(_ base: UnsafeMutableRawPointer) {
        mn_stats_write_header(base, UInt32(slots), getpid(), startTime, semaphoreName, writes, droppedEvents, recoveries,
                              sampleGeneration, sampleTime, requests?.queueName ?? "", requests?.freshName ?? "")
    }

    /// An object truncated under minderd (its pages now private, see the fault guard) is replaced
    /// by a new one under the same rules as at start (unlink, O_EXCL, owner and mode checked).
    private func replaceLostObjects() {
        if let requests {
            requests.replaceIfLost()
            notices += requests.notices
            requests.notices.removeAll()
        }
        if semaphore.lost, replaceSemaphore() {
            notices.append("stats: the semaphore's file was truncated by another process; replaced by \(semaphoreName)")
        }
        guard mn_guard_lost(segmentGuard) != 0, let old = base else { return }
        mn_guard_remove(segmentGuard)
        mn_stats_unmap(old, length)
        base = nil
        if mapSegment() {
            notices.append("stats: the segment \(name) was truncated by another process; made a new one")
            pending = stagedSlots
        } else {
            notices.append("stats: the segment \(name) was truncated by another process, and a new one cannot be made: \(String(cString: strerror(errno))); stats are no longer published")
        }
    }

    /// A busy semaphore whose recorded holder is dead, or that stays busy with no holder recorded
    /// for 5 s, is replaced by a fresh one under a new name. A live holder is never robbed.
    private func recoverIfAbandoned() -> Bool {
        guard let base else { return false }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let t = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        // Written by readers: only ever asked whether it still exists.
        let holder = mn_stats_holder(base)
        let abandoned: Bool
        if holder > 0 {
            abandoned = kill(holder, 0) != 0 && errno == ESRCH
        } else {
            if busySince == nil { busySince = t }
            abandoned = t - busySince! > 5
        }
        guard abandoned, replaceSemaphore() else { return false }
        notices.append("stats: replaced the semaphore (held by \(holder > 0 ? "pid \(holder), which died holding it" : "no recorded holder for 5 s")); now \(semaphoreName)")
        return true
    }

    private func replaceSemaphore() -> Bool {
        guard semaphore.replace() else { return false }
        recoveries += 1
        if let base {
            mn_stats_clear_holder(base)
            writeHeader(base)
        }
        busySince = nil
        return true
    }

    /// A segment replaced by a newer one stays mapped by its readers; they see `retired` and map the name again.
    func retire() {
        // Marked while still guarded: the old object may have been truncated too.
        if let base { mn_stats_retire(base) }
        mn_guard_remove(segmentGuard)
        if let base { mn_stats_unmap(base, length) }
        base = nil
        semaphore.close(unlink: false)
    }

    func close() {
        let semaphoreName = semaphore.name
        retire()
        _ = mn_stats_unlink(name)
        _ = mn_sem_unlink(semaphoreName)
    }
}
