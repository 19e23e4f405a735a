// Which options each section takes. supervisord ignores anything else without
// a word; Minder still accepts it (old configs keep working) but says so.

enum KnownOptions {
    static let supervisord: Set<String> = [
        "logfile", "logfile_maxbytes", "logfile_backups", "loglevel", "pidfile", "nodaemon", "minfds", "minprocs",
        "umask", "user", "directory", "identifier", "childlogdir", "nocleanup", "environment", "silent",
        "no_new_privs", "events_queue_maxmsg", "events_queue_msgsize", "stats_interval", "stats_group", "strip_ansi",
        "leftover_children", "syslog_server",
    ]

    static let program: Set<String> = {
        var options: Set<String> = [
            "command", "process_name", "numprocs", "numprocs_start", "priority", "autostart", "startsecs",
            "startretries", "autorestart", "exitcodes", "stopsignal", "stopwaitsecs", "stopasgroup", "killasgroup",
            "user", "redirect_stderr", "environment", "directory", "umask", "serverurl",
            // Minder's own: least privilege for each program.
            "group", "capabilities", "no_new_privs", "parent_death_signal", "rlimit_nofile", "rlimit_nproc", "rlimit_core", "rlimit_as",
            "rlimit_cpu", "environment_file", "syslog_server",
            // Minder's own: readiness (docs/readiness.md).
            "ready", "ready_timeout", "notify_access", "watchdog_sec", "health_check", "probe_interval", "probe_timeout",
            "probe_delay", "probe_failures", "probe_successes", "depends_on",
            // Minder's own: a container's main program (docs/deploy.md).
            "shutdown_when",
        ]
        for channel in ["stdout", "stderr"] {
            for suffix in ["logfile", "logfile_maxbytes", "logfile_backups", "capture_maxbytes", "events_enabled", "syslog"] {
                options.insert("\(channel)_\(suffix)")
            }
            // Minder's own: a timestamp at the start of each line of the log file.
            options.insert("\(channel)_log_timestamps")
            // Minder's own: a prefix on each line, for programs that share minderd's stdout.
            options.insert("\(channel)_prefix")
        }
        return options
    }()
    static let eventListener = program.union(["events", "buffer_size", "result_handler"])
    static let fcgiProgram = program.union(["socket", "socket_backlog", "socket_owner", "socket_mode"])
    static let group: Set<String> = ["programs", "priority"]
    static let include: Set<String> = ["files"]
    static let unixHTTPServer: Set<String> = ["file", "chmod", "chown", "username", "password"]
    static let inetHTTPServer: Set<String> = ["port", "username", "password"]
    static let supervisorctl: Set<String> = ["serverurl", "username", "password", "prompt", "history_file"]

    /// The options a section takes, by its name; nil for sections whose keys are free-form or unknown.
    static func options(forSection section: String) -> Set<String>? {
        if section == "supervisord" { return supervisord }
        if section.hasPrefix("program:") { return program }
        if section.hasPrefix("eventlistener:") { return eventListener }
        if section.hasPrefix("fcgi-program:") { return fcgiProgram }
        if section.hasPrefix("group:") { return group }
        if section == "include" { return include }
        if section.hasPrefix("unix_http_server") { return unixHTTPServer }
        if section.hasPrefix("inet_http_server") { return inetHTTPServer }
        if section == "supervisorctl" { return supervisorctl }
        return nil
    }

    static let everyOption: Set<String> = supervisord
        .union(eventListener).union(fcgiProgram).union(group).union(include)
        .union(unixHTTPServer).union(inetHTTPServer).union(supervisorctl)

    /// A close known name, for "did you mean" (edit distance at most 2, or a dropped/added underscore).
    static func suggestion(for option: String, among known: Set<String>) -> String? {
        let squashed = option.replacingAll("_", with: "")
        if let same = known.sorted().first(where: { $0.replacingAll("_", with: "") == squashed }) { return same }
        let scored = known.map { ($0, editDistance(option, $0)) }.filter { $0.1 <= 2 }
        return scored.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
