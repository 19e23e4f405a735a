// One process's lifecycle with supervisord's states and transitions. Pure:
// the supervisor feeds it events and carries out the actions it returns, so
// every transition is testable without a process.

import MinderConfig

/// supervisord's process states, with its numeric codes.
public enum ProcessState: Int, Sendable, CustomStringConvertible {
    case stopped = 0
    case starting = 10
    case running = 20
    case backoff = 30
    case stopping = 40
    case exited = 100
    case fatal = 200
    case unknown = 1000

    public var description: String {
        switch self {
        case .stopped: "STOPPED"
        case .starting: "STARTING"
        case .running: "RUNNING"
        case .backoff: "BACKOFF"
        case .stopping: "STOPPING"
        case .exited: "EXITED"
        case .fatal: "FATAL"
        case .unknown: "UNKNOWN"
        }
    }

    /// supervisord's RUNNING_STATES: the process is (or is about to be) up.
    public var isRunningState: Bool { self == .running || self == .starting || self == .backoff }
}

/// How a child ended, as waitpid reports it.
public enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// A process named by MAINPID= that was not minderd's child: it is gone, how is not known.
    case unknown

    /// What waitpid's status word says.
    public init(waitStatus status: Int32) {
        self = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
    }

    /// supervisord's exit status: the code, or -1 after a signal.
    public var code: Int {
        switch self {
        case .exited(let code): Int(code)
        case .signaled, .unknown: -1
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let sig): "terminated by SIG\(Signals.name(of: sig) ?? String(sig))"
        case .unknown: "exit status unknown: not minderd's child"
        }
    }
}

/// Every exit of a process, by whether it was expected: an exit from RUNNING by `exitcodes` (as
/// supervisord's PROCESS_STATE_EXITED `expected`), an exit too quick to reach RUNNING never (supervisord
/// logs it `not expected`), and an exit after a stop Minder asked for always.
public struct ExitCounts: Sendable, Equatable {
    public var expected: UInt64 = 0
    public var unexpected: UInt64 = 0

    public init(expected: UInt64 = 0, unexpected: UInt64 = 0) {
        self.expected = expected
        self.unexpected = unexpected
    }
}

public enum ProcessEvent: Sendable, Equatable {
    /// An explicit or automatic start request.
    case start
    case stop
    case spawned(pid: Int32)
    case spawnFailed(String)
    case exited(ProcessExit)
    /// The deadline the machine asked for has come.
    case deadline
    /// The process said it is ready (`ready=notify`: READY=1).
    case ready
    /// The ready process said it no longer is (RELOADING=1, STOPPING=1) until it says READY=1.
    case notReady
    /// The program named another of its processes its main one (MAINPID=, checked by the supervisor).
    case mainPID(Int32)
}

public enum ProcessAction: Sendable, Equatable {
    case spawn
    /// Send a signal to the process, or to its whole group.
    case signal(Int32, group: Bool)
    case log(LogLevel, String)
}

public enum LogLevel: Sendable {
    case critical, error, warn, info, debug
}

public struct ProcessMachine: Sendable {
    /// A process that keeps dying is respawned at most this often per second,
    /// so millisecond restarts cannot turn a crash loop into a CPU burner.
    public static let maxSpawnsPerSecond = 10

    /// Read in place from its group's list, which the config keeps anyway: a process's config
    /// (672 bytes) is not copied per process, and the supervisor's table holds 16 bytes for it.
    private let configs: [ProcessConfig]
    private let configIndex: Int
    public var config: ProcessConfig { _read { yield configs[configIndex] } }
    public private(set) var state = ProcessState.stopped {
        didSet { if oldValue != state { transitions.append((oldValue, state)) } }
    }
    /// Every state change since the supervisor last took them (one event can cause several).
    public var transitions: [(from: ProcessState, to: ProcessState)] = []
    public private(set) var pid: Int32?
    /// When the machine next needs a `.deadline` event (monotonic seconds).
    public private(set) var deadline: Double?
    public private(set) var lastStart: Double = 0
    public private(set) var lastExit: ProcessExit?
    /// supervisord's `exitstatus`: the code of the last exit (-1 for a signal), except that an
    /// exit too quick to reach RUNNING clears it; a spawn error leaves it as it was.
    public private(set) var exitStatus: Int?
    public private(set) var spawnError: String?
    public private(set) var restarts = 0
    /// Every exit since this machine was made (minderd's start, or the reload or update that made the
    /// program anew), for /metrics.
    public private(set) var exits = ExitCounts()
    /// With `ready=`: whether the running process said it is ready (false until it does, from
    /// each spawn and before the first); nil without.
    public private(set) var ready: Bool?
    /// The stop under way is for a start that was not ready in time: its exit is a failed start.
    private var readyTimedOut = false
    /// Ready once in this run: a later exit is judged as an exit from RUNNING, not a failed start.
    private var readyOnce = false
    /// No automatic (re)start while minderd shuts down or reloads.
    public var autoRestartAllowed = true
    private var backoff = 0
    /// Failed starts in a row: the `tries` of supervisord's STARTING and BACKOFF events.
    public var backoffCount: Int { backoff }
    private var recentSpawns: [Double] = []
    private var restartPending = false
    /// A (re)start the rate limit holds back: the process shows BACKOFF until the spawn, and a
    /// stop cancels it.
    public var isHeldBack: Bool { restartPending }
    private var hasStarted = false

