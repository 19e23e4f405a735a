// `minderd --check-config --json`: the verdict in the shape of the
// supervisord corpus's expected/ files, so the two compare key by key.

public enum Verdict {
    public static func json(_ result: ConfigLoadResult) -> JSONValue {
        let diagnostics: [(String, JSONValue)] = [
            ("warnings", .array(result.warnings.map { .string($0.description) })),
            ("notes", .array(result.notes.map { .string($0.description) })),
        ]
        guard let config = result.config else {
            let errors = result.errors.map { JSONValue.string($0.description) }
            return .object([("ok", .bool(false)), ("error", errors.first ?? .string("rejected")), ("errors", .array(errors))]
                + diagnostics)
        }
        var out: [(String, JSONValue)] = [
            ("ok", .bool(true)),
            ("groups", .array(config.groups.map(group))),
            ("supervisord", supervisord(config.supervisord)),
            ("servers", .array(config.servers.map(server))),
            ("rpcinterfaces", .array(config.rpcInterfaces.map(JSONValue.string))),
            ("sections", .array(config.sections.map(JSONValue.string))),
        ]
        out += diagnostics
        return .object(out)
    }

    static func group(_ g: GroupConfig) -> JSONValue {
        var out: [(String, JSONValue)] = [
            ("name", .string(g.name)), ("priority", .int(g.priority)), ("type", .string(g.kind.rawValue)),
        ]
        if let listener = g.eventListener {
            out += [
                ("buffer_size", .int(listener.bufferSize)),
                ("events", .array(listener.events.map(JSONValue.string))),
                ("result_handler", .string(listener.resultHandler)),
            ]
        }
        if g.kind == .fcgiProgram {
            let socket: JSONValue = g.fcgiSocket.map { s in
                .object([
                    ("url", .string(s.url)),
                    ("owner", s.owner.map { .array([.int($0.uid), .int($0.gid)]) } ?? .null),
                    ("mode", s.mode.map { .string(octal($0, width: 4)) } ?? .null),
                    ("backlog", s.backlog.map(JSONValue.int) ?? .null),
                ])
            } ?? .null
            out.append(("socket", socket))
        }
        out.append(("processes", .array(g.processes.map(process))))
        return .object(out)
    }

    static func process(_ p: ProcessConfig) -> JSONValue {
        let autorestart: JSONValue = switch p.autorestart {
        case .always: .bool(true)
        case .never: .bool(false)
        case .unexpected: .string("unexpected")
        }
        var out: [(String, JSONValue)] = [
            ("name", .string(p.name)),
            ("command", .string(p.command)),
            ("argv", p.argv.map { .array($0.map(JSONValue.string)) } ?? .null),
            ("priority", .int(p.priority)),
            ("autostart", .bool(p.autostart)),
            ("autorestart", autorestart),
            ("startsecs", .int(p.startsecs)),
            ("startretries", .int(p.startretries)),
            ("exitcodes", .array(p.exitcodes.map(JSONValue.int))),
            ("stopsignal", Signals.name(of: p.stopsignal).map(JSONValue.string) ?? .null),
            ("stopsignal_number", .int(Int(p.stopsignal))),
            ("stopwaitsecs", .int(p.stopwaitsecs)),
            ("stopasgroup", .bool(p.stopasgroup)),
            ("killasgroup", .bool(p.killasgroup)),
            ("user", p.user.map(JSONValue.string) ?? .null),
            ("uid", p.uid.map { .int(Int($0)) } ?? .null),
            ("directory", p.directory.map(JSONValue.string) ?? .null),
            ("umask", p.umask.map { .string(octal($0, width: 3)) } ?? .null),
            ("redirect_stderr", .bool(p.redirectStderr)),
        ]
        for (name, log) in [("stdout", p.stdout), ("stderr", p.stderr)] {
            let target: JSONValue = switch log.target {
            case .auto: .string("auto")
            case .none: .string("none")
            case .path(let path): .string(path)
            }
            out += [
                ("\(name)_logfile", target),
                ("\(name)_logfile_maxbytes", .int(log.maxBytes)),
                ("\(name)_logfile_backups", .int(log.backups)),
                ("\(name)_capture_maxbytes", .int(log.captureMaxBytes)),
                ("\(name)_events_enabled", .bool(log.eventsEnabled)),
                ("\(name)_syslog", .bool(log.syslog)),
            ]
        }
        out += [
            ("serverurl", p.serverurl.map(JSONValue.string) ?? .null),
            ("environment", environment(p.environment)),
        ]
        return .object(out)
    }

    static func supervisord(_ s: SupervisordSettings) -> JSONValue {
        .object([
            ("logfile", .string(s.logfile)),
            ("logfile_maxbytes", .int(s.logfileMaxBytes)),
            ("logfile_backups", .int(s.logfileBackups)),
            ("loglevel", .string(s.loglevel)),
            ("pidfile", .string(s.pidfile)),
            ("nodaemon", .bool(s.nodaemon)),
            ("silent", .bool(s.silent)),
            ("minfds", .int(s.minfds)),
            ("minprocs", .int(s.minprocs)),
            ("umask", .string(octal(s.umask, width: 3))),
            ("user", s.user.map(JSONValue.string) ?? .null),
            ("uid", s.uid.map { .int(Int($0)) } ?? .null),
            ("directory", s.directory.map(JSONValue.string) ?? .null),
            ("identifier", .string(s.identifier)),
            ("childlogdir", .string(s.childlogdir)),
            ("nocleanup", .bool(s.nocleanup)),
            ("strip_ansi", .bool(s.stripAnsi)),
            ("environment", environment(s.environment)),
        ])
    }

    static func server(_ s: ServerConfig) -> JSONValue {
        switch s {
        case .unix(let u):
            return .object([
                ("section", .string(u.section)),
                ("username", u.username.map(JSONValue.string) ?? .null),
                ("password_set", .bool(u.password != nil)),
                ("family", .string("unix")),
                ("file", .string(u.file)),
                ("chmod", .string(octal(u.chmod, width: 4))),
                ("chown", .array([.int(u.chownUID), .int(u.chownGID)])),
            ])
        case .inet(let i):
            return .object([
                ("section", .string(i.section)),
                ("username", i.username.map(JSONValue.string) ?? .null),
                ("password_set", .bool(i.password != nil)),
                ("family", .string("inet")),
                ("host", .string(i.host)),
                ("port", .int(i.port)),
            ])
        }
    }

    static func environment(_ env: [String: String]) -> JSONValue {
        .object(env.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }

    static func octal(_ value: Int, width: Int) -> String {
        (value < 0 ? "-" : "") + String(value.magnitude, radix: 8).leftPadded(to: width)
    }

    /// The human summary: one line per process, in start order.
    public static func table(_ config: Config) -> String {
        let rows = config.groups.flatMap { g in
            g.processes.map { p in [g.name, p.name, String(p.priority), p.command.replacingAll("\n", with: " ")] }
        }
        let header = ["GROUP", "NAME", "PRIORITY", "COMMAND"]
        var widths = header.map(\.count)
        for row in rows { for i in 0..<3 { widths[i] = max(widths[i], row[i].count) } }
        func line(_ cells: [String]) -> String {
            (0..<3).map { cells[$0].padding(to: widths[$0]) }.joined(separator: "  ") + "  " + cells[3]
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

extension String {
    func padding(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
