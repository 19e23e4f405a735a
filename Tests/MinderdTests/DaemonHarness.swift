import CMinder
import Foundation
import MinderControl
import Testing

/// One real minderd in the foreground, in its own temporary directory, with
/// its own config. Whatever happens in the test, every process it started is
/// killed by pid at the end.
final class DaemonHarness: @unchecked Sendable {
    let dir: TemporaryDirectory
    let configPath: String
    let process = Process()
    private let exited = DispatchSemaphore(value: 0)
    private var exitStatus: Int32?

    var logPath: String { dir.path + "/minderd.log" }
    var pid: Int32 { process.processIdentifier }

    /// `programs` is the config after the [supervisord] section.
    /// minderd's own stdout goes here when set (the main log in the foreground, /dev/stdout logs).
    var stdoutPath: String?

    /// At `loglevel=debug` (the default here) the main log also gets every child's output.
    init(_ programs: String, supervisord: String = "", loglevel: String = "debug", start: Bool = true) throws {
        dir = try TemporaryDirectory()
        configPath = dir.path + "/minder.conf"
        try Self.config(programs, supervisord: supervisord, loglevel: loglevel)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        if start { try launch() }
    }

    static func config(_ programs: String, supervisord: String = "", loglevel: String = "debug") -> String {
        """
        [supervisord]
        logfile=%(here)s/minderd.log
        pidfile=%(here)s/minderd.pid
        childlogdir=%(here)s
        loglevel=\(loglevel)
        \(supervisord)

        \(programs)
        """
    }

    /// minderd's stdout as it is, when set (a Pipe, say).
    var standardOutput: Any?
    /// Added to minderd's environment.
    var environment: [String: String] = [:]
    /// A command that execs minderd (`prlimit --nofile=...`, say); minderd keeps its pid.
    var launcher: [String] = []
    /// The daemon: minderd, or supervisord (which takes the same `-n -c`) for a side-by-side run.
    var daemonPath = minderdPath
    /// More command-line options for the daemon.
    var arguments: [String] = []
    /// Whether the pids in the log are this machine's (not when minderd runs in a PID namespace of
    /// its own, whose processes die with it): the ones still alive are killed at the end.
    var logPIDsAreOurs = true

    func launch() throws {
        let command = launcher + [daemonPath, "-n", "-c", configPath] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        var environment = environment
        if launcher.isEmpty, daemonPath == minderdPath, let closeChecker { environment["LD_PRELOAD"] = closeChecker }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let standardOutput {
            process.standardOutput = standardOutput
        } else if let stdoutPath {
            _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
    }

    /// The daemon's stderr, which says why it did not start when it did not.
    var stderrPath: String { dir.path + "/daemon.stderr" }

    /// The main log so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the log holds `count` lines containing `text`; fails after `timeout` (a hang, not a timing).
    @discardableResult
    func waitForLog(_ text: String, count: Int = 1, timeout: Double = 30) throws -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let lines = log.split(separator: "\n").filter { $0.contains(text) }.map(String.init)
            if lines.count >= count { return lines }
            if Date() > deadline {
                let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                throw Failure("no \(count)× \(text.debugDescription) in the log after \(timeout) s:\n\(log)\(stderr.isEmpty ? "" : "\nstderr:\n\(stderr)")")
            }
            usleep(20_000)
        }
    }

    /// One process's status over the control socket `m.sock` in the test's folder; nil on failure.
    func status(_ name: String) -> ProcessStatus? {
        guard let r = try? ControlClient(socketPath: dir.path + "/m.sock").request("GET", "/api/v1/processes/\(name)"),
              r.status == 200 else { return nil }
        return (try? JSON.decode([ProcessStatus].self, r.body))?.first
    }

    /// pid from the last "spawned: 'name' with pid N" line.
    func pid(of name: String) throws -> Int32 {
        let line = try waitForLog("spawned: '\(name)' with pid").last!
        return Int32(line.split(separator: " ").last!)!
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Sends SIGTERM and waits for minderd to exit; returns its status.
    @discardableResult
    func stop(timeout: Double = 60) throws -> Int32 {
        signal(SIGTERM)
        let status = try waitForExit(timeout: timeout)
        if status != 0 {
            // What the test's expectation cannot say: how it ended, and what it logged last.
            let how = "ended with \(status) (its exit status, or the signal that killed it)"
            let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            let tail = log.split(separator: "\n").suffix(40).joined(separator: "\n")
            FileHandle.standardError.write(Data("\(daemonPath) (pid \(pid)) \(how) after SIGTERM; its log ends:\n\(tail)\nstderr:\n\(stderr)\n".utf8))
        }
        return status
    }

    func waitForExit(timeout: Double = 60) throws -> Int32 {
        if let exitStatus { return exitStatus }
        guard exited.wait(timeout: .now() + timeout) == .success else {
            throw Failure("minderd did not exit within \(timeout) s")
        }
        exitStatus = process.terminationStatus
        return process.terminationStatus
    }

    /// Every pid minderd reported spawning.
    var spawnedPIDs: [Int32] {
        log.split(separator: "\n").filter { $0.contains("spawned: '") }.compactMap { Int32($0.split(separator: " ").last!) }
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGTERM)
            if exited.wait(timeout: .now() + 15) == .timedOut { kill(pid, SIGKILL) }
        }
        if logPIDsAreOurs { for child in spawnedPIDs where isAlive(child) { kill(child, SIGKILL) } }
        // A minderd that was killed (by the test, or here) leaves its IPC objects, which outlive
        // every test folder: its queues would soon fill this user's RLIMIT_MSGQUEUE.
        Self.removeIPCObjects(configPath: configPath)
    }

    static func removeIPCObjects(configPath: String) {
        let instance = InstanceID(configPath: configPath)
        _ = mn_mq_unlink(instance.eventQueue)
        _ = mn_stats_unlink(instance.statsSegment)
        for generation in 1...8 {
            _ = mn_sem_unlink(instance.statsSemaphore(generation))
            _ = mn_sem_unlink(instance.statsFresh(generation))
        }
        _ = mn_mq_unlink(instance.statsRequests)
        // Subscribers' queues: EventSubscribers.total of them at most.
        for subscriber in 1...16 { _ = mn_mq_unlink("\(instance.eventQueue).\(subscriber)") }
    }
}

