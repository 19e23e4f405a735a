// minderd's start-up, in the order that matters: lock, daemonize, block the
// signals the loop reads, and only then start a thread.

import CMinder
import Glibc
import Logging
import MinderConfig
import MinderControl

public enum Daemon {
    /// Blocks the loop's signals in the calling thread; call it before any other thread exists.
    public static func blockSignals() {
        Supervisor.handledSignals.withUnsafeBufferPointer { _ = mn_block_signals($0.baseAddress, Int32($0.count)) }
        // A signal ignored when minderd started (nohup ignores SIGHUP, a shell's background job
        // SIGINT and SIGQUIT, and some parents SIGCHLD, which would leave every exit unseen) would
        // never reach the signalfd: the loop's signals get their defaults back, once blocked (so
        // that a SIGHUP meanwhile waits for the loop instead of ending minderd).
        for handled in Supervisor.handledSignals { signal(handled, SIG_DFL) }
        // A reader of a log pipe (minderd's own stdout) that goes away must not end minderd: the
        // write fails with EPIPE instead. Children get every signal back to its default.
        signal(SIGPIPE, SIG_IGN)
    }

    /// supervisord's start-up cleanup: AUTO logs of an earlier run with the same identifier
    /// (`name-stdout---identifier-random.log` and their backups) are deleted.
    static func removeOldAutoLogs(directory: String, identifier: String) {
        guard let names = SystemFileSystem().directoryEntries(directory) else { return }
        let marker = "---\(identifier)-"
        for name in names {
            guard let range = name.find(marker), range.lowerBound > name.startIndex else { continue }
            let rest = name[range.upperBound...]
            guard let ext = rest.find(".log") else { continue }
            let random = rest[..<ext.lowerBound], suffix = rest[ext.upperBound...]
            let backup = suffix.isEmpty || (suffix.hasPrefix(".") && suffix.count <= 5 && suffix.dropFirst().allSatisfy(\.isNumber))
            if !random.isEmpty, !random.contains(where: \.isWhitespace), backup {
                unlink(directory + "/" + name)
            }
        }
    }

