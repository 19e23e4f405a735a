// The supervisor's side of the control API: requests are answered on the
// loop that owns the process table; operations that wait (start, stop,
// update) park a waiter that is checked after every turn of the loop.

import CMinder
import Glibc
import Logging
import MinderConfig
import MinderControl

struct Waiter {
    /// Returns the reply once the wait is over, nil while it goes on.
    var check: (Supervisor) -> ControlReply?
    var reply: ControlBridge.Reply
}

extension Supervisor {
    func handleControl() {
        for (request, reply) in bridge.take() {
            if let answer = answer(request, reply: reply) { reply(answer) }
        }
    }

    func checkWaiters() {
        var remaining: [Waiter] = []
        for waiter in waiters {
            if let answer = waiter.check(self) { waiter.reply(answer) } else { remaining.append(waiter) }
        }
        waiters = remaining
    }

    var isStopping: Bool {
        if case .running = mood { return false }
        return true
    }

    /// The reply now, or nil when a waiter will give it.
    func answer(_ request: ControlRequest, reply: @escaping ControlBridge.Reply) -> ControlReply? {
        switch request {
        case .probeResolved(let attempt, let key, let result):
            probeResolved(attempt, key: key, result)
            return nil
        case .signalReload(let result):
            reloadPending = false
            guard case .running = mood else { return nil }
            guard let newConfig = result.config else {
                // Unlike supervisord, a broken config changes nothing: the old one keeps running.
                for e in result.errors { logger.error("reload aborted, config kept: \(e)") }
                return nil
            }
            for w in result.warnings { logger.warning("\(w)") }
            beginStopping(.reloading(newConfig))
            return nil
        case .remoteEvent(let type, let data):
            notifyListeners("REMOTE_COMMUNICATION", "type:\(type)\n\(data)")
            return .ok(["result": "sent"])
        case .processOutput(let communication, let group, let name, let pid, let channel, let data):
            let text = String(decoding: data, as: UTF8.self)
            if communication {
                logger.debug("'\(name)' \(channel) emitted a comm event")
                notifyListeners("PROCESS_COMMUNICATION_\(channel.uppercased())", "processname:\(name) groupname:\(group) pid:\(pid)\n" + text)
            } else {
                notifyListeners("PROCESS_LOG_\(channel.uppercased())", "processname:\(name) groupname:\(group) pid:\(pid) channel:\(channel)\n" + text)
            }
            return nil
        case .subscribe(let request, let uid, let pid):
            guard let subscribers = events?.subscribers else { return .fault(.NO_FILE, "minderd posts no events") }
            switch subscribers.subscribe(request, uid: uid, peer: pid, epollFD: epollFD) {
            case .success(let info):
                logger.info("events: made \(info.queue) for uid \(uid) (\(info.maxmsg) messages of \(info.msgsize) bytes)")
                return .json(status: 201, body: JSON.encode(info))
            case .failure(let refused):
                logger.warning("events: refused a queue to uid \(uid): \(refused.message)")
                return .json(status: refused.status, body: JSON.encode(ErrorReply(.FAILED, refused.message)))
            }
        case .subscriptions:
            return .ok(events?.subscribers?.list ?? [])
        case .unsubscribe(let id, let uid):
            guard let subscribers = events?.subscribers else { return .fault(.NO_FILE, "minderd posts no events") }
            switch subscribers.unsubscribe(id, uid: uid) {
            case .success(let info): return .ok(info)
            case .failure(let refused): return .json(status: refused.status, body: JSON.encode(ErrorReply(.FAILED, refused.message)))
            }
        case .freshSample:
            sampleWaiters.append(reply)
            sampleSoon()
            return nil
        case .supervisorInfo:
            let (name, code) = switch mood {
            case .running: ("RUNNING", 1)
            case .reloading: ("RESTARTING", 0)
            case .shuttingDown: ("SHUTDOWN", -1)
            }
            return .ok(SupervisorInfo(statename: name, state: code, identifier: config.supervisord.identifier,
                                      pid: getpid(), version: MinderVersion.current, eventsDropped: events?.dropped ?? 0,
                                      streamEventsDropped: events?.stream?.droppedCount ?? 0))
        case .configInfo(let result):
            guard let file = result.config else { return cantReread(result) }
            let active = Set(entries.map(\.namespec))
            return .ok(file.groups.flatMap { g in
                g.processes.map { p in
                    ConfigEntry(name: p.name, group: g.name, inuse: active.contains(g.name == p.name ? p.name : "\(g.name):\(p.name)"),
                                autostart: p.autostart, group_priority: g.priority, process_priority: p.priority)
                }
            })
        case .clearMainLog:
            guard let sink = mainLog?.sinks.first(where: { $0 != .syslog && $0.path != "/dev/stdout" }) else {
                return .fault(.NO_FILE, "the main log is not a file")
            }
            capture.truncate(sink)
            return .ok(["result": "cleared"])
        case .mainLogPath:
            return .file(Paths.absolute(config.supervisord.logfile, cwd: SystemInputs.workingDirectory()))
        case .logPath(let spec, let channel):
            guard case .process = spec else { return .fault(.BAD_NAME, "name a single process: \(spec)") }
            switch resolve(spec) {
            case .failure(let error): return error.reply
            case .success(let found):
                let entry = entries[found[0]]
                let sinks = logSinks(found[0])
                guard let sink = channel == "stderr" ? sinks.stderr : sinks.stdout else {
                    return .fault(.NO_FILE, "\(entry.namespec) has no \(channel) log file")
                }
                return .file(sink.path)
            }
        default:
            break
        }
        if isStopping { return .fault(.SHUTDOWN_STATE, "minderd is shutting down or reloading") }
        switch request {
        case .start(let spec, let wait, let deps):
            // For a group or all, what already runs is left out, as in supervisord.
            return operate(spec, reply: reply, skip: { !$0.machine.state.isRunningState }) { i in self.start(i, wait: wait, deps: deps) }
        case .stop(let spec, let wait):
            return operate(spec, reply: reply, skip: { $0.machine.state.isRunningState || $0.waiting }) { i in self.stop(i, wait: wait) }
        case .restart(let spec, let wait):
            return operate(spec, reply: reply) { i in self.restart(i, wait: wait) }
        case .signal(let spec, let name):
            guard let number = Signals.parse(name) else { return .fault(.BAD_SIGNAL, "bad signal name \(name)") }
            return operate(spec, reply: reply) { i in
                let entry = self.entries[i]
                guard let pid = entry.machine.pid,
                      [.running, .starting, .stopping].contains(entry.machine.state) else {
                    return { _ in (.NOT_RUNNING, "not running") }
                }
                kill(pid, number)
                return { _ in (.SUCCESS, "signalled") }
            }
        case .stdin(let spec, let text):
            guard case .process = spec else { return .fault(.BAD_NAME, "name a single process: \(spec)") }
            switch resolve(spec) {
            case .failure(let error): return error.reply
            case .success(let found):
                let entry = entries[found[0]]
                guard entry.machine.state.isRunningState || entry.machine.state == .stopping, entry.stdinFD >= 0 else {
                    return .fault(.NOT_RUNNING, "\(entry.namespec): not running")
                }
                let bytes = Array(text.utf8)
                let written = bytes.withUnsafeBytes { write(entry.stdinFD, $0.baseAddress, $0.count) }
                guard written == bytes.count else {
                    return .fault(.FAILED, "\(entry.namespec) is not reading its stdin")
                }
                return .ok(["written": written])
            }
        case .clearLogs(let spec):
            return operate(spec, reply: reply) { i in
                let entry = self.entries[i]
                // Never started: no log file exists yet, nothing to clear.
                if let sinks = entry.sinks {
                    for sink in [sinks.stdout, sinks.stderr].compactMap({ $0 }) { self.capture.truncate(sink) }
                }
                return { _ in (.SUCCESS, "cleared") }
            }
        case .reread(let result):
            guard let newConfig = result.config else { return cantReread(result) }
            return .ok(diff(against: newConfig))
        case .update(let result, let groups):
            guard let newConfig = result.config else { return cantReread(result) }
            if let groups, let unknown = groups.first(where: { g in
                !newConfig.groups.contains { $0.name == g } && !config.groups.contains { $0.name == g }
            }) {
                return .fault(.BAD_NAME, "no such group: \(unknown)")
            }
            return update(to: newConfig, only: groups, reply: reply)
        case .reload(let result):
            guard let newConfig = result.config else { return cantReread(result) }
            logger.warning("reload requested through the control API")
            beginStopping(.reloading(newConfig))
            return .ok(["result": "reloading"])
        case .addGroup(let result, let name):
            guard let file = result.config else { return cantReread(result) }
            guard let group = file.groups.first(where: { $0.name == name }) else {
                return .fault(.BAD_NAME, "no such process/group: \(name)")
            }
            if config.groups.contains(where: { $0.name == name }) {
                return .fault(.ALREADY_ADDED, "process group already active: \(name)")
            }
            config.groups.append(group)
            let first = entries.count
            entries += group.processes.indices.map { Entry(machine: ProcessMachine(sharing: group.processes, at: $0), group: group.name) }
            rebuildViews()
            logger.info("added process group \(name)")
            notifyListeners("PROCESS_GROUP_ADDED", "groupname:\(name)\n")
            spawningInBatch {
                for i in first..<entries.count where entries[i].machine.config.autostart { feed(i, .start) }
            }
            return .ok(["added": name])
        case .removeGroup(let name):
            guard config.groups.contains(where: { $0.name == name }) else {
                return .fault(.BAD_NAME, "no such process/group: \(name)")
            }
            if entries.contains(where: { $0.group == name && ($0.machine.state.isRunningState || $0.machine.state == .stopping) }) {
                return .fault(.STILL_RUNNING, "process/group still running: \(name)")
            }
            entries.removeAll { $0.group == name }
            config.groups.removeAll { $0.name == name }
            byPID = [:]
            for (i, e) in entries.enumerated() { if let pid = e.machine.pid { byPID[pid] = i } }
            rebuildViews()
            logger.info("removed process group \(name)")
            notifyListeners("PROCESS_GROUP_REMOVED", "groupname:\(name)\n")
            return .ok(["removed": name])
        case .shutdown:
            logger.warning("shutdown requested through the control API")
            beginStopping(.shuttingDown)
            return .ok(["result": "shutting down"])
        default:
            return nil
        }
    }

