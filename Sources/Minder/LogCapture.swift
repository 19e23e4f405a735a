// The log thread: reads every child's stdout/stderr pipe and writes the
// bytes into rotated files, unchanged unless strip_ansi, capture mode or
// *_log_timestamps says otherwise (and to syslog when asked). File writes
// can block whatever O_NONBLOCK says, so they never happen on the
// supervisor's loop.

import CMinder
import Dispatch
import Glibc
import MinderConfig
import MinderControl
import NIOConcurrencyHelpers

/// Where a stream of bytes goes and how it rotates.
public struct LogSink: Sendable, Hashable {
    public var path: String
    /// 0: never rotate (the only setting that works for /dev/stdout and pipes).
    public var maxBytes: Int
    public var backups: Int
    /// `*_log_timestamps=true`: each line written here starts with the main log's timestamp.
    public var timestamps: Bool
    /// `*_prefix=`: what each of the program's lines starts with here (its own lines, however
    /// they interleave with others' on a shared target such as /dev/stdout).
    public var prefix: [UInt8]

    public init(path: String, maxBytes: Int, backups: Int, timestamps: Bool = false, prefix: [UInt8] = []) {
        self.path = path
        self.maxBytes = maxBytes
        self.backups = backups
        self.timestamps = timestamps
        self.prefix = prefix
    }

    /// The main log with `logfile=syslog`: every line a syslog message.
    public static let syslog = LogSink(path: "<syslog>", maxBytes: 0, backups: 0)
}

/// What one program's output came to: bytes that reached its log files, and bytes lost on the
/// way (a full disk, a reader that left). Written by the log thread and a stream target's writer,
/// read by status queries and the stats segment.
public final class LogCounters: Sendable {
    private let counts = Locked((written: UInt64(0), dropped: UInt64(0)))

    public init() {}

    public var written: UInt64 { counts.withLock { $0.written } }
    public var dropped: UInt64 { counts.withLock { $0.dropped } }
    public var both: (written: UInt64, dropped: UInt64) { counts.withLock { $0 } }

    func add(written: Int = 0, dropped: Int = 0) {
        guard written > 0 || dropped > 0 else { return }
        counts.withLock {
            $0.written &+= UInt64(max(0, written))
            $0.dropped &+= UInt64(max(0, dropped))
        }
    }
}

public final class LogCapture: @unchecked Sendable {
    /// Receives what is written to a followed file, on the log thread: it must not block.
    public typealias Follower = @Sendable ([UInt8]) -> Void
    /// Sees each chunk a program writes (after strip_ansi), on the log thread: it must not block.
    public typealias Observer = @Sendable (ArraySlice<UInt8>) -> Void

    private enum Command {
        case follow(path: String, id: Int, tail: Int, Follower)
        case unfollow(path: String, id: Int)
        case capture(fd: Int32, sink: LogSink?, stripANSI: Bool, syslog: SyslogOrigin?, observer: Observer?,
                     communication: (maxBytes: Int, emit: Observer)?, counters: LogCounters?)
        case write([UInt8], sink: LogSink)
        case reopen
        case truncate(LogSink)
        case closeIdle
        case mainSyslogServer(SyslogServer?)
        case stop
    }

    /// Work for the log thread, and whether its wake waits for `flushWakes()`.
    private struct Queue {
        var commands: [Command] = []
        var held = false
        var wakeOwed = false
    }
    private let queue = Locked(Queue())
    /// Held commands that wake the log thread anyway, so that a long turn of the loop (a start of
    /// many programs) does not keep its lines back for the whole turn.
    static let heldBatch = 64
    private let wakeFD: Int32
    private let epollFD: Int32
    private let finished = Locked<Bool>(false)
    private let finishedSignal = DispatchSemaphore(value: 0)

    // Owned by the log thread alone.
    private var files: [String: any LogTarget] = [:]
    private var captures: [Int32: Capture] = [:]
    private var followers: [String: [Int: Follower]] = [:]
    private let nextFollower = Locked(0)
    private let remote = RemoteSyslog()
    private lazy var syslog = SyslogTarget(remote: remote)

    /// One captured pipe: where its bytes go. A class, so that the table of captures (two per
    /// running process) holds a pointer each rather than the whole record.
    private final class Capture {
        let sink: LogSink?
        var stripper: ANSIStripper?
        var syslog: SyslogLines?
        let origin: SyslogOrigin?
        let observer: Observer?
        var communication: (mode: CaptureMode, emit: Observer)?
        let counters: LogCounters?
        /// Whether the program's next byte starts a line, for its prefix.
        var atLineStart = true