    /// The config file a running minderd was started with, from its command line (absolute, as
    /// seen from its working directory); nil when it cannot be told.
    static func configOf(_ pid: Int32) -> String? {
        guard let data = try? SystemFileSystem().readFile("/proc/\(pid)/cmdline") else { return nil }
        let args = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        var path: String?
        for (i, arg) in args.enumerated() {
            if (arg == "-c" || arg == "--configuration"), i + 1 < args.count { path = args[i + 1] }
            else if arg.hasPrefix("--configuration=") { path = String(arg.dropFirst("--configuration=".count)) }
            else if arg.hasPrefix("-c"), arg.count > 2, !arg.hasPrefix("--") { path = String(arg.dropFirst(2)) }
        }
        guard let path else { return nil }
        let cwd = SystemInputs.linkTarget("/proc/\(pid)/cwd") ?? "/"
        return Paths.absolute(path, cwd: cwd)
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The option that tells a minderd it is the daemon a `launch` started, and the descriptor on
    /// which it says it has detached.
    public static let readyOption = "--daemon-ready-fd"

    /// minderd without -n: runs minderd anew as the daemon and returns once it has detached (0) or
    /// with its exit status when it stopped before (its errors reached stderr, which it shares until
    /// then). The daemon is a new program rather than a fork that goes on: the Swift runtime caches
    /// each thread's id for its locks, so a forked child's main thread would hold them under its
    /// parent's id, and the first thread to contend for one would spin forever.
    public static func launch(arguments: [String]) -> Int32 {
        var fds: [Int32] = [-1, -1]
        guard mn_pipe(&fds, 0) == 0 else {
            printError("minderd: could not daemonize: pipe: \(errnoText())")
            return 2
        }
        let pid = withCStrings(arguments + [readyOption, String(fds[1])]) { mn_spawn_self($0, fds[1]) }
        close(fds[1])
        defer { close(fds[0]) }
        guard pid > 0 else {
            printError("minderd: could not daemonize: fork: \(errnoText())")
            return 2
        }
        var byte: UInt8 = 0
        var n: Int
        repeat { n = read(fds[0], &byte, 1) } while n < 0 && errno == EINTR
        if n == 1 { return 0 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard case .exited(let code) = ProcessExit(waitStatus: status) else { return 2 }
        if code == 127 { printError("minderd: could not daemonize: cannot run /proc/self/exe") }
        return code == 0 ? 2 : code
    }

    /// Supervises `config` until told to stop; returns the exit status. Without `foreground` this is
    /// the daemon `launch` started, and `readyFD` the descriptor it reports detaching on.
    public static func run(config: Config, inputs: ConfigInputs, foreground: Bool, readyFD: Int32? = nil,
                           reload: @escaping @Sendable () -> ConfigLoadResult) -> Int32 {
        let s = config.supervisord
        let cwd = inputs.workingDirectory
        // Named from the config's real path, before a daemonizing chdir.
        let instance = InstanceID(configPath: Paths.absolute(config.path, cwd: cwd))
        let pidfile = Paths.absolute(s.pidfile, cwd: cwd)

        var originalSoft: Int64 = -1, originalHard: Int64 = -1
        _ = mn_get_nofile(&originalSoft, &originalHard)
        if originalSoft >= 0 && originalSoft < s.minfds {
            let hard = originalHard < 0 ? -1 : max(originalHard, Int64(s.minfds))
            if mn_set_nofile(Int64(s.minfds), hard) != 0 {
                printError("minderd: minfds=\(s.minfds) but this environment allows only \(originalSoft) open files (hard limit \(originalHard)); raise the limit or lower minfds")
                return 2
            }
        }

        if mn_raise_nproc(Int64(s.minprocs)) != 0 {
            printError("minderd: minprocs=\(s.minprocs) is more processes than this environment allows; raise the limit or lower minprocs")
            return 2
        }
        // [supervisord] user=: drop to that user now, before the pidfile, the logs and the socket
        // exist, so they are its own and it can rotate, reopen and unlink them.
        if let uid = s.uid, uid != geteuid() {
            guard geteuid() == 0 else {
                printError("minderd: [supervisord] user=\(s.user ?? String(uid)): can't drop privilege as a non-root user")
                return 2
            }
            guard let account = SystemAccounts().user(id: uid) else {
                printError("minderd: [supervisord] user=\(s.user ?? String(uid)): no such user")
                return 2
            }
            let groups = Spawner.supplementaryGroups(account.name, account.gid)
            let dropped = groups.withUnsafeBufferPointer { mn_drop_privileges(account.uid, account.gid, $0.baseAddress, Int32($0.count)) }
            if dropped != 0 {
                printError("minderd: could not switch to user \(account.name): \(errnoText())")
                return 2
            }
        }

        // One minderd per config: the pidfile's lock is taken before anything is touched.
        let lockFD = open(pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else {
            printError("minderd: cannot open pidfile \(pidfile): \(errnoText())")
            return 2
        }
        if mn_try_lock(lockFD) != 0 {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(lockFD, &buffer, 31, 0)
            let pid = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).pyStrip() : "?"
            let ours = realPath(Paths.absolute(config.path, cwd: cwd))
            if let other = Int32(pid).flatMap(configOf), realPath(other) != ours {
                printError("minderd: the pidfile \(pidfile) is held by another minderd (pid \(pid)) running \(other); give each config its own pidfile")
            } else {
                printError("minderd: another minderd is already running with this config (pid \(pid), pidfile \(pidfile))")
            }
            return 2
        }

        // Said here, while stderr reaches someone; the socket is claimed for good under its own
        // lock later, when it is bound.
        if let unix = config.unixServer, let inUse = SocketInUse.check(unix.file) {
            printError("minderd: \(inUse)")
            unlink(pidfile)
            return 2
        }

        if !s.nocleanup { removeOldAutoLogs(directory: s.childlogdir, identifier: s.identifier) }

        // Subscribers' queues are charged to minderd's user: room for them where minderd may make it.
        _ = mn_raise_msgqueue(64 << 20)
        // A queue the kernel refuses is reported while stderr still reaches someone.
        do {
            try EventQueue(name: instance.eventQueue, maxmsg: s.eventsQueueMaxmsg, msgsize: s.eventsQueueMsgsize,
                                    group: s.statsGID).close()
        } catch {
            printError("minderd: \(error)")
            unlink(pidfile)
            return 2
        }

        if !foreground {
            guard let readyFD, mn_detach(s.directory, readyFD, lockFD) == 0 else {
                printError("minderd: could not daemonize: \(readyFD == nil ? "not started by minderd" : errnoText())")
                unlink(pidfile)
                return 2
            }
            umask(mode_t(s.umask))
        }
        blockSignals()
        _ = mn_set_child_subreaper()
        _ = ftruncate(lockFD, 0)
        let pidText = Array("\(getpid())\n".utf8)
        _ = pwrite(lockFD, pidText, pidText.count, 0)

        let capture = LogCapture()
        guard capture.start() else {
            printError("minderd: cannot start the log thread (a thread or memory limit)")
            unlink(pidfile)
            close(lockFD)
            return 2
        }
        let mainLog = MainLogSettings(s, cwd: cwd, foreground: foreground)
        let logger = Logger(label: "minderd") { _ in MainLogHandler(capture: capture, settings: mainLog) }
        capture.reportWarnings { logger.warning("\($0)") }
        capture.mainLogSyslogServer(s.syslogServer)
        logger.info("minderd started with pid \(getpid())")

        // Only now, holding the lock, is a leftover queue of this instance stale: it is replaced.
        // (After daemonizing, which closes every inherited descriptor.) The check before
        // daemonizing passed, but the user's queue budget is shared with every process of theirs:
        // a failure now goes to the main log, since stderr may be gone.
        let events: EventQueue
        do {
            events = try EventQueue(name: instance.eventQueue, maxmsg: s.eventsQueueMaxmsg, msgsize: s.eventsQueueMsgsize,
                                    group: s.statsGID)
            events.subscribers = EventSubscribers(instance: instance)
        } catch {
            logger.critical("\(error)")
            printError("minderd: \(error)")
            capture.stop()
            unlink(pidfile)
            return 2
        }

        let context = SpawnContext(
            environment: inputs.environment,
            serverURL: config.unixServer.map { "unix://\($0.file)" } ?? config.inetServers.first.map { "http://\($0.host.isEmpty ? "localhost" : $0.host):\($0.port)" },
            childLogDirectory: s.childlogdir, identifier: s.identifier,
            originalNoFile: originalSoft >= 0 || originalHard >= 0 ? (originalSoft, originalHard) : nil)
        var bridge: ControlBridge?
        var server: ControlServer?
        if config.unixServer != nil || !config.inetServers.isEmpty {
            bridge = ControlBridge()
            do {
                let stream = EventStream()
                events.stream = stream
                server = try ControlServer(unix: config.unixServer, inet: config.inetServers, bridge: bridge!, capture: capture,
                                           logger: logger, events: stream, loadConfig: reload)
                if let unix = config.unixServer, unix.username == nil {
                    logger.info("control socket \(unix.file) has no username/password; the socket's owner and mode guard it")
                }
                for inet in config.inetServers {
                    let address = "\(inet.host.isEmpty ? "*" : inet.host):\(inet.port)"
                    logger.info("[\(inet.section)] serving on \(address)")
                    if inet.username == nil && !InetServer.isLoopback(inet.host) {
                        logger.warning("[\(inet.section)] on \(address) has no username/password: anyone who can reach the port controls every program")
                    }
                }
            } catch {
                logger.critical("cannot serve the control API: \(error)")
                capture.stop()
                events.close()
                unlink(pidfile)
                return 2
            }
        }
        // Children a killed minderd of this config left running are stopped before anything starts
        // (or, with leftover_children=leave, named and left alone).
        ChildRecords.stopLeftovers(pidfile: pidfile, stop: config.supervisord.leftoverChildren == .stop, logger: logger)
        let records = ChildRecords(pidfile: pidfile)
        let supervisor = Supervisor(config: config, context: context, capture: capture, logger: logger, bridge: bridge,
                                    events: events, instance: instance, mainLog: mainLog, reload: reload)
        supervisor.childRecords = records
        supervisor.selfNotify = SelfNotify(environment: inputs.environment)
        supervisor.run()
        records.remove()
        server?.stop()
        events.close()

        logger.info("minderd stopped; no process left")
        capture.stop()
        unlink(pidfile)
        close(lockFD)
        return supervisor.exitStatus
    }
}
