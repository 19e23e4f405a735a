import Foundation
import MinderControl
import Testing

/// Hostile clients against a real minderd: each leaves it serving, its programs untouched.
@Suite struct HardeningTests {
    static let programs = """
        [unix_http_server]
        file=%(here)s/m.sock
        chmod=0777

        [program:sleeper]
        command=sleep 1000
        startsecs=0
        """


    func statusPIDs(_ d: DaemonHarness) throws -> [String: Int32] {
        let r = try run(minderctlPath, ["-c", d.configPath, "--json", "status"])
        let list = try JSON.decode([ProcessStatus].self, Array(r.stdout.utf8))
        return Dictionary(uniqueKeysWithValues: list.map { ($0.namespec, $0.pid) })
    }

    /// A connected client socket that has sent `bytes`.
    func connectAndSend(_ socket: String, _ bytes: String) -> Int32 {
        let fd = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        _ = withUnixAddress(socket) { connect(fd, $0, $1) }
        _ = Array(bytes.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return fd
    }

    /// Reads until the server closes; what it sent. Fails when it is still open after `timeout`.
    func readToEOF(_ fd: Int32, timeout: Double) throws -> String {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&p, 1, left) > 0 else { throw Failure("the connection is still open after \(timeout) s") }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return String(decoding: received, as: UTF8.self) }
            received += chunk.prefix(n)
        }
    }

    @Test func malformedQueriesGetRepliesAndTheDaemonStaysUp() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        let before = try statusPIDs(d)
        let client = ControlClient(socketPath: d.dir.path + "/m.sock")
        for query in ["?=", "?==", "?=&=", "?x&=", "?&", "?%", "?=%zz"] {
            #expect(try client.request("GET", "/api/v1/processes" + query).status == 200, "\(query)")
            #expect(try client.request("GET", "/api/v1/log" + query).status == 200, "\(query)")
        }
        #expect(isAlive(d.pid))
        #expect(try statusPIDs(d) == before)
        #expect(try d.stop() == 0)
    }

    @Test func aRequestThatNeverCompletesIsClosedAtItsDeadline() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        let socket = d.dir.path + "/m.sock"
        // Content-Length promises a body that never comes; the other says nothing at all.
        let promised = connectAndSend(socket, "POST /api/v1/events HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n")
        defer { close(promised) }
        let silent = connectAndSend(socket, "")
        defer { close(silent) }
        _ = try readToEOF(promised, timeout: 60)
        _ = try readToEOF(silent, timeout: 90)
        try d.waitForLog("with no complete request body within 10 s")
        try d.waitForLog("with no request within 30 s")
        #expect(try run(minderctlPath, ["-c", d.configPath, "pid"]).stdout == "\(d.pid)\n")
        #expect(try d.stop() == 0)
    }

    @Test func aTailOfAHugeLogIsBounded() throws {
        // 3 MiB of output, then quiet.
        let d = try DaemonHarness(Self.programs + """

            [program:talker]
            command=/bin/sh -c 'head -c 3145728 /dev/zero | tr "\\\\0" x; echo END; exec sleep 1000'
            startsecs=0
            stdout_logfile_maxbytes=0
            """, loglevel: "info")
        try d.waitForLog("success: talker entered RUNNING")
        let client = ControlClient(socketPath: d.dir.path + "/m.sock")
        var chunk = LogChunk(data: "", offset: 0, overflow: false)
        try waitUntil("the talker's END") {
            guard let r = try? client.request("GET", "/api/v1/processes/talker/log/stdout?tail=1000000000"),
                  let c = try? JSON.decode(LogChunk.self, r.body) else { return false }
            chunk = c
            return c.data.hasSuffix("END\n")
        }
        #expect(chunk.data.utf8.count == ControlAPI.maxLogReadBytes)
        let range = try JSON.decode(LogChunk.self, client.request(
            "GET", "/api/v1/processes/talker/log/stdout?offset=0&length=1000000000").body)
        #expect(range.data.utf8.count == ControlAPI.maxLogReadBytes && range.overflow)
        #expect(try d.stop() == 0)
    }

    /// Started with stdin, stdout and stderr closed: they become /dev/null before minderd opens
    /// anything, so no log or socket takes their place.
    @Test func closedStandardDescriptorsBecomeDevNull() throws {
        let d = try DaemonHarness(Self.programs, start: false)
        d.launcher = ["/bin/sh", "-c", "exec \"$0\" \"$@\" <&- >&- 2>&-"]
        try d.launch()
        try d.waitForLog("success: sleeper entered RUNNING")
        for fd in 0...2 {
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(d.pid)/fd/\(fd)")
            #expect(target == "/dev/null", "fd \(fd) is \(target)")
        }
        #expect(try run(minderctlPath, ["-c", d.configPath, "pid"]).stdout == "\(d.pid)\n")
        #expect(try d.stop() == 0)
    }

    /// Started with its signals ignored (as nohup, a shell's background job or a careless parent
    /// leaves them): minderd still sees its children exit, reloads on SIGHUP and stops on
    /// SIGTERM, and its children get every signal at its default.
    @Test func signalsIgnoredByItsParentStillReachMinderd() throws {
        let d = try DaemonHarness("""
            [program:probe]
            command=/bin/sh -c 'grep SigIgn /proc/self/status > %(here)s/ignored.txt;exec sleep 1000'
            startsecs=0

            [program:quick]
            command=/bin/sh -c 'exit 3'
            startsecs=0
            autorestart=false
            """, start: false)
        d.launcher = ["/bin/sh", "-c", "trap '' HUP INT QUIT TERM USR1 USR2 CHLD PIPE; exec \"$0\" \"$@\""]
        try d.launch()
        try d.waitForLog("exited: quick (exit status 3; not expected)")
        // SIGUSR1 (bit 9) as the launcher left it, SIGPIPE (bit 12) ignored by minderd itself; the
        // loop's signals at their defaults.
        #expect(procStatus(d.pid)["SigIgn"] == "0000000000001200")
        try waitUntil("the probe's signals written") {
            (try? String(contentsOfFile: d.dir.path + "/ignored.txt", encoding: .utf8))?.hasSuffix("\n") == true
        }
        #expect(try String(contentsOfFile: d.dir.path + "/ignored.txt", encoding: .utf8) == "SigIgn:\t0000000000000000\n")
        d.signal(SIGHUP)
        try d.waitForLog("received SIGHUP indicating restart request")
        #expect(try d.stop() == 0)
    }

    /// A Python client run as nobody that opens `count` connections, says how many it holds, and waits.
    func flood(_ socket: String, count: Int, groups: [String], output: String) throws -> Interactive {
        let script = """
            import socket, sys
            held = []
            for i in range(\(count)):
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect(sys.argv[1])
                    held.append(s)
                except OSError:
                    pass
            print(len(held), flush=True)
            held[-1].settimeout(60)
            print(held[-1].recv(4096).decode().split("\\r\\n")[0], flush=True)
            sys.stdin.read()
            """
        return try Interactive("/usr/bin/prlimit", ["--nofile=4096:4096", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534"]
            + groups + ["/usr/bin/python3", "-c", script, socket], output: output)
    }

    @Test(.enabled(if: geteuid() == 0, "switching to another user needs root"))
    func aFloodOfConnectionsLeavesRootServedAndProgramsRestarting() throws {
        for (groups, socketLine, expected) in [
            // Another user, refused by credentials: each connection is closed at once.
            (["--clear-groups"], "chmod=0777", "HTTP/1.1 403 Forbidden"),
            // A member of the socket's group: served, up to its share of connections.
            (["--groups=1"], "chmod=0770\nchown=root:daemon", "HTTP/1.1 503 Service Unavailable"),
        ] {
            let d = try DaemonHarness(Self.programs.replacingOccurrences(of: "chmod=0777", with: socketLine), start: false)
            d.launcher = ["/usr/bin/prlimit", "--nofile=1024:1024"]
            try d.launch()
            chmod(d.dir.path, 0o755)
            try d.waitForLog("success: sleeper entered RUNNING")
            let out = d.dir.path + "/flood.out"
            let attacker = try flood(d.dir.path + "/m.sock", count: 1100, groups: groups, output: out)
            defer { attacker.kill() }
            try waitUntil("the flood's report", timeout: 120) {
                ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2
            }
            let report = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
            #expect(report[1] == expected[...], "\(report)")

            // Root is served during the flood, and a program still restarts.
            let before = try statusPIDs(d)["sleeper"]
            let restart = try run(minderctlPath, ["-c", d.configPath, "restart", "sleeper"])
            #expect(restart.stdout == "sleeper: stopped\nsleeper: started\n", "\(restart.stderr)")
            let after = try statusPIDs(d)["sleeper"]
            #expect(after != nil && after != before && after != 0)
            #expect(!d.log.contains("Too many open files"))
            // The warnings are rate-limited: a line a second at most, not one per connection.
            let warnings = d.log.split(separator: "\n").filter { $0.contains("control socket:") }
            #expect(warnings.count >= 1 && warnings.count < 100)
            attacker.kill()
            #expect(try d.stop() == 0)
        }
    }
}
