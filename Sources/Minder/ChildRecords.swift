// The children a minderd runs, on disk beside its pidfile, so that the next minderd on the same
// config can stop those a killed one left behind instead of starting second copies
// (docs/lifecycle.md). Only minderd's user writes the file (mode 0600), and a pid in it is
// touched only when its start time and owner, and the boot, all still match: a pid reused by
// another process is left alone. The executable is recorded and logged but not matched: a
// program that is a wrapper (`sh -c '...; exec server'`) keeps its pid and start time across
// the exec, and the record may have been taken before it.

import CMinder
import Dispatch
import Glibc
import Logging
import MinderConfig
import MinderControl
import NIOConcurrencyHelpers

struct ChildRecord: Codable, Equatable {
    var pid: Int32
    /// Clock ticks after boot, /proc/PID/stat's starttime.
    var start: UInt64
    var uid: UInt32
    var exe: String
    var namespec: String
    var stopsignal: Int32
    var stopwaitsecs: Int
    var stopasgroup: Bool

    /// As JSON.encode writes it (keys sorted), without Codable's per-record tables: the file is
    /// written after every burst of spawns, with a record per running process.
    func json() -> [UInt8] {
        var w = JSONRecordWriter(out: [])
        w.string("exe", exe)
        w.string("namespec", namespec)
        w.number("pid", Int(pid))
        w.number("start", Int(clamping: start))
        w.bool("stopasgroup", stopasgroup)
        w.number("stopsignal", Int(stopsignal))
        w.number("stopwaitsecs", stopwaitsecs)
        w.number("uid", Int(uid))
        return w.finish()
    }

