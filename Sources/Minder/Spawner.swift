// Starting one child: resolve the command, build its environment and
// credentials in the parent, then hand everything to the C child path.

import CMinder
import Glibc
import MinderConfig
import MinderControl

public struct SpawnedChild {
    public var pid: Int32
    /// Our end of the child's stdin.
    public var stdinFD: Int32
    /// Read ends to capture, with where they go.
    /// Our ends of the output pipes: the child's descriptor (1 or 2), where it goes, and whether
    /// its lines also go to syslog.
    public var outputs: [(fd: Int32, channel: Int32, sink: LogSink?, syslog: Bool)]
}

public struct SpawnContext: Sendable {
    /// minderd's environment when it started.
    public var environment: [String: String] { didSet { inherited = Self.inherited(environment) } }
    /// What of it every child gets, each entry written out once (`KEY=value`), not at every spawn.
    private(set) var inherited: [(key: String, entry: String)]
    /// SUPERVISOR_SERVER_URL when a socket exists.
    public var serverURL: String?
    public var childLogDirectory: String
    public var identifier: String
    /// RLIMIT_NOFILE as minderd found it, given back to every child.
    public var originalNoFile: (soft: Int64, hard: Int64)?

    public init(environment: [String: String], serverURL: String?, childLogDirectory: String, identifier: String,
                originalNoFile: (soft: Int64, hard: Int64)?) {
        self.environment = environment
        inherited = Self.inherited(environment)
        self.serverURL = serverURL
        self.childLogDirectory = childLogDirectory
        self.identifier = identifier
        self.originalNoFile = originalNoFile
    }

    /// What systemd gave minderd itself is not the children's to use.
    static let notInherited: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]

    static func inherited(_ environment: [String: String]) -> [(key: String, entry: String)] {
        environment.filter { !notInherited.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, "\($0.key)=\($0.value)") }
    }
}

/// Commands found on PATH, kept for one turn of the supervisor's loop: a start of many programs
/// with the same command searches once, not once each (a search is a stat in each directory
/// before the command's own). Forgotten at the end of the turn, so a command installed or removed
/// later is seen at the next spawn, as with a search each time.
final class CommandPaths {
    private struct Key: Hashable {
        var command: String, path: String?, directory: String?
    }
    private var found: [Key: String] = [:]

    func resolve(_ command: String, path: String?, directory: String?) -> String? {
        let key = Key(command: command, path: path, directory: directory)
        if let known = found[key] { return known }
        let resolved = Spawner.resolve(command, path: path, directory: directory)
        if let resolved { found[key] = resolved }
        return resolved
    }

    func forget() {
        if !found.isEmpty { found.removeAll(keepingCapacity: true) }
    }
}

enum Spawner {
    /// Where a process's stdout and stderr go (nil: /dev/null). An AUTO name is drawn here, once per
    /// process, so restarts keep appending to the same files.
    static func logSinks(for p: ProcessConfig, context: SpawnContext) -> (stdout: LogSink?, stderr: LogSink?) {
        (sink(for: p.stdout, channel: "stdout", p, context),
         p.redirectStderr ? nil : sink(for: p.stderr, channel: "stderr", p, context))
    }

