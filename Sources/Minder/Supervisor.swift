// The supervisor's loop: the one owner of the process table. The kernel
// wakes it (signalfd for SIGCHLD and the daemon's own signals, a timerfd for
// the nearest deadline); with nothing pending it sleeps without a timeout.

import CMinder
import Dispatch
import Glibc
import Logging
import MinderConfig
import MinderControl

public final class Supervisor {
    struct Entry {
        var machine: ProcessMachine
        let group: String
        var stdinFD: Int32 = -1
        /// Chosen at the first spawn and kept (AUTO names are random).
        var sinks: (stdout: LogSink?, stderr: LogSink?)?
        /// The pid of the last spawn, for events about its exit.
        var lastPID: Int32?
        /// Wall-clock times of the last start and stop (0: never), for status.
        var startedAt: Double = 0
        var stoppedAt: Double = 0
        /// Wall-clock time of the last state change (or of the entry's creation), for the stats.
        var changedAt = wallClockNow()
        /// An event listener's protocol state.
        @OutOfLine var listener: ListenerLink?
        /// A FastCGI pool's process holds the pool's socket while it runs.
        var holdsSocket = false
        /// The last sample from /proc: CPU seconds, resident bytes, descriptors, threads.
        var sample = (user: 0.0, system: 0.0, rss: UInt64(0), fds: UInt32(0), threads: UInt32(0))
        /// Log bytes written and dropped, over every run of this process.
        let logCounters = LogCounters()
        /// The last STATUS= of a `ready=notify` program's current run, and its last ERRNO=.
        var statusText = ""
        var errnoNote = ""
        /// With watchdog_sec: when the next WATCHDOG=1 is due (monotonic seconds).
        var watchdogDue: Double?
        /// ready=tcp:... until ready, health_check= from then on (Probes.swift), and what the
        /// health check says (nil without one).
        @OutOfLine var readyProbe: ProbeState?
        /// ready=fd:N: minderd's read end of the program's notification pipe (-1: none), and the
        /// bytes read from it without a newline.
        var readyPipe: Int32 = -1
        var readyPipeBytes = 0
        @OutOfLine var healthProbe: ProbeState?
        var healthy: Bool?
        /// A pidfd for the process MAINPID= named, whose exit may reach its own parent, not minderd.
        var mainPIDFD: Int32 = -1
        /// A start waits for depends_on (Dependencies.swift), and what for, as status shows it.
        var waiting = false
        var waitingFor = ""

        var namespec: String { group == machine.name ? group : "\(group):\(machine.name)" }

        init(machine: ProcessMachine, group: String) {
            self.machine = machine
            self.group = group
            // With health_check=: not healthy until its checks begin, before the first spawn too.
            healthy = machine.config.healthCheck == nil ? nil : false
        }
    }

    /// An optional that most entries lack, kept out of the table: 8 bytes in each entry instead
    /// of the value's size (a probe's state is 152). Changed in place while no copy shares it.
    @propertyWrapper struct OutOfLine<Value> {
        private final class Box {
            var value: Value
            init(_ value: Value) { self.value = value }
        }
        private var box: Box?

        init(wrappedValue: Value?) { box = wrappedValue.map(Box.init) }

        var wrappedValue: Value? {
            get { box?.value }
            set {
                if let newValue, isKnownUniquelyReferenced(&box) {
                    box!.value = newValue
                } else {
                    box = newValue.map(Box.init)
                }
            }
        }
    }

    enum Mood { case running, shuttingDown, reloading(Config) }

    var config: Config
    var entries: [Entry] = []
    var byPID: [Int32: Int] = [:]
    var mood = Mood.running
    var finished = false
    /// minderd's exit status: 0, or what a `shutdown_when=` program's end made it.
    public private(set) var exitStatus: Int32 = 0
    let logger: Logger
    let capture: LogCapture
    /// PATH lookups of the current turn (see `turn`).
    let commandPaths = CommandPaths()
    /// Whether the main log said that children copy the descriptor table (an old kernel).
    var toldTableCopies = false
    /// Spawns out on the spawn threads, during `spawningInBatch`; nil outside one.
    var spawnBatch: [PendingSpawn]?
    static let spawnBatchLimit = 16
    var context: SpawnContext
    let reload: @Sendable () -> ConfigLoadResult
    let epollFD = mn_epoll_create()
    let signalFD: Int32
    let timerFD = mn_timerfd()