        init(sink: LogSink?, stripper: ANSIStripper?, syslog: SyslogLines?, origin: SyslogOrigin?, observer: Observer?,
             communication: (mode: CaptureMode, emit: Observer)?, counters: LogCounters?) {
            self.sink = sink
            self.stripper = stripper
            self.syslog = syslog
            self.origin = origin
            self.observer = observer
            self.communication = communication
            self.counters = counters
        }
    }
    private var buffer = [UInt8](repeating: 0, count: 128 * 1024)
    /// Where a stream target says that it drops output, and when it takes output again.
    private let warnings = Locked<(@Sendable (String) -> Void)?>(nil)

    public init() {
        wakeFD = mn_eventfd()
        epollFD = mn_epoll_create()
        _ = mn_epoll_add(epollFD, wakeFD, UInt64(UInt32.max))
        remote.warn = { [weak self] text in self?.warnings.withLock { $0 }?(text) }
    }

    /// False when no thread could be had for it.
    public func start() -> Bool {
        startThread(named: "minder-log") { [self] in self.loop() }
    }

    /// Where to say that a log target that is not a regular file stopped taking output (minderd's
    /// main log, once it exists).
    public func reportWarnings(to warn: @escaping @Sendable (String) -> Void) { warnings.withLock { $0 = warn } }

    /// Hands a pipe's read end over: its bytes go to `sink` (if any) until EOF, then it is closed.
    /// With `stripANSI` ([supervisord] strip_ansi), terminal escape sequences are left out. With a
    /// `syslog` origin (`stdout_syslog=true`), every line also goes to syslog: as `tag line` to
    /// /dev/log, or as an RFC 5424 message to the origin's `syslog_server`.
    /// An `observer` sees every chunk too (for the main log at debug level, and log events).
    /// With `communication` (`*_capture_maxbytes`), output between supervisord's capture tokens is
    /// kept out of the log and handed to `emit` instead (the last `maxBytes` of it). `counters`
    /// add up what reached the log and what was lost.
    public func capture(fd: Int32, into sink: LogSink?, stripANSI: Bool = false, syslog: SyslogOrigin? = nil,
                        observer: Observer? = nil, communication: (maxBytes: Int, emit: Observer)? = nil,
                        counters: LogCounters? = nil) {
        send(.capture(fd: fd, sink: sink, stripANSI: stripANSI, syslog: syslog, observer: observer,
                      communication: communication, counters: counters))
    }

    public func write(_ bytes: [UInt8], to sink: LogSink) { send(.write(bytes, sink: sink)) }

    /// Streams a file: first its last `tail` bytes, then every byte written to it, with no gap
    /// or repeat in between (the log thread is the file's only writer). Returns an id for unfollow.
    public func follow(path: String, tail: Int, _ follower: @escaping Follower) -> Int {
        let id = nextFollower.withLock { n in
            n += 1
            return n
        }
        send(.follow(path: path, id: id, tail: tail, follower))
        return id
    }

    public func unfollow(path: String, id: Int) { send(.unfollow(path: path, id: id)) }

    /// Empties a log file (supervisorctl's clear).
    public func truncate(_ sink: LogSink) { send(.truncate(sink)) }

    /// SIGUSR2: close and reopen every file (after an external logrotate renamed them).
    public func reopen() { send(.reopen) }

    /// `[supervisord] syslog_server`: where the main log goes with `logfile=syslog` (nil: /dev/log).
    public func mainLogSyslogServer(_ server: SyslogServer?) { send(.mainSyslogServer(server)) }

    /// Closes every log file that no running program writes now (after a reload or an update,
    /// whose removed programs and old AUTO names would otherwise keep theirs open).
    public func closeIdle() { send(.closeIdle) }

    /// Drains what is queued, closes everything, and returns once the thread is done.
    public func stop() {
        send(.stop)
        mn_eventfd_signal(wakeFD)  // held or not
        finishedSignal.wait()
    }

    /// Until `flushWakes()`, queued work wakes the log thread only once `heldBatch` commands wait.
    /// The supervisor's loop holds the wakes through each of its turns: a start of many programs
    /// logs two lines and hands over pipes for each, and a wake for each was a context switch
    /// (across cores) for each.
    public func holdWakes() { queue.withLock { $0.held = true } }

    public func flushWakes() {
        let owed = queue.withLock { q in
            defer { (q.held, q.wakeOwed) = (false, false) }
            return q.wakeOwed
        }
        if owed { mn_eventfd_signal(wakeFD) }
    }