    /// The identity of `pid` now, or nil when it is gone.
    static func identity(_ pid: Int32) -> (start: UInt64, uid: UInt32, exe: String)? {
        var start: UInt64 = 0, uid: UInt32 = 0
        var exe = [CChar](repeating: 0, count: 4096)
        guard mn_proc_identity(pid, &start, &uid, &exe, exe.count) == 0 else { return nil }
        return (start, uid, String(decoding: exe.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}

final class ChildRecords {
    struct File: Codable {
        var boot: String
        var children: [ChildRecord]

        func json() -> [UInt8] {
            var w = JSONRecordWriter(out: [])
            w.string("boot", boot)
            w.raw("children", children.map { $0.json() })
            return w.finish()
        }
    }

    let path: String
    /// The loop changes the list; the writer queue encodes and writes its latest state, once
    /// for however many changes came meanwhile, and at most once per `spacing`: a start of 1000
    /// programs costs the loop no encoding and the disk a handful of writes, not one rewrite of
    /// the whole table per spawn (which took a core from the spawning). A change after a quiet
    /// spell is written at once; a killed minderd can miss only the last `spacing` of a burst.
    /// `pending` is the write that waits for its time, which `remove()` cancels: no write may run
    /// while minderd exits.
    private let state = Locked((children: [Int32: ChildRecord](), pending: DispatchWorkItem?.none, lastWrite: UInt64(0),
                                closed: false))
    private let writer = DispatchQueue(label: "minder-child-records")
    static let spacing: UInt64 = 100_000_000

    init(pidfile: String) { path = pidfile + ".children" }

    static let boot: String = bootID()

    static func bootID() -> String {
        String(decoding: (try? SystemFileSystem().readFile("/proc/sys/kernel/random/boot_id")) ?? [], as: UTF8.self)
            .pyStrip()
    }

    /// The child's identity (its /proc files) is read by the writer, off the supervisor's loop;
    /// until then its start is 0, which no process has.
    func spawned(_ pid: Int32, namespec: String, config p: ProcessConfigSummary) {
        let record = ChildRecord(pid: pid, start: 0, uid: 0, exe: "", namespec: namespec,
                                 stopsignal: p.stopsignal, stopwaitsecs: p.stopwaitsecs, stopasgroup: p.stopasgroup)
        change { $0[pid] = record }
    }

    func reaped(_ pid: Int32) {
        change { $0.removeValue(forKey: pid) }
    }

    private func change(_ edit: (inout [Int32: ChildRecord]) -> Void) {
        let now = DispatchTime.now().uptimeNanoseconds
        let path = path, state = state
        // A write is made only when none waits already: most changes of a burst just edit the table.
        let scheduled = state.withLock { s -> (DispatchWorkItem, UInt64)? in
            edit(&s.children)
            guard s.pending == nil, !s.closed else { return nil }
            let item = DispatchWorkItem { Self.write(path: path, state: state) }
            s.pending = item
            return (item, max(now, s.lastWrite + Self.spacing))
        }
        guard let (item, due) = scheduled else { return }
        writer.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: due), execute: item)
    }

    /// On the writer queue: the table's latest state, with the identities of new children read now.
    private static func write(path: String, state: Locked<(children: [Int32: ChildRecord], pending: DispatchWorkItem?,
                                                           lastWrite: UInt64, closed: Bool)>) {
        let children = state.withLock { s -> [Int32: ChildRecord]? in
            s.pending = nil
            s.lastWrite = DispatchTime.now().uptimeNanoseconds
            return s.closed ? nil : s.children
        }
        guard let children else { return }
        var identified: [Int32: ChildRecord] = [:]
        for (pid, record) in children where record.start == 0 {
            guard let id = ChildRecord.identity(pid) else { continue }  // gone already: nothing to record
            var record = record
            (record.start, record.uid, record.exe) = (id.start, id.uid, id.exe)
            identified[pid] = record
        }
        // Kept for the next write, unless the child was reaped meanwhile.
        state.withLock { s in
            for (pid, record) in identified where s.children[pid]?.start == 0 { s.children[pid] = record }
        }
        let known = children.values.compactMap { $0.start != 0 ? $0 : identified[$0.pid] }
        let bytes = File(boot: boot, children: known.sorted { $0.pid < $1.pid }).json()
        let temporary = path + ".new"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written == bytes.count { rename(temporary, path) } else { unlink(temporary) }
    }

    /// After a clean shutdown nothing is left to find.
    func remove() {
        state.withLock { $0.closed = true; return $0.pending }?.cancel()
        writer.sync {}
        unlink(path)
    }

    /// At start-up, before any program starts: what an earlier minderd of this config left
    /// running is stopped with its own stopsignal, and SIGKILL after its stopwaitsecs; or, unless
    /// `stop`, named in the log and left alone.
    static func stopLeftovers(pidfile: String, stop: Bool = true, logger: Logger) {
        let path = pidfile + ".children"
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_uid == geteuid(), st.st_mode & 0o077 == 0, st.st_size < 16 << 20 else {
            close(fd)
            logger.warning("ignoring \(path): not minderd's own file (owner or mode)")
            return
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(path) }
        guard n == bytes.count, let file = try? JSON.decode(File.self, bytes), file.boot == boot else { return }
        var stopping: [(record: ChildRecord, pidfd: Int32)] = []
        for r in file.children {
            guard r.pid > 1, let id = ChildRecord.identity(r.pid), id.start == r.start, id.uid == r.uid else { continue }
            guard stop else {
                logger.warning("found \(r.namespec) (pid \(r.pid), \(id.exe)) left running by an earlier minderd of this config; leaving it, as leftover_children=leave asks")
                continue
            }
            let pidfd = mn_pidfd_open(r.pid)
            guard pidfd >= 0 else { continue }
            logger.warning("found \(r.namespec) (pid \(r.pid), \(id.exe)) left running by an earlier minderd of this config; stopping it with SIG\(Signals.name(of: r.stopsignal) ?? String(r.stopsignal))")
            kill(r.stopasgroup ? -r.pid : r.pid, r.stopsignal)
            stopping.append((r, pidfd))
        }
        for (r, pidfd) in stopping {
            if mn_wait_readable(pidfd, Int32(clamping: r.stopwaitsecs * 1000)) == 0 {
                logger.warning("killing \(r.namespec) (pid \(r.pid)), left by an earlier minderd, with SIGKILL")
                kill(r.stopasgroup ? -r.pid : r.pid, SIGKILL)
                _ = mn_wait_readable(pidfd, 5000)
            }
            close(pidfd)
        }
    }
}

/// What a record keeps of a program's config.
struct ProcessConfigSummary {
    var stopsignal: Int32
    var stopwaitsecs: Int
    var stopasgroup: Bool
}