    /// The signals the loop reads; they must be blocked in every thread before any starts.
    public static let handledSignals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2]

    /// Requests from the control server, configs read off the loop for SIGHUP, and output events
    /// from the log thread.
    let bridge: ControlBridge
    /// A SIGHUP's config is being read; further SIGHUPs wait for it.
    var reloadPending = false
    var waiters: [Waiter] = []
    /// Every state change goes here, when the queue exists.
    let events: EventQueue?
    /// The shared-memory view of every process, and a timer to retry a write the semaphore held up.
    var stats: StatsSegment?
    /// The running children on disk, for the next minderd after a kill -9 (nil in tests of the loop alone).
    var childRecords: ChildRecords?
    let instance: InstanceID?
    let statsRetryFD = mn_timerfd()
    var statsRetryDelay: Int64 = 10_000_000
    let samplingFD = mn_timerfd()
    /// Fresh samples on demand: readers' requests, a timer for a sample the rate limit put off,
    /// the control server's requests waiting for one, and what the last one cost.
    let statsRequests: StatsRequests?
    /// `ready=notify` programs' sockets; nil without an instance (tests of the loop alone).
    let notifySockets: NotifySockets?
    let deferredSampleFD = mn_timerfd()
    /// minderd's own sd_notify, when a service manager set NOTIFY_SOCKET, its watchdog timer, and
    /// whether a process changed since it was last told (it is told at the end of such a turn).
    var selfNotify: SelfNotify?
    var selfNotifyStale = true
    let watchdogFD = mn_timerfd()
    var sampleWaiters: [ControlBridge.Reply] = []
    /// Probe attempts in flight, by the number in their epoll token: whose, and which probe.
    var probeAttempts: [UInt64: (namespec: String, health: Bool)] = [:]
    var nextProbeAttempt: UInt64 = 0
    /// Probes whose host name is being looked up ("namespec|health"): one lookup each at a time.
    var lookups: Set<String> = []
    /// exec probes' processes, by pid: their attempt.
    var probePIDs: [Int32: UInt64] = [:]
    var sampleDeferred = false
    var lastSample = (end: Int64(0), cost: Int64(0))
    /// Event listener pools by group name, the global event serial, and the tick timer with the
    /// period start each TICK_x event was last sent for.
    var pools: [String: ListenerPool] = [:]
    var eventSerial = -1
    let tickFD = mn_timerfd()
    var lastTick: [Int: Int] = [:]
    /// [fcgi-program:x] pools' listening sockets, and how many of each pool's processes hold one.
    var fcgiSockets: [String: (fd: Int32, users: Int)] = [:]
    /// depends_on= over the process table, and whether a process changed since waiting starts
    /// were last looked at.
    var graph = DependencyGraph([])
    var dependenciesChanged = false

    /// The main log's targets and level, which a reload may change.
    let mainLog: MainLogSettings?

    public init(config: Config, context: SpawnContext, capture: LogCapture, logger: Logger, bridge: ControlBridge? = nil,
                events: EventQueue? = nil, instance: InstanceID? = nil, mainLog: MainLogSettings? = nil,
                reload: @escaping @Sendable () -> ConfigLoadResult) {
        self.mainLog = mainLog
        self.bridge = bridge ?? ControlBridge()
        self.events = events
        self.instance = instance
        self.config = config
        self.context = context
        self.capture = capture
        self.logger = logger
        self.reload = reload
        statsRequests = instance.flatMap { StatsRequests(instance: $0, group: config.supervisord.statsGID) }
        notifySockets = instance.flatMap { NotifySockets(instance: $0) }
        signalFD = Self.handledSignals.withUnsafeBufferPointer { mn_signalfd($0.baseAddress, Int32($0.count)) }
        _ = mn_epoll_add(epollFD, signalFD, 1)
        _ = mn_epoll_add(epollFD, timerFD, 2)
        _ = mn_epoll_add(epollFD, self.bridge.wakeFD, 3)
        _ = mn_epoll_add(epollFD, statsRetryFD, 4)
        _ = mn_epoll_add(epollFD, samplingFD, 5)
        _ = mn_epoll_add(epollFD, tickFD, 6)
        _ = mn_epoll_add(epollFD, deferredSampleFD, 8)
        _ = mn_epoll_add(epollFD, watchdogFD, 9)
        if let statsRequests { _ = mn_epoll_add(epollFD, statsRequests.queueFD, 7) }
        if instance != nil, config.supervisord.statsInterval > 0 {
            _ = mn_timerfd_every(samplingFD, Int32(config.supervisord.statsInterval))
        }
        entries = Self.entries(for: config)
        rebuildViews()
    }

    static func entries(for config: Config) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(config.groups.reduce(0) { $0 + $1.processes.count })
        for g in config.groups {
            for p in g.processes.indices { entries.append(Entry(machine: ProcessMachine(sharing: g.processes, at: p), group: g.name)) }
        }
        return entries
    }

    /// Runs until a shutdown request has stopped every program.
    public func run() {
        events?.post(group: nil, name: nil, from: "STARTING", to: "RUNNING", pid: getpid(), exitStatus: nil, expected: nil)
        notifyListeners("SUPERVISOR_STATE_CHANGE_RUNNING", "")
        turn { startAll() }
        if let interval = selfNotify?.watchdogInterval { _ = mn_timerfd_set(watchdogFD, mn_monotonic_ns() + interval) }
        var tokens = [UInt64](repeating: 0, count: 8)
        while !finished {
            armTimer()
            let n = tokens.withUnsafeMutableBufferPointer { mn_epoll_wait(epollFD, $0.baseAddress, 8, -1) }
            if n < 0 { continue }
            turn {
                for token in tokens.prefix(Int(n)) {
                    switch token {
                    case 1: handleSignals()
                    case 2: fireDeadlines()
                    case 4:
                        mn_timerfd_drain(statsRetryFD)
                        flushStats()
                    case 5:
                        mn_timerfd_drain(samplingFD)
                        sample()
                    case 6: fireTicks()
                    case 7:
                        if statsRequests?.drain() == true { sampleSoon() }
                    case 8:
                        mn_timerfd_drain(deferredSampleFD)
                        sampleDeferred = false
                        sample()
                    case 9:
                        mn_timerfd_drain(watchdogFD)
                        selfNotify?.send("WATCHDOG=1")
                        if let interval = selfNotify?.watchdogInterval { _ = mn_timerfd_set(watchdogFD, mn_monotonic_ns() + interval) }
                    case 3: handleControl()
                    case _ where token & NotifySockets.token != 0: notifyReadable(token)
                    case _ where token & Self.probeToken != 0: probeWritable(token)
                    case _ where token & Self.readyPipeToken != 0: readyPipeReadable(Int32(truncatingIfNeeded: token & 0xffff_ffff))
                    case _ where token & Self.mainPIDToken != 0: mainPIDExited(Int32(truncatingIfNeeded: token & 0xffff_ffff))
                    case _ where token & EventSubscribers.token != 0:
                        events?.subscribers?.watchedExited(token)
                    default: listenerReadable(Int32(truncatingIfNeeded: token & 0xffff_ffff))
                    }
                }
                advanceStopSequence()
                advanceWaiting()
                checkWaiters()
                if let selfNotify, selfNotifyStale, case .running = mood {
                    selfNotifyStale = false
                    let (settled, status) = autostartProgress()
                    selfNotify.update(settled: settled, status: status)
                }
                if let subscribers = events?.subscribers, !subscribers.notices.isEmpty {
                    for notice in subscribers.notices { logger.info("\(notice)") }
                    subscribers.notices.removeAll()
                }
            }
        }
        closeStdins()
    }

    /// One turn of the loop. Its log lines and pipes reach the log thread in a wake or a few, not
    /// one each; a command it spawns many times is looked up on PATH once.
    private func turn(_ body: () -> Void) {
        capture.holdWakes()
        body()
        commandPaths.forget()
        capture.flushWakes()
    }

    // MARK: events

    func startAll() {
        // Priority order in one pass: a lower priority is spawned first, unless it waits for a
        // dependency (which it starts, autostart or not).
        spawningInBatch {
            for i in entries.indices where entries[i].machine.config.autostart {
                requestStart(i, pull: true)
            }
        }
    }

    func handleSignals() {
        while true {
            let signal = mn_signalfd_read(signalFD)
            guard signal > 0 else { return }
            switch signal {
            case SIGCHLD: reap()
            case SIGTERM, SIGINT, SIGQUIT:
                if case .shuttingDown = mood { continue }
                // Also during a reload: the stop under way becomes a shutdown.
                logger.warning("received SIG\(Signals.name(of: signal) ?? "") indicating exit request")
                beginStopping(.shuttingDown)
            case SIGHUP:
                guard case .running = mood, !reloadPending else { continue }
                logger.warning("received SIGHUP indicating restart request")
                // The config is read on a worker thread (file I/O stays off this loop) and comes back
                // through the bridge as a request, answered in turn like any other.
                reloadPending = true
                let (load, bridge) = (reload, bridge)
                DispatchQueue.global().async { bridge.submit(.signalReload(load())) { _ in } }
            case SIGUSR2:
                logger.info("received SIGUSR2 indicating log reopen request")
                capture.reopen()
            default: break
            }
        }
    }

    func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            childRecords?.reaped(pid)
            if probePIDs[pid] != nil {
                probeExited(pid, ProcessExit(waitStatus: status))
                continue
            }
            processExited(pid, ProcessExit(waitStatus: status))
        }
    }

    /// A program's process is gone (reaped, or a MAINPID= process seen to go by its pidfd).
    func processExited(_ pid: Int32, _ exit: ProcessExit) {
        guard let i = byPID.removeValue(forKey: pid) else {
            logger.debug("reaped unknown pid \(pid)")
            return
        }
        // The process that named another its main one (MAINPID=) may exit: the program goes on.
        if let current = entries[i].machine.pid, current != pid {
            logger.debug("the former main process of \(entries[i].machine.name) (pid \(pid)) exited (\(exit))")
            return
        }
        if entries[i].mainPIDFD >= 0 {
            close(entries[i].mainPIDFD)
            entries[i].mainPIDFD = -1
        }
        if entries[i].stdinFD >= 0 {
            close(entries[i].stdinFD)
            entries[i].stdinFD = -1
        }
        entries[i].stoppedAt = wallClockNow()
        entries[i].watchdogDue = nil
        stopProbes(i)
        closeReadyPipe(i)
        if entries[i].healthy != nil { entries[i].healthy = false }
        // What the dead process held goes first: feeding the exit may start its successor at once.
        detachListener(i)
        if entries[i].holdsSocket {
            entries[i].holdsSocket = false
            releaseSocket(entries[i].group)
        }
        feed(i, .exited(exit))
    }

    func fireDeadlines() {
        mn_timerfd_drain(timerFD)
        let now = Self.now()
        for i in entries.indices {
            if let deadline = entries[i].machine.deadline, deadline <= now + 0.0005 {
                feed(i, .deadline)
            }
            if let due = entries[i].watchdogDue, due <= now + 0.0005 { watchdogMissed(i) }
        }
        fireProbes(now: now)
    }

    /// A `watchdog_sec` program that stopped pinging is restarted (stopsignal, then a start).
    func watchdogMissed(_ i: Int) {
        entries[i].watchdogDue = nil
        guard [.starting, .running].contains(entries[i].machine.state), case .running = mood else { return }
        logger.warning("watchdog: \(entries[i].machine.name) sent no WATCHDOG=1 within \(entries[i].machine.config.watchdogSec) seconds (watchdog_sec); restarting it")
        _ = restart(i, wait: false)
    }

    /// The timer at the nearest deadline of any entry (its machine's, its watchdog's, its
    /// probes'): one pass each loop turn, without building arrays.
    func armTimer() {
        var next = Double.infinity
        func consider(_ due: Double?) { if let due, due < next { next = due } }
        for e in entries {
            consider(e.machine.deadline)
            consider(e.watchdogDue)
            consider(e.readyProbe?.due)
            consider(e.healthProbe?.due)
        }
        _ = mn_timerfd_set(timerFD, next.isFinite ? max(1, Int64(next * 1e9)) : 0)
    }

    static func now() -> Double { Double(mn_monotonic_ns()) / 1e9 }

    // MARK: actions

    func feed(_ i: Int, _ event: ProcessEvent) {
        let actions = entries[i].machine.handle(event, now: Self.now())
        selfNotifyStale = true
        dependenciesChanged = true
        // Before anything else can be observed (a log line, an event, a reply), status queries see it.
        bridge.board.update(i, info(i), exits: entries[i].machine.exits)
        // A spawn publishes the transitions itself once the pid is known (its spawned or failed
        // event), so that records of the STARTING state carry the pid it is about.
        if !actions.contains(.spawn) { publishTransitions(i) }
        for action in actions {
            switch action {
            case .spawn: spawn(i)
            case .signal(let signal, let group):
                guard let pid = entries[i].machine.pid else { continue }
                // The group is the one the program was spawned in; a MAINPID= process that left it
                // gets the signal too.
                let leader = entries[i].lastPID ?? pid
                if kill(group ? -leader : pid, signal) != 0 && errno != ESRCH {
                    logger.error("could not send SIG\(Signals.name(of: signal) ?? String(signal)) to \(entries[i].machine.name): \(errnoText())")
                }
                if group && pid != leader { _ = kill(pid, signal) }
            case .log(let level, let message):
                logger.log(level: level.swiftLog, "\(message)")
            }
        }
    }

    /// A spawn begun and not yet finished: its entry, the clone and the s6 notification pipe.
    struct PendingSpawn {
        var entry: Int
        var prepared: PreparedSpawn
        var notifyPipe: [Int32]
    }

    func spawn(_ i: Int) {
        guard let pending = beginSpawn(i) else { return }
        guard spawnBatch != nil else { return finishSpawn(pending) }
        pending.prepared.submit()
        spawnBatch!.append(pending)
        // A bounded number out at once: each holds its pipes, and the oldest is likely done.
        if spawnBatch!.count >= Self.spawnBatchLimit { finishSpawn(spawnBatch!.removeFirst()) }
    }

    /// Spawns begun in `body` are cloned by the spawn threads while the loop prepares the next
    /// (a start of many programs), and finished, in order, before this returns: nothing else of
    /// the loop runs while one is out, so no exit, request or timer meets a process without its pid.
    func spawningInBatch<R>(_ body: () -> R) -> R {
        guard spawnBatch == nil else { return body() }
        spawnBatch = []
        let result = body()
        finishBatchedSpawns()
        spawnBatch = nil
        return result
    }

    /// The batch's spawns that are out, finished in the order they began: all of them, or the
    /// first `count`.
    func finishBatchedSpawns(count: Int = .max) {
        var left = count
        while left > 0, let first = spawnBatch?.first {
            spawnBatch!.removeFirst()
            finishSpawn(first)
            left -= 1
        }
    }

    /// Everything before the clone; nil when it failed (the failure fed to the process).
    func beginSpawn(_ i: Int) -> PendingSpawn? {
        let entry = entries[i]
        let sinks = logSinks(i)
        let listener = pools[entry.group] != nil
        var socket: Int32?
        if let fcgi = config.groups.first(where: { $0.name == entry.group })?.fcgiSocket {
            switch acquireSocket(entry.group, fcgi) {
            case .success(let fd):
                socket = fd
                entries[i].holdsSocket = true
            case .failure(let failure):
                bridge.board.countSpawnFailure()
                feed(i, .spawnFailed(failure.description))
                return nil
            }
        }
        var notify: String?
        if entry.machine.config.ready == .notify {
            guard let sockets = notifySockets else {
                feed(i, .spawnFailed("ready=notify needs minderd's notify directory, which could not be made"))
                return nil
            }
            let identity = entry.machine.config.identity
            switch sockets.path(for: entry.namespec, uid: identity?.uid ?? entry.machine.config.uid, gid: identity?.gid, epollFD: epollFD) {
            case .success(let path): notify = path
            case .failure(let failure):
                feed(i, .spawnFailed(failure.description))
                return nil
            }
        }
        // s6's notification descriptor: a pipe whose write end the child gets as descriptor N.
        var notifyPipe: [Int32] = [-1, -1]
        if case .fd(let n) = entry.machine.config.ready {
            guard mn_pipe(&notifyPipe, 1) == 0 else {
                feed(i, .spawnFailed("pipe for fd:\(n): \(errnoText())"))
                return nil
            }
        }
        let prepared = Spawner.prepare(entry.machine.config, group: entry.group, sinks: sinks, context: context,
                                       paths: commandPaths, protocolStdout: listener, stdinSocket: socket, notifySocket: notify,
                                       notifyFD: notifyPipe[1] >= 0 ? (notifyPipe[1], readyDescriptor(entry.machine.config)) : nil)
        switch prepared {
        case .success(let prepared):
            return PendingSpawn(entry: i, prepared: prepared, notifyPipe: notifyPipe)
        case .failure(let failure):
            endSpawn(i, .failure(failure), notifyPipe: notifyPipe)
            return nil
        }
    }

    func finishSpawn(_ pending: PendingSpawn) {
        endSpawn(pending.entry, pending.prepared.finish(), notifyPipe: pending.notifyPipe)
    }

    /// After the clone (or a failure before it): the child's pipes go to the log thread and the
    /// process learns its pid, or why it has none.
    func endSpawn(_ i: Int, _ spawned: Result<SpawnedChild, SpawnFailure>, notifyPipe: [Int32]) {
        let entry = entries[i]
        let listener = pools[entry.group] != nil
        if notifyPipe[1] >= 0 { close(notifyPipe[1]) }
        if case .success = spawned, notifyPipe[0] >= 0 {
            entries[i].readyPipe = notifyPipe[0]
            _ = mn_epoll_add(epollFD, notifyPipe[0], Self.readyPipeToken | UInt64(notifyPipe[0]))
        } else if notifyPipe[0] >= 0 {
            close(notifyPipe[0])
        }
        if case .failure = spawned, entries[i].holdsSocket {
            entries[i].holdsSocket = false
            releaseSocket(entry.group)
        }
        if !toldTableCopies, mn_spawn_copies_table() != 0 {
            toldTableCopies = true
            logger.warning("this kernel refuses close_range(CLOSE_RANGE_UNSHARE) (Linux before 5.9): each child copies minderd's descriptor table and closes it at exec, which makes starting many programs slower")
        }
        switch spawned {
        case .success(let child):
            entries[i].stdinFD = child.stdinFD
            entries[i].statusText = ""
            entries[i].errnoNote = ""
            let watchdog = entries[i].machine.config.watchdogSec
            entries[i].watchdogDue = watchdog > 0 ? Self.now() + Double(watchdog) : nil
            startProbes(i)
            entries[i].startedAt = wallClockNow()
            entries[i].lastPID = child.pid
            byPID[child.pid] = i
            let c = entry.machine.config
            childRecords?.spawned(child.pid, namespec: entry.namespec,
                                  config: ProcessConfigSummary(stopsignal: c.stopsignal, stopwaitsecs: c.stopwaitsecs, stopasgroup: c.stopasgroup))
            for output in child.outputs {
                if listener && output.channel == 1 {
                    attachListener(i, stdout: output.fd)
                    continue
                }
                capture.capture(fd: output.fd, into: output.sink, stripANSI: config.supervisord.stripAnsi,
                                syslog: output.syslog ? SyslogOrigin(name: entry.machine.config.name, group: entry.group, pid: child.pid,
                                                                     stream: output.channel == 2 ? "stderr" : "stdout",
                                                                     server: entry.machine.config.syslogServer) : nil,
                                observer: outputObserver(i, pid: child.pid, channel: output.channel),
                                communication: communication(i, pid: child.pid, channel: output.channel),
                                counters: entry.logCounters)
            }
            feed(i, .spawned(pid: child.pid))
        case .failure(let failure):
            bridge.board.countSpawnFailure()
            feed(i, .spawnFailed(failure.description))
        }
    }

    // MARK: stopping

    /// The state changes of one process since the last call, onto the event queue.
    func publishTransitions(_ i: Int) {
        let changes = entries[i].machine.transitions
        guard !changes.isEmpty else { return }
        entries[i].machine.transitions = []
        entries[i].changedAt = wallClockNow()
        writeStats(i)
        for (from, to) in changes {
            notifyListeners("PROCESS_STATE_\(to.description)", processStatePayload(i, from: from, to: to))
        }
        if entries[i].machine.config.shutdownWhen != .never { shutDownIfItEnded(i, changes.map(\.1)) }
        // A listener that reaches RUNNING takes what its pool buffered meanwhile (events that came
        // during its startsecs), not only the next event's.
        if changes.last?.1 == .running, let pool = pools[entries[i].group] { dispatch(pool) }
        guard let events else { return }
        let m = entries[i].machine
        for (from, to) in changes {
            let ended = to == .exited || to == .stopped || to == .backoff
            let exit: Int? = switch (ended, m.lastExit) {
            case (true, .exited(let code)?): Int(code)
            case (true, .signaled(let sig)?): -Int(sig)
            case (true, .unknown?): -1
            default: nil
            }
            let expected: Bool? = to == .exited ? m.lastExitExpected : nil
            events.post(group: entries[i].group, name: m.name, from: from.description, to: to.description,
                        pid: m.pid ?? entries[i].lastPID, exitStatus: exit, expected: expected)
        }
    }

    /// `shutdown_when=`: a container's main program ended, so minderd stops everything and exits
    /// with a status that says how it ended (its exit status, 128 + a signal's number, 1 for FATAL).
    func shutDownIfItEnded(_ i: Int, _ states: [ProcessState]) {
        guard case .running = mood else { return }
        let m = entries[i].machine
        let how: String
        if states.contains(.fatal) {
            (exitStatus, how) = (1, "is FATAL")
        } else if m.config.shutdownWhen == .exited, states.contains(.exited) {
            switch m.lastExit {
            case .exited(let code)?: (exitStatus, how) = (Int32(code), "exited with status \(code)")
            case .signaled(let signal)?: (exitStatus, how) = (128 + signal, "was killed by SIG\(Signals.name(of: signal) ?? String(signal))")
            default: (exitStatus, how) = (1, "exited")
            }
        } else {
            return
        }
        logger.critical("\(entries[i].namespec) \(how) (shutdown_when=\(m.config.shutdownWhen.rawValue)): shutting down, exit status \(exitStatus)")
        beginStopping(.shuttingDown)
    }

    /// Notifications from `ready=notify` programs, from the program's own process (and its
    /// descendants with notify_access=exec, any process with all); the rest are ignored.
    func notifyReadable(_ token: UInt64) {
        guard let sockets = notifySockets, let namespec = sockets.namespec(of: token), let i = index(of: namespec) else { return }
        // notify_access=exec: the sender's ancestry, judged as each message is read.
        let main = entries[i].machine.pid
        let exec = entries[i].machine.config.notifyAccess == .exec
        // Each sender's /proc chain is walked once per batch, however many messages it sent.
        var judged: [Int32: Bool] = [:]
        let descends = { (sender: Int32) -> Bool in
            guard exec, let main, sender != main else { return false }
            if let known = judged[sender] { return known }
            let answer = mn_is_descendant(sender, main) == 1
            judged[sender] = answer
            return answer
        }
        guard let (messages, dropped) = sockets.receive(token, descends: descends) else { return }
        if dropped > 0 { logger.debug("notify: dropped \(dropped) message(s) for \(namespec): longer than \(NotifySockets.maxMessage) bytes, or without credentials") }
        for message in messages {
            let m = entries[i].machine
            let allowed = switch m.config.notifyAccess {
            case .main: message.pid == m.pid
            case .exec: message.pid == m.pid || message.descendant
            case .all: true
            }
            guard m.pid != nil, allowed else {
                logger.debug("notify: ignored a message for \(namespec) from pid \(message.pid) (notify_access=\(m.config.notifyAccess.rawValue))")
                continue
            }
            if let text = message.fields["STATUS"] {
                // Shown in status lines: printable and short.
                entries[i].statusText = String(text.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }.prefix(200).map(Character.init))
                bridge.board.update(i, info(i), exits: m.exits)
            }
            if let ping = message.fields["WATCHDOG"], entries[i].watchdogDue != nil {
                // WATCHDOG=trigger asks for the restart at once, as under systemd.
                entries[i].watchdogDue = ping == "trigger" ? Self.now() : Self.now() + Double(m.config.watchdogSec)
            }
            if let code = message.fields["ERRNO"], let number = Int32(code), number >= 0, number < 4096 {
                entries[i].errnoNote = "errno \(number) (\(String(cString: strerror(number))))"
                bridge.board.update(i, info(i), exits: m.exits)
            }
            // Ready no more until READY=1 again: a reload under way, or a stop of its own.
            for (key, what) in [("RELOADING", "reloading"), ("STOPPING", "stopping")] where message.fields[key] == "1" {
                logger.info("\(what): \(m.name) says it is \(what)")
                if entries[i].machine.ready == true {
                    feed(i, .notReady)
                    writeStats(i)
                }
            }
            if let text = message.fields["MAINPID"], let newPID = Int32(text) { adoptMainPID(i, newPID) }
            if message.fields["READY"] == "1", entries[i].machine.ready == false { becameReady(i) }
        }
    }

    static let mainPIDToken: UInt64 = 1 << 38

    /// MAINPID=N: taken only for a process of the program's own (a descendant of its main process,
    /// or in the process group it was spawned in) that runs as the program's user, so that a
    /// program cannot make minderd signal a process not its own. minderd then signals and waits
    /// for N; the exit of the process that named it is not the program's.
    func adoptMainPID(_ i: Int, _ newPID: Int32) {
        let m = entries[i].machine
        guard let current = m.pid, newPID != current else { return }
        let ours = newPID > 1 && (mn_is_descendant(newPID, current) == 1 || (entries[i].lastPID.map { getpgid(newPID) == $0 } ?? false))
        var owner = stat()
        let user = m.config.identity?.uid ?? m.config.uid ?? geteuid()
        guard ours, stat("/proc/\(newPID)", &owner) == 0, owner.st_uid == user else {
            logger.warning("notify: \(m.name) sent MAINPID=\(newPID), which is not one of its processes running as its user; ignored")
            return
        }
        let pidfd = mn_pidfd_open(newPID)
        guard pidfd >= 0 else { return }
        if entries[i].mainPIDFD >= 0 { close(entries[i].mainPIDFD) }
        // A MAINPID= that replaces another forgets it: a program naming process after process must
        // not grow the table (if it was minderd's child, its exit is then reaped as unknown).
        if current != entries[i].lastPID { byPID[current] = nil }
        entries[i].mainPIDFD = pidfd
        _ = mn_epoll_add(epollFD, pidfd, Self.mainPIDToken | UInt64(UInt32(bitPattern: newPID)))
        byPID[newPID] = i
        feed(i, .mainPID(newPID))
        writeStats(i)
    }

    /// A MAINPID= process's pidfd is readable: it has exited. If it is minderd's child (its parent
    /// exited first) it is reaped as any child; if not, its parent reaps it and the status is lost.
    func mainPIDExited(_ pid: Int32) {
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid {
            childRecords?.reaped(pid)
            processExited(pid, ProcessExit(waitStatus: status))
        } else if reaped < 0 && errno == ECHILD {
            processExited(pid, .unknown)
        }
    }

    /// After the process table changed shape: a new status board, and a new stats segment
    /// sized for it (the old one is retired).
    func rebuildViews() {
        rebuildGraph()
        bridge.board.replace(entries.indices.map(info), counters: entries.map(\.logCounters), exits: entries.map(\.machine.exits),
                             groups: config.groups.map(\.name))
        notifySockets?.keep(only: Set(entries.map(\.namespec)))
        rebuildPools()
        guard let instance else { return }
        let old = stats
        stats = StatsSegment(instance: instance, slots: entries.count, group: config.supervisord.statsGID, requests: statsRequests)
        if stats == nil { logger.error("cannot create the stats segment \(instance.statsSegment): \(errnoText())") }
        if let old {
            stats?.sampleGeneration = old.sampleGeneration
            stats?.sampleTime = old.sampleTime
        }
        old?.retire()
        for i in entries.indices { writeStats(i) }
    }

    func writeStats(_ i: Int) {
        guard let stats else { return }
        statsWritten(stats.write(i, slotValues(i), droppedEvents: events?.dropped ?? 0))
    }

    func slotValues(_ i: Int) -> StatsSegment.SlotValues {
        let e = entries[i], m = e.machine
        let exit: Int32 = switch m.lastExit {
        case .exited(let code)?: code
        case .signaled(let sig)?: -sig
        case .unknown?: -1
        case nil: 0
        }
        var values = StatsSegment.SlotValues(group: e.group, name: m.name, state: Int32(m.state.rawValue), pid: m.pid ?? 0,
                                             start: e.startedAt, change: e.changedAt, restarts: UInt32(m.restarts),
                                             exitStatus: exit, spawnError: m.spawnError ?? "")
        if m.pid != nil {
            (values.cpuUser, values.cpuSystem, values.rss, values.fds, values.threads) = e.sample
        }
        (values.logWritten, values.logDropped) = e.logCounters.both
        values.ready = m.ready.map { $0 ? 1 : 0 } ?? -1
        values.healthy = e.healthy.map { $0 ? 1 : 0 } ?? -1
        return values
    }

    func flushStats() {
        guard let stats else { return }
        statsWritten(stats.flush(droppedEvents: events?.dropped ?? 0))
    }

    /// Logs what happened to the stats objects; a write that waits for the semaphore is retried
    /// after 10 ms, then after twice as long each time up to a second, so that a reader holding
    /// the semaphore on purpose cannot make minderd spin.
    func statsWritten(_ written: Bool) {
        if let stats, !stats.notices.isEmpty {
            for notice in stats.notices { logger.warning("\(notice)") }
            stats.notices.removeAll()
        }
        if written {
            statsRetryDelay = 10_000_000
        } else {
            _ = mn_timerfd_set(statsRetryFD, mn_monotonic_ns() + statsRetryDelay)
            statsRetryDelay = min(statsRetryDelay * 2, 1_000_000_000)
        }
    }

    /// CPU, memory, descriptors and threads of every running process, from /proc (a few small
    /// reads of in-memory files per process, done in C without allocating), into the segment
    /// under one hold of its semaphore; then the readers who asked for it are woken.
    func sample() {
        let began = mn_monotonic_ns()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        var samples: [(Int, ResourceSample)] = []
        for i in entries.indices {
            guard let pid = entries[i].machine.pid else { continue }
            var user: UInt64 = 0, system: UInt64 = 0, rss: UInt64 = 0, threads: UInt32 = 0, fds: UInt32 = 0
            guard mn_proc_sample(pid, &user, &system, &threads, &rss, &fds) == 0 else { continue }
            entries[i].sample = (Double(user) / ticks, Double(system) / ticks, rss * page, fds, threads)
            samples.append((i, ResourceSample(cpuSeconds: Double(user + system) / ticks, residentBytes: rss * page,
                                              openFDs: fds, threads: threads)))
            stats?.stage(i, slotValues(i))
        }
        bridge.board.record(samples)
        if let events {
            bridge.board.record(EventCounts(posted: UInt64(events.serial), queueDropped: UInt64(events.dropped),
                                            streamDropped: UInt64(events.stream?.droppedCount ?? 0),
                                            subscriberDropped: UInt64(events.subscribers?.dropped ?? 0)))
        }
        stats?.sampled(at: wallClockNow())
        statsRequests?.sampleTaken()
        flushStats()
        for waiter in sampleWaiters { waiter(.json(status: 200, body: [])) }
        sampleWaiters = []
        let end = mn_monotonic_ns()
        lastSample = (end, end - began)
    }

    /// A sample as soon as the rate limit allows: at most one per 2 ms, or per three times what
    /// the last one took, so that readers asking without pause keep the loop sampling at most a
    /// quarter of its time. Requests that arrive meanwhile are answered by the same sample.
    func sampleSoon() {
        guard !sampleDeferred else { return }
        let next = lastSample.end + max(2_000_000, 3 * lastSample.cost)
        if lastSample.end == 0 || mn_monotonic_ns() >= next {
            sample()
        } else {
            sampleDeferred = true
            _ = mn_timerfd_set(deferredSampleFD, Int64(next))
        }
    }

    /// For minderd's own service manager: whether every autostart program is up (and ready, where
    /// it has ready=) or no longer trying, and STATUS=: how many programs run, how many failed.
    func autostartProgress() -> (settled: Bool, status: String) {
        var settled = true, running = 0, fatal = 0
        for e in entries {
            let m = e.machine
            if m.state == .running { running += 1 }
            if m.state == .fatal { fatal += 1 }
            guard m.config.autostart else { continue }
            switch m.state {
            case .running: if m.ready == false { settled = false }
            case .fatal, .exited, .stopped, .unknown: break
            case .starting, .backoff, .stopping: settled = false
            }
        }
        return (settled, "\(running) of \(entries.count) running" + (fatal > 0 ? ", \(fatal) FATAL" : ""))
    }

    func beginStopping(_ newMood: Mood) {
        if case .running = mood {
            if case .shuttingDown = newMood { selfNotify?.send("STOPPING=1") } else { selfNotify?.reloading() }
            let to = if case .shuttingDown = newMood { "SHUTDOWN" } else { "RESTARTING" }
            events?.post(group: nil, name: nil, from: "RUNNING", to: to, pid: getpid(), exitStatus: nil, expected: nil)
            notifyListeners("SUPERVISOR_STATE_CHANGE_STOPPING", "")
        }
        mood = newMood
        for i in entries.indices {
            if entries[i].waiting { setWaiting(i, false) }
            entries[i].machine.autoRestartAllowed = false
            // Nothing runs in BACKOFF, and restarts held back by the rate limit are cancelled.
            let state = entries[i].machine.state
            if state == .backoff || (!state.isRunningState && state != .stopping && entries[i].machine.deadline != nil) {
                feed(i, .stop)
            }
        }
    }

    /// Stops in reverse priority: a lower priority only once every higher one is gone, and a
    /// process only once nothing alive depends on it (depends_on= orders before priority).
    func advanceStopSequence() {
        if case .running = mood { return }
        let alive = entries.indices.filter { entries[$0].machine.state.isRunningState || entries[$0].machine.state == .stopping }
        let aliveSet = Set(alive)
        var free = alive.filter { !holdsUpStop($0, alive: aliveSet) }
        // Only a cycle (left by an update of some groups) leaves none free: priority alone then.
        if free.isEmpty { free = alive }
        guard let top = free.map({ entries[$0].machine.config.priority }).max() else {
            finishStopping()
            return
        }
        for i in free where entries[i].machine.config.priority == top && entries[i].machine.state != .stopping {
            feed(i, .stop)
        }
        let waiting = alive.filter { entries[$0].machine.state == .stopping }.map { entries[$0].machine.name }
        if !waiting.isEmpty && alive.count == waiting.count {
            logger.debug("waiting for \(waiting.joined(separator: ", ")) to die")
        }
        // Stops that completed at once (BACKOFF) may let the next priority go now.
        if alive.allSatisfy({ !entries[$0].machine.state.isRunningState && entries[$0].machine.state != .stopping }) {
            advanceStopSequence()
        }
    }

    func finishStopping() {
        switch mood {
        case .running: return
        case .shuttingDown:
            killOrphans()
            finished = true
            stats?.close()
            stats = nil
            statsRequests?.close()
            notifySockets?.closeAll()
            for waiter in sampleWaiters { waiter(.json(status: 200, body: [])) }
            sampleWaiters = []
            for waiter in waiters { waiter.reply(.fault(.SHUTDOWN_STATE, "minderd is shutting down")) }
            waiters = []
        case .reloading(let newConfig):
            closeStdins()
            applySettings(newConfig)
            // A program whose config did not change keeps its log files, AUTO names included
            // (unless where or how AUTO logs are named changed).
            let sameAuto = config.supervisord.childlogdir == newConfig.supervisord.childlogdir
                && config.supervisord.identifier == newConfig.supervisord.identifier
            let kept = sameAuto ? Dictionary(entries.map { ($0.namespec, ($0.machine.config, $0.sinks)) }) { first, _ in first } : [:]
            config = newConfig
            entries = Self.entries(for: newConfig)
            for i in entries.indices {
                if let (old, sinks) = kept[entries[i].namespec], old == entries[i].machine.config { entries[i].sinks = sinks }
            }
            capture.closeIdle()
            byPID = [:]
            mood = .running
            rebuildViews()
            events?.post(group: nil, name: nil, from: "RESTARTING", to: "RUNNING", pid: getpid(), exitStatus: nil, expected: nil)
            notifyListeners("SUPERVISOR_STATE_CHANGE_RUNNING", "")
            logger.info("reloaded \(newConfig.path): \(entries.count) process(es)")
            startAll()
        }
    }

    /// A reload's `[supervisord]` settings, as far as a running minderd can take them: the main
    /// log (`logfile`, its rotation, `loglevel`, `silent`), where AUTO logs go (`childlogdir`,
    /// `identifier`) and `stats_interval`. What only a restart can change is named in a warning.
    func applySettings(_ newConfig: Config) {
        let old = config.supervisord, new = newConfig.supervisord
        mainLog?.apply(new)
        capture.mainLogSyslogServer(new.syslogServer)
        context.childLogDirectory = new.childlogdir
        context.identifier = new.identifier
        if new.statsInterval != old.statsInterval, instance != nil {
            _ = mn_timerfd_every(samplingFD, Int32(new.statsInterval))
        }
        var fixed: [String] = []
        func check<T: Equatable>(_ name: String, _ value: KeyPath<SupervisordSettings, T>) {
            if old[keyPath: value] != new[keyPath: value] { fixed.append(name) }
        }
        check("pidfile", \.pidfile)
        check("nodaemon", \.nodaemon)
        check("minfds", \.minfds)
        check("minprocs", \.minprocs)
        check("umask", \.umask)
        check("user", \.uid)
        check("directory", \.directory)
        check("events_queue_maxmsg", \.eventsQueueMaxmsg)
        check("events_queue_msgsize", \.eventsQueueMsgsize)
        check("stats_group", \.statsGID)
        if config.unixServer != newConfig.unixServer { fixed.append("[unix_http_server]") }
        if !fixed.isEmpty {
            logger.warning("reload: changed \(fixed.joined(separator: ", ")), which take effect when minderd restarts")
        }
    }

    func closeStdins() {
        for i in entries.indices where entries[i].stdinFD >= 0 {
            close(entries[i].stdinFD)
            entries[i].stdinFD = -1
        }
    }

    /// Descendants that left their program's process group were re-parented
    /// to minderd (it is a subreaper); none may outlive it.
    func killOrphans() {
        let deadline = Self.now() + 5
        var signal = SIGTERM
        while true {
            let orphans = Self.children()
            if orphans.isEmpty { break }
            if Self.now() > deadline { signal = SIGKILL }
            for pid in orphans { kill(pid, signal) }
            // Wait for SIGCHLD (or a short bound) and reap. Only the signalfd: the loop's other
            // descriptors may be readable and would make this spin.
            var ready = pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&ready, 1, signal == SIGKILL ? 100 : 500)
            while mn_signalfd_read(signalFD) > 0 {}
            var status: Int32 = 0
            while waitpid(-1, &status, WNOHANG) > 0 {}
            if signal != SIGKILL && Self.now() > deadline { signal = SIGKILL }
        }
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }

    /// Live children of this process, from /proc.
    static func children() -> [Int32] {
        let me = getpid()
        guard let names = SystemFileSystem().directoryEntries("/proc") else { return [] }
        return names.compactMap { name -> Int32? in
            guard let pid = Int32(name), let bytes = try? SystemFileSystem().readFile("/proc/\(name)/stat"),
                  case let stat = String(decoding: bytes, as: UTF8.self),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", Int32(fields[1]) == me else { return nil }
            return pid
        }
    }
}

extension LogLevel {
    var swiftLog: Logger.Level {
        switch self {
        case .critical: .critical
        case .error: .error
        case .warn: .warning
        case .info: .info
        case .debug: .debug
        }
    }
}
