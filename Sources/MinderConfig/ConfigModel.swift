// The effective configuration: what a parsed and expanded supervisord-style
// file means, with supervisord's defaults filled in.

import Glibc  // inet_pton, for probe addresses

public enum LogTarget: Sendable, Equatable {
    /// No log file (NONE/OFF).
    case none
    /// A file under childlogdir, named when the process is spawned (AUTO).
    case auto
    case path(String)
}

public struct ChannelLog: Sendable, Equatable {
    public var target: LogTarget = .auto
    public var maxBytes = 50 * 1024 * 1024
    public var backups = 10
    public var captureMaxBytes = 0
    public var eventsEnabled = false
    public var syslog = false
    /// Minder's `stdout_log_timestamps=` / `stderr_log_timestamps=`: each line written to the log
    /// file starts with the main log's timestamp.
    public var timestamps = false
    /// Minder's `stdout_prefix=` / `stderr_prefix=`: what each line written to the log target
    /// starts with (the text given and a space); empty for none.
    public var prefix = ""
}

/// One process: a program section expands to numprocs of these.
public struct ProcessConfig: Sendable, Equatable {
    public var name: String
    /// The section's own name (the x in [program:x]).
    public var programName: String
    public var processNum: Int
    public var command: String
    /// The command split as it will be executed; nil when it cannot be split.
    public var argv: [String]?
    public var priority = 999
    public var autostart = true
    public var autorestart = AutoRestart.unexpected
    public var startsecs = 1
    public var startretries = 3
    public var exitcodes = [0]
    public var stopsignal: Int32 = 15
    public var stopwaitsecs = 10
    public var stopasgroup = false
    public var killasgroup = false
    public var user: String?
    public var uid: UInt32?
    public var directory: String?
    public var umask: Int?
    public var redirectStderr = false
    public var stdout = ChannelLog()
    public var stderr = ChannelLog()
    /// What the child gets on top of minderd's environment: [supervisord]'s, overlaid by the program's.
    public var environment: [String: String] = [:]
    /// SUPERVISOR_SERVER_URL for the child; nil means AUTO.
    public var serverurl: String?
    /// Minder's group=: the primary group instead of the user's.
    public var group: String?
    public var gid: UInt32?
    /// Minder's capabilities=: exactly these (numbers); nil when the option is absent.
    public var capabilities: [Int32]?
    public var noNewPrivs = false
    /// Minder's `parent_death_signal=`: the signal the kernel sends the process when minderd dies.
    public var parentDeathSignal: Int32?
    /// Minder's `syslog_server=`: where this program's syslog lines go instead of /dev/log.
    public var syslogServer: SyslogServer?
    /// Minder's `ready=` (docs/readiness.md): how the program says it is ready; nil: not tracked.
    public var ready: ReadySource?
    /// Minder's `ready_timeout=`: seconds from the spawn; a program not ready by then failed its start.
    public var readyTimeout = 90
    /// Minder's `notify_access=`: whose notifications count, as systemd's NotifyAccess=.
    public var notifyAccess = NotifyAccess.main
    /// Minder's `watchdog_sec=`: a `ready=notify` program must send WATCHDOG=1 this often (0: off).
    public var watchdogSec = 0
    /// Minder's `health_check=`: a probe whose failures restart the running program.
    public var healthCheck: Probe?
    public var probes = ProbeSettings()
    /// Minder's `depends_on=`: what must hold before this process starts (docs/readiness.md).
    public var dependsOn: [Dependency] = []
    /// Minder's `shutdown_when=`: whether this process ending shuts minderd down (docs/deploy.md).
    public var shutdownWhen = ShutdownWhen.never
    /// The ids a process of `user=` (and `group=`) runs with, supplementary groups included,
    /// looked up when the config is read so that spawning never waits for NSS. Set by minderd.
    public var identity: ProcessIdentity?
    public var rlimits: [ResourceLimit] = []
    /// Minder's environment_file=, already merged under `environment`.
    public var environmentFile: String?
    /// The section it comes from ([program:x], [fcgi-program:x], [eventlistener:x]).
    public var section: String
    public var location: SourceLocation

