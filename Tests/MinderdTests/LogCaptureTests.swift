import Foundation
import MinderControl
import Testing

/// Child output through pipes into rotated files: nothing lost, nothing duplicated.
@Suite(.serialized) struct LogCaptureTests {
    /// The base file and its backups, oldest first, concatenated.
    func rotatedContents(_ base: String, backups: Int) -> Data {
        var all = Data()
        for i in stride(from: backups, through: 1, by: -1) {
            if let d = FileManager.default.contents(atPath: "\(base).\(i)") { all.append(d) }
        }
        if let d = FileManager.default.contents(atPath: base) { all.append(d) }
        return all
    }

    func totalSize(_ base: String, backups: Int) -> Int {
        (0...backups).reduce(0) { sum, i in
            let path = i == 0 ? base : "\(base).\(i)"
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            return sum + (size ?? 0)
        }
    }

    @Test func hundredMegabytesOfRecordsSurviveRotationByteForByte() throws {
        let d = try DaemonHarness("""
            [program:writer]
            command=/bin/sh -c 'seq 1 12500000 > %(here)s/input.tmp && mv %(here)s/input.tmp %(here)s/input && cat %(here)s/input'
            startsecs=0
            autorestart=false
            stdout_logfile=%(here)s/records.log
            stdout_logfile_maxbytes=10MB
            stdout_logfile_backups=30
            """, loglevel: "info")
        let base = d.dir.path + "/records.log"
        try d.waitForLog("exited: writer (exit status 0; expected)", timeout: 120)
        let input = try #require(FileManager.default.contents(atPath: d.dir.path + "/input"))
        #expect(input.count > 100_000_000)
        try waitUntil("all bytes in the log files", timeout: 60) { totalSize(base, backups: 30) >= input.count }
        #expect(FileManager.default.fileExists(atPath: base + ".9"), "the output was rotated")
        #expect(rotatedContents(base, backups: 30) == input)
        #expect(try d.stop() == 0)
    }

    @Test func outputWithoutNewlinesIsKeptWhole() throws {
        let d = try DaemonHarness("""
            [program:blob]
            command=/bin/sh -c 'head -c 20000000 /dev/urandom | tr -d "\\n" > %(here)s/input.tmp && mv %(here)s/input.tmp %(here)s/input && cat %(here)s/input'
            startsecs=0
            autorestart=false
            stdout_logfile=%(here)s/blob.log
            stdout_logfile_maxbytes=3MB
            stdout_logfile_backups=20
            """, loglevel: "info")
        let base = d.dir.path + "/blob.log"
        try d.waitForLog("exited: blob (exit status 0; expected)", timeout: 120)
        let input = try #require(FileManager.default.contents(atPath: d.dir.path + "/input"))
        #expect(!input.contains(UInt8(ascii: "\n")) && input.count > 19_000_000)
        try waitUntil("all bytes in the log files", timeout: 60) { totalSize(base, backups: 20) >= input.count }
        #expect(rotatedContents(base, backups: 20) == input)
        #expect(try d.stop() == 0)
    }

