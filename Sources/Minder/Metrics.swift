// GET /metrics: Prometheus' text exposition format (0.0.4), rendered straight from the status
// board on the server's thread. No metrics library: the board already holds every value, and a
// scrape of 1000 processes is one pass writing bytes into one buffer (docs/metrics.md).

import CMinder
#if canImport(Glibc)
import Glibc
#endif
import MinderControl
import MinderConfig

/// The last /proc sample of a running process (stats_interval).
struct ResourceSample: Sendable, Equatable {
    var cpuSeconds: Double
    var residentBytes: UInt64
    var openFDs: UInt32
    var threads: UInt32
}

enum Metrics {
    /// One process as /metrics sees it: its status, its last sample (nil unless it runs), its exits.
    typealias Row = (status: ProcessStatus, sample: ResourceSample?, exits: ExitCounts)

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    static let openMetricsType = "application/openmetrics-text; version=1.0.0; charset=utf-8"

    /// OpenMetrics when the scraper lists it in Accept (Prometheus does, first), else the text format.
    static func wantsOpenMetrics(_ accept: String?) -> Bool {
        accept?.lowercased().includes("application/openmetrics-text") ?? false
    }

    /// The family's metadata: OpenMetrics names a counter's family without its `_total`.
    private static func header(_ out: inout [UInt8], _ name: String, _ type: String, _ help: String, _ open: Bool) {
        let family = open && type == "counter" && name.hasSuffix("_total") ? String(name.dropLast(6)) : name
        out += Array("# HELP \(family) \(help)\n# TYPE \(family) \(type)\n".utf8)
    }

    /// One family: its help, type, and a sample per process (nil leaves the process out).
    private static func family(_ out: inout [UInt8], _ open: Bool, _ name: String, _ type: String, _ help: String,
                               _ processes: [Row], _ value: (ProcessStatus, ResourceSample?) -> Double?) {
        header(&out, name, type, help, open)
        for (status, sample, _) in processes {
            guard let v = value(status, sample) else { continue }
            sampleStart(&out, name, status)
            out += Array("\"} ".utf8)
            number(v, into: &out)
            out.append(10)
        }
    }

    /// `name{group="...",name="...` (the closing quote and brace are the caller's).
    private static func sampleStart(_ out: inout [UInt8], _ name: String, _ status: ProcessStatus) {
        out += Array(name.utf8)
        out += Array("{group=\"".utf8)
        escape(status.group, into: &out)
        out += Array("\",name=\"".utf8)
        escape(status.name, into: &out)
    }

    /// minder_process_exits_total: two samples per process, `expected="true"` and `"false"`.
    private static func exits(_ out: inout [UInt8], _ open: Bool, _ processes: [Row]) {
        let name = "minder_process_exits_total"
        header(&out, name, "counter",
               "Exits of the process. Expected: from RUNNING with a code in exitcodes, or after a stop Minder asked for; a too-quick exit never is.",
               open)
        for (status, _, exits) in processes {
            sampleStart(&out, name, status)
            out += Array("\",expected=\"true\"} ".utf8)
            number(Double(exits.expected), into: &out)
            out.append(10)
            sampleStart(&out, name, status)
            out += Array("\",expected=\"false\"} ".utf8)
            number(Double(exits.unexpected), into: &out)
            out.append(10)
        }
    }

    private static func single(_ out: inout [UInt8], _ open: Bool, _ name: String, _ type: String, _ help: String, _ value: Double,
                               labels: String = "") {
        header(&out, name, type, help, open)
        out += Array("\(name)\(labels) ".utf8)
        number(value, into: &out)
        out.append(10)
    }