    /// Everything else starts at supervisord's default.
    public init(name: String, programName: String, processNum: Int, command: String, argv: [String]? = nil,
                section: String, location: SourceLocation) {
        self.name = name
        self.programName = programName
        self.processNum = processNum
        self.command = command
        self.argv = argv
        self.section = section
        self.location = location
    }
}

/// A per-program rlimit_* option.
public struct ProcessIdentity: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]

    public init(uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}

public struct ResourceLimit: Sendable, Equatable {
    /// The option's suffix: nofile, nproc, core, as, cpu.
    public var name: String
    /// RLIMIT_* number.
    public var resource: Int32
    /// -1: unlimited.
    public var soft: Int64
    public var hard: Int64
}

public enum GroupKind: String, Sendable, Equatable {
    /// A [program:x] section: a group of its numprocs processes.
    case program
    /// A [group:x] section gathering programs.
    case group
    case eventlistener
    case fcgiProgram = "fcgi-program"
}

public struct EventListenerSettings: Sendable, Equatable {
    public var events: [String]
    public var bufferSize: Int
    public var resultHandler: String
}

public struct FastCGISocket: Sendable, Equatable {
    public var url: String
    public var owner: (uid: Int, gid: Int)?
    public var mode: Int?
    public var backlog: Int?

    public static func == (a: Self, b: Self) -> Bool {
        a.url == b.url && a.owner?.uid == b.owner?.uid && a.owner?.gid == b.owner?.gid && a.mode == b.mode
            && a.backlog == b.backlog
    }
}

public struct GroupConfig: Sendable, Equatable {
    public var name: String
    public var kind: GroupKind
    public var priority: Int
    public var processes: [ProcessConfig]
    public var eventListener: EventListenerSettings?
    public var fcgiSocket: FastCGISocket?
    public var location: SourceLocation
    /// The section this group comes from ([program:x], [group:x], ...).
    public var section: String
}

public struct SupervisordSettings: Sendable, Equatable {
    public var logfile = "supervisord.log"
    public var logfileMaxBytes = 50 * 1024 * 1024
    public var logfileBackups = 10
    public var loglevel = "info"
    public var pidfile = "supervisord.pid"
    public var nodaemon = false
    public var silent = false
    public var minfds = 1024
    public var minprocs = 200
    public var umask = 0o022
    public var user: String?
    public var uid: UInt32?
    public var directory: String?
    public var identifier = "supervisor"
    public var childlogdir = "/tmp"
    /// Minder's default for every program's no_new_privs.
    public var noNewPrivs = false
    /// The state-event queue: messages it holds, and bytes per message.
    public var eventsQueueMaxmsg = 10
    public var eventsQueueMsgsize = 1024
    /// Seconds between samples of CPU, memory, descriptors and threads; 0: no sampling.
    public var statsInterval = 0
    /// A group given read-write access to the stats segment, its semaphore and the event queue.
    public var statsGroup: String?
    public var statsGID: UInt32?
    public var nocleanup = false
    public var stripAnsi = false
    /// Minder's `leftover_children=`: children of a killed minderd of this config, found at start-up.
    public enum LeftoverChildren: String, Sendable, Equatable { case stop, leave }
    public var leftoverChildren = LeftoverChildren.stop
    /// Minder's `syslog_server=`: every line meant for syslog goes there instead of /dev/log.
    public var syslogServer: SyslogServer?
    public var environment: [String: String] = [:]
}

/// A remote syslog collector: `udp://HOST:PORT`.
public struct SyslogServer: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The host's address (a sockaddr's bytes), looked up when minderd prepares the config; empty
    /// when it could not be.
    public var address: [UInt8] = []

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var url: String { "udp://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}

public enum ServerConfig: Sendable, Equatable {
    case unix(UnixServer)
    case inet(InetServer)
}

public struct UnixServer: Sendable, Equatable {
    public var section: String
    public var file: String
    public var chmod = 0o700
    /// -1 means unchanged, as in supervisord.
    public var chownUID = -1
    public var chownGID = -1
    public var username: String?
    public var password: String?
}

public struct InetServer: Sendable, Equatable {
    public var section: String
    /// Empty for every interface.
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?

    /// Only this host can reach it.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.unbracketed.lowercased()
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }
}