    @Test func twoProgramsSharingOneFileLoseNothing() throws {
        // Each record is one write(2), so records never split; their order within each program must hold.
        let d = try DaemonHarness("", start: false)
        try "import os, sys\nfor i in range(100000):\n    os.write(1, b'%s%08d\\n' % (sys.argv[1].encode(), i))\n"
            .write(toFile: d.dir.path + "/writer.py", atomically: true, encoding: .utf8)
        try DaemonHarness.config("""
            [program:a]
            command=python3 %(here)s/writer.py A
            startsecs=0
            autorestart=false
            stdout_logfile=%(here)s/shared.log
            stdout_logfile_maxbytes=500KB
            stdout_logfile_backups=50

            [program:b]
            command=python3 %(here)s/writer.py B
            startsecs=0
            autorestart=false
            stdout_logfile=%(here)s/shared.log
            stdout_logfile_maxbytes=500KB
            stdout_logfile_backups=50
            """).write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try d.launch()
        let base = d.dir.path + "/shared.log"
        try d.waitForLog("exited: a (exit status 0; expected)", timeout: 120)
        try d.waitForLog("exited: b (exit status 0; expected)", timeout: 120)
        try waitUntil("all records in the log files", timeout: 60) { totalSize(base, backups: 50) >= 2 * 100_000 * 10 }
        let lines = String(decoding: rotatedContents(base, backups: 50), as: UTF8.self).split(separator: "\n")
        for prefix in ["A", "B"] {
            let mine = lines.filter { $0.hasPrefix(prefix) }
            #expect(mine.count == 100_000, "\(prefix): \(mine.count) records")
            #expect(mine.enumerated().allSatisfy { i, line in line == "\(prefix)\(String(format: "%08d", i))" }, "\(prefix) records out of order or damaged")
        }
        #expect(try d.stop() == 0)
    }

    @Test func devStdoutAndRedirectedStderr() throws {
        let d = try DaemonHarness("""
            [program:container]
            command=/bin/sh -c 'echo to-stdout;echo to-stderr >&2;exec sleep 1000'
            startsecs=0
            redirect_stderr=true
            stdout_logfile=/dev/stdout
            stdout_logfile_maxbytes=0
            """, start: false)
        d.stdoutPath = d.dir.path + "/minderd.stdout"
        try d.launch()
        // The main log is copied to stdout in the foreground, beside the program's lines.
        try waitUntil("both lines and the main log on minderd's stdout") {
            let out = (try? String(contentsOfFile: d.dir.path + "/minderd.stdout", encoding: .utf8)) ?? ""
            return out.contains("to-stdout\n") && out.contains("to-stderr\n") && out.contains("INFO spawned: 'container'")
        }
        #expect(try d.stop() == 0)
    }

    /// Writes `tick` to ticker.log every 50 ms.
    static let ticker = """
        [program:ticker]
        command=/bin/sh -c 'while :;do echo tick;sleep 0.05;done'
        startsecs=0
        stdout_logfile=%(here)s/ticker.log
        """

    @Test func sigusr2ReopensLogFiles() throws {
        let d = try DaemonHarness(Self.ticker)
        let log = d.dir.path + "/ticker.log"
        try waitUntil("first ticks") { (FileManager.default.contents(atPath: log)?.count ?? 0) > 20 }
        try FileManager.default.moveItem(atPath: log, toPath: log + ".old")
        d.signal(SIGUSR2)
        try d.waitForLog("received SIGUSR2 indicating log reopen request")
        try waitUntil("ticks in a fresh file") { (FileManager.default.contents(atPath: log)?.count ?? 0) > 20 }
        let oldSize = FileManager.default.contents(atPath: log + ".old")?.count
        let fresh = FileManager.default.contents(atPath: log)?.count ?? 0
        try waitUntil("more ticks in the fresh file") { (FileManager.default.contents(atPath: log)?.count ?? 0) > fresh + 20 }
        #expect(FileManager.default.contents(atPath: log + ".old")?.count == oldSize, "the renamed file no longer grows")
        #expect(try d.stop() == 0)
    }

    /// logrotate's copytruncate empties the file under minderd: the next bytes go at the new end,
    /// not at the old offset behind a hole of zeros.
    @Test func aFileTruncatedFromOutsideIsNotRefilledWithAHole() throws {
        let d = try DaemonHarness(Self.ticker)
        let log = d.dir.path + "/ticker.log"
        try waitUntil("first ticks") { (FileManager.default.contents(atPath: log)?.count ?? 0) > 100 }
        #expect(truncate(log, 0) == 0)
        try waitUntil("ticks after the truncation") { (FileManager.default.contents(atPath: log)?.count ?? 0) > 20 }
        let after = try #require(FileManager.default.contents(atPath: log))
        #expect(!after.contains(0), "no hole where the old bytes were")
        #expect(after.starts(with: Data("tick\n".utf8)))
        #expect(try d.stop() == 0)
    }

