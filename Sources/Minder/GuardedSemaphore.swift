// A named semaphore of the stats plane (docs/stats.md): made after an unlink
// with O_EXCL, its page under the fault guard, and replaced under the next
// generation's name when another process truncated its file (the guard then
// mapped private pages over it, so a post or wait can no longer reach readers).

import CMinder

final class GuardedSemaphore {
    private(set) var name: String
    private(set) var pointer: UnsafeMutableRawPointer
    private var guardID: Int32
    private var generation = 1
    private let nameOf: (Int) -> String
    private let value: UInt32
    private let mode: Int32
    private let gid: Int64

    /// `nameOf(generation)`: the name of each generation, the first being 1.
    init?(nameOf: @escaping (Int) -> String, value: UInt32, mode: Int32, gid: Int64) {
        self.nameOf = nameOf
        self.value = value
        self.mode = mode
        self.gid = gid
        name = nameOf(1)
        guard let sem = mn_sem_create(name, value, mode, gid) else { return nil }
        pointer = sem
        guardID = mn_guard_add_semaphore(sem)
    }

    /// A fault replaced its page: posts and waits no longer reach other processes.
    var lost: Bool { mn_guard_lost(guardID) != 0 }

    /// A new semaphore under the next generation's name, the old one closed and unlinked; false
    /// (and the old one kept) when it cannot be made.
    func replace() -> Bool {
        let newName = nameOf(generation + 1)
        guard let fresh = mn_sem_create(newName, value, mode, gid) else { return false }
        generation += 1
        mn_guard_remove(guardID)
        mn_sem_close(pointer)
        _ = mn_sem_unlink(name)
        pointer = fresh
        guardID = mn_guard_add_semaphore(fresh)
        name = newName
        return true
    }

    /// Closed; with `unlink`, its name is removed too.
    func close(unlink: Bool) {
        mn_guard_remove(guardID)
        mn_sem_close(pointer)
        if unlink { _ = mn_sem_unlink(name) }
    }
}
