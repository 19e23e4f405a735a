import Foundation
import MinderControl
import Testing

/// `ready=notify`: programs that say when they are ready, with systemd's protocol, from real
/// senders (Debian's systemd-notify and a raw datagram from Python), and senders that lie.
@Suite struct ReadinessTests {
    func status(_ d: DaemonHarness, _ name: String) -> ProcessStatus? { d.status(name) }

    /// The NOTIFY_SOCKET minderd gave a running process, from its environment.
    static func notifySocket(of pid: Int32) throws -> String {
        let environment = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)
        let entry = try #require(environment.split(separator: "\0").first { $0.hasPrefix("NOTIFY_SOCKET=") })
        return String(entry.dropFirst("NOTIFY_SOCKET=".count))
    }

    /// A program that sends STATUS= and then, once the test lets it, READY=1 over the socket in
    /// NOTIFY_SOCKET, from Python.
    static let rawSender = """
        import os, socket, sys, time
        path = os.environ['NOTIFY_SOCKET']
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b'STATUS=warming up', path)
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.05)
        s.sendto(b'READY=1\\nSTATUS=serving', path)
        time.sleep(1000)
        """

    /// The control socket and `app`, the raw sender (written into `dir`), which waits for
    /// `dir/go` to say READY=1.
    static func app(_ dir: TemporaryDirectory) throws -> String {
        try rawSender.write(toFile: dir.path + "/sender.py", atomically: true, encoding: .utf8)
        return """
        [unix_http_server]
        file=%(here)s/m.sock

        [program:app]
        command=/usr/bin/python3 \(dir.path)/sender.py \(dir.path)/go
        startsecs=0
        ready=notify
        """
    }

    @Test func aRawNotificationMakesTheProgramReady() throws {
        let dir = try TemporaryDirectory()
        let d = try DaemonHarness("""
            \(try Self.app(dir))

            [program:plain]
            command=sleep 1000
            startsecs=0

            [eventlistener:watch]
            command=/usr/bin/python3 \(packageRoot.path)/examples/listener.py %(here)s/events.txt
            events=PROCESS_READY
            """)
        try d.waitForLog("success: app entered RUNNING")
        try waitUntil("the STATUS= before READY=1") { status(d, "app")?.status_text == "warming up" }
        let before = status(d, "app")
        #expect(before?.ready == false && before?.statename == "RUNNING")
        #expect(before?.description.hasSuffix(", not ready, warming up") == true, "\(before?.description ?? "")")
        #expect(status(d, "plain")?.ready == nil, "no ready= gives null")
        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        try d.waitForLog("ready: app")
        let after = status(d, "app")
        #expect(after?.ready == true && after?.status_text == "serving")
        #expect(after?.description.hasSuffix(", serving") == true && after?.description.contains("not ready") == false)
        // A supervisord-protocol listener that subscribes to PROCESS_READY gets it.
        try waitUntil("the listener's PROCESS_READY") {
            ((try? String(contentsOfFile: d.dir.path + "/events.txt", encoding: .utf8)) ?? "")
                .contains("PROCESS_READY serial:")
        }
        let listened = try String(contentsOfFile: d.dir.path + "/events.txt", encoding: .utf8)
        #expect(listened.contains("processname:app groupname:app pid:\(after?.pid ?? -1)"), "\(listened)")
        // The stats segment has it too.
        let ctlPath = minderctlPath
        struct Row: Decodable { var name: String; var ready: Bool? }
        let rows = try JSON.decode([Row].self, Array(run(ctlPath, ["-c", d.configPath, "--json", "stats"]).stdout.utf8))
        #expect(rows.first { $0.name == "app" }?.ready == true && rows.first { $0.name == "plain" }?.ready == nil)
        // supervisorctl's view is supervisord's, with the status text in the description.
        let ctl = try run(venv + "/supervisorctl", ["-s", "unix://" + d.dir.path + "/m.sock", "status", "app"])
        #expect(ctl.stdout.contains("RUNNING") && ctl.stdout.contains("serving"), "\(ctl.stdout)")
        #expect(try d.stop() == 0)
    }

    /// systemd-notify sends as its parent, the program's shell: the kernel allows that pid in the
    /// credentials to root (CAP_SYS_ADMIN); for other users it sends as itself, which only
    /// notify_access=exec or all accept (docs/readiness.md).
    @Test(.enabled(if: geteuid() == 0, "systemd-notify can send as its parent only with CAP_SYS_ADMIN"))
    func systemdNotifyFromAShellScriptWorks() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:script]
            command=/bin/sh -c 'sleep 0.2; /usr/bin/systemd-notify --ready --status="all set"; exec sleep 1000'
            startsecs=0
            ready=notify
            """)
        try d.waitForLog("ready: script")
        let s = status(d, "script")
        #expect(s?.ready == true && s?.status_text == "all set", "\(String(describing: s))")
        #expect(try d.stop() == 0)
    }

    /// A program that never says it is ready failed its start: BACKOFF, once more, then FATAL.
    @Test func notReadyInTimeIsAFailedStart() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:mute]
            command=sleep 1000
            startsecs=0
            ready=notify
            ready_timeout=1
            startretries=1
            """)
        try d.waitForLog("not ready: mute was not ready within 1 seconds (ready_timeout); stopping it", count: 2)
        try d.waitForLog("gave up: mute entered FATAL state")
        let s = status(d, "mute")
        #expect(s?.statename == "FATAL" && s?.spawnerr == "not ready within 1 seconds (ready_timeout)", "\(String(describing: s))")
        #expect(try d.stop() == 0)
    }

    /// Another process that can reach the socket (root here) sends READY=1 with a descriptor
    /// and an oversized message: ignored, the descriptor closed, minderd unharmed; the program's
    /// own READY=1 still counts.
    @Test func notificationsFromOthersAreIgnored() throws {
        let dir = try TemporaryDirectory()
        let d = try DaemonHarness("""
            \(try Self.app(dir))
            """)
        try waitUntil("the program's STATUS=") { status(d, "app")?.status_text == "warming up" }
        let socket = try Self.notifySocket(of: try #require(status(d, "app")?.pid))
        let fdsBefore = try openDescriptors(d.pid)
        let liar = try run("/usr/bin/python3", ["-c", """
            import array, os, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            fds = array.array('i', [os.open('/dev/null', os.O_RDONLY)] * 8)
            for _ in range(50):
                s.sendmsg([b'READY=1\\nSTATUS=lies'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, sys.argv[1])
            s.sendto(b'READY=1\\n' + b'x' * 6000, sys.argv[1])
            print('sent', flush=True)
            """, String(socket)])
        #expect(liar.stdout == "sent\n", "\(liar.stderr)")
        try d.waitForLog("notify: ignored a message for app from pid")
        #expect(status(d, "app")?.ready == false && status(d, "app")?.status_text == "warming up")
        #expect(try openDescriptors(d.pid) == fdsBefore, "passed descriptors are closed")
        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        try d.waitForLog("ready: app")
        #expect(status(d, "app")?.ready == true)
        #expect(try d.stop() == 0)
    }

    /// minderd's own NOTIFY_SOCKET (from systemd) is not passed on to programs without ready=.
    @Test func childrenDoNotInheritMinderdsNotifySocket() throws {
        let d = try DaemonHarness("""
            [program:env]
            command=/bin/sh -c 'env > %(here)s/env.out; exec sleep 1000'
            startsecs=0
            """, start: false)
        d.environment = ["NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "1000000", "LISTEN_FDS": "2"]
        try d.launch()
        try waitUntil("the program's environment") {
            ((try? String(contentsOfFile: d.dir.path + "/env.out", encoding: .utf8)) ?? "").contains("SUPERVISOR_ENABLED=1")
        }
        let env = try String(contentsOfFile: d.dir.path + "/env.out", encoding: .utf8)
        #expect(!env.contains("NOTIFY_SOCKET") && !env.contains("WATCHDOG_USEC") && !env.contains("LISTEN_FDS"), "\(env)")
        #expect(try d.stop() == 0)
    }

    /// minderd under a service manager that set NOTIFY_SOCKET and WATCHDOG_USEC (a Python receiver
    /// here): READY=1 only once its autostart programs are up and ready, STATUS= with counts,
    /// WATCHDOG=1 pings, RELOADING=1 and READY=1 again around a SIGHUP, STOPPING=1 at the end.
    @Test func minderdTellsItsOwnServiceManager() throws {
        let dir = try TemporaryDirectory()
        let received = dir.path + "/received"
        let receiver = try Interactive("/usr/bin/python3", ["-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(sys.argv[1])
            print('bound', flush=True)
            with open(sys.argv[2], 'a') as out:
                while True:
                    out.write(s.recv(4096).decode().replace('\\n', '|') + '\\n')
                    out.flush()
            """, dir.path + "/n.sock", received], output: dir.path + "/receiver.out")
        defer { receiver.kill() }
        try waitUntil("the receiver") { (try? String(contentsOfFile: receiver.output, encoding: .utf8)) == "bound\n" }
        let d = try DaemonHarness("""
            \(try Self.app(dir))

            [program:slow]
            command=sleep 1000
            startsecs=1
            """, start: false)
        d.environment = ["NOTIFY_SOCKET": dir.path + "/n.sock", "WATCHDOG_USEC": "400000"]
        try d.launch()
        func messages() -> [String] { ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        try d.waitForLog("success: slow entered RUNNING")
        try waitUntil("app running, not ready") { status(d, "app")?.status_text == "warming up" }
        #expect(!messages().contains { $0.hasPrefix("READY=1") }, "not ready while app is not: \(messages())")
        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        try waitUntil("minderd's READY=1") { messages().contains { $0.hasPrefix("READY=1") } }
        #expect(status(d, "app")?.ready == true)
        #expect(messages().contains("READY=1|STATUS=2 of 2 running"), "\(messages())")
        try waitUntil("WATCHDOG=1 pings") { messages().filter { $0 == "WATCHDOG=1" }.count >= 2 }
        kill(d.pid, SIGHUP)
        try waitUntil("RELOADING=1, then READY=1 again") {
            let m = messages()
            guard let reloading = m.firstIndex(where: { $0.hasPrefix("RELOADING=1|MONOTONIC_USEC=") }) else { return false }
            return m[reloading...].contains { $0.hasPrefix("READY=1") }
        }
        #expect(try d.stop() == 0)
        try waitUntil("STOPPING=1") { messages().contains("STOPPING=1") }
    }

    /// `minderctl wait`: returns as soon as the program is ready (it follows minderd's events);
    /// times out, fails on FATAL and refuses an unknown name, each with its own exit code.
    @Test func minderctlWaitReturnsWhenTheProgramIsReady() throws {
        let dir = try TemporaryDirectory()
        let d = try DaemonHarness("""
            \(try Self.app(dir))

            [program:broken]
            command=/bin/false
            startsecs=1
            startretries=0
            """)
        let ctl = minderctlPath
        try waitUntil("app running, not ready") { status(d, "app")?.status_text == "warming up" }
        let waiter = try Interactive(ctl, ["-c", d.configPath, "wait", "app", "--timeout", "60"], output: dir.path + "/wait.out")
        defer { waiter.kill() }
        #expect(waiter.process.isRunning, "not ready yet")
        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        #expect(waiter.waitForExit(), "wait returned once app was ready")
        #expect(waiter.process.terminationStatus == 0 && status(d, "app")?.ready == true)
        let timedOut = try run(ctl, ["-c", d.configPath, "wait", "app", "--for", "stopped", "--timeout", "0.5"])
        #expect(timedOut.status == 1 && timedOut.stdout.contains("timed out after 0.5 s waiting for stopped: app (RUNNING)"), "\(timedOut.stdout)")
        try d.waitForLog("gave up: broken entered FATAL state")
        let fatal = try run(ctl, ["-c", d.configPath, "wait", "broken", "--for", "running"])
        #expect(fatal.status == 1 && fatal.stdout.contains("broken is FATAL"), "\(fatal.stdout)")
        let unknown = try run(ctl, ["-c", d.configPath, "wait", "nosuch"])
        #expect(unknown.status == 2, "\(unknown.stdout)")
        #expect(try d.stop() == 0)
    }

    /// The control socket and the group `grp` of `n` sleepers, not started.
    static func group(_ n: Int) -> String {
        """
        [unix_http_server]
        file=%(here)s/m.sock

        [program:grp]
        command=sleep 1000
        process_name=%(program_name)s_%(process_num)d
        numprocs=\(n)
        autostart=false
        startsecs=0
        """
    }

    /// `minderctl wait` over a group keeps each process's state from the events: it waits while
    /// some are still STOPPED, returns once the last is RUNNING, and waits for them all to stop.
    /// Before its first start a program with ready= and health_check= is neither ready nor healthy.
    @Test func minderctlWaitFollowsAGroupThroughItsEvents() throws {
        let dir = try TemporaryDirectory()
        let d = try DaemonHarness("""
            \(Self.group(20))

            [program:checked]
            command=sleep 1000
            autostart=false
            ready=notify
            health_check=exec:true
            """)
        let ctl = minderctlPath
        // minderd answers before the waiter asks, which would otherwise find no socket yet.
        try waitUntil("minderd answering") { d.status("grp:grp_0")?.statename == "STOPPED" }
        // Never started: not ready nor healthy with ready= and health_check=, null without them.
        let checked = d.status("checked"), plain = d.status("grp:grp_0")
        #expect(checked?.ready == false && checked?.healthy == false, "\(String(describing: checked))")
        #expect(plain?.ready == nil && plain?.healthy == nil, "\(String(describing: plain))")
        let up = try Interactive(ctl, ["-c", d.configPath, "wait", "grp:*", "--for", "running", "--timeout", "60"],
                                 output: dir.path + "/up.out")
        defer { up.kill() }
        let half = (0..<10).map { "grp:grp_\($0)" }
        #expect(try run(ctl, ["-c", d.configPath, "start"] + half).status == 0)
        #expect(up.process.isRunning, "half of the group is still STOPPED")
        #expect(try run(ctl, ["-c", d.configPath, "start", "grp:*"]).status == 0)
        #expect(up.waitForExit() && up.process.terminationStatus == 0, "wait returned 0 once the whole group was RUNNING")
        let down = try Interactive(ctl, ["-c", d.configPath, "wait", "all", "--for", "stopped", "--timeout", "60"],
                                   output: dir.path + "/down.out")
        defer { down.kill() }
        #expect(try run(ctl, ["-c", d.configPath, "stop"] + half).status == 0)
        #expect(down.process.isRunning, "half of the group is still RUNNING")
        #expect(try run(ctl, ["-c", d.configPath, "stop", "all"]).status == 0)
        #expect(down.waitForExit() && down.process.terminationStatus == 0, "wait returned 0 once everything had stopped")
        #expect(try d.stop() == 0)
    }

    /// What a wait costs minderd, counted by its own metrics: every named process read at the
    /// start, once the stream runs and once more to confirm, and nothing for each of the 100
    /// state events that bring 50 programs up.
    @Test func minderctlWaitReadsNoProcessForAStateEvent() throws {
        let dir = try TemporaryDirectory()
        let d = try DaemonHarness(Self.group(50))
        try waitUntil("minderd answering") { d.status("grp:grp_0")?.statename == "STOPPED" }
        let client = ControlClient(socketPath: d.dir.path + "/m.sock")
        // The replies minderd has counted, less this test's reads of /metrics (each counted after
        // it is written, so in the next one).
        var scrapes = 0
        func served() throws -> Int {
            let text = String(decoding: try client.request("GET", "/metrics").body, as: UTF8.self)
            defer { scrapes += 1 }
            let prefix = "minder_control_requests_total{code=\"2xx\"} "
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }),
                  let n = Double(line.dropFirst(prefix.count)) else { throw Failure("no 2xx count in\n\(text)") }
            return Int(n) - scrapes
        }
        let before = try served()
        let waiter = try Interactive(minderctlPath, ["-c", d.configPath, "wait", "all", "--for", "running", "--timeout", "60"],
                                     output: dir.path + "/wait.out")
        defer { waiter.kill() }
        // Following: it has read them all, opened the event stream, and read them all again.
        try waitUntil("the wait following the events") { (try? served()) == before + 3 }
        #expect(try client.request("POST", "/api/v1/processes/grp:%2A/start").status == 200)
        #expect(waiter.waitForExit() && waiter.process.terminationStatus == 0, "wait returned 0 once all 50 were RUNNING")
        // The start itself, and one read of all 50 to confirm.
        let during = try served() - before - 3
        #expect(during == 2, "replies during the wait besides its first reads: \(during)")
        #expect(try d.stop() == 0)
    }

    /// watchdog_sec: pings keep the program running past the interval; when they stop, minderd
    /// restarts it. The program gets WATCHDOG_USEC as from systemd.
    @Test func aProgramThatStopsPingingIsRestarted() throws {
        let dir = try TemporaryDirectory()
        try """
            import os, socket, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            path = os.environ['NOTIFY_SOCKET']
            print('usec', os.environ.get('WATCHDOG_USEC'), 'pid', os.environ.get('WATCHDOG_PID') == str(os.getpid()), flush=True)
            s.sendto(b'READY=1', path)
            for n in range(1, 5):
                s.sendto(b'WATCHDOG=1', path)
                print('pinged', n, flush=True)
                time.sleep(0.4)
            time.sleep(1000)
            """.write(toFile: dir.path + "/dog.py", atomically: true, encoding: .utf8)
        let d = try DaemonHarness("""
            [program:dog]
            command=/usr/bin/python3 \(dir.path)/dog.py
            startsecs=0
            ready=notify
            watchdog_sec=1
            stdout_logfile=\(dir.path)/dog.out
            """)
        try d.waitForLog("watchdog: dog sent no WATCHDOG=1 within 1 seconds (watchdog_sec); restarting it")
        let out = try String(contentsOfFile: dir.path + "/dog.out", encoding: .utf8)
        #expect(out.hasPrefix("usec 1000000 pid True\n") && out.contains("pinged 4\n"), "the pings held it off past 1 s: \(out)")
        try d.waitForLog("spawned: 'dog'", count: 2)
        #expect(try d.stop() == 0)
    }

    /// After READY=1 a program may say RELOADING=1 (not ready until READY=1 again), ERRNO= (shown
    /// with its status) and STOPPING=1; an exit after it was ready once is an exit from RUNNING,
    /// not a failed start. notify_access=exec takes a descendant's message and ignores others'.
    @Test func reloadingStoppingAndErrno() throws {
        let dir = try TemporaryDirectory()
        try """
            import os, socket, subprocess, sys, time
            path = os.environ['NOTIFY_SOCKET']
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            def step(name):
                while not os.path.exists(os.path.join(sys.argv[1], name)):
                    time.sleep(0.05)
            # A child of the program (a descendant) says READY=1, and stays until minderd has read
            # it: a sender already gone cannot be traced to the program.
            subprocess.run([sys.executable, '-c', 'import os, socket, sys, time; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])\\nwhile not os.path.exists(os.path.join(sys.argv[1], "seen")): time.sleep(0.05)', sys.argv[1]], check=True)
            step('reload')
            s.sendto(b'RELOADING=1\\nSTATUS=reloading config', path)
            step('reloaded')
            s.sendto(b'READY=1\\nSTATUS=serving\\nERRNO=5', path)
            step('stop')
            s.sendto(b'STOPPING=1', path)
            sys.exit(3)
            """.write(toFile: dir.path + "/svc.py", atomically: true, encoding: .utf8)
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:svc]
            command=/usr/bin/python3 \(dir.path)/svc.py \(dir.path)
            startsecs=0
            ready=notify
            notify_access=exec
            autorestart=false
            """)
        try d.waitForLog("ready: svc")
        _ = FileManager.default.createFile(atPath: dir.path + "/seen", contents: nil)
        // Another process (this test's) that reaches the socket is no descendant: ignored.
        let pid = try #require(status(d, "svc")?.pid)
        let socket = try Self.notifySocket(of: pid)
        _ = try run("/usr/bin/python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'STATUS=not yours', sys.argv[1])", String(socket)])
        try d.waitForLog("notify: ignored a message for svc from pid")
        _ = FileManager.default.createFile(atPath: dir.path + "/reload", contents: nil)
        try d.waitForLog("reloading: svc says it is reloading")
        try waitUntil("not ready while it reloads") { status(d, "svc")?.ready == false }
        #expect(status(d, "svc")?.description.hasSuffix(", not ready, reloading config") == true, "\(status(d, "svc")?.description ?? "")")
        _ = FileManager.default.createFile(atPath: dir.path + "/reloaded", contents: nil)
        try d.waitForLog("ready: svc", count: 2)
        try waitUntil("ready again, with the errno") { status(d, "svc")?.status_text == "serving, errno 5 (Input/output error)" }
        #expect(status(d, "svc")?.ready == true && status(d, "svc")?.pid == pid)
        _ = FileManager.default.createFile(atPath: dir.path + "/stop", contents: nil)
        try d.waitForLog("stopping: svc says it is stopping")
        try d.waitForLog("exited: svc (exit status 3; not expected)")
        #expect(status(d, "svc")?.statename == "EXITED", "an exit from RUNNING, not a failed start")
        #expect(try d.stop() == 0)
    }

    /// MAINPID=: a forking program names its child, then exits; minderd signals and waits for the
    /// child from then on. A name that is not one of the program's processes is refused. A named
    /// process that is not minderd's child (its parent lives on) is seen to go by its pidfd.
    @Test func mainPIDHandsTheProgramToAnotherProcess() throws {
        let dir = try TemporaryDirectory()
        try """
            import os, socket, sys, time
            path, folder, mode = os.environ['NOTIFY_SOCKET'], sys.argv[1], sys.argv[2]
            def wait_for(name):
                while not os.path.exists(os.path.join(folder, name)):
                    time.sleep(0.05)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.sendto(b'MAINPID=1', path)
            s.sendto(b'MAINPID=%d' % int(open(os.path.join(folder, 'runner')).read()), path)
            child = os.fork()
            if child == 0:
                wait_for(mode + '-named')
                s.sendto(b'READY=1', path)
                if mode == 'stays':
                    wait_for('end')
                    os._exit(3)
                time.sleep(1000)
            s.sendto(b'MAINPID=%d' % child, path)
            wait_for(mode + '-named')
            if mode == 'stays':
                time.sleep(1000)
            os._exit(0)
            """.write(toFile: dir.path + "/fork.py", atomically: true, encoding: .utf8)
        try "\(getpid())".write(toFile: dir.path + "/runner", atomically: true, encoding: .utf8)
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:leaves]
            command=/usr/bin/python3 \(dir.path)/fork.py \(dir.path) leaves
            startsecs=0
            ready=notify

            [program:stays]
            command=/usr/bin/python3 \(dir.path)/fork.py \(dir.path) stays
            startsecs=0
            ready=notify
            autorestart=false
            """)
        for mode in ["leaves", "stays"] {
            let line = try d.waitForLog("main process: \(mode) is now pid").last!
            let child = Int32(line.split(separator: " ").dropLast().last!)!
            #expect(d.log.contains("notify: \(mode) sent MAINPID=1, which is not one of its processes running as its user; ignored"))
            #expect(d.log.contains("notify: \(mode) sent MAINPID=\(getpid()), which is not one of its processes"))
            _ = FileManager.default.createFile(atPath: dir.path + "/\(mode)-named", contents: nil)
            try d.waitForLog("ready: \(mode)")
            #expect(status(d, mode)?.pid == child && status(d, mode)?.statename == "RUNNING")
        }
        // The parent of `leaves` exited: the program runs on in its child, now minderd's.
        try d.waitForLog("the former main process of leaves")
        #expect(status(d, "leaves")?.statename == "RUNNING")
        let ctl = minderctlPath
        #expect(try run(ctl, ["-c", d.configPath, "stop", "leaves"]).stdout == "leaves: stopped\n")
        try d.waitForLog("stopped: leaves (terminated by SIGTERM)")
        // The child of `stays` exits while its parent lives: minderd sees it go, not how.
        _ = FileManager.default.createFile(atPath: dir.path + "/end", contents: nil)
        try d.waitForLog("exited: stays (exit status unknown: not minderd's child; not expected)")
        #expect(status(d, "stays")?.statename == "EXITED")
        #expect(try d.stop() == 0)
    }

    /// What this version cannot do is a config error with its file and line, never ignored.
    @Test func readinessOptionsAreChecked() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/bad.conf"
        try "[supervisord]\n[program:a]\ncommand=/bin/true\nready=fd:2\n[program:b]\ncommand=/bin/true\nwatchdog_sec=5\nready_timeout=0\nhealth_check=tcp:db_example:5432\nprobe_failures=0\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run(minderdPath, ["--check-config", "-c", path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(path):4: [program:a] ready: 'fd:2': the descriptor must be 3 to 9 (0 to 2 are stdio)"), "\(r.stderr)")
        #expect(r.stderr.contains("\(path):9: [program:b] health_check: 'tcp:db_example:5432': db_example is neither an IP address nor a host name"), "\(r.stderr)")
        #expect(r.stderr.contains("\(path):10: [program:b] probe_failures: must be 1 or more, not 0"), "\(r.stderr)")
        #expect(r.stderr.contains("\(path):7: [program:b] watchdog_sec: needs ready=notify"), "\(r.stderr)")
        #expect(r.stderr.contains("\(path):8: [program:b] ready_timeout: must be 1 or more seconds, not 0"), "\(r.stderr)")
    }

    /// A program that listens on a port once `dir/go` exists, and stops listening (but keeps
    /// running) once `dir/close` does.
    static let listener = """
        import os, socket, sys, time
        d, port = sys.argv[1], int(sys.argv[2])
        while not os.path.exists(d + '/go'):
            time.sleep(0.05)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', port))
        s.listen(16)
        print('listening', flush=True)
        while not os.path.exists(d + '/close'):
            time.sleep(0.05)
        s.close()
        print('closed', flush=True)
        time.sleep(1000)
        """

    @Test func aTCPProbeMakesTheProgramReadyAndAFailingHealthCheckRestartsIt() throws {
        let dir = try TemporaryDirectory()
        try Self.listener.write(toFile: dir.path + "/listener.py", atomically: true, encoding: .utf8)
        let port = InetServerTests.freePort()
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:web]
            command=/usr/bin/python3 \(dir.path)/listener.py \(dir.path) \(port)
            startsecs=0
            ready=tcp:127.0.0.1:\(port)
            health_check=tcp:localhost:\(port)
            probe_interval=1
            probe_failures=2
            stdout_logfile=\(dir.path)/web.out
            """)
        try d.waitForLog("success: web entered RUNNING")
        let before = status(d, "web")
        #expect(before?.ready == false && before?.healthy == false, "\(String(describing: before))")
        let ctl = minderctlPath
        let waiter = try Interactive(ctl, ["-c", d.configPath, "wait", "web", "--for", "healthy", "--timeout", "60"],
                                     output: dir.path + "/wait.out")
        defer { waiter.kill() }
        #expect(waiter.process.isRunning, "not ready yet")
        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        try d.waitForLog("ready: web")
        #expect(waiter.waitForExit() && waiter.process.terminationStatus == 0, "wait --for healthy returned 0")
        #expect(status(d, "web")?.healthy == true)
        #expect(status(d, "web")?.ready == true)
        let metrics = String(decoding: try ControlClient(socketPath: d.dir.path + "/m.sock").request("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("minder_process_ready{group=\"web\",name=\"web\"} 1\n") && metrics.contains("minder_process_healthy{group=\"web\",name=\"web\"} 1\n"))
        // It stops answering: two failed checks in a row, then a restart.
        _ = FileManager.default.createFile(atPath: dir.path + "/close", contents: nil)
        try d.waitForLog("health: web failed 2 checks in a row; restarting it")
        #expect(((try? String(contentsOfFile: dir.path + "/web.out", encoding: .utf8)) ?? "").contains("closed"))
        try d.waitForLog("spawned: 'web'", count: 2)
        #expect(try d.stop() == 0)
    }

    /// A probe of a host name: looked up off the loop at each attempt (here the machine's own name,
    /// which /etc/hosts maps to a loopback address), and a name that cannot be looked up fails
    /// each attempt with the resolver's reason.
    @Test(.enabled(if: hostnameIsLocal(), "the machine's name must resolve to a loopback address"))
    func probesLookUpHostNames() throws {
        let dir = try TemporaryDirectory()
        try Self.listener.write(toFile: dir.path + "/listener.py", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        let port = InetServerTests.freePort()
        let host = ProcessInfo.processInfo.hostName
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:named]
            command=/usr/bin/python3 \(dir.path)/listener.py \(dir.path) \(port)
            startsecs=0
            ready=tcp:\(host):\(port)
            health_check=http://\(host):\(port)/

            [program:nameless]
            command=sleep 1000
            startsecs=0
            ready=tcp:no-such-name.invalid:\(port)
            """)
        try d.waitForLog("ready: named")
        // The health check reaches the listener by name too; it answers no HTTP, so the check fails.
        try d.waitForLog("health: named http://\(host):\(port)/ failed (1 of 3)")
        try d.waitForLog("probe: nameless tcp:no-such-name.invalid:\(port) not ready: no-such-name.invalid: ")
        #expect(try d.stop() == 0)
    }

    /// A Python HTTP server probed over HTTP: ready once /ready.txt answers 200 (404 before),
    /// restarted once /health.txt stops answering 200.
    @Test func anHTTPProbeJudgesByTheStatus() throws {
        let dir = try TemporaryDirectory()
        let port = InetServerTests.freePort()
        _ = FileManager.default.createFile(atPath: dir.path + "/health.txt", contents: Data("ok\n".utf8))
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:site]
            command=/usr/bin/python3 -m http.server \(port) --bind 127.0.0.1 --directory \(dir.path)
            startsecs=0
            ready=http://127.0.0.1:\(port)/ready.txt
            health_check=http://localhost:\(port)/health.txt
            probe_interval=1
            probe_failures=2
            """)
        try d.waitForLog("success: site entered RUNNING")
        // The server answers 404 for /ready.txt until it exists.
        try waitUntil("the server up") {
            (try? run("/usr/bin/python3", ["-c", "import urllib.request,sys\ntry: urllib.request.urlopen(sys.argv[1])\nexcept Exception as e: print(e)", "http://127.0.0.1:\(port)/ready.txt"]))?.stdout.contains("404") == true
        }
        #expect(status(d, "site")?.ready == false)
        _ = FileManager.default.createFile(atPath: dir.path + "/ready.txt", contents: Data("yes\n".utf8))
        try d.waitForLog("ready: site")
        try waitUntil("site healthy") { status(d, "site")?.healthy == true }
        try FileManager.default.removeItem(atPath: dir.path + "/health.txt")
        try d.waitForLog("health: site http://127.0.0.1:\(port)/health.txt failed (1 of 2): HTTP 404")
        try d.waitForLog("health: site failed 2 checks in a row; restarting it")
        try d.waitForLog("spawned: 'site'", count: 2)
        #expect(try d.stop() == 0)
    }

    /// exec probes: ready once the command exits 0, restarted when the health command fails, and a
    /// health command that outlasts probe_timeout counts as failed and is killed.
    @Test func execProbesJudgeByTheExitStatus() throws {
        let dir = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir.path + "/alive", contents: nil)
        // This test's own probe command, told apart from another run's by its argument.
        let seconds = "31.\(UInt32.random(in: 1...999_999))"
        let d = try DaemonHarness("""
            [program:job]
            command=sleep 1000
            startsecs=0
            ready=exec:test -e \(dir.path)/ok
            health_check=exec:test -e \(dir.path)/alive
            probe_failures=2

            [program:slowcheck]
            command=sleep 1000
            startsecs=0
            health_check=exec:exec sleep \(seconds)
            probe_timeout=1
            probe_failures=1
            """)
        try d.waitForLog("success: job entered RUNNING")
        _ = FileManager.default.createFile(atPath: dir.path + "/ok", contents: nil)
        try d.waitForLog("ready: job")
        try FileManager.default.removeItem(atPath: dir.path + "/alive")
        try d.waitForLog("health: job exec:test -e \(dir.path)/alive failed (1 of 2): exit status 1")
        try d.waitForLog("health: job failed 2 checks in a row; restarting it")
        try d.waitForLog("health: slowcheck exec:exec sleep \(seconds) failed (1 of 1): no answer within 1 s")
        try d.waitForLog("spawned: 'slowcheck'", count: 2)
        #expect(try d.stop() == 0)
        let left = (try FileManager.default.contentsOfDirectory(atPath: "/proc")).filter { name in
            Int32(name) != nil && (try? String(contentsOfFile: "/proc/\(name)/cmdline", encoding: .utf8)) == "sleep\u{0}\(seconds)\u{0}"
        }
        #expect(left.isEmpty, "no probe outlives minderd: pids \(left)")
    }

    /// ready=fd:N, s6's protocol: the program writes a newline to descriptor N when it is ready.
    @Test func aNewlineOnTheNotificationDescriptorMakesTheProgramReady() throws {
        let dir = try TemporaryDirectory()
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:s6style]
            command=/bin/sh -c 'while [ ! -e \(dir.path)/go ]; do sleep 0.05; done; echo >&5; exec 5>&-; exec sleep 1000'
            startsecs=0
            ready=fd:5

            [program:chatty]
            command=/bin/sh -c 'head -c 5000 /dev/zero | tr "\\0" x >&5; exec sleep 1000'
            startsecs=0
            ready=fd:5
            """)
        try d.waitForLog("success: s6style entered RUNNING")
        #expect(status(d, "s6style")?.ready == false)
        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        try d.waitForLog("ready: s6style")
        #expect(status(d, "s6style")?.ready == true)
        // Bytes without a newline: read up to 4 KiB, then the descriptor is let go.
        try d.waitForLog("ready: chatty wrote 4 KiB to its notification descriptor without a newline; no longer reading it")
        #expect(status(d, "chatty")?.ready == false && status(d, "chatty")?.statename == "RUNNING")
        #expect(try d.stop() == 0)
    }

    /// systemd-notify run by a program as another user than root sends as itself, not as its
    /// parent (the kernel lets only CAP_SYS_ADMIN name another pid): notify_access=main ignores it,
    /// notify_access=exec (it descends from the program) and all take it, as docs/readiness.md says.
    @Test(.enabled(if: geteuid() == 0, "running programs as another user needs root"))
    func systemdNotifyAsAnotherUserNeedsNotifyAccessExecOrAll() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:strict]
            command=/bin/sh -c '/usr/bin/systemd-notify --ready; exec sleep 1000'
            user=nobody
            startsecs=0
            ready=notify

            [program:lenient]
            command=/bin/sh -c '/usr/bin/systemd-notify --ready; exec sleep 1000'
            user=nobody
            startsecs=0
            ready=notify
            notify_access=all

            [program:descendant]
            command=/bin/sh -c '/usr/bin/systemd-notify --ready; exec sleep 1000'
            user=nobody
            startsecs=0
            ready=notify
            notify_access=exec
            """)
        try d.waitForLog("ready: lenient")
        try d.waitForLog("ready: descendant")
        try d.waitForLog("notify: ignored a message for strict from pid")
        #expect(status(d, "strict")?.ready == false)
        #expect(try d.stop() == 0)
    }
}