    /// A FIFO nobody reads blocks even its open. Its program's output waits, up to a bound, and
    /// everything else is logged meanwhile; what does not fit is dropped, counted and reported.
    @Test func aLogTargetThatDoesNotReadHoldsUpNoOtherLog() throws {
        let d = try DaemonHarness("""
            [program:stuck]
            command=/bin/sh -c 'head -c 2000000 /dev/zero; exec sleep 1000'
            startsecs=0
            stdout_logfile=%(here)s/fifo
            stdout_logfile_maxbytes=0

            \(Self.ticker)
            """, loglevel: "info", start: false)
        let fifo = d.dir.path + "/fifo", ticks = d.dir.path + "/ticker.log"
        #expect(mkfifo(fifo, 0o600) == 0)
        try d.launch()
        try d.waitForLog("log target \(fifo) is not taking output")
        func ticked() -> Int { FileManager.default.contents(atPath: ticks)?.count ?? 0 }
        try waitUntil("ticks while the FIFO has no reader") { ticked() > 50 }
        let earlier = ticked()
        try waitUntil("more ticks") { ticked() > earlier }

        // A reader comes: what was held goes out, and the loss is reported.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        #expect(reader >= 0)
        defer { close(reader) }
        var received = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        func drain() {
            while true {
                let n = chunk.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                guard n > 0 else { return }
                received += n
            }
        }
        // The report names what was dropped; every other byte must then arrive, however long the
        // writer takes to hand over what it held.
        var lines: [String] = []
        try waitUntil("the recovery report") {
            drain()
            lines = d.log.split(separator: "\n").filter { $0.contains("takes output again") }.map(String.init)
            return !lines.isEmpty
        }
        let dropped = Int(lines[0].split(separator: " ").dropLast(4).last ?? "") ?? -1
        try waitUntil("every byte not dropped (\(2_000_000 - dropped)), \(received) so far") {
            drain()
            return received >= 2_000_000 - dropped
        }
        #expect(received > 0 && received <= 1 << 20, "at most the bound was held")
        #expect(received + dropped == 2_000_000, "every byte either arrived or was counted as dropped")
        #expect(try d.stop() == 0)
    }

    /// A reader of minderd's own stdout that goes away costs the output, not minderd.
    @Test func stdoutWhoseReaderLeftDoesNotEndMinderd() throws {
        let d = try DaemonHarness("""
            [program:talker]
            command=/bin/sh -c 'while :;do echo talk;sleep 0.05;done'
            startsecs=0
            stdout_logfile=/dev/stdout
            stdout_logfile_maxbytes=0
            """, start: false)
        let pipe = Pipe()
        d.standardOutput = pipe
        try d.launch()
        try pipe.fileHandleForReading.close()
        try d.waitForLog("success: talker entered RUNNING")
        // At loglevel=debug each chunk of output also reaches the main log: ten of them mean ten
        // writes to the pipe that has no reader.
        try d.waitForLog("talk", count: 10)
        #expect(isAlive(d.pid), "still running after writes to a pipe without a reader")
        #expect(try d.stop() == 0)
    }

    /// [supervisord] strip_ansi: colour and cursor sequences are left out of child logs, also one
    /// split between two writes; a lone ESC stays.
    @Test func stripAnsiLeavesOutEscapeSequences() throws {
        let d = try DaemonHarness("""
            [program:colours]
            command=/bin/sh -c 'printf "\\033[31mred\\033[0m plain\\033x\\n\\033["; sleep 0.3; printf "1;32mgreen\\033[0m\\033[2K\\n"'
            startsecs=0
            autorestart=false
            stdout_logfile=%(here)s/colours.log
            """, supervisord: "strip_ansi=true")
        try d.waitForLog("exited: colours (exit status 0; expected)")
        let log = d.dir.path + "/colours.log"
        try waitUntil("both lines in the log") { (FileManager.default.contents(atPath: log)?.count ?? 0) >= 18 }
        #expect(FileManager.default.contents(atPath: log) == Data("red plain\u{1b}x\ngreen\n".utf8))
        #expect(try d.stop() == 0)
    }

