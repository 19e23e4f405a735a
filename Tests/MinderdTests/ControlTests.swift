import Foundation
import MinderControl
import Testing

/// minderctl and raw HTTP against a real minderd on a real socket.
@Suite(.serialized) struct ControlTests {
    static let programs = """
        [unix_http_server]
        file=%(here)s/m.sock

        [program:sleeper]
        command=sleep 1000
        startsecs=0

        [program:hello]
        command=/bin/sh -c 'echo hello;exec sleep 1000'
        startsecs=0

        [program:manual]
        command=sleep 1000
        autostart=false
        startsecs=0

        [program:w]
        command=sleep 1000
        process_name=w%(process_num)d
        numprocs=2
        startsecs=0

        [group:pool]
        programs=w
        """


    func ctl(_ d: DaemonHarness, _ args: String...) throws -> RunResult {
        try run(minderctlPath, ["-c", d.configPath] + args)
    }

    func statusPIDs(_ d: DaemonHarness) throws -> [String: Int32] {
        let out = try run(minderctlPath, ["-c", d.configPath, "--json", "status"]).stdout
        let list = try JSON.decode([ProcessStatus].self, Array(out.utf8))
        return Dictionary(uniqueKeysWithValues: list.map { ($0.namespec, $0.pid) })
    }

    @Test func minderctlCommands() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: w1 entered RUNNING")
        try d.waitForLog("success: hello entered RUNNING")

        let status = try ctl(d, "status")
        #expect(status.status == 3, "manual is STOPPED")
        let lines = status.stdout.split(separator: "\n").map(String.init)
        #expect(lines.map { String($0.prefix(33)).trimmingCharacters(in: .whitespaces) } == ["hello", "manual", "pool:w0", "pool:w1", "sleeper"])
        #expect(lines[1] == "manual                           STOPPED   Not started")
        #expect(lines[4].hasPrefix("sleeper                          RUNNING   pid ") && lines[4].contains(", uptime 0:"))

        #expect(try ctl(d, "start", "manual").stdout == "manual: started\n")
        let again = try ctl(d, "start", "manual")
        #expect(again.stdout == "manual: ERROR (already started)\n" && again.status == 0)
        #expect(try ctl(d, "status", "manual").status == 0)
        let missing = DaemonHarness.config(Self.programs + "\n[program:ghost]\ncommand=/nonexistent/ghost\nautostart=false\n")
        try missing.write(toFile: d.configPath, atomically: true, encoding: .utf8)
        #expect(try ctl(d, "add", "ghost").stdout == "ghost: added process group\n")
        let ghost = try ctl(d, "start", "ghost")
        #expect(ghost.stdout == "ghost: ERROR (no such file)\n" && ghost.status == 1)
        let bad = try ctl(d, "stop", "nope")
        #expect(bad.stdout == "nope: ERROR (no such process)\n" && bad.status == 1)
        #expect(try ctl(d, "stop", "pool:*").stdout == "pool:w0: stopped\npool:w1: stopped\n")
        #expect(try ctl(d, "status", "pool:*").status == 3)
        #expect(try ctl(d, "start", "all").stdout.contains("pool:w1: started"))
        let restarted = try statusPIDs(d)
        #expect(try ctl(d, "restart", "sleeper").stdout == "sleeper: stopped\nsleeper: started\n")
        #expect(try statusPIDs(d)["sleeper"] != restarted["sleeper"])

        let badSignal = try ctl(d, "signal", "BOGUS", "sleeper")
        #expect(badSignal.stdout == "sleeper: ERROR (bad signal name)\n" && badSignal.status == 1)
        #expect(try ctl(d, "signal", "STOP", "sleeper").stdout == "sleeper: signalled\n")
        #expect(try ctl(d, "signal", "CONT", "sleeper").stdout == "sleeper: signalled\n")
        let pids = try statusPIDs(d)
        #expect(try ctl(d, "pid", "sleeper").stdout == "\(pids["sleeper"]!)\n")
        #expect(try ctl(d, "pid").stdout == "\(d.pid)\n")
        #expect(try ctl(d, "version").stdout == "0.1.0\n")