    private func send(_ command: Command) {
        let wake = queue.withLock { q in
            q.commands.append(command)
            if q.held && q.commands.count < Self.heldBatch {
                q.wakeOwed = true
                return false
            }
            return true
        }
        if wake { mn_eventfd_signal(wakeFD) }
    }

    private func loop() {
        var tokens = [UInt64](repeating: 0, count: 64)
        while true {
            let n = tokens.withUnsafeMutableBufferPointer { mn_epoll_wait(epollFD, $0.baseAddress, 64, -1) }
            if n < 0 { continue }  // EINTR
            let ready = tokens.prefix(Int(n))
            // Commands first: a follower registered before some output was read must get it.
            if ready.contains(UInt64(UInt32.max)) {
                mn_eventfd_drain(wakeFD)
                if runCommands() { return finish() }
            }
            for token in ready where token != UInt64(UInt32.max) {
                drain(Int32(truncatingIfNeeded: token))
            }
        }
    }

    /// Returns true on stop.
    private func runCommands() -> Bool {
        let pending = queue.withLock { q -> [Command] in
            defer { q.commands.removeAll() }
            return q.commands
        }
        for command in pending {
            switch command {
            case .follow(let path, let id, let tail, let follower):
                follower(Self.lastBytes(of: path, tail))
                followers[path, default: [:]][id] = follower
            case .unfollow(let path, let id):
                followers[path]?[id] = nil
            case .capture(let fd, let sink, let stripANSI, let origin, let observer, let communication, let counters):
                captures[fd] = Capture(sink: sink, stripper: stripANSI ? ANSIStripper() : nil,
                                       syslog: origin.map { SyslogLines(tag: $0.server == nil ? $0.name : nil) },
                                       origin: origin, observer: observer,
                                       communication: communication.map { (CaptureMode(maxBytes: $0.maxBytes), $0.emit) },
                                       counters: counters)
                _ = mn_epoll_add(epollFD, fd, UInt64(UInt32(bitPattern: fd)))
            case .write(let bytes, let sink):
                put(bytes[...], into: sink, counters: nil)
            case .reopen:
                for file in files.values { file.reopen() }
            case .truncate(let sink):
                if files[sink.path] != nil || access(sink.path, F_OK) == 0 { file(for: sink).truncate() }
                release(sink.path)
            case .closeIdle:
                for path in Array(files.keys) { release(path) }
            case .mainSyslogServer(let server):
                syslog.server = server
            case .stop:
                return true
            }
        }
        return false
    }

    /// A regular file (or one not there yet) is written here; anything else (a pipe, a FIFO, a
    /// terminal, a socket) gets a writer thread of its own, as its reader may stop reading.
    private func file(for sink: LogSink) -> any LogTarget {
        if let existing = files[sink.path] {
            // A reload that changed maxbytes or backups: the file is opened again with them. (Two
            // writers of one file that never rotates, say the main log and a program on
            // /dev/stdout, may differ in backups alone; that changes nothing.)
            guard let rotating = existing as? RotatingFile, rotating.sink.maxBytes != sink.maxBytes
                    || (sink.maxBytes > 0 && rotating.sink.backups != sink.backups) else { return existing }
            rotating.close()
        }
        var st = stat()
        let created: any LogTarget
        if sink == .syslog {
            created = syslog
        } else if stat(sink.path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
            created = StreamTarget(path: sink.path) { [weak self] text in self?.warnings.withLock { $0 }?(text) }
        } else {
            created = RotatingFile(sink: sink) { [weak self] text in self?.warnings.withLock { $0 }?(text) }
        }
        files[sink.path] = created
        return created
    }

