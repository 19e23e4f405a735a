// Reading the stats segment as any reader should (docs/stats.md): take the
// semaphore named in the header with a timeout, record our pid as its holder,
// copy, release; then check the copy (StatsSnapshot). The segment is copied
// with pread, never mapped, so a segment someone truncates cannot fault us.
//
// With `fresh`, first ask minderd for a new sample: a message on its request
// queue, then waits on its "fresh" semaphore until the segment's
// sample_generation passes the one seen before asking (a post can be one left
// over by a reader that gave up, so a wake-up alone proves nothing).

import CMinder
import Glibc
import MinderControl

enum StatsReader {
    struct Snapshot {
        var rows: [StatsRow]
        var header: minder_stats_header
        /// Set when fresh numbers were asked for and did not come: why.
        var stale: String?
    }

    static func read(_ name: String, fresh: Bool = false) throws(CtlError) -> Snapshot {
        let deadline = mn_monotonic_ns() + 2_000_000_000
        var asked: (generation: UInt64, semaphore: UnsafeMutableRawPointer)?
        defer { if let asked { mn_sem_close(asked.semaphore) } }
        var stale: String?
        var reopened = 0
        while true {
            var writable: Int32 = 0
            let fd = mn_stats_open(name, &writable)
            guard fd >= 0 else {
                throw CtlError(description: "cannot open the stats segment \(name): \(String(cString: strerror(errno))) (is minderd running with this config?)")
            }
            defer { close(fd) }
            var headerBytes = [UInt8](repeating: 0, count: StatsSnapshot.headerSize)
            let n = mn_stats_pread(fd, &headerBytes, headerBytes.count)
            let header: minder_stats_header
            do {
                header = try StatsSnapshot.header(Array(headerBytes.prefix(max(0, n))))
            } catch {
                throw CtlError(description: "\(name): \(error)")
            }
            if header.retired != 0 {
                // Replaced meanwhile: open the name again.
                reopened += 1
                if reopened > 20 { throw CtlError(description: "the stats segment \(name) keeps being replaced") }
                continue
            }
            if fresh && asked == nil && stale == nil {
                switch ask(header) {
                case .success(let semaphore): asked = (header.sample_generation, semaphore)
                case .failure(let why): stale = why.description
                }
            }
            if let (before, semaphore) = asked, header.sample_generation <= before {
                let left = (deadline - mn_monotonic_ns()) / 1_000_000
                if left > 0 && mn_sem_timedwait_ms(semaphore, Int32(left)) == 0 {
                    // A post can be one meant for another reader: only a newer sample will do.
                    let copy = try copy(name, fd: fd, header: header, writable: writable != 0)
                            if copy.header.sample_generation <= before || copy.header.retired != 0 { continue }
                    return copy
                }
                stale = "minderd did not answer the request for fresh numbers within 2 s"
                mn_sem_close(semaphore)
                asked = nil
            }
            var snapshot = try copy(name, fd: fd, header: header, writable: writable != 0)
            snapshot.stale = stale
            return snapshot
        }
    }

    /// Sends a request; the fresh semaphore to wait on, or why fresh numbers cannot be had.
    private static func ask(_ header: minder_stats_header) -> Result<UnsafeMutableRawPointer, StaleReason> {
        let queue = StatsSnapshot.text(header.request_queue), semaphore = StatsSnapshot.text(header.fresh_semaphore)
        guard !queue.isEmpty, !semaphore.isEmpty else { return .failure(StaleReason("this minderd takes no requests for fresh numbers")) }
        guard let sem = mn_sem_open(semaphore) else {
            return .failure(StaleReason("cannot open \(semaphore): \(String(cString: strerror(errno)))"))
        }
        let mq = mn_mq_open_writer(queue)
        guard mq >= 0 else {
            mn_sem_close(sem)
            return .failure(StaleReason("cannot open \(queue): \(String(cString: strerror(errno)))"))
        }
        defer { _ = mn_mq_close(mq) }
        // A full queue drains as soon as minderd's loop turns: wait for room, with a bound.
        guard mn_mq_timedsend(mq, "?", 1, 1000) == 0 else {
            mn_sem_close(sem)
            return .failure(StaleReason("cannot send to \(queue): \(String(cString: strerror(errno)))"))
        }
        return .success(sem)
    }

    struct StaleReason: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private static func copy(_ name: String, fd: Int32, header: minder_stats_header, writable: Bool) throws(CtlError) -> Snapshot {
        guard let sem = mn_sem_open(StatsSnapshot.text(header.semaphore)) else {
            throw CtlError(description: "cannot open the stats semaphore: \(String(cString: strerror(errno)))")
        }
        defer { mn_sem_close(sem) }
        guard mn_sem_timedwait_ms(sem, 2000) == 0 else {
            throw CtlError(description: "the stats semaphore stayed busy for 2 s (held by pid \(header.semaphore_holder))")
        }
        if writable { _ = mn_stats_set_holder(fd, getpid()) }
        var st = stat()
        let size = fstat(fd, &st) == 0 ? min(Int(st.st_size), StatsSnapshot.maxBytes) : 0
        var bytes = [UInt8](repeating: 0, count: max(0, size))
        let got = mn_stats_pread(fd, &bytes, bytes.count)
        if writable { _ = mn_stats_set_holder(fd, 0) }
        _ = mn_sem_post(sem)
        let copy = Array(bytes.prefix(max(0, got)))
        do {
            return Snapshot(rows: try StatsSnapshot.rows(copy), header: try StatsSnapshot.header(copy))
        } catch {
            throw CtlError(description: "\(name): \(error)")
        }
    }
}
