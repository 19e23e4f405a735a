// What the tests start (minderd, supervisorctl, Python, Prometheus...), started
// through minderd's own child path (mn_spawn) instead of Foundation's Process:
// on Linux, Process.run() reads past a buffer while it counts /proc/self/fd and
// crashes the test runner now and then (swift-corelibs-foundation PR #5472,
// fixed after the toolchain here). The part of Process's interface the tests
// use, with the same meaning: each test module names it `Process`.
//
// The child also gets every signal unblocked and at its default, and every
// descriptor but its stdio closed, whatever the test's thread had.

import CMinder
import Foundation

public final class ChildProcess: @unchecked Sendable {
    public var executableURL: URL?
    public var arguments: [String]?
    /// nil: this process's environment.
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    /// A FileHandle, a Pipe, or nil for this process's own.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?
    /// Called on a thread of its own once the child has exited and been reaped.
    public var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    private let condition = NSCondition()
    private var pid: Int32 = 0
    private var running = false
    private var status: Int32 = 0

    public init() {}

    public var processIdentifier: Int32 { condition.withLock { pid } }
    public var isRunning: Bool { condition.withLock { running } }
    /// The exit code, or the number of the signal that ended it, as Process reports them.
    public var terminationStatus: Int32 { condition.withLock { status } }

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    public func run() throws {
        guard let path = executableURL?.path else { throw SpawnError(description: "no executable") }
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        /// The child's end of one stdio stream, and the end a Pipe leaves to the parent to close.
        func descriptor(_ stream: Any?, own: Int32, reading: Bool) -> (child: Int32, closeAfter: FileHandle?) {
            switch stream {
            case let pipe as Pipe:
                let end = reading ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                return (end.fileDescriptor, end)
            case let handle as FileHandle:
                if handle === FileHandle.nullDevice {
                    let null = open("/dev/null", O_RDWR | O_CLOEXEC)
                    opened.append(null)
                    return (null, nil)
                }
                return (handle.fileDescriptor, nil)
            default:
                return (own, nil)
            }
        }
        let stdin = descriptor(standardInput, own: 0, reading: true)
        let stdout = descriptor(standardOutput, own: 1, reading: false)
        let stderr = descriptor(standardError, own: 2, reading: false)
        let argv = [path] + (arguments ?? [])
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0)=\($1)" }
        var child: pid_t = 0, stage: Int32 = 0, err: Int32 = 0
        let rc = withCStrings(argv) { argvPtr in
            withCStrings(env) { envPtr in
                path.withCString { pathPtr in
                    withOptionalCString(currentDirectoryURL?.path) { dirPtr in
                        var attr = mn_spawn_attr(
                            path: pathPtr, argv: argvPtr, envp: envPtr, directory: dirPtr, umask: -1,
                            stdin_fd: stdin.child, stdout_fd: stdout.child, stderr_fd: stderr.child,
                            uid: -1, gid: -1, groups: nil, ngroups: 0, nofile_soft: -1, nofile_hard: -1,
                            rlimits: nil, nrlimits: 0, set_caps: 0, caps: nil, ncaps: 0, caps_state: nil,
                            no_new_privs: 0, pdeathsig: 0, parent: getpid(), notify_fd: -1, notify_source: -1,
                            watchdog_pid_env: nil)
                        return mn_spawn(&attr, &child, &stage, &err)
                    }
                }
            }
        }
        guard rc == 0 else {
            throw SpawnError(description: "cannot start \(path): stage \(stage), \(String(cString: strerror(err)))")
        }
        // As Process does: the child's ends of pipes are the child's alone now.
        for end in [stdin.closeAfter, stdout.closeAfter, stderr.closeAfter] { try? end?.close() }
        let spawned = child
        condition.withLock {
            pid = spawned
            running = true
        }
        let reaper = Thread { [self] in
            var raw: Int32 = 0
            while waitpid(spawned, &raw, 0) < 0 && errno == EINTR {}
            condition.withLock {
                status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : raw & 0x7f
                running = false
                condition.broadcast()
            }
            terminationHandler?(self)
        }
        reaper.start()
    }

    public func waitUntilExit() {
        condition.withLock {
            while running { condition.wait() }
        }
    }
}

/// `strings` as a NULL-terminated array of C strings, for the duration of `body`.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

private func withOptionalCString<T>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> T) -> T {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