    /// Reads what a pipe has now, up to a bound so that a program that never stops writing
    /// cannot starve the others (epoll is level-triggered: the rest comes on the next turn).
    /// EOF closes it.
    private func drain(_ fd: Int32, limit: Int = 8) {
        guard let capture = captures[fd] else { return }
        let sink = capture.sink, counters = capture.counters
        func keep(_ bytes: ArraySlice<UInt8>) {
            guard !bytes.isEmpty else { return }
            if let sink, !sink.prefix.isEmpty {
                let prefixed = LineStamps.stamp(bytes, atLineStart: capture.atLineStart, prefix: { sink.prefix })
                capture.atLineStart = bytes.last == 10
                put(prefixed[...], into: sink, counters: counters)
            } else if let sink {
                put(bytes, into: sink, counters: counters)
            }
            if capture.syslog != nil {
                for line in capture.syslog!.lines(bytes) { toSyslog(line, capture.origin, counters) }
            }
            capture.observer?(bytes)
        }
        for _ in 0..<limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                var logged: ArraySlice<UInt8> = buffer[0..<n]
                if capture.communication != nil {
                    let (text, messages) = capture.communication!.mode.filter(logged)
                    logged = text[...]
                    for message in messages { capture.communication?.emit(message[...]) }
                }
                if capture.stripper != nil {
                    keep(capture.stripper!.strip(logged)[...])
                } else {
                    keep(logged)
                }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if let held = capture.communication?.mode.end() {
                keep(capture.stripper?.strip(held[...])[...] ?? held[...])
            }
            if let held = capture.stripper?.end() { keep(held[...]) }
            if let rest = capture.syslog?.rest() { toSyslog(rest, capture.origin, counters) }
            _ = mn_epoll_del(epollFD, fd)
            close(fd)
            captures[fd] = nil
            if let sink { release(sink.path) }
            return
        }
    }

    /// Bytes to a sink's target and its followers: with timestamps, as the target will hold them.
    private func put(_ bytes: ArraySlice<UInt8>, into sink: LogSink, counters: LogCounters?) {
        let target = file(for: sink)
        let out = sink.timestamps ? LineStamps.stamp(bytes, atLineStart: target.atLineStart, prefix: LineStamps.now)[...] : bytes
        target.write(out, counters: counters)
        notify(sink.path, out)
    }

    /// A program's line to /dev/log, or to its syslog_server.
    private func toSyslog(_ line: [UInt8], _ origin: SyslogOrigin?, _ counters: LogCounters?) {
        guard let origin, let server = origin.server else { return syslog.send(line, priority: SyslogTarget.info) }
        if !remote.send(line, to: server, app: origin.name, pid: origin.pid,
                        structured: [("group", origin.group), ("stream", origin.stream)],
                        severity: origin.stream == "stderr" ? 3 : 6) {
            counters?.add(dropped: line.count)
        }
    }

    /// Closes a log file once no capture writes it: a program's files are open only while it
    /// runs, so reloads and removed programs leave no descriptor behind.
    private func release(_ path: String) {
        guard let target = files[path], target !== syslog,
              !captures.values.contains(where: { $0.sink?.path == path }) else { return }
        target.close()
        files[path] = nil
    }

    private func notify(_ path: String, _ bytes: ArraySlice<UInt8>) {
        guard let list = followers[path], !list.isEmpty else { return }
        let copy = Array(bytes)
        for follower in list.values { follower(copy) }
    }

    static func lastBytes(of path: String, _ count: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = Int(st.st_size)
        let start = max(0, size - max(0, count))
        var buffer = [UInt8](repeating: 0, count: size - start)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        return Array(buffer.prefix(max(0, n)))
    }

    private func finish() {
        // Whatever the children already wrote is still taken.
        for fd in Array(captures.keys) { drain(fd, limit: .max) }
        for file in files.values { file.close() }
        finishedSignal.signal()
    }
}

/// Where the log thread writes a log's bytes.
protocol LogTarget: AnyObject {
    /// `counters` (the writing program's, if any) get the bytes written and those lost.
    func write(_ bytes: ArraySlice<UInt8>, counters: LogCounters?)
    /// Whether what the target holds ends a line (or is empty): the next byte written starts one.
    var atLineStart: Bool { get }
    func reopen()
    func truncate()
    func close()
}

/// A log file rotated by size as supervisord does: after a write that
/// reaches maxBytes, .N-1 → .N ... base → .1, and a fresh base.
///
/// A write that fails (a full disk, a quota, EFBIG, EIO, a file that cannot be created) loses
/// that output, counted; the first failure and the recovery are logged, and the next output tries
/// again. A failure also rotates a non-empty file when rotation is on: dropping the oldest backup
/// is often what frees the space, and a log that could not grow must not stall for good.
final class RotatingFile: LogTarget {
    let sink: LogSink
    private var fd: Int32 = -1
    private var size = 0
    private(set) var atLineStart = true
    private var failing = false
    private var dropped = 0
    /// A failure is logged at most once a second; the recovery is logged when its failure was.
    private var lastWarning: Int64 = 0
    private var announced = false
    private let warn: (String) -> Void

    init(sink: LogSink, warn: @escaping (String) -> Void = { _ in }) {
        self.sink = sink
        self.warn = warn
        open()
    }