    /// A daemon-wide family with one label, a sample per value (the values are fixed words).
    private static func labelled(_ out: inout [UInt8], _ open: Bool, _ name: String, _ type: String, _ help: String,
                                 _ label: String, _ values: [(String, UInt64)]) {
        guard !values.isEmpty else { return }
        header(&out, name, type, help, open)
        for (value, count) in values {
            out += Array("\(name){\(label)=\"\(value)\"} ".utf8)
            number(Double(count), into: &out)
            out.append(10)
        }
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

    /// `openMetrics`: OpenMetrics 1.0 (counter families without `_total`, build info as an info
    /// metric, `# EOF` at the end), else Prometheus' text format 0.0.4.
    static func render(_ processes: [Row], spawnFailures: UInt64 = 0, events: EventCounts = EventCounts(),
                       requests: [(String, UInt64)] = [], daemon: ResourceSample?, openMetrics open: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512 + processes.count * 1100)
        let running: Set<String> = ["RUNNING", "STARTING", "STOPPING"]
        family(&out, open, "minder_process_up", "gauge", "1 while the process runs (STARTING, RUNNING or STOPPING), else 0.", processes) { s, _ in
            running.contains(s.statename) ? 1 : 0
        }
        family(&out, open, "minder_process_state", "gauge",
               "supervisord's state code: 0 STOPPED, 10 STARTING, 20 RUNNING, 30 BACKOFF, 40 STOPPING, 100 EXITED, 200 FATAL, 1000 UNKNOWN.",
               processes) { s, _ in Double(s.state) }
        family(&out, open, "minder_process_ready", "gauge", "With ready=: 1 once the process said it is ready (or its probe passed), else 0.",
               processes) { s, _ in s.ready.map { $0 ? 1 : 0 } }
        family(&out, open, "minder_process_healthy", "gauge", "With health_check=: 1 while its checks pass, else 0.", processes) { s, _ in
            s.healthy.map { $0 ? 1 : 0 }
        }
        family(&out, open, "minder_process_start_time_seconds", "gauge", "When the process was last started, in Unix seconds; 0 if never.",
               processes) { s, _ in s.start }
        family(&out, open, "minder_process_restarts_total", "counter", "Spawns after the first.", processes) { s, _ in Double(s.restarts) }
        family(&out, open, "minder_process_exit_status", "gauge", "The last exit code (-1 after a signal), as supervisord reports it.",
               processes) { s, _ in Double(s.exitstatus) }
        exits(&out, open, processes)
        family(&out, open, "minder_process_log_written_bytes_total", "counter", "Output that reached the process's log targets.",
               processes) { s, _ in Double(s.log_bytes_written) }
        family(&out, open, "minder_process_log_dropped_bytes_total", "counter",
               "Output lost on the way to the log targets (a full disk, a reader that left).", processes) { s, _ in
            Double(s.log_bytes_dropped)
        }
        family(&out, open, "minder_process_cpu_seconds_total", "counter", "CPU time of the running process, user and system, at the last sample.",
               processes) { _, r in r.map(\.cpuSeconds) }
        family(&out, open, "minder_process_resident_memory_bytes", "gauge", "Resident memory of the running process at the last sample.",
               processes) { _, r in r.map { Double($0.residentBytes) } }
        family(&out, open, "minder_process_open_fds", "gauge", "Open descriptors of the running process at the last sample.",
               processes) { _, r in r.map { Double($0.openFDs) } }
        family(&out, open, "minder_process_threads", "gauge", "Threads of the running process at the last sample.",
               processes) { _, r in r.map { Double($0.threads) } }
        single(&out, open, "minder_spawn_failures_total", "counter",
               "Spawns of any process that failed before its program ran (each a spawnerr line in the main log).", Double(spawnFailures))
        single(&out, open, "minder_events_total", "counter", "State events posted.", Double(events.posted))
        labelled(&out, open, "minder_events_dropped_total", "counter",
                 "Events lost: taken off the full main queue, not kept up with by a stream follower, taken off a subscriber's full queue.",
                 "where", [("queue", events.queueDropped), ("stream", events.streamDropped), ("subscribers", events.subscriberDropped)])
        labelled(&out, open, "minder_control_requests_total", "counter", "Replies of the control API, XML-RPC and /metrics, by status class.",
                 "code", requests)
        if let daemon {
            single(&out, open, "minder_daemon_cpu_seconds_total", "counter", "minderd's own CPU time, user and system.", daemon.cpuSeconds)
            single(&out, open, "minder_daemon_resident_memory_bytes", "gauge", "minderd's own resident memory.", Double(daemon.residentBytes))
            single(&out, open, "minder_daemon_open_fds", "gauge", "minderd's own open descriptors.", Double(daemon.openFDs))
        }
        if open {
            out += Array("# HELP minder_build Minder's version, as a label.\n# TYPE minder_build info\n".utf8)
            out += Array("minder_build_info{version=\"\(MinderVersion.current)\"} 1\n# EOF\n".utf8)
        } else {
            single(&out, open, "minder_build_info", "gauge", "Minder's version, as a label.", 1,
                   labels: "{version=\"\(MinderVersion.current)\"}")
        }
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