    public init(config: ProcessConfig) {
        self.init(sharing: [config], at: 0)
    }

    /// The machine of `configs[index]`.
    public init(sharing configs: [ProcessConfig], at index: Int) {
        self.configs = configs
        configIndex = index
        ready = configs[index].ready == nil ? nil : false
    }

    public var name: String { config.name }

    /// Feeds one event at monotonic time `now`; returns what to do.
    public mutating func handle(_ event: ProcessEvent, now: Double) -> [ProcessAction] {
        if restartPending {
            // A (re)start held back by the rate limit.
            if event == .deadline {
                restartPending = false
                return spawn(now: now)
            }
            if event == .stop {
                restartPending = false
                state = .stopped
                deadline = nil
                return []
            }
        }
        switch (event, state) {
        case (.start, .stopped), (.start, .exited), (.start, .fatal), (.start, .backoff), (.start, .unknown):
            backoff = 0
            restartPending = false
            return spawn(now: now)

        case (.ready, .starting), (.ready, .running):
            guard ready == false else { return [] }
            ready = true
            readyOnce = true
            if state == .running {
                deadline = nil
                backoff = 0
            }
            return [.log(.info, "ready: \(name)")]

        case (.notReady, .starting), (.notReady, .running):
            if ready == true { ready = false }
            return []

        case (.mainPID(let newPID), .starting), (.mainPID(let newPID), .running):
            guard newPID != pid else { return [] }
            pid = newPID
            return [.log(.info, "main process: \(name) is now pid \(newPID) (MAINPID=)")]

        case (.deadline, .running):
            // Only the ready timeout sets a deadline in RUNNING.
            guard ready == false, now - lastStart >= Double(config.readyTimeout) else { return [] }
            readyTimedOut = true
            state = .stopping
            deadline = now + Double(config.stopwaitsecs)
            return [.log(.warn, "not ready: \(name) was not ready within \(config.readyTimeout) seconds (ready_timeout); stopping it"),
                    .signal(config.stopsignal, group: config.stopasgroup)]

        case (.spawned(let pid), .starting):
            self.pid = pid
            spawnError = nil
            var actions: [ProcessAction] = [.log(.info, "spawned: '\(name)' with pid \(pid)")]
            if config.startsecs <= 0 {
                actions += becomeRunning()
            } else {
                deadline = lastStart + Double(config.startsecs)
            }
            return actions

        case (.spawnFailed(let reason), .starting):
            spawnError = reason
            return [.log(.info, "spawnerr: \(reason)")] + enterBackoff(now: now)

        case (.deadline, .starting):
            return now - lastStart >= Double(config.startsecs) ? becomeRunning() : []

        case (.exited(let status), .starting):
            recordExit(status)
            if now - lastStart < Double(config.startsecs) {
                exits.unexpected += 1
                exitStatus = nil
                spawnError = "Exited too quickly (process log may have details)"
                return [.log(.info, "exited: \(name) (\(status); not expected)")] + enterBackoff(now: now)
            }
            // It outlived startsecs; the RUNNING transition just had not run yet.
            let running = becomeRunning()
            return running + (ready == false && !readyOnce ? exitedBeforeReady(status, now: now) : exitedFromRunning(status, now: now))

        case (.exited(let status), .running) where ready == false && !readyOnce:
            recordExit(status)
            return exitedBeforeReady(status, now: now)

        case (.exited(let status), .running):
            recordExit(status)
            return exitedFromRunning(status, now: now)

        case (.deadline, .backoff):
            guard autoRestartAllowed else {
                state = .stopped
                deadline = nil
                return []
            }
            return spawn(now: now)

        case (.stop, .running), (.stop, .starting):
            readyTimedOut = false
            state = .stopping
            deadline = now + Double(config.stopwaitsecs)
            return [.log(.debug, "stopping: \(name)"), .signal(config.stopsignal, group: config.stopasgroup)]

        case (.stop, .backoff), (.stop, .exited):
            state = .stopped
            deadline = nil
            restartPending = false
            return []

        case (.deadline, .stopping):
            deadline = now + Double(config.stopwaitsecs)
            return [.log(.warn, "killing '\(name)' (\(pid ?? 0)) with SIGKILL"), .signal(9, group: config.killasgroup)]

        case (.exited(let status), .stopping) where readyTimedOut:
            // A start that never became ready: a failed start, retried as supervisord retries one.
            readyTimedOut = false
            recordExit(status)
            exits.unexpected += 1
            spawnError = "not ready within \(config.readyTimeout) seconds (ready_timeout)"
            return [.log(.info, "stopped: \(name) (\(status))")] + enterBackoff(now: now)

        case (.exited(let status), .stopping):
            recordExit(status)
            exits.expected += 1  // the stop asked for it
            state = .stopped
            deadline = nil
            return [.log(isExpected(status) ? .info : .warn, "stopped: \(name) (\(status))")]

        case (.exited(let status), _):
            // Exit of a process we no longer track as running: record it only.
            recordExit(status)
            if isExpected(status) { exits.expected += 1 } else { exits.unexpected += 1 }
            return []

        default:
            return []
        }
    }