    private func open() {
        fd = Glibc.open(sink.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        var st = stat()
        size = fd >= 0 && fstat(fd, &st) == 0 ? Int(st.st_size) : 0
        atLineStart = size == 0 || Self.lastByte(of: sink.path, size: size) == 10
    }

    /// The last byte of a file that is not empty (nil when it cannot be read).
    private static func lastByte(of path: String, size: Int) -> UInt8? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var byte: UInt8 = 0
        return pread(fd, &byte, 1, off_t(size - 1)) == 1 ? byte : nil
    }

    func write(_ bytes: ArraySlice<UInt8>, counters: LogCounters?) {
        if fd < 0 { open() }
        guard fd >= 0 else {
            counters?.add(dropped: bytes.count)
            return failed(errno, lost: bytes.count)
        }
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                if offset > bytes.startIndex { atLineStart = bytes[offset - 1] == 10 }
                counters?.add(written: offset - bytes.startIndex, dropped: bytes.endIndex - offset)
                return failed(err, lost: bytes.endIndex - offset)
            }
            offset += n
        }
        counters?.add(written: bytes.count)
        if let last = bytes.last { atLineStart = last == 10 }
        size += bytes.count
        if failing {
            failing = false
            if announced {
                warn("log file \(sink.path) is written again; \(dropped) bytes were dropped meanwhile")
                dropped = 0
            }
        }
        if sink.maxBytes > 0 && size >= sink.maxBytes { rotate() }
    }

    private func failed(_ err: Int32, lost: Int) {
        dropped += lost
        if !failing {
            failing = true
            let now = mn_monotonic_ns()
            announced = lastWarning == 0 || now - lastWarning >= 1_000_000_000
            if announced {
                lastWarning = now
                warn("log file \(sink.path): write failed: \(errnoName(err)) (\(String(cString: strerror(err)))); its output is dropped and counted until a write succeeds")
            }
        }
        var st = stat()
        size = fd >= 0 && fstat(fd, &st) == 0 ? Int(st.st_size) : 0
        if fd >= 0 && sink.maxBytes > 0 && size > 0 { rotate() }
    }

    private func rotate() {
        Glibc.close(fd)
        if sink.backups > 0 {
            for i in stride(from: sink.backups - 1, through: 1, by: -1) {
                rename("\(sink.path).\(i)", "\(sink.path).\(i + 1)")
            }
            rename(sink.path, "\(sink.path).1")
        } else {
            _ = Glibc.truncate(sink.path, 0)
        }
        open()
    }

    func reopen() {
        close()
        open()
    }

    func truncate() {
        if fd >= 0 { _ = ftruncate(fd, 0) } else { _ = Glibc.truncate(sink.path, 0) }
        size = 0
        atLineStart = true
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

/// A log target that is not a regular file: a pipe (minderd's stdout under a container runtime), a
/// FIFO, a terminal, a socket (stdout under systemd). Its reader may stop reading, and a FIFO nobody
/// has opened blocks even the open. So a thread of its own opens and writes it, and the log thread
/// only queues, up to `limit` bytes: past that, output is dropped and counted rather than held,
/// and every other log goes on.
final class StreamTarget: LogTarget, @unchecked Sendable {
    static let limit = 1 << 20

    private struct Queue {
        var chunks: [(bytes: [UInt8], counters: LogCounters?)] = []
        var bytes = 0
        var reopen = false
        var closing = false
        var dropped = 0
    }

    let path: String
    /// What was queued ended a line; read and written by the log thread alone.
    private(set) var atLineStart = true
    private let queue = Locked(Queue())
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let warn: @Sendable (String) -> Void

    init(path: String, warn: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.warn = warn
        // Without its thread nothing drains the queue: writes fill it to its limit and are then
        // dropped, counted and warned about, as for a reader that stopped reading.
        if !startThread(named: "minder-log-out", { [self] in self.run() }) {
            warn("log target \(path): no thread to write it with (a thread or memory limit); its output is dropped")
        }
    }

    func write(_ bytes: ArraySlice<UInt8>, counters: LogCounters?) {
        let (accepted, firstDrop) = queue.withLock { q -> (Bool, Bool) in
            guard q.bytes + bytes.count <= Self.limit else {
                q.dropped += bytes.count
                return (false, q.dropped == bytes.count)
            }
            q.chunks.append((Array(bytes), counters))
            q.bytes += bytes.count
            return (true, false)
        }
        if accepted {
            if let last = bytes.last { atLineStart = last == 10 }
            wake.signal()
        } else {
            counters?.add(dropped: bytes.count)
        }
        if firstDrop { warn("log target \(path) is not taking output; what is written to it is dropped until it does") }
    }

    func reopen() {
        queue.withLock { $0.reopen = true }
        wake.signal()
    }

    func truncate() {}

    /// Waits a moment for what is queued to go out; a reader that does not read by then loses it.
    func close() {
        queue.withLock { $0.closing = true }
        wake.signal()
        _ = done.wait(timeout: .now() + 1)
    }

    private func run() {
        var fd: Int32 = -1
        while true {
            wake.wait()
            // The bytes stay counted against the limit until written.
            let (chunks, reopen, closing) = queue.withLock { q in
                defer { (q.chunks, q.reopen) = ([], false) }
                return (q.chunks, q.reopen, q.closing)
            }
            if reopen && fd >= 0 {
                Glibc.close(fd)
                fd = -1
            }
            var lost = 0, failure: Int32 = 0
            if fd < 0 && !chunks.isEmpty {
                fd = Self.open(path)
                if fd < 0 { failure = errno }
            }
            for (chunk, counters) in chunks {
                var offset = 0
                while fd >= 0 && offset < chunk.count {
                    let n = chunk[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 {
                        // The reader went away (EPIPE): the rest is lost, and the target is opened
                        // again for the next output (for a FIFO, that waits for a new reader).
                        failure = n < 0 ? errno : EPIPE
                        Glibc.close(fd)
                        fd = -1
                        break
                    }
                    offset += n
                }
                lost += chunk.count - offset
                counters?.add(written: offset, dropped: chunk.count - offset)
                queue.withLock { $0.bytes -= chunk.count }
            }
            if lost > 0 {
                let first = queue.withLock { q -> Bool in
                    defer { q.dropped += lost }
                    return q.dropped == 0
                }
                if first {
                    warn("log target \(path) is not taking output (\(errnoName(failure))); what is written to it is dropped until it does")
                }
            }
            let dropped = queue.withLock { q -> Int in
                guard q.chunks.isEmpty, lost == 0, fd >= 0 else { return 0 }
                defer { q.dropped = 0 }
                return q.dropped
            }
            if dropped > 0 { warn("log target \(path) takes output again; \(dropped) bytes were dropped meanwhile") }
            if closing {
                if fd >= 0 { Glibc.close(fd) }
                done.signal()
                return
            }
        }
    }

    /// minderd's own stdout or stderr is used as it is when opening it again fails (a socket).
    static func open(_ path: String) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        if fd >= 0 { return fd }
        let own: Int32? = switch path {
        case "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1": 1
        case "/dev/stderr", "/dev/fd/2", "/proc/self/fd/2": 2
        default: nil
        }
        return own.map { fcntl($0, F_DUPFD_CLOEXEC, 3) } ?? -1
    }
}

/// supervisord's strip_ansi: from ESC [ up to and including the first of supervisord's
/// terminators (H f A B C D R s u J K h l p m), a sequence is left out. Unlike supervisord, which
/// strips each read on its own, a sequence split between two reads is left out too.
struct ANSIStripper {
    private static let terminator: [Bool] = (0..<256).map { Array("HfABCDRsuJKhlpm".utf8).contains(UInt8($0)) }
    private enum State { case text, escape, sequence }
    private var state = State.text

    mutating func strip(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            switch state {
            case .text:
                if byte == 0x1b { state = .escape } else { out.append(byte) }
            case .escape:
                if byte == UInt8(ascii: "[") {
                    state = .sequence
                } else {
                    out.append(0x1b)
                    if byte != 0x1b {
                        out.append(byte)
                        state = .text
                    }
                }
            case .sequence:
                if Self.terminator[Int(byte)] { state = .text }
            }
        }
        return out
    }

    /// At EOF: an ESC that no `[` followed is output after all.
    mutating func end() -> [UInt8] {
        defer { state = .text }
        return state == .escape ? [0x1b] : []
    }
}