extension StringProtocol {
    /// A host without the brackets a URL puts around an IPv6 address.
    public var unbracketed: String {
        var host = self[...]
        while host.first == "[" { host.removeFirst() }
        while host.last == "]" { host.removeLast() }
        return String(host)
    }
}

/// The [supervisorctl] section, read for minderctl.
public struct ControlClientSettings: Sendable, Equatable {
    public var serverurl: String?
    public var username: String?
    public var password: String?
    public var prompt = "supervisor"
    public var historyFile: String?
}

public struct Config: Sendable, Equatable {
    /// The main file as given.
    public var path: String
    /// Its directory, absolute: what %(here)s means in the main file.
    public var here: String
    public var supervisord = SupervisordSettings()
    /// In supervisord's order: by priority, then name.
    public var groups: [GroupConfig] = []
    public var servers: [ServerConfig] = []
    public var control = ControlClientSettings()
    public var rpcInterfaces: [String] = []
    /// Every section, in the order first seen.
    public var sections: [String] = []
    /// Files read through [include], in order.
    public var includedFiles: [String] = []

    public var processes: [ProcessConfig] { groups.flatMap(\.processes) }

    public var unixServer: UnixServer? {
        for case .unix(let server) in servers { return server }
        return nil
    }

    public var inetServers: [InetServer] {
        servers.compactMap { if case .inet(let server) = $0 { server } else { nil } }
    }
}

/// Where a program's readiness comes from.
public enum ReadySource: Sendable, Equatable {
    /// systemd's protocol: READY=1 on the datagram socket named in NOTIFY_SOCKET.
    case notify
    /// s6's notification descriptor: the program writes a newline to descriptor N (3 to 9).
    case fd(Int32)
    /// A probe that succeeds `probe_successes` times in a row.
    case probe(Probe)
}

/// A check minderd makes itself, for readiness or health (docs/readiness.md).
public enum Probe: Sendable, Equatable, CustomStringConvertible {
    /// A TCP connection to an IPv4 or IPv6 address that is accepted.
    case tcp(host: String, port: Int)
    /// An HTTP/1.0 GET whose status is 200 to 399.
    case http(host: String, port: Int, path: String)
    /// A command, run by `/bin/sh -c` as the program's user with its environment, that exits 0.
    case exec(command: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): "tcp:\(Self.hostPort(host, port))"
        case .http(let host, let port, let path): "http://\(Self.hostPort(host, port))\(path)"
        case .exec(let command): "exec:\(command)"
        }
    }

    public static func hostPort(_ host: String, _ port: Int) -> String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// An IPv4 or IPv6 address, rather than a name to look up.
    public static func isAddress(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// One `depends_on=` entry: a group, a program or one `group:process`, and what it must reach.
public struct Dependency: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var condition: DependencyCondition

    public init(name: String, condition: DependencyCondition) {
        self.name = name
        self.condition = condition
    }

    public var description: String { "\(name):\(condition.rawValue)" }
}

/// What a dependency must reach before its dependent starts.
public enum DependencyCondition: String, Sendable, Equatable, CaseIterable {
    /// Spawned (STARTING or RUNNING), whatever its readiness.
    case started
    /// RUNNING and, with ready=, ready.
    case ready
    /// Ready and, with health_check=, healthy.
    case healthy
    /// Exited with one of its exitcodes after it ran (a one-shot set-up program).
    case completed
}

/// How often and how patiently a program's probes run (`probe_*=`), shared by readiness and health.
public struct ProbeSettings: Sendable, Equatable {
    public var interval = 1
    public var timeout = 1
    public var delay = 0
    public var failures = 3
    public var successes = 1
    public init() {}
}

/// Which processes may send a program's notifications (systemd's NotifyAccess=).
/// `shutdown_when=`: for a container whose reason to exist is one program.
public enum ShutdownWhen: String, Sendable, Equatable, Codable {
    case never
    /// The process ended by itself (EXITED, whatever the status) or gave up (FATAL).
    case exited
    /// The process is FATAL: it could not be started, or kept dying during its start.
    case fatal
}

public enum NotifyAccess: String, Sendable, Equatable, Codable {
    /// The program's own process only.
    case main
    /// The program's process and its descendants (a script's `systemd-notify`, as any user).
    case exec
    /// Any process that can reach its socket.
    case all
}
