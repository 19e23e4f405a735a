// Live state of every process in shared memory (docs/stats.md). minderd
// never waits for the semaphore: when a reader holds it, the write is kept
// and retried on a short timer; readers hold it for microseconds.

import CMinder
import Foundation
import MinderControl

final class StatsSegment {
    let name: String
    private let instance: InstanceID
    private(set) var semaphoreName: String
    private var generation = 1
    private(set) var base: UnsafeMutableRawPointer
    private var semaphore: UnsafeMutableRawPointer
    /// When the semaphore was first found busy with no holder recorded.
    private var busySince: Double?
    let slots: Int
    /// Slots whose latest values are not in the segment yet.
    private var pending = Set<Int>()

    struct SlotValues {
        var group: String, name: String, state: Int32, pid: Int32, start: Double, change: Double
        var restarts: UInt32, exitStatus: Int32, spawnError: String
        var cpuUser = 0.0, cpuSystem = 0.0, rss: UInt64 = 0, fds: UInt32 = 0, threads: UInt32 = 0
    }

    private let mode: Int32
    private let gid: Int64

    /// `group`: read-write access for that group ([supervisord] stats_group), else 0600.
    init?(instance: InstanceID, slots: Int, group: UInt32? = nil) {
        mode = group == nil ? 0o600 : 0o660
        gid = group.map(Int64.init) ?? -1
        self.instance = instance
        name = instance.statsSegment
        semaphoreName = instance.statsSemaphore(1)
        self.slots = slots
        guard let sem = mn_sem_create(semaphoreName, mode, gid) else { return nil }
        semaphore = sem
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        guard let segment = mn_stats_create(name, UInt32(slots), getpid(), Double(now.tv_sec), semaphoreName, mode, gid) else {
            mn_sem_close(sem)
            _ = mn_sem_unlink(semaphoreName)
            return nil
        }
        base = segment
    }

    /// Records new values; returns false when they wait for the semaphore (call flush later).
    @discardableResult
    func write(_ index: Int, _ values: SlotValues, droppedEvents: Int) -> Bool {
        guard index < slots else { return true }
        staged[index] = values
        pending.insert(index)
        return flush(droppedEvents: droppedEvents)
    }

    private var staged: [Int: SlotValues] = [:]

    /// Set by flush when it had to replace a semaphore whose holder died; the caller logs it.
    var recoveredFrom: String?

    /// Writes what is pending if the semaphore is free right now.
    func flush(droppedEvents: Int) -> Bool {
        guard !pending.isEmpty else { return true }
        if mn_sem_trywait(semaphore) != 0 {
            guard recoverIfAbandoned(), mn_sem_trywait(semaphore) == 0 else { return false }
        }
        busySince = nil
        for index in pending {
            guard let v = staged[index] else { continue }
            mn_stats_write_slot(base, UInt32(index), v.group, v.name, v.state, v.pid, v.start, v.change, v.restarts,
                                v.exitStatus, v.spawnError, v.cpuUser, v.cpuSystem, v.rss, v.fds, v.threads)
        }
        mn_stats_set_dropped(base, UInt64(droppedEvents))
        pending.removeAll()
        _ = mn_sem_post(semaphore)
        return true
    }

    /// A busy semaphore whose recorded holder is dead, or that stays busy with no holder recorded
    /// for 5 s, is replaced by a fresh one under a new name. A live holder is never robbed.
    private func recoverIfAbandoned() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let t = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        let holder = mn_stats_holder(base)
        let abandoned: Bool
        if holder > 0 {
            abandoned = kill(holder, 0) != 0 && errno == ESRCH
        } else {
            if busySince == nil { busySince = t }
            abandoned = t - busySince! > 5
        }
        guard abandoned else { return false }
        generation += 1
        let newName = instance.statsSemaphore(generation)
        guard let fresh = mn_sem_create(newName, mode, gid) else { return false }
        let oldName = semaphoreName
        mn_sem_close(semaphore)
        _ = mn_sem_unlink(oldName)
        semaphore = fresh
        semaphoreName = newName
        mn_stats_set_semaphore(base, newName)
        busySince = nil
        recoveredFrom = holder > 0 ? "pid \(holder), which died holding it" : "no recorded holder for 5 s"
        return true
    }

    /// A segment replaced by a newer one stays mapped by its readers; they see `retired` and map the name again.
    func retire() {
        mn_stats_retire(base)
        mn_stats_unmap(base, UInt64(MemoryLayout<minder_stats_header>.size + slots * MemoryLayout<minder_stats_slot>.size))
        mn_sem_close(semaphore)
    }

    func close() {
        retire()
        _ = mn_stats_unlink(name)
        _ = mn_sem_unlink(semaphoreName)
    }
}