        try waitUntil("hello's output") { (try? ctl(d, "tail", "hello").stdout) == "hello\n" }
        #expect(try ctl(d, "clear", "hello").stdout == "hello: cleared\n")
        try waitUntil("hello's log cleared") { (try? ctl(d, "tail", "hello").stdout) == "" }
        #expect(try ctl(d, "maintail", "-100000").stdout.contains("spawned: 'hello'"))

        #expect(try ctl(d, "shutdown").stdout == "Shut down\n")
        #expect(try d.waitForExit() == 0)
        let gone = try ctl(d, "status")
        #expect(gone.status != 0 && gone.stderr.contains("no such file"))
    }

    @Test func tailFollowStreamsEveryLineOnce() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:ticker]
            command=/bin/sh -c 'i=0;while :;do i=$((i+1));echo tick $i;sleep 0.02;done'
            startsecs=0
            stdout_logfile=%(here)s/ticker.log
            stdout_logfile_maxbytes=200
            stdout_logfile_backups=2
            """)
        try d.waitForLog("spawned: 'ticker'")
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: minderctlPath)
        follower.arguments = ["-c", d.configPath, "tail", "-f", "ticker"]
        let out = d.dir.path + "/follow.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        follower.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try follower.run()
        defer { kill(follower.processIdentifier, SIGKILL) }
        // Rotation every 200 bytes does not interrupt the stream.
        try waitUntil("30 streamed ticks") {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count > 30
        }
        // Stopped where it is, mid-line or not.
        kill(follower.processIdentifier, SIGKILL)
        follower.waitUntilExit()
        // Whole lines only: the follower may have been stopped in the middle of one.
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.first == "==> Press Ctrl-C to exit <==")
        let numbers = lines.dropFirst().compactMap { $0.hasPrefix("tick ") ? Int($0.dropFirst(5)) : nil }
        #expect(numbers.count >= 30)
        #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $1 == $0 + 1 }, "no line lost or repeated: \(numbers)")
        #expect(try d.stop() == 0)
    }

    @Test func fgConnectsTheTerminalToAProcess() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:echo]
            command=cat
            startsecs=0
            """)
        try d.waitForLog("success: echo entered RUNNING")
        let fg = try Interactive(minderctlPath, ["-c", d.configPath, "fg", "echo"], output: d.dir.path + "/fg.out")
        let out = fg.output
        let input = fg.input
        defer { fg.kill() }
        try waitUntil("fg's banner") { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("Press Ctrl-C") }
        input.fileHandleForWriting.write(Data("ping\n".utf8))
        try waitUntil("the echo of our line") { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("ping\n") }
        #expect(try ctl(d, "stop", "echo").stdout == "echo: stopped\n")
        #expect(fg.waitForExit(), "fg leaves when the process stops")
        #expect(try String(contentsOfFile: out, encoding: .utf8).hasSuffix("Exiting foreground\n"))
        #expect(try d.stop() == 0)
    }

    @Test func shellRunsCommandsAndKeepsHistory() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        let history = d.dir.path + "/history"
        let shell = try Interactive(minderctlPath, ["-c", d.configPath, "-r", history], output: d.dir.path + "/shell.out")
        let out = shell.output
        let input = shell.input
        defer { shell.kill() }
        // The shell loads libedit; no other command does (the follower below is one, once it
        // has printed an event).
        try waitUntil("the shell reading its input") { readingStandardInput(shell.process.processIdentifier) }
        #expect(try maps(shell.process.processIdentifier, "/libedit.so"))
        let follower = try Interactive(minderctlPath, ["-c", d.configPath, "events", "--follow"], output: d.dir.path + "/events.out")
        defer { follower.kill() }
        // A restart each time: the follower may connect after the first one's events.
        try waitUntil("an event followed") {
            _ = try? ctl(d, "restart", "manual")
            return ((try? String(contentsOfFile: follower.output, encoding: .utf8)) ?? "").contains("manual")
        }
        #expect(try !maps(follower.process.processIdentifier, "/libedit.so"))
        input.fileHandleForWriting.write(Data("pid sleeper\nversion\nquit\n".utf8))
        #expect(shell.waitForExit())
        let text = try String(contentsOfFile: out, encoding: .utf8)
        let pid = try statusPIDs(d)["sleeper"]!
        #expect(text.contains("sleeper                          RUNNING"), "the shell starts with status")
        #expect(text.contains("\(pid)\n0.1.0\n"))
        // libedit's history file escapes spaces (pid\\040sleeper).
        let saved = try String(contentsOfFile: history, encoding: .utf8)
        #expect(saved.contains("sleeper\nversion\n"))
        #expect(try d.stop() == 0)
    }

    /// Where libedit cannot be loaded (a mount namespace puts an empty file over it), the shell
    /// says so and reads plain lines, without history.
    @Test(.enabled(if: haveUnshare, "needs root and unshare(1)"))
    func shellWithoutLibeditReadsPlainLines() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        let r = try run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", """
            for l in /usr/lib/*/libedit.so.*; do mount --bind /dev/null "$l" || exit 99; done
            printf 'pid sleeper\nversion\nquit\n' | exec "$0" -c "$1" -r "$2"
            """, minderctlPath, d.configPath, d.dir.path + "/history"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("minderctl: no line editing or history, since libedit cannot be loaded"), "\(r.stderr)")
        let pid = try statusPIDs(d)["sleeper"]!
        #expect(r.stdout.contains("minder> \(pid)\nminder> 0.1.0\nminder> "), "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: d.dir.path + "/history"))
        #expect(try d.stop() == 0)
    }

    @Test func updateRestartsOnlyWhatChanged() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: w1 entered RUNNING")
        let before = try statusPIDs(d)
        // hello changes, manual disappears, extra appears; sleeper and the pool stay.
        let edited = Self.programs
            .replacingOccurrences(of: "echo hello;exec sleep 1000", with: "echo hello again;exec sleep 1000")
            .replacingOccurrences(of: "[program:manual]\ncommand=sleep 1000\nautostart=false\nstartsecs=0\n", with: "[program:extra]\ncommand=sleep 1000\nstartsecs=0\n")
        try DaemonHarness.config(edited).write(toFile: d.configPath, atomically: true, encoding: .utf8)
        #expect(try ctl(d, "reread").stdout == "extra: available\nhello: changed\nmanual: disappeared\n")
        let update = try ctl(d, "update")
        #expect(update.status == 0)
        #expect(update.stdout.contains("manual: removed process group") && update.stdout.contains("hello: updated process group")
            && update.stdout.contains("extra: added process group"))
        try waitUntil("the new programs to run") { ((try? statusPIDs(d)) ?? [:])["extra"].map { $0 > 0 } ?? false }
        let after = try statusPIDs(d)
        #expect(after["sleeper"] == before["sleeper"] && after["pool:w0"] == before["pool:w0"] && after["pool:w1"] == before["pool:w1"])
        #expect(after["hello"] != before["hello"] && after["manual"] == nil)
        #expect(try ctl(d, "reread").stdout == "No config updates to processes\n")

        // A broken config changes nothing and says why.
        try DaemonHarness.config(edited + "\n[program:broken]\nautostart=maybe\n").write(toFile: d.configPath, atomically: true, encoding: .utf8)
        let refused = try ctl(d, "update")
        #expect(refused.status == 1 && refused.stdout.contains("CANT_REREAD") && refused.stdout.contains("autostart"))
        #expect(try statusPIDs(d) == after)
        #expect(try d.stop() == 0)
    }

    @Test func availAddAndRemoveGroups() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        // A name with a combining mark (e and U+0301) is padded by code points, as supervisorctl's `%-32s` does.
        try DaemonHarness.config(Self.programs + "\n[program:later]\ncommand=sleep 1000\nstartsecs=0\npriority=5\n"
                                 + "\n[program:cafe\u{301}]\ncommand=sleep 1000\nautostart=false\n")
            .write(toFile: d.configPath, atomically: true, encoding: .utf8)
        let avail = try ctl(d, "avail").stdout.split(separator: "\n").map(String.init)
        #expect(avail.contains("later                            avail     auto      5:5"))
        #expect(avail.map { Array($0.unicodeScalars) }.contains(Array("cafe\u{301}                            avail     manual    999:999".unicodeScalars)))
        #expect(avail.contains("manual                           in use    manual    999:999"))
        #expect(try ctl(d, "add", "later").stdout == "later: added process group\n")
        let again = try ctl(d, "add", "later")
        #expect(again.stdout == "ERROR: process group already active\n" && again.status == 1)
        try d.waitForLog("success: later entered RUNNING")
        #expect(try ctl(d, "remove", "later").stdout == "ERROR: process/group still running: later\n")
        #expect(try ctl(d, "stop", "later").stdout == "later: stopped\n")
        #expect(try ctl(d, "remove", "later").stdout == "later: removed process group\n")
        #expect(try ctl(d, "status", "later").stdout == "later: ERROR (no such process)\n")
        #expect(try ctl(d, "add", "nope").stdout == "ERROR: no such process/group: nope\n")

        // update of one group leaves the other pending changes for later.
        let before = try statusPIDs(d)
        try DaemonHarness.config(Self.programs.replacingOccurrences(of: "echo hello;", with: "echo changed;")
            + "\n[program:extra]\ncommand=sleep 1000\nstartsecs=0\n").write(toFile: d.configPath, atomically: true, encoding: .utf8)
        #expect(try ctl(d, "update", "extra").stdout == "extra: added process group\n")
        #expect(try ctl(d, "reread").stdout == "hello: changed\n")
        #expect(try statusPIDs(d)["hello"] == before["hello"])
        #expect(try ctl(d, "update", "nosuch").status == 1)
        #expect(try d.stop() == 0)
    }

    @Test func badRequestsGetErrorsAndTheDaemonKeepsServing() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        let socket = d.dir.path + "/m.sock"
        let client = ControlClient(socketPath: socket)
        func raw(_ bytes: [UInt8]) -> Int32 {
            let fd = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(socket.utf8) + [0]) }
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            return fd
        }
        // A client that connects and sends nothing, one with random bytes, one cut short.
        let silent = raw([])
        defer { close(silent) }
        close(raw((0..<4096).map { _ in UInt8.random(in: 0...255) }))
        close(raw(Array("POST /api/v1/processes/sleeper/st".utf8)))
        close(raw(Array("GET /api/v1/processes HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"a\"".utf8)))

        #expect(try client.request("GET", "/api/v1/nowhere").status == 404)
        #expect(try client.request("DELETE", "/api/v1/processes").status == 405)
        #expect(try client.request("POST", "/api/v1/processes/sleeper/signal", body: Array("{not json".utf8)).status == 400)
        #expect(try client.request("POST", "/api/v1/processes/sleeper/signal", body: Array(repeating: 32, count: (1 << 20) + 10)).status == 413)
        #expect(try client.request("POST", "/api/v1/processes/nope/start").status == 404)
        #expect(try client.request("GET", "/api/v1/log?offset=0&length=-1").status == 400)
        #expect(try client.request("GET", "/api/v1/processes/sleeper/frobnicate").status == 404)
        // A child that does not read its stdin: the write fails at once instead of blocking minderd.
        let big = JSON.encode(StdinRequest(data: String(repeating: "x", count: 200_000)))
        #expect(try client.request("POST", "/api/v1/processes/sleeper/stdin", body: big).status == 500)
        #expect(try client.request("GET", "/api/v1/supervisor").status == 200)
        let pid = try statusPIDs(d)["sleeper"]

        // 50 clients at once.
        let ok = NIOLockedValueBox(0)
        DispatchQueue.concurrentPerform(iterations: 50) { _ in
            if (try? client.request("GET", "/api/v1/processes/sleeper"))?.status == 200 { ok.withLockedValue { $0 += 1 } }
        }
        #expect(ok.withLockedValue { $0 } == 50)
        #expect(try statusPIDs(d)["sleeper"] == pid, "no bad request disturbed a child")
        #expect(try d.stop() == 0)
    }

    @Test func basicAuthWithClearAndSHAPasswords() throws {
        // sha1("secret") = e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4
        for password in ["secret", "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"] {
            let d = try DaemonHarness(Self.programs.replacingOccurrences(
                of: "file=%(here)s/m.sock", with: "file=%(here)s/m.sock\nusername=admin\npassword=\(password)"))
            try d.waitForLog("success: sleeper entered RUNNING")
            let socket = d.dir.path + "/m.sock"
            #expect(try ControlClient(socketPath: socket).request("GET", "/api/v1/supervisor").status == 401)
            #expect(try ControlClient(socketPath: socket, username: "admin", password: "wrong").request("GET", "/api/v1/supervisor").status == 401)
            #expect(try ControlClient(socketPath: socket, username: "admin", password: "secret").request("GET", "/api/v1/supervisor").status == 200)
            let ctl = try run(minderctlPath, ["-c", d.configPath, "-u", "admin", "-p", "secret", "pid"])
            #expect(ctl.stdout == "\(d.pid)\n", "\(ctl.stderr)")
            let denied = try run(minderctlPath, ["-c", d.configPath, "pid"])
            #expect(denied.status != 0 && denied.stderr.contains("Server requires authentication"))
            #expect(try d.stop() == 0)
        }
    }

    @Test func clearMessagesWhenMinderdCannotBeReached() throws {
        let dir = try TemporaryDirectory()
        // A socket file nobody listens on (left by a killed minderd).
        let stale = dir.path + "/stale.sock"
        let fd = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(stale.utf8) + [0]) }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        let refused = try run(minderctlPath, ["-s", "unix://" + stale, "status"])
        #expect(refused.status != 0 && refused.stderr.contains("refused connection"))
        let missing = try run(minderctlPath, ["-s", "unix://" + dir.path + "/none.sock", "status"])
        #expect(missing.status != 0 && missing.stderr.contains("no such file"))
        let noServer = try run(minderctlPath, ["-c", "/nonexistent/minder.conf", "status"])
        #expect(noServer.status == 2 && noServer.stderr.contains("could not find config file"))
        let tooLong = try run(minderctlPath, ["-s", "unix:///" + String(repeating: "x", count: 120), "status"])
        #expect(tooLong.status == 2 && tooLong.stderr.contains("the kernel allows 107"))
        if geteuid() == 0 {
            let d = try DaemonHarness(Self.programs)
            chmod(d.dir.path, 0o755)
            try d.waitForLog("success: sleeper entered RUNNING")
            let denied = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", minderctlPath,
                                                      "-s", "unix://" + d.dir.path + "/m.sock", "status"])
            #expect(denied.status != 0 && denied.stderr.contains("permission denied"), "\(denied.stderr)")
            #expect(try d.stop() == 0)
        }
    }

    /// GET /supervisor as uid 65534 with the given setpriv group options; stdout is the HTTP status.
    func curlAsNobody(_ groups: [String], socket: String) throws -> RunResult {
        try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534"] + groups + [
            "/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket,
            "http://localhost/api/v1/supervisor",
        ])
    }

    @Test(.enabled(if: geteuid() == 0, "switching users needs root"))
    func aUserOtherThanTheOwnerIsRefusedByTheDaemon() throws {
        let d = try DaemonHarness(Self.programs.replacingOccurrences(of: "file=%(here)s/m.sock", with: "file=%(here)s/m.sock\nchmod=0777"))
        chmod(d.dir.path, 0o755)
        try d.waitForLog("success: sleeper entered RUNNING")
        let r = try curlAsNobody(["--clear-groups"], socket: d.dir.path + "/m.sock")
        #expect(r.stdout == "403", "\(r.stdout) \(r.stderr)")
        try d.waitForLog("control socket: refused a client (pid ")
        #expect(d.log.contains("uid 65534)"))
        #expect(try run(minderctlPath, ["-c", d.configPath, "pid"]).stdout == "\(d.pid)\n", "root is still served")
        #expect(try d.stop() == 0)

        // A member of the socket's group, by a supplementary group, is served.
        let g = try DaemonHarness(Self.programs.replacingOccurrences(of: "file=%(here)s/m.sock", with: "file=%(here)s/m.sock\nchmod=0770\nchown=root:daemon"))
        chmod(g.dir.path, 0o755)
        try g.waitForLog("success: sleeper entered RUNNING")
        let member = try curlAsNobody(["--groups=1"], socket: g.dir.path + "/m.sock")
        #expect(member.stdout == "200", "\(member.stdout) \(member.stderr)")
        #expect(try g.stop() == 0)
    }
}

import NIOConcurrencyHelpers