    func cantReread(_ result: ConfigLoadResult) -> ControlReply {
        .fault(.CANT_REREAD, result.errors.map(\.description).joined(separator: "\n"))
    }

    // MARK: names

    func resolve(_ spec: NameSpec) -> Result<[Int], ControlReplyError> {
        switch spec {
        case .all:
            return .success(Array(entries.indices))
        case .group(let g):
            let found = entries.indices.filter { entries[$0].group == g }
            return found.isEmpty && !config.groups.contains(where: { $0.name == g })
                ? .failure(ControlReplyError(.fault(.BAD_NAME, "no such group: \(g)"))) : .success(found)
        case .process(let g, let n):
            guard let i = entries.firstIndex(where: { $0.group == g && $0.machine.name == n }) else {
                return .failure(ControlReplyError(.fault(.BAD_NAME, "no such process: \(spec)")))
            }
            return .success([i])
        }
    }


    func info(_ i: Int) -> ProcessStatus {
        let e = entries[i]
        let m = e.machine
        let exitStatus = m.exitStatus ?? 0
        let sinks = logSinks(i)
        var status = ProcessStatus(name: m.name, group: e.group, statename: m.state.description, state: m.state.rawValue,
                                   description: "", pid: m.pid ?? 0, start: e.startedAt, stop: e.stoppedAt, now: 0,
                                   spawnerr: m.spawnError ?? "", exitstatus: exitStatus, restarts: m.restarts,
                                   stdout_logfile: sinks.stdout?.path ?? "", stderr_logfile: sinks.stderr?.path ?? "")
        status.ready = m.ready
        status.healthy = e.healthy
        status.status_text = m.pid == nil ? "" : [e.statusText, e.errnoNote].filter { !$0.isEmpty }.joined(separator: ", ")
        status.waiting_for = e.waitingFor
        return status
    }