/// syslog, for the main log (`logfile=syslog`) and programs' output (`stdout_syslog=true`):
/// every line one message from `minderd`, facility user, sent without waiting. A syslog daemon
/// that is absent or falls behind costs messages, never a wait. The socket is /dev/log, or
/// MINDER_SYSLOG_SOCKET from minderd's environment.
final class SyslogTarget: LogTarget {
    static let info: Int32 = 8 | 6
    private let fd = mn_syslog_socket()
    private let path = getenv("MINDER_SYSLOG_SOCKET").map { String(cString: $0) } ?? "/dev/log"
    private let remote: RemoteSyslog
    /// The main log's syslog_server, if any.
    var server: SyslogServer?
    /// Every message is a line of its own.
    var atLineStart: Bool { true }

    init(remote: RemoteSyslog) {
        self.remote = remote
    }

    /// Main log lines: each one's level (`2026-11-26 06:46:11,484 WARN ...`) sets its priority.
    func write(_ bytes: ArraySlice<UInt8>, counters: LogCounters?) {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let level = line.count > 28 ? String(decoding: line.dropFirst(24).prefix(4), as: UTF8.self) : ""
            let severity: Int32 = switch level {
            case "CRIT": 2
            case "ERRO": 3
            case "WARN": 4
            case "DEBG", "TRAC", "BLAT": 7
            default: 6
            }
            if let server {
                _ = remote.send(Array(line), to: server, app: "minderd", pid: getpid(), structured: [], severity: severity)
            } else {
                send(Array(line), priority: 8 | severity)
            }
        }
    }

    func send(_ line: [UInt8], priority: Int32) {
        guard fd >= 0 else { return }
        _ = line.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { mn_syslog_send(fd, path, priority, $0.baseAddress, $0.count) }
        }
    }

    func reopen() {}
    func truncate() {}
    func close() {}
}