/// True while `pid` exists and is not a zombie.
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    guard let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// Waits until `condition` holds; fails after `timeout` seconds.
func waitUntil(_ what: String, timeout: Double = 30, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { throw Failure("timed out waiting for \(what)") }
        usleep(20_000)
    }
}

/// Waits for a pid a child wrote to `path` (a line ending in a newline) and returns it.
func pidWritten(to path: String) throws -> Int32 {
    var pid: Int32?
    try waitUntil("a pid in \(path)") {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") else { return false }
        pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        return pid != nil
    }
    return pid!
}

/// A program run with a pipe for its stdin and its stdout in a file, killed by pid when released.
final class Interactive {
    let process = Process()
    let input = Pipe()
    let output: String
    private let ended = DispatchSemaphore(value: 0)

    init(_ executable: String, _ arguments: [String], output: String) throws {
        self.output = output
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardInput = input
        process.terminationHandler = { [ended] _ in ended.signal() }
        try process.run()
    }

    /// True when it exits within `timeout` seconds.
    func waitForExit(timeout: Double = 30) -> Bool { ended.wait(timeout: .now() + timeout) == .success }

    func kill() { Foundation.kill(process.processIdentifier, SIGKILL) }
}

/// /proc/PID/status as a dictionary.
func procStatus(_ pid: Int32) -> [String: String] {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 { out[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
    }
    return out
}

/// Calls `body` with a Unix socket address for `path` (for bind or connect).
func withUnixAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// A library preloaded into every minderd the tests start by itself: it aborts minderd at a close
/// of a descriptor that is not open, a second close of a number that by then may be another
/// thread's. Built once, beside minderd; nil without cc, or under a sanitizer (whose own close is
/// called first).
let closeChecker: String? = {
    guard !sanitized, FileManager.default.isExecutableFile(atPath: "/usr/bin/cc") else { return nil }
    let library = URL(fileURLWithPath: minderdPath).deletingLastPathComponent().path + "/closecheck.so"
    guard let dir = try? TemporaryDirectory() else { return nil }
    let source = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <errno.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        // Only minderd: its children do not inherit it.
        __attribute__((constructor)) static void minderd_only(void) { unsetenv("LD_PRELOAD"); }
        int close(int fd) {
            static int (*real)(int);
            if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
            int r = real(fd);
            if (r < 0 && errno == EBADF) {
                char m[80];
                write(2, m, snprintf(m, sizeof m, "close(%d) of a descriptor not open\\n", fd));
                abort();
            }
            return r;
        }
        """
    guard (try? source.write(toFile: dir.path + "/closecheck.c", atomically: true, encoding: .utf8)) != nil,
          let built = try? run("/usr/bin/cc", ["-shared", "-fPIC", "-o", library + ".\(getpid())", dir.path + "/closecheck.c"]),
          built.status == 0, rename(library + ".\(getpid())", library) == 0 else { return nil }
    return library
}()