    /// supervisorctl's uptime, Python's str(timedelta) over whole seconds: `0:05:12`,
    /// `1 day, 2:03:04`.
    static func appendUptime(_ seconds: Double, to text: inout [UInt8]) {
        let total = Int(seconds)
        let days = total / 86400, rest = total % 86400
        if days > 0 {
            appendDecimal(days, to: &text)
            text.append(contentsOf: (days == 1 ? " day, " : " days, ").utf8)
        }
        appendDecimal(rest / 3600, to: &text)
        for part in [rest % 3600 / 60, rest % 60] {
            text.append(UInt8(ascii: ":"))
            if part < 10 { text.append(UInt8(ascii: "0")) }
            appendDecimal(part, to: &text)
        }
    }

    /// supervisord's stop time: `Nov 26 06:46 AM` in local time.
    static func stopTime(_ epoch: Double) -> String {
        var t = time_t(epoch)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%b %d %I:%M %p", &parts)
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: operations

    /// An operation's outcome for one process, decided now or once the state settles.
    typealias Outcome = (Supervisor) -> (Fault, String)?

    /// Runs `act` on every named process; one process gets its fault as an error reply,
    /// several get one result each.
    func operate(_ spec: NameSpec, reply: @escaping ControlBridge.Reply, skip keep: (Entry) -> Bool = { _ in true },
                 _ act: (Int) -> Outcome) -> ControlReply? {
        var indices: [Int]
        switch resolve(spec) {
        case .success(let found): indices = found
        case .failure(let error): return error.reply
        }
        let single: Bool = if case .process = spec { true } else { false }
        if !single { indices = indices.filter { keep(entries[$0]) } }
        // A start of a group or all: cloned on the spawn threads, each known before any outcome is.
        func acted() -> [(String, Outcome)] { indices.map { (entries[$0].namespec, act($0)) } }
        let pending = indices.count > 1 ? spawningInBatch(acted) : acted()
        // Outcomes known at once (a start that cannot find its command) come first, then those
        // that waited, each in process order: supervisord too lists what failed at once first.
        let settled = Box<[Int: ProcessResult]>([:])
        let atOnce = Box<Set<Int>>([])
        let first = Box(true)
        let finish: (Supervisor) -> ControlReply? = { supervisor in
            for (k, (namespec, outcome)) in pending.enumerated() where settled.value[k] == nil {
                guard let (fault, text) = outcome(supervisor) else { continue }
                let group = namespec.split(separator: ":").first.map(String.init) ?? namespec
                let name = namespec.split(separator: ":").last.map(String.init) ?? namespec
                settled.value[k] = ProcessResult(name: name, group: group, code: fault, description: text)
                if first.value { atOnce.value.insert(k) }
            }
            first.value = false
            guard settled.value.count == pending.count else { return nil }
            let rank = { (k: Int) in (atOnce.value.contains(k) ? 0 : 1, k) }
            let results = pending.indices.sorted { rank($0) < rank($1) }.map { settled.value[$0]! }
            if single, let only = results.first, only.code != .SUCCESS {
                return .fault(only.code, "\(only.namespec): \(only.description)")
            }
            return .ok(results)
        }
        if let now = finish(self) { return now }
        waiters.append(Waiter(check: finish, reply: reply))
        return nil
    }

    func index(of namespec: String) -> Int? { entries.firstIndex { $0.namespec == namespec } }

    /// With `deps`, what the process depends on is started first where needed; without, a start
    /// whose dependencies are not met is refused.
    func start(_ i: Int, wait: Bool, deps: Bool = true) -> Outcome {
        let namespec = entries[i].namespec
        if entries[i].machine.state.isRunningState { return { _ in (.ALREADY_STARTED, "already started") } }
        if let problem = Spawner.precheck(entries[i].machine.config, environment: context.environment) {
            return { _ in problem }
        }
        if !deps, unmet(i) != nil {
            let reason = waitReason(i)
            return { _ in (.SPAWN_ERROR, "needs \(reason); nothing else was started (deps=false)") }
        }
        requestStart(i, pull: true)
        guard wait else {
            let text = entries[i].waiting ? "waiting for \(waitReason(i))" : "started"
            return { _ in (.SUCCESS, text) }
        }
        return { s in
            guard let j = s.index(of: namespec) else { return (.FAILED, "removed") }
            if s.entries[j].waiting {
                // Waits as long as its dependencies are on their way; one that is not fails the start.
                guard let edge = s.unmet(j), s.isStuck(edge) else { return nil }
                return (.SPAWN_ERROR, "waiting for \(s.waitReason(j))")
            }
            let m = s.entries[j].machine
            if m.state == .running { return (.SUCCESS, "started") }
            // Held back by the rate limit: the spawn is coming, and its outcome is the answer.
            if m.isHeldBack { return nil }
            if m.state == .backoff || m.state == .fatal, let error = m.spawnError { return (.SPAWN_ERROR, error) }
            if m.state != .starting && m.state != .backoff { return (.ABNORMAL_TERMINATION, "abnormal termination") }
            return nil
        }
    }

    func stop(_ i: Int, wait: Bool) -> Outcome {
        let namespec = entries[i].namespec
        if entries[i].waiting {
            setWaiting(i, false)
            logger.info("stopped waiting: \(entries[i].machine.name)")
            return { _ in (.SUCCESS, "stopped") }
        }
        guard entries[i].machine.state.isRunningState else { return { _ in (.NOT_RUNNING, "not running") } }
        feed(i, .stop)
        guard wait else { return { _ in (.SUCCESS, "stopped") } }
        return { s in
            guard let j = s.index(of: namespec) else { return (.SUCCESS, "stopped") }
            let state = s.entries[j].machine.state
            return state.isRunningState || state == .stopping ? nil : (.SUCCESS, "stopped")
        }
    }

    /// supervisorctl's restart: stop (if running), then start.
    func restart(_ i: Int, wait: Bool) -> Outcome {
        let namespec = entries[i].namespec
        let state = entries[i].machine.state
        if state.isRunningState || state == .stopping { feed(i, .stop) }
        var started: Outcome?
        let outcome: Outcome = { s in
            if let started { return started(s) }
            guard let j = s.index(of: namespec) else { return (.FAILED, "removed") }
            let m = s.entries[j].machine
            if m.state.isRunningState || m.state == .stopping { return nil }
            if s.isStopping { return (.SHUTDOWN_STATE, "minderd is shutting down or reloading") }
            let next = s.start(j, wait: wait)
            started = next
            return next(s)
        }
        guard !wait else { return outcome }
        // Without wait the reply goes now; the start still follows the stop.
        waiters.append(Waiter(check: { s in outcome(s).map { _ in .ok([String: String]()) } }, reply: { _ in }))
        return { _ in (.SUCCESS, "restarting") }
    }

    /// Where a process's output goes; AUTO names are drawn on first use and kept.
    func logSinks(_ i: Int) -> (stdout: LogSink?, stderr: LogSink?) {
        if let sinks = entries[i].sinks { return sinks }
        let sinks = Spawner.logSinks(for: entries[i].machine.config, context: context)
        entries[i].sinks = sinks
        return sinks
    }

    // MARK: reread and update

    /// Groups compared without where they were written: moving a line is no change.
    static func comparable(_ g: GroupConfig) -> GroupConfig {
        var g = g
        let nowhere = SourceLocation(file: "", line: 0)
        g.location = nowhere
        for i in g.processes.indices { g.processes[i].location = nowhere }
        return g
    }

    func diff(against newConfig: Config) -> ConfigDiff {
        let old = Dictionary(config.groups.map { ($0.name, Self.comparable($0)) }, uniquingKeysWith: { $1 })
        let new = Dictionary(newConfig.groups.map { ($0.name, Self.comparable($0)) }, uniquingKeysWith: { $1 })
        return ConfigDiff(added: new.keys.filter { old[$0] == nil }.sorted(),
                          changed: new.keys.filter { old[$0] != nil && old[$0] != new[$0] }.sorted(),
                          removed: old.keys.filter { new[$0] == nil }.sorted())
    }

    /// supervisorctl's update: stop and remove gone groups, restart changed ones, add new ones;
    /// the others keep running untouched.
    func update(to newConfig: Config, only groups: [String]?, reply: @escaping ControlBridge.Reply) -> ControlReply? {
        var d = diff(against: newConfig)
        if let groups {
            d.added = d.added.filter(groups.contains)
            d.changed = d.changed.filter(groups.contains)
            d.removed = d.removed.filter(groups.contains)
        }
        let retiring = Set(d.changed + d.removed)
        for i in entries.indices where retiring.contains(entries[i].group) {
            entries[i].machine.autoRestartAllowed = false
            let state = entries[i].machine.state
            if state.isRunningState || state == .stopping || entries[i].machine.deadline != nil { feed(i, .stop) }
        }
        let finish: (Supervisor) -> ControlReply? = { s in
            let busy = s.entries.contains {
                retiring.contains($0.group) && ($0.machine.state.isRunningState || $0.machine.state == .stopping)
            }
            if busy { return nil }
            if s.isStopping { return .fault(.SHUTDOWN_STATE, "minderd is shutting down or reloading") }
            s.applyUpdate(newConfig, diff: d, updatingAll: groups == nil)
            return .ok(d)
        }
        if let now = finish(self) { return now }
        waiters.append(Waiter(check: finish, reply: reply))
        return nil
    }

    func applyUpdate(_ newConfig: Config, diff d: ConfigDiff, updatingAll: Bool) {
        let replaced = Set(d.changed + d.removed)
        for i in entries.indices where replaced.contains(entries[i].group) && entries[i].stdinFD >= 0 {
            close(entries[i].stdinFD)
        }
        var kept = entries.filter { !replaced.contains($0.group) }
        let incoming = Set(d.changed + d.added)
        var fresh: [Entry] = []
        for g in newConfig.groups where incoming.contains(g.name) {
            fresh += g.processes.indices.map { Entry(machine: ProcessMachine(sharing: g.processes, at: $0), group: g.name) }
        }
        // Groups keep the new config's order, which is the start order.
        let order = Dictionary(newConfig.groups.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        kept += fresh
        entries = kept.enumerated().sorted { a, b in
            let oa = order[a.element.group] ?? Int.max, ob = order[b.element.group] ?? Int.max
            return oa != ob ? oa < ob : a.offset < b.offset
        }.map(\.element)
        if updatingAll {
            config = newConfig
        } else {
            // Only the named groups change; everything else stays as it runs now.
            var groups = config.groups.filter { !replaced.contains($0.name) }
            groups += newConfig.groups.filter { incoming.contains($0.name) }
            config.groups = groups
        }
        byPID = [:]
        for (i, e) in entries.enumerated() { if let pid = e.machine.pid { byPID[pid] = i } }
        for name in d.removed { logger.info("removed process group \(name)") }
        rebuildViews()
        for i in entries.indices where incoming.contains(entries[i].group) && entries[i].machine.config.autostart {
            requestStart(i, pull: true)
        }
        for name in d.changed { logger.info("updated process group \(name)") }
        for name in d.added { logger.info("added process group \(name)") }
        for name in d.removed + d.changed { notifyListeners("PROCESS_GROUP_REMOVED", "groupname:\(name)\n") }
        for name in d.changed + d.added { notifyListeners("PROCESS_GROUP_ADDED", "groupname:\(name)\n") }
    }
}

/// A value a waiter's closure keeps between the turns it is checked on.
final class Box<T> {
    var value: T
    init(_ value: T) { self.value = value }
}

struct ControlReplyError: Error {
    var reply: ControlReply
    init(_ reply: ControlReply) { self.reply = reply }
}