/// `*_log_timestamps=true`: the main log's timestamp and a space (`2026-11-26 06:46:11,484 `) in
/// front of each line written to a log. Only `\n` ends a line, so `\r` (a progress bar) and bytes
/// that are not text pass unchanged. Whether the first byte starts a line is the target's state,
/// which every write to it updates: a line that comes in pieces, over several reads or even two runs
/// of the program, gets one timestamp, taken when its first piece was read.
enum LineStamps {
    static func stamp(_ bytes: ArraySlice<UInt8>, atLineStart: Bool, prefix: () -> [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var stamp: [UInt8] = []
        var rest = bytes
        var lineStart = atLineStart
        while !rest.isEmpty {
            if lineStart {
                if stamp.isEmpty {
                    stamp = prefix()
                    out.reserveCapacity(bytes.count + stamp.count * 4)
                }
                out += stamp
            }
            guard let newline = rest.firstIndex(of: 10) else {
                out += rest
                break
            }
            out += rest[...newline]
            rest = rest[(newline + 1)...]
            lineStart = true
        }
        return out
    }

    /// The time now, as the main log writes it, and a space.
    static func now() -> [UInt8] { Array(MainLogHandler.timestamp().utf8) + [32] }
}

/// A program's output cut into lines for syslog, as `tag line`; a line without its end yet waits
/// for the next read (up to 4 KiB).
struct SyslogLines {
    let tag: [UInt8]
    private var partial: [UInt8] = []

    /// nil: no tag (a remote message names its program in its header).
    init(tag: String?) { self.tag = tag.map { Array($0.utf8) + [UInt8(ascii: " ")] } ?? [] }

    mutating func lines(_ bytes: ArraySlice<UInt8>) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                out.append(tag + partial)
                partial.removeAll(keepingCapacity: true)
            } else {
                partial.append(byte)
                if partial.count >= 4096 {
                    out.append(tag + partial)
                    partial.removeAll(keepingCapacity: true)
                }
            }
        }
        return out
    }

    /// At EOF: the last line, if it had no newline.
    mutating func rest() -> [UInt8]? {
        defer { partial = [] }
        return partial.isEmpty ? nil : tag + partial
    }
}

/// supervisord's capture mode (`*_capture_maxbytes`): output between `<!--XSUPERVISOR:BEGIN-->` and
/// `<!--XSUPERVISOR:END-->` is left out of the log and becomes one message, of which the last
/// `maxBytes` are kept. A token split between two reads is still found.
struct CaptureMode {
    static let begin = Array("<!--XSUPERVISOR:BEGIN-->".utf8)
    static let end = Array("<!--XSUPERVISOR:END-->".utf8)
    let maxBytes: Int
    private var capturing = false
    /// The end of the last read, when it may be the start of a token.
    private var held: [UInt8] = []
    private var captured: [UInt8] = []

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// The bytes for the log, and every message completed in this read.
    mutating func filter(_ bytes: ArraySlice<UInt8>) -> (log: [UInt8], messages: [[UInt8]]) {
        var data = held + bytes
        held = []
        var log: [UInt8] = [], messages: [[UInt8]] = []
        while true {
            let token = capturing ? Self.end : Self.begin
            if let at = Self.find(token, in: data) {
                take(data[..<at], into: &log)
                if capturing {
                    messages.append(captured)
                    captured = []
                }
                capturing.toggle()
                data = Array(data[(at + token.count)...])
                continue
            }
            // Hold back an end that could be the start of the token.
            var keep = min(token.count - 1, data.count)
            while keep > 0 && !data.suffix(keep).elementsEqual(token.prefix(keep)) { keep -= 1 }
            take(data.dropLast(keep), into: &log)
            held = Array(data.suffix(keep))
            return (log, messages)
        }
    }