    /// Everything for a spawn but the clone: the command found, the environment and credentials
    /// built, the pipes made. The clone is the prepared spawn's, on this thread or another.
    /// With `protocolStdout` (an event listener), stdout is always a pipe to minderd. With a
    /// `stdinSocket` (a FastCGI pool's listening socket), that is the child's stdin instead of a pipe.
    static func prepare(_ p: ProcessConfig, group: String, sinks: (stdout: LogSink?, stderr: LogSink?),
                        context: SpawnContext, paths: CommandPaths, protocolStdout: Bool = false,
                        stdinSocket: Int32? = nil, notifySocket: String? = nil,
                        notifyFD: (source: Int32, target: Int32)? = nil) -> Result<PreparedSpawn, SpawnFailure> {
        guard let argv = p.argv, let command = argv.first else {
            return .failure(SpawnFailure("the command cannot be split: \(p.command)"))
        }
        // Set for this child, over what it inherits.
        var env: [String: String] = [:]
        env["SUPERVISOR_ENABLED"] = "1"
        env["SUPERVISOR_PROCESS_NAME"] = p.name
        env["SUPERVISOR_GROUP_NAME"] = group
        if let url = p.serverurl ?? context.serverURL { env["SUPERVISOR_SERVER_URL"] = url }
        for (key, value) in p.environment { env[key] = value }
        if let notifySocket { env["NOTIFY_SOCKET"] = notifySocket }
        if p.watchdogSec > 0 {
            env["WATCHDOG_USEC"] = String(p.watchdogSec * 1_000_000)
            // Completed by the child with its own pid (mn_spawn_attr.watchdog_pid_env).
            env["WATCHDOG_PID"] = "0000000000"
        }

        let search = env["PATH"] ?? context.environment["PATH"]
        guard let path = paths.resolve(command, path: search, directory: p.directory) else {
            return .failure(SpawnFailure("can't find command '\(command)'"))
        }

        var uid: Int64 = -1, gid: Int64 = -1
        var groups: [gid_t] = []
        if let wanted = p.uid {
            if geteuid() == 0 {
                // Looked up when the config was read (Config.resolvingAccounts), not here.
                guard let identity = p.identity else {
                    return .failure(SpawnFailure("no user with id \(wanted)"))
                }
                uid = Int64(identity.uid)
                gid = Int64(identity.gid)
                groups = identity.groups
            } else if wanted != geteuid() {
                return .failure(SpawnFailure("cannot run as user \(p.user ?? String(wanted)): minderd is not root"))
            }
        }
        if let group = p.gid {
            // group= replaces the primary group; the user's supplementary groups stay.
            gid = Int64(group)
        }
        let caps = p.capabilities ?? []
        let capsState = p.capabilities.map { list in list.withUnsafeBufferPointer { mn_caps_prepare($0.baseAddress, Int32($0.count)) } }
        if p.capabilities != nil && capsState == nil { return .failure(SpawnFailure("cannot prepare capabilities")) }
        let limits = p.rlimits.map { mn_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }

        // From here, what is made is the prepared spawn's to close or free.
        let prepared = PreparedSpawn(path: path, directory: p.directory, capsState: capsState ?? nil)
        // Pipes: the child gets the write ends (read end for stdin); ours are close-on-exec.
        var stdinPipe: [Int32] = [-1, -1]
        guard mn_pipe(&stdinPipe, 0) == 0 else { return .failure(SpawnFailure("pipe: \(errnoText())")) }
        prepared.childEnds.append(stdinPipe[0])
        if stdinSocket == nil { prepared.stdinFD = stdinPipe[1] } else { close(stdinPipe[1]) }
        var childFD: [Int32] = [stdinSocket ?? stdinPipe[0], -1, -1]
        let channels: [(Int, LogSink?, ChannelLog)] = p.redirectStderr ? [(1, sinks.stdout, p.stdout)]
            : [(1, sinks.stdout, p.stdout), (2, sinks.stderr, p.stderr)]
        for (index, sink, log) in channels {
            let syslog = log.syslog
            // Output nobody reads (no file, no syslog, no events, no capture) goes to /dev/null directly.
            let read = sink != nil || syslog || log.eventsEnabled || log.captureMaxBytes > 0 || (index == 1 && protocolStdout)
            guard read else {
                let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
                prepared.childEnds.append(null)
                childFD[index] = null
                continue
            }
            var pipe: [Int32] = [-1, -1]
            guard mn_pipe(&pipe, 1) == 0 else { return .failure(SpawnFailure("pipe: \(errnoText())")) }
            prepared.childEnds.append(pipe[1])
            prepared.outputs.append((pipe[0], Int32(index), sink, syslog))
            childFD[index] = pipe[1]
        }
        if p.redirectStderr { childFD[2] = childFD[1] }

        prepared.job = withCStrings(argv) { argvPtr in
            withCStrings(context.inherited.compactMap { env[$0.key] == nil ? $0.entry : nil }
                         + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }) { envPtr in
                let watchdogPID = p.watchdogSec > 0 ? watchdogPIDEntry(envPtr) : nil
                return groups.withUnsafeBufferPointer { groupsPtr in
                    caps.withUnsafeBufferPointer { capsPtr in
                        limits.withUnsafeBufferPointer { limitsPtr in
                            path.withCString { pathPtr in
                                withOptionalCString(p.directory) { dirPtr in
                                    var attr = mn_spawn_attr(
                                        path: pathPtr, argv: argvPtr, envp: envPtr, directory: dirPtr,
                                        umask: Int32(p.umask ?? -1),
                                        stdin_fd: childFD[0], stdout_fd: childFD[1], stderr_fd: childFD[2],
                                        uid: uid, gid: gid, groups: groupsPtr.baseAddress, ngroups: Int32(groups.count),
                                        nofile_soft: context.originalNoFile?.soft ?? -1,
                                        nofile_hard: context.originalNoFile?.hard ?? -1,
                                        rlimits: limitsPtr.baseAddress, nrlimits: Int32(limits.count),
                                        set_caps: p.capabilities == nil ? 0 : 1, caps: capsPtr.baseAddress,
                                        ncaps: Int32(caps.count), caps_state: capsState ?? nil,
                                        no_new_privs: p.noNewPrivs ? 1 : 0,
                                        pdeathsig: p.parentDeathSignal ?? 0, parent: getpid(),
                                        notify_fd: notifyFD?.target ?? -1, notify_source: notifyFD?.source ?? -1,
                                        watchdog_pid_env: watchdogPID)
                                    return mn_spawn_job_new(&attr)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard prepared.job != nil else { return .failure(SpawnFailure("cannot spawn \(path): out of memory")) }
        return .success(prepared)
    }

    /// supervisord's check before a start request: a command that cannot run is refused at once.
    static func precheck(_ p: ProcessConfig, environment: [String: String]) -> (Fault, String)? {
        guard let command = p.argv?.first else { return (.BAD_ARGUMENTS, "command is empty") }
        let path = p.environment["PATH"] ?? environment["PATH"]
        guard let resolved = resolve(command, path: path, directory: p.directory) else {
            // resolve also rejects non-executables found on PATH; tell the two apart.
            return (.NO_FILE, "can't find command '\(command)'")
        }
        var st = stat()
        guard stat(resolved, &st) == 0 else { return (.NO_FILE, "can't find command '\(command)'") }
        if (st.st_mode & S_IFMT) == S_IFDIR { return (.NOT_EXECUTABLE, "command at '\(resolved)' is a directory") }
        if access(resolved, X_OK) != 0 { return (.NOT_EXECUTABLE, "command at '\(resolved)' is not executable") }
        return nil
    }

    /// The command as supervisord finds it: with a slash as given, else along PATH.
    static func resolve(_ command: String, path: String?, directory: String?) -> String? {
        if command.contains("/") {
            if command.hasPrefix("/") { return command }
            let base = directory ?? SystemInputs.workingDirectory()
            return base + "/" + command
        }
        for dir in (path ?? "/bin:/usr/bin:/usr/local/bin").split(separator: ":") {
            let candidate = "\(dir)/\(command)"
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    static func sink(for log: ChannelLog, channel: String, _ p: ProcessConfig, _ context: SpawnContext) -> LogSink? {
        switch log.target {
        case .none:
            return nil
        case .path(let path):
            return LogSink(path: path, maxBytes: log.maxBytes, backups: log.backups, timestamps: log.timestamps, prefix: Array(log.prefix.utf8))
        case .auto:
            let suffix = String(UInt64.random(in: 0..<UInt64.max), radix: 36)
            let path = "\(context.childLogDirectory)/\(p.name)-\(channel)---\(context.identifier)-\(suffix).log"
            return LogSink(path: path, maxBytes: log.maxBytes, backups: log.backups, timestamps: log.timestamps, prefix: Array(log.prefix.utf8))
        }
    }

    static func supplementaryGroups(_ user: String, _ gid: UInt32) -> [gid_t] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        while getgrouplist(user, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count) * 2)
            count = Int32(groups.count)
        }
        return Array(groups.prefix(Int(count)))
    }
}

/// A spawn prepared on the loop: a copy of what the child path reads, which may be cloned on a
/// spawn thread meanwhile (`submit`), and our ends of the child's pipes. `finish` waits for the
/// clone and gives the child, or why there is none. Whatever is not handed on is closed or freed
/// when it goes, and a job still out is waited for first.
final class PreparedSpawn {
    fileprivate var job: OpaquePointer?
    private var capsState: UnsafeMutableRawPointer?
    /// The child's ends of its pipes (and /dev/null), ours to close once it is cloned.
    fileprivate var childEnds: [Int32] = []
    /// Our ends: its stdin (-1 with a socket for stdin) and its output.
    fileprivate var stdinFD: Int32 = -1
    fileprivate var outputs: [(fd: Int32, channel: Int32, sink: LogSink?, syslog: Bool)] = []
    private let path: String, directory: String?
    private var submitted = false, finished = false

    fileprivate init(path: String, directory: String?, capsState: UnsafeMutableRawPointer?) {
        self.path = path
        self.directory = directory
        self.capsState = capsState
    }

    /// The clone goes to a spawn thread; this thread goes on.
    func submit() {
        guard let job, !submitted else { return }
        submitted = true
        mn_spawn_job_submit(job)
    }

    func finish() -> Result<SpawnedChild, SpawnFailure> {
        guard let job, !finished else { return .failure(SpawnFailure("spawned already")) }
        if !submitted { mn_spawn_job_run(job) }
        finished = true
        var pid: pid_t = 0, stage: Int32 = 0, err: Int32 = 0
        let rc = mn_spawn_job_wait(job, &pid, &stage, &err)
        for fd in childEnds { close(fd) }
        childEnds = []
        guard rc == 0 else {
            closeOurs()
            return .failure(SpawnFailure(stage: stage, errno: err, path: path, directory: directory))
        }
        // Writes to a child that does not read its stdin must fail, not block the loop.
        if stdinFD >= 0 { _ = fcntl(stdinFD, F_SETFL, fcntl(stdinFD, F_GETFL) | O_NONBLOCK) }
        return .success(SpawnedChild(pid: pid, stdinFD: stdinFD, outputs: outputs))
    }

    private func closeOurs() {
        for o in outputs { close(o.fd) }
        if stdinFD >= 0 { close(stdinFD) }
        outputs = []
        stdinFD = -1
    }

    deinit {
        if let job {
            if submitted && !finished {
                // The child may still be reading the job: never free it under the clone. A child
                // nobody took (which the supervisor never lets happen) is not left running untracked.
                var pid: pid_t = 0, stage: Int32 = 0, err: Int32 = 0
                if mn_spawn_job_wait(job, &pid, &stage, &err) == 0 { _ = kill(pid, SIGKILL) }
            }
            mn_spawn_job_free(job)
        }
        if let capsState { mn_caps_free(capsState) }
        for fd in childEnds { close(fd) }
        if !finished { closeOurs() }
    }
}

public struct SpawnFailure: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }

    init(stage: Int32, errno err: Int32, path: String, directory: String?) {
        let why = String(cString: strerror(err))
        switch Int(stage) {
        case Int(MN_STAGE_EXEC): description = "couldn't exec \(path): \(errnoName(err)) (\(why))"
        case Int(MN_STAGE_CHDIR): description = "couldn't chdir to \(directory ?? "?"): \(errnoName(err)) (\(why))"
        case Int(MN_STAGE_SETUID), Int(MN_STAGE_SETGID), Int(MN_STAGE_GROUPS): description = "couldn't setuid: \(why)"
        case Int(MN_STAGE_RLIMIT): description = "couldn't set a resource limit: \(why) (beyond what minderd may grant?)"
        case Int(MN_STAGE_CAPS): description = "couldn't set capabilities: \(why)"
        case Int(MN_STAGE_NO_NEW_PRIVS): description = "couldn't set no_new_privs: \(why)"
        case Int(MN_STAGE_PDEATHSIG): description = "couldn't set the parent-death signal: \(why)"
        default: description = "couldn't spawn \(path) (stage \(stage)): \(why)"
        }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

func errnoName(_ err: Int32) -> String {
    switch err {
    case ENOENT: "ENOENT"
    case EACCES: "EACCES"
    case ENOEXEC: "ENOEXEC"
    case ENOTDIR: "ENOTDIR"
    case EPERM: "EPERM"
    case ENOSPC: "ENOSPC"
    case EDQUOT: "EDQUOT"
    case EFBIG: "EFBIG"
    case EIO: "EIO"
    case EPIPE: "EPIPE"
    case EROFS: "EROFS"
    default: "errno \(err)"
    }
}

/// A NULL-terminated array of C strings, all in one buffer (one allocation, not one per string:
/// an environment has dozens and a start of 1000 programs builds one per spawn). The strings are
/// writable (the child completes WATCHDOG_PID=).
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(strings.reduce(0) { $0 + $1.utf8.count + 1 })
    var offsets: [Int] = []
    offsets.reserveCapacity(strings.count)
    for s in strings {
        offsets.append(bytes.count)
        bytes.append(contentsOf: s.utf8)
        bytes.append(0)
    }
    return bytes.withUnsafeMutableBufferPointer { raw in
        raw.withMemoryRebound(to: CChar.self) { buffer in
            let pointers: [UnsafeMutablePointer<CChar>?] = offsets.map { buffer.baseAddress! + $0 } + [nil]
            return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
        }
    }
}

/// The `WATCHDOG_PID=` entry of a NULL-terminated environment.
func watchdogPIDEntry(_ envp: UnsafePointer<UnsafeMutablePointer<CChar>?>) -> UnsafeMutablePointer<CChar>? {
    var i = 0
    while let entry = envp[i] {
        if strncmp(entry, "WATCHDOG_PID=", 13) == 0 { return entry }
        i += 1
    }
    return nil
}

func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
