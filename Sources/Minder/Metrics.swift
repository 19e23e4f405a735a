// GET /metrics: Prometheus' text exposition format (0.0.4), rendered straight from the status
// board on the server's thread. No metrics library: the board already holds every value, and a
// scrape of 1000 processes is one pass writing bytes into one buffer (docs/metrics.md).

import CMinder
#if canImport(Glibc)
import Glibc
#endif
import MinderControl

/// The last /proc sample of a running process (stats_interval).
struct ResourceSample: Sendable, Equatable {
    var cpuSeconds: Double
    var residentBytes: UInt64
    var openFDs: UInt32
    var threads: UInt32
}

enum Metrics {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// One family: its help, type, and a sample per process (nil leaves the process out).
    private static func family(_ out: inout [UInt8], _ name: String, _ type: String, _ help: String,
                               _ processes: [(status: ProcessStatus, sample: ResourceSample?)],
                               _ value: (ProcessStatus, ResourceSample?) -> Double?) {
        out += Array("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8)
        for (status, sample) in processes {
            guard let v = value(status, sample) else { continue }
            out += Array(name.utf8)
            out += Array("{group=\"".utf8)
            escape(status.group, into: &out)
            out += Array("\",name=\"".utf8)
            escape(status.name, into: &out)
            out += Array("\"} ".utf8)
            number(v, into: &out)
            out.append(10)
        }
    }

    private static func single(_ out: inout [UInt8], _ name: String, _ type: String, _ help: String, _ value: Double,
                               labels: String = "") {
        out += Array("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name)\(labels) ".utf8)
        number(value, into: &out)
        out.append(10)
    }

    /// A label value as the format wants it: backslash, double quote and newline escaped.
    static func escape(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out += [92, 92]
            case UInt8(ascii: "\""): out += [92, 34]
            case 10: out += [92, UInt8(ascii: "n")]
            default: out.append(byte)
            }
        }
    }

    static func number(_ v: Double, into out: inout [UInt8]) {
        if v == v.rounded(), abs(v) < 9_007_199_254_740_992 {
            out += Array(String(Int64(v)).utf8)
        } else {
            out += Array(String(v).utf8)
        }
    }

    static func render(_ processes: [(status: ProcessStatus, sample: ResourceSample?)], daemon: ResourceSample?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + processes.count * 900)
        let running: Set<String> = ["RUNNING", "STARTING", "STOPPING"]
        family(&out, "minder_process_up", "gauge", "1 while the process runs (STARTING, RUNNING or STOPPING), else 0.", processes) { s, _ in
            running.contains(s.statename) ? 1 : 0
        }
        family(&out, "minder_process_state", "gauge",
               "supervisord's state code: 0 STOPPED, 10 STARTING, 20 RUNNING, 30 BACKOFF, 40 STOPPING, 100 EXITED, 200 FATAL, 1000 UNKNOWN.",
               processes) { s, _ in Double(s.state) }
        family(&out, "minder_process_start_time_seconds", "gauge", "When the process was last started, in Unix seconds; 0 if never.",
               processes) { s, _ in s.start }
        family(&out, "minder_process_restarts_total", "counter", "Spawns after the first.", processes) { s, _ in Double(s.restarts) }
        family(&out, "minder_process_exit_status", "gauge", "The last exit code (-1 after a signal), as supervisord reports it.",
               processes) { s, _ in Double(s.exitstatus) }
        family(&out, "minder_process_log_written_bytes_total", "counter", "Output that reached the process's log targets.",
               processes) { s, _ in Double(s.log_bytes_written) }
        family(&out, "minder_process_log_dropped_bytes_total", "counter",
               "Output lost on the way to the log targets (a full disk, a reader that left).", processes) { s, _ in
            Double(s.log_bytes_dropped)
        }
        family(&out, "minder_process_cpu_seconds_total", "counter", "CPU time of the running process, user and system, at the last sample.",
               processes) { _, r in r.map(\.cpuSeconds) }
        family(&out, "minder_process_resident_memory_bytes", "gauge", "Resident memory of the running process at the last sample.",
               processes) { _, r in r.map { Double($0.residentBytes) } }
        family(&out, "minder_process_open_fds", "gauge", "Open descriptors of the running process at the last sample.",
               processes) { _, r in r.map { Double($0.openFDs) } }
        family(&out, "minder_process_threads", "gauge", "Threads of the running process at the last sample.",
               processes) { _, r in r.map { Double($0.threads) } }
        if let daemon {
            single(&out, "minder_daemon_cpu_seconds_total", "counter", "minderd's own CPU time, user and system.", daemon.cpuSeconds)
            single(&out, "minder_daemon_resident_memory_bytes", "gauge", "minderd's own resident memory.", Double(daemon.residentBytes))
            single(&out, "minder_daemon_open_fds", "gauge", "minderd's own open descriptors.", Double(daemon.openFDs))
        }
        single(&out, "minder_build_info", "gauge", "Minder's version, as a label.", 1, labels: "{version=\"\(MinderVersion.current)\"}")
        return out
    }

    /// minderd's own sample, read now from /proc.
    static func ownSample() -> ResourceSample? {
        var user: UInt64 = 0, system: UInt64 = 0, rss: UInt64 = 0
        var threads: UInt32 = 0, fds: UInt32 = 0
        guard mn_proc_sample(getpid(), &user, &system, &threads, &rss, &fds) == 0 else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ResourceSample(cpuSeconds: Double(user + system) / ticks, residentBytes: rss * UInt64(sysconf(Int32(_SC_PAGESIZE))),
                              openFDs: fds, threads: threads)
    }
}