    /// At EOF: what was held back goes where it would have gone.
    mutating func end() -> [UInt8] {
        var log: [UInt8] = []
        take(held[...], into: &log)
        held = []
        return log
    }

    private mutating func take(_ bytes: ArraySlice<UInt8>, into log: inout [UInt8]) {
        guard capturing else { return log += bytes }
        captured += bytes
        if captured.count > maxBytes { captured.removeFirst(captured.count - maxBytes) }
    }

    private static func find(_ token: [UInt8], in data: [UInt8]) -> Int? {
        guard data.count >= token.count else { return nil }
        var i = 0
        while i <= data.count - token.count {
            if data[i] == token[0] && data[i..<(i + token.count)].elementsEqual(token) { return i }
            i += 1
        }
        return nil
    }
}

/// Where a program's syslog lines come from, and the collector they go to (nil: /dev/log).
public struct SyslogOrigin: Sendable {
    public var name: String
    public var group: String
    public var pid: Int32
    public var stream: String
    public var server: SyslogServer?

    public init(name: String, group: String, pid: Int32, stream: String, server: SyslogServer?) {
        self.name = name
        self.group = group
        self.pid = pid
        self.stream = stream
        self.server = server
    }
}

/// syslog_server: RFC 5424 messages over UDP, one datagram a line, never waiting. A full socket
/// buffer or an address that could not be looked up drops the line (counted by the caller), and
/// says so once in the main log. Used by the log thread alone.
final class RemoteSyslog {
    private var sockets: [Int32: Int32] = [:]
    private var warned = Set<String>()
    private let hostname: [UInt8] = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, 255) == 0 else { return Array("-".utf8) }
        let name = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return name.isEmpty ? Array("-".utf8) : RemoteSyslog.printable(name, max: 255)
    }()
    var warn: (String) -> Void = { _ in }

    /// True when the message was handed to the kernel.
    func send(_ line: [UInt8], to server: SyslogServer, app: String, pid: Int32, structured: [(String, String)],
              severity: Int32) -> Bool {
        guard server.address.count >= 2 else {
            once(server.url, "syslog_server \(server.url): its host could not be looked up; lines for it are dropped")
            return false
        }
        let family = server.address.withUnsafeBytes { Int32($0.load(as: sa_family_t.self)) }
        if sockets[family] == nil {
            sockets[family] = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        }
        guard let fd = sockets[family], fd >= 0 else { return false }
        let message = Self.format(line, hostname: hostname, app: app, pid: pid, structured: structured, severity: severity)
        let sent = message.withUnsafeBytes { m in
            server.address.withUnsafeBytes { a in
                sendto(fd, m.baseAddress, m.count, Int32(MSG_DONTWAIT), a.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                       socklen_t(a.count))
            }
        }
        if sent < 0 {
            let err = errno
            if err != EAGAIN && err != ENOBUFS && err != EWOULDBLOCK {
                once(server.url, "syslog_server \(server.url): \(errnoName(err)); lines for it are dropped until it takes them")
            }
            return false
        }
        return true
    }

    private func once(_ key: String, _ message: String) {
        if warned.insert(key).inserted { warn(message) }
    }

    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - [minder@32473 k="v" ...] MSG`: facility user,
    /// the time in UTC to the microsecond, header fields as RFC 5424 allows them.
    static func format(_ line: [UInt8], hostname: [UInt8], app: String, pid: Int32, structured: [(String, String)],
                       severity: Int32) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(line.count + 160)
        out += Array("<\(8 + severity)>1 ".utf8)
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let micros = String(ts.tv_nsec / 1000)
        out += Array("\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(String(repeating: "0", count: 6 - micros.count))\(micros)Z ".utf8)
        out += hostname
        out.append(32)
        let appName = printable(Array(app.utf8), max: 48)
        out += appName.isEmpty ? Array("-".utf8) : appName
        out += Array(" \(pid) - [minder@32473".utf8)
        for (key, value) in structured {
            out += Array(" \(key)=\"".utf8)
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "]") { out.append(92) }
                out.append(byte)
            }
            out.append(34)
        }
        out += Array("] ".utf8)
        out += line
        return out
    }

    /// RFC 5424's header fields: printable US-ASCII, no space, at most `max` bytes.
    static func printable(_ bytes: [UInt8], max: Int) -> [UInt8] {
        bytes.prefix(max).map { (33...126).contains($0) ? $0 : UInt8(ascii: "_") }
    }
}