    /// Gone before it was ready: a failed start.
    private mutating func exitedBeforeReady(_ status: ProcessExit, now: Double) -> [ProcessAction] {
        exits.unexpected += 1
        spawnError = "exited before it was ready"
        return [.log(.info, "exited: \(name) (\(status); not ready yet)")] + enterBackoff(now: now)
    }

    /// What every exit leaves behind, whatever it means for the state.
    private mutating func recordExit(_ status: ProcessExit) {
        pid = nil
        lastExit = status
        exitStatus = status.code
    }

    /// Whether the last exit was one of `exitcodes`; nil before any exit.
    public var lastExitExpected: Bool? { lastExit.map(isExpected) }

    /// An exit code listed in exitcodes; death by a signal never is.
    private func isExpected(_ status: ProcessExit) -> Bool {
        if case .exited(let code) = status { return config.exitcodes.contains(Int(code)) }
        return false
    }

    private mutating func spawn(now: Double) -> [ProcessAction] {
        // The rate limit: wait until the oldest of the last spawns is a second old.
        if recentSpawns.count >= Self.maxSpawnsPerSecond, let oldest = recentSpawns.first, now < oldest + 1 {
            deadline = oldest + 1
            restartPending = true
            state = .backoff
            spawnError = "restart held back: \(Self.maxSpawnsPerSecond) spawns in the last second"
            return [.log(.debug, "delaying restart of \(name): \(Self.maxSpawnsPerSecond) spawns in the last second")]
        }
        recentSpawns.append(now)
        if recentSpawns.count > Self.maxSpawnsPerSecond { recentSpawns.removeFirst() }
        if hasStarted { restarts += 1 }
        hasStarted = true
        ready = config.ready == nil ? nil : false
        readyOnce = false
        state = .starting
        lastStart = now
        deadline = nil
        return [.spawn]
    }

    private mutating func becomeRunning() -> [ProcessAction] {
        state = .running
        // With ready=, the start succeeds when the program is ready.
        if ready != false || readyOnce { backoff = 0 }
        // Not ready yet: the ready timeout, counted from the spawn (not for a reload after READY=1).
        deadline = ready == false && !readyOnce ? lastStart + Double(config.readyTimeout) : nil
        return [.log(.info, "success: \(name) entered RUNNING state, process has stayed up for > than \(config.startsecs) seconds (startsecs)")]
    }

    private mutating func enterBackoff(now: Double) -> [ProcessAction] {
        backoff += 1
        if backoff > config.startretries || !autoRestartAllowed {
            state = .fatal
            deadline = nil
            backoff = 0
            return [.log(.info, "gave up: \(name) entered FATAL state, too many start retries too quickly")]
        }
        state = .backoff
        deadline = now + Double(backoff)
        return []
    }

    private mutating func exitedFromRunning(_ status: ProcessExit, now: Double) -> [ProcessAction] {
        state = .exited
        backoff = 0
        deadline = nil
        let expected = isExpected(status)
        if expected { exits.expected += 1 } else { exits.unexpected += 1 }
        var actions: [ProcessAction] = [.log(expected ? .info : .warn, "exited: \(name) (\(status); \(expected ? "expected" : "not expected"))")]
        let restart = switch config.autorestart {
        case .always: true
        case .never: false
        case .unexpected: !expected
        }
        if restart && autoRestartAllowed {
            actions += spawn(now: now)
        }
        return actions
    }
}
