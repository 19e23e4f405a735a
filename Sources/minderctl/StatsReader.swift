// Reading the stats segment as any reader should (docs/stats.md): take the
// semaphore named in the header with a timeout, record our pid as its holder,
// copy, release; then check every slot's checksum on the copy.

import CMinder
import Foundation
import MinderControl

struct StatsRow: Codable {
    var group: String
    var name: String
    var namespec: String
    var state: Int
    var statename: String
    var pid: Int32
    var start_time: Double
    var last_change: Double
    var restarts: UInt32
    var exit_status: Int32
    var spawn_error: String
    var sequence: UInt64
    var cpu_user: Double
    var cpu_system: Double
    var rss_bytes: UInt64
    var open_fds: UInt32
    var threads: UInt32
}

enum StatsReader {
    static let stateNames = [0: "STOPPED", 10: "STARTING", 20: "RUNNING", 30: "BACKOFF", 40: "STOPPING",
                             100: "EXITED", 200: "FATAL", 1000: "UNKNOWN"]

    static func text<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static func read(_ name: String) throws(CtlError) -> [StatsRow] {
        for _ in 0..<3 {
            var length: UInt64 = 0
            guard let base = mn_stats_map(name, &length) else {
                throw CtlError(description: "cannot open the stats segment \(name): \(String(cString: strerror(errno))) (is minderd running with this config?)")
            }
            defer { mn_stats_unmap(base, length) }
            let header = base.assumingMemoryBound(to: minder_stats_header.self)
            guard header.pointee.magic == MINDER_STATS_MAGIC, header.pointee.version == MINDER_STATS_VERSION else {
                throw CtlError(description: "\(name) is not a Minder stats segment of layout version \(MINDER_STATS_VERSION)")
            }
            if header.pointee.retired != 0 { continue }  // replaced meanwhile: map the name again
            guard let sem = mn_sem_open(text(header.pointee.semaphore)) else {
                throw CtlError(description: "cannot open the stats semaphore: \(String(cString: strerror(errno)))")
            }
            defer { mn_sem_close(sem) }
            guard mn_sem_timedwait_ms(sem, 2000) == 0 else {
                throw CtlError(description: "the stats semaphore stayed busy for 2 s (held by pid \(header.pointee.semaphore_holder))")
            }
            header.pointee.semaphore_holder = getpid()
            let copy = UnsafeMutableRawPointer.allocate(byteCount: Int(length), alignment: 16)
            defer { copy.deallocate() }
            copy.copyMemory(from: base, byteCount: Int(length))
            header.pointee.semaphore_holder = 0
            _ = mn_sem_post(sem)

            let h = copy.assumingMemoryBound(to: minder_stats_header.self).pointee
            var rows: [StatsRow] = []
            for i in 0..<h.slot_count {
                let slot = minder_stats_slot_at(copy, i)!
                guard slot.pointee.sequence > 0 else { continue }
                guard minder_stats_checksum(slot) == slot.pointee.checksum else {
                    throw CtlError(description: "slot \(i) of \(name) fails its checksum")
                }
                let s = slot.pointee
                let group = text(s.group), proc = text(s.name)
                rows.append(StatsRow(group: group, name: proc, namespec: group == proc ? proc : "\(group):\(proc)",
                                     state: Int(s.state), statename: stateNames[Int(s.state)] ?? "UNKNOWN", pid: s.pid,
                                     start_time: s.start_time, last_change: s.last_change, restarts: s.restarts,
                                     exit_status: s.exit_status, spawn_error: text(s.spawn_error), sequence: s.sequence,
                                     cpu_user: s.cpu_user, cpu_system: s.cpu_system, rss_bytes: s.rss_bytes,
                                     open_fds: s.open_fds, threads: s.threads))
            }
            return rows.sorted { ($0.group, $0.name) < ($1.group, $1.name) }
        }
        throw CtlError(description: "the stats segment \(name) keeps being replaced")
    }
}