    /// Local time now, as the main log writes it (`2026-11-26 06:46:11,484`).
    static func localTime() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone.current
        f.dateFormat = "yyyy-MM-dd HH:mm:ss,SSS"
        return f.string(from: Date())
    }

    /// The rest of a line after the main log's timestamp (`2026-11-26 06:46:11,484 `), nil without one.
    static func afterTimestamp(_ line: Substring) -> Substring? {
        let shape = "0000-00-00 00:00:00,000 "
        guard line.count >= shape.count,
              zip(line, shape).allSatisfy({ c, s in s == "0" ? c.isASCII && c.isNumber : c == s }) else { return nil }
        return line.dropFirst(shape.count)
    }

    /// stdout_log_timestamps / stderr_log_timestamps: one timestamp at the start of each line of the
    /// file (an AUTO one too), also for a line written in two pieces with a pause between them;
    /// `\r` and a missing final newline pass unchanged; a program without the option gets none;
    /// the program's written-bytes count is what reached its files, timestamps included.
    @Test func logTimestampsStartEveryLineOnce() throws {
        let before = Self.localTime()
        let script = #"/bin/sh -c 'echo one; printf "ab"; sleep 0.2; printf "c\n"; printf "x\ry\n"; echo err >&2; printf "tail"'"#
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:stamped]
            command=\(script)
            startsecs=0
            autorestart=false
            stdout_logfile=%(here)s/stamped.log
            stdout_log_timestamps=true
            stderr_log_timestamps=yes

            [program:plain]
            command=\(script)
            startsecs=0
            autorestart=false
            stdout_logfile=%(here)s/plain.log
            stderr_logfile=%(here)s/plain.err
            """, loglevel: "info")
        try d.waitForLog("exited: stamped (exit status 0; expected)")
        try d.waitForLog("exited: plain (exit status 0; expected)")
        let dir = d.dir.path
        func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        func autoStderr() -> String? {
            (try? FileManager.default.contentsOfDirectory(atPath: dir))?.first { $0.hasPrefix("stamped-stderr---") }.map { dir + "/" + $0 }
        }
        try waitUntil("every log complete") {
            text(dir + "/stamped.log").hasSuffix("tail") && text(dir + "/plain.log").hasSuffix("tail")
                && text(dir + "/plain.err") == "err\n" && autoStderr().map { text($0).hasSuffix("err\n") } == true
        }
        let after = Self.localTime()
        let stdout = text(dir + "/stamped.log")
        let lines = stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.map { Self.afterTimestamp($0) } == ["one", "abc", "x\ry", "tail"], "\(stdout.debugDescription)")
        // Local time, as the main log writes it (the format sorts as text).
        for line in lines {
            #expect(before <= line.prefix(23) && line.prefix(23) <= after, "\(line.debugDescription) not within \(before) … \(after)")
        }
        let stderrPath = try #require(autoStderr())
        let stderr = text(stderrPath)
        #expect(Self.afterTimestamp(stderr[...]) == "err\n", "\(stderr.debugDescription)")
        #expect(text(dir + "/plain.log") == "one\nabc\nx\ry\ntail")
        #expect(text(dir + "/plain.err") == "err\n")

        let reached = stdout.utf8.count + stderr.utf8.count
        let plainReached = text(dir + "/plain.log").utf8.count + text(dir + "/plain.err").utf8.count
        var metrics = ""
        try waitUntil("the written bytes counted") {
            let r = try? ControlClient(socketPath: dir + "/m.sock").request("GET", "/metrics")
            metrics = r.map { String(decoding: $0.body, as: UTF8.self) } ?? ""
            return metrics.contains("minder_process_log_written_bytes_total{group=\"stamped\",name=\"stamped\"} \(reached)\n")
                && metrics.contains("minder_process_log_written_bytes_total{group=\"plain\",name=\"plain\"} \(plainReached)\n")
        }
        #expect(try d.stop() == 0)
    }

    /// logfile=syslog and stdout_syslog=true: one message per line, from minderd, facility user;
    /// the main log's level sets the priority, a program's lines are `name line`.
    @Test func syslogGetsTheMainLogAndTheProgramsLines() throws {
        let d = try DaemonHarness("", start: false)
        try """
            [supervisord]
            logfile=syslog
            pidfile=%(here)s/minderd.pid

            [program:talker]
            command=/bin/sh -c 'printf "line one\\nline two\\n"; sleep 0.2; printf "partial "; sleep 0.2; printf end'
            startsecs=0
            autorestart=false
            stdout_logfile=NONE
            stdout_syslog=true
            """.write(toFile: d.configPath, atomically: true, encoding: .utf8)
        let socketPath = d.dir.path + "/log.sock"
        let receiver = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(receiver) }
        let bound = withUnixAddress(socketPath) { bind(receiver, $0, $1) }
        #expect(bound == 0)
        d.environment = ["MINDER_SYSLOG_SOCKET": socketPath]
        try d.launch()

        var messages: [String] = []
        let wanted = ["talker line one", "talker line two", "talker partial end", "INFO exited: talker (exit status 0; expected)"]
        let deadline = Date().addingTimeInterval(30)
        var buffer = [UInt8](repeating: 0, count: 8192)
        while !wanted.allSatisfy({ w in messages.contains { $0.hasSuffix(w) } }) {
            guard Date() < deadline else { throw Failure("syslog got only:\n\(messages.joined(separator: "\n"))") }
            let n = buffer.withUnsafeMutableBytes { recv(receiver, $0.baseAddress, $0.count, 0) }
            if n > 0 { messages.append(String(decoding: buffer.prefix(n), as: UTF8.self)) } else { usleep(10_000) }
        }
        let prefix = try #require(messages.first { $0.hasSuffix("talker line one") })
        #expect(prefix.hasPrefix("<14>") && prefix.contains(" minderd[\(d.pid)]: talker line one"))
        #expect(messages.contains { $0.hasPrefix("<14>") && $0.contains("INFO spawned: 'talker'") })
        #expect(!FileManager.default.fileExists(atPath: d.dir.path + "/syslog"), "no file is named after the keyword")
        #expect(try d.stop() == 0)
    }

    /// At loglevel=debug, as in supervisord, the main log also gets each chunk a program writes.
    @Test func debugLevelCopiesOutputIntoTheMainLog() throws {
        let d = try DaemonHarness("""
            [program:talker]
            command=/bin/sh -c 'echo hello there; exec sleep 1000'
            startsecs=0
            """)
        try d.waitForLog("DEBG 'talker' stdout output:")
        #expect(d.log.contains("DEBG 'talker' stdout output:\nhello there\n"))
        #expect(try d.stop() == 0)
        let quiet = try DaemonHarness("""
            [program:talker]
            command=/bin/sh -c 'echo hello there; exec sleep 1000'
            startsecs=0
            stdout_logfile=%(here)s/talker.log
            """, loglevel: "info")
        // Once the output is in its own log, it would be in the main log too if copied there.
        try waitUntil("the output in talker.log") {
            (try? String(contentsOfFile: quiet.dir.path + "/talker.log", encoding: .utf8)) == "hello there\n"
        }
        #expect(!quiet.log.contains("hello there"))
        #expect(try quiet.stop() == 0)
    }
}
