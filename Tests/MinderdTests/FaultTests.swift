import Foundation
import MinderControl
import Testing

/// The faults a long-running minderd meets, reproduced against a real one.
@Suite struct FaultTests {

    func ctl(_ d: DaemonHarness, _ args: String...) throws -> RunResult {
        try run(minderctlPath, ["-c", d.configPath] + args)
    }

    func states(_ d: DaemonHarness) throws -> [String: String] {
        let list = try JSON.decode([ProcessStatus].self, Array(ctl(d, "--json", "status").stdout.utf8))
        return Dictionary(uniqueKeysWithValues: list.map { ($0.namespec, $0.statename) })
    }

    /// Ten processes that exit at once: a restart the rate limit holds back shows as BACKOFF, and
    /// `stop` ends the loop at once, for one process and for the group.
    @Test(.disabled(if: sanitized, "under a sanitizer minderd spawns too slowly to reach the rate limit"))
    func aCrashLoopIsVisibleAndStops() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:c]
            command=/bin/true
            process_name=c%(process_num)d
            numprocs=10
            startsecs=0
            autorestart=true

            [program:marker]
            command=sleep 1000
            startsecs=2
            autostart=false
            """, loglevel: "info")
        try waitUntil("c:c0 held back") {
            (try? states(d))?["c:c0"] == "BACKOFF"
                && ((try? ctl(d, "status", "c:c0"))?.stdout.contains("restart held back") ?? false)
        }
        let one = try ctl(d, "stop", "c:c0")
        #expect(one.stdout == "c:c0: stopped\n", "\(one.stdout)\(one.stderr)")
        let group = try ctl(d, "stop", "c:*")
        #expect(group.status == 0 && group.stdout.split(separator: "\n").count == 9, "\(group.stdout)")
        #expect(try states(d).filter { $0.key.hasPrefix("c:") }.values.allSatisfy { $0 == "STOPPED" })
        let spawned = d.spawnedPIDs.count
        // The marker's start waits its startsecs (2 s), longer than any held-back restart (1 s).
        #expect(try ctl(d, "start", "marker").stdout == "marker: started\n")
        #expect(d.spawnedPIDs.count == spawned + 1, "only the marker was spawned after the stop")
        #expect(try d.stop() == 0)
    }

    /// A manual start that the rate limit holds back waits for the spawn and reports it.
    @Test func aHeldBackStartReportsWhatHappened() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:a]
            command=/bin/sh -c 'exit 0'
            startsecs=0
            autorestart=false
            autostart=false
            """)
        try d.waitForLog("control socket")
        let client = ControlClient(socketPath: d.dir.path + "/m.sock")
        // Starts in a tight loop (each spawn exits at once) until one is held back; every one of
        // them, the held-back one included, is answered "started" once its spawn happened.
        var replies: [Int] = []
        for _ in 0..<200 where !d.log.contains("delaying restart of a") {
            let r = try client.request("POST", "/api/v1/processes/a/start")
            replies.append(r.status)
        }
        #expect(d.log.contains("delaying restart of a"), "ten starts within a second")
        #expect(replies.allSatisfy { $0 == 200 || $0 == 409 }, "\(replies)")
        let spawns = d.log.components(separatedBy: "spawned: 'a'").count - 1
        #expect(replies.filter { $0 == 200 }.count == spawns, "each 'started' was a real spawn")
        #expect(try d.stop() == 0)
    }

    /// A second minderd whose config names a live control socket exits 2, naming the socket and
    /// the pid serving it; the first keeps its socket.
    @Test func aLiveSocketIsNeverTakenOver() throws {
        let first = try DaemonHarness("[unix_http_server]\nfile=%(here)s/m.sock\n[program:one]\ncommand=sleep 1000\nstartsecs=0\n")
        try first.waitForLog("success: one entered RUNNING")
        let socket = first.dir.path + "/m.sock"
        let other = try TemporaryDirectory()
        let config = other.path + "/minder.conf"
        try DaemonHarness.config("[unix_http_server]\nfile=\(socket)\n[program:two]\ncommand=sleep 1000\nstartsecs=0\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let second = try run(minderdPath, ["-n", "-c", config], timeout: 60)
        #expect(second.status == 2)
        #expect(second.stderr.contains("the control socket \(socket) is served by another process (pid \(first.pid))"), "\(second.stderr)")
        #expect(try ctl(first, "pid").stdout == "\(first.pid)\n", "the first still answers on its socket")
        #expect(!FileManager.default.fileExists(atPath: other.path + "/minderd.pid"), "the second left no pidfile")
        #expect(try first.stop() == 0)
    }

    /// Two minderd started at the same moment on one socket: exactly one serves it.
    @Test func twoStartingAtOnceDoNotBothWin() throws {
        let dir = try TemporaryDirectory()
        let socket = dir.path + "/s.sock"
        var daemons: [DaemonHarness] = []
        for _ in 0..<2 {
            daemons.append(try DaemonHarness("[unix_http_server]\nfile=\(socket)\n[program:x]\ncommand=sleep 1000\nstartsecs=0\n", start: false))
        }
        for d in daemons { try d.launch() }
        // One of them exits 2; the other serves the socket.
        var loser: DaemonHarness?
        try waitUntil("one minderd to give up") {
            loser = daemons.first { !$0.process.isRunning }
            return loser != nil
        }
        #expect(try loser!.waitForExit() == 2)
        let winner = daemons.first { $0 !== loser }!
        try winner.waitForLog("success: x entered RUNNING")
        let served = try run(minderctlPath, ["-s", "unix://" + socket, "pid"])
        #expect(served.stdout == "\(winner.pid)\n")
        #expect(!FileManager.default.fileExists(atPath: socket + ".lock"))
        #expect(try winner.stop() == 0)
    }

    /// Two configs sharing a pidfile: the second is told which config holds it.
    @Test func aSharedPidfileNamesTheOtherConfig() throws {
        let first = try DaemonHarness("[program:one]\ncommand=sleep 1000\nstartsecs=0\n")
        try first.waitForLog("success: one entered RUNNING")
        let other = try TemporaryDirectory()
        let config = other.path + "/other.conf"
        try """
            [supervisord]
            pidfile=\(first.dir.path)/minderd.pid
            logfile=%(here)s/minderd.log

            [program:two]
            command=sleep 1000
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let second = try run(minderdPath, ["-n", "-c", config], timeout: 60)
        #expect(second.status == 2)
        #expect(second.stderr.contains("the pidfile \(first.dir.path)/minderd.pid is held by another minderd (pid \(first.pid)) running \(first.configPath)"), "\(second.stderr)")
        #expect(try first.stop() == 0)
    }

    /// Every record written at a state change carries the pid that state is about: the stats
    /// slot during STARTING, and the event of a restart's STARTING.
    @Test func recordsOfStartingCarryTheNewPid() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:slow]
            command=sleep 1000
            startsecs=30
            """, supervisord: "stats_interval=0")
        let first = try d.pid(of: "slow")
        struct Row: Decodable { var statename: String; var pid: Int32 }
        let rows = try JSON.decode([Row].self, Array(ctl(d, "--json", "stats").stdout.utf8))
        #expect(rows.first?.statename == "STARTING" && rows.first?.pid == first, "\(rows)")
        // A restart: the event of its STARTING names the new process, not the one that ended.
        let client = ControlClient(socketPath: d.dir.path + "/m.sock")
        #expect(try client.request("POST", "/api/v1/processes/slow/restart?wait=false").status == 200)
        try d.waitForLog("spawned: 'slow'", count: 2)
        let second = try d.pid(of: "slow")
        let events = try ctl(d, "--json", "events").stdout.split(separator: "\n").map { try JSON.decode(StateEvent.self, Array($0.utf8)) }
        let starting = events.filter { $0.name == "slow" && $0.to == "STARTING" }.map(\.pid)
        #expect(starting == [first, second], "\(events)")
        #expect(try d.stop() == 0)
    }

    func openDescriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    func residentKB(_ pid: Int32) -> Int {
        Int(procStatus(pid)["VmRSS"]?.split(separator: " ").first ?? "") ?? -1
    }

    /// 200 reloads and 200 updates of programs that write logs: minderd's descriptors and memory
    /// stay flat, an unchanged program keeps its AUTO log, and a changed log setting applies.
    @Test(.disabled(if: sanitized, "400 reloads and updates take minutes under a sanitizer; the plain run checks the leaks"))
    func reloadsAndUpdatesLeakNothing() throws {
        func programs(_ variant: Int, maxbytes: String = "1MB") -> String {
            """
            [unix_http_server]
            file=%(here)s/m.sock

            [program:auto]
            command=/bin/sh -c 'while :; do echo tick; sleep 0.2; done'
            startsecs=0

            [program:named]
            command=/bin/sh -c 'echo named; exec sleep 1000'
            startsecs=0
            stdout_logfile=%(here)s/named.log
            stdout_logfile_maxbytes=\(maxbytes)
            stdout_logfile_backups=1

            [program:changing]
            command=/bin/sh -c 'echo variant \(variant); exec sleep 1000'
            startsecs=0
            """
        }
        let d = try DaemonHarness(programs(0), loglevel: "info")
        try d.waitForLog("success: changing entered RUNNING")
        func autoLog() throws -> String {
            let list = try JSON.decode([ProcessStatus].self, Array(ctl(d, "--json", "status", "auto").stdout.utf8))
            return list.first?.stdout_logfile ?? ""
        }
        let firstAuto = try autoLog()
        var baseline = (fds: 0, rss: 0)
        for n in 1...200 {
            d.signal(SIGHUP)
            try d.waitForLog("reloaded ", count: n, timeout: 60)
            try waitUntil("the reload's programs running") {
                (try? ctl(d, "status").status) == 0
            }
            if n == 20 { baseline = (openDescriptors(d.pid), residentKB(d.pid)) }
        }
        #expect(try autoLog() == firstAuto, "an unchanged program keeps its AUTO log")
        for n in 1...200 {
            try DaemonHarness.config(programs(n), loglevel: "info").write(toFile: d.configPath, atomically: true, encoding: .utf8)
            let r = try ctl(d, "update")
            #expect(r.stdout == "changing: stopped\nchanging: updated process group\n", "\(r.stdout)\(r.stderr)")
        }
        try waitUntil("the last update running") { (try? ctl(d, "status").status) == 0 }
        // A process that just ended may still have pipes draining: wait for those to close; a
        // leak of one descriptor a reload would never come back within two.
        try waitUntil("descriptors back near \(baseline.fds), now \(openDescriptors(d.pid))") {
            openDescriptors(d.pid) <= baseline.fds + 2
        }
        let rss = residentKB(d.pid)
        #expect(rss - baseline.rss <= 1024, "resident kB \(baseline.rss) -> \(rss)")

        // A smaller maxbytes for the unchanged-otherwise program applies at the reload.
        try DaemonHarness.config(programs(200, maxbytes: "5"), loglevel: "info").write(toFile: d.configPath, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        try d.waitForLog("reloaded ", count: 201, timeout: 60)
        try waitUntil("named.log rotated at 5 bytes") { FileManager.default.fileExists(atPath: d.dir.path + "/named.log.1") }
        #expect(try d.stop() == 0)
    }

    /// A small tmpfs of the test's own, unmounted at the end.
    final class SmallDisk {
        let path: String
        init(_ path: String, size: String) throws {
            self.path = path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let r = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
            guard r.status == 0 else { throw Failure("mount: \(r.stderr)") }
        }
        deinit { _ = try? run("/bin/umount", ["-l", path]) }
    }

    /// "...; N bytes were dropped meanwhile": N.
    static func droppedBytes(_ line: String) -> UInt64? {
        guard let end = line.range(of: " bytes were dropped meanwhile") else { return nil }
        return UInt64(line[..<end.lowerBound].split(separator: " ").last ?? "")
    }

    /// The process's dropped bytes, in status at once and in the stats segment by its next sample.
    func expectDropped(_ d: DaemonHarness, _ name: String, _ bytes: UInt64) throws {
        let list = try JSON.decode([ProcessStatus].self, Array(ctl(d, "--json", "status", name).stdout.utf8))
        #expect(list.first?.log_bytes_dropped == bytes)
        #expect((list.first?.log_bytes_written ?? 0) > 0)
        struct Row: Decodable { var namespec: String; var log_bytes_dropped: UInt64 }
        try waitUntil("\(bytes) dropped bytes in the stats segment") {
            let rows = (try? ctl(d, "--json", "stats")).flatMap { try? JSON.decode([Row].self, Array($0.stdout.utf8)) }
            return rows?.first { $0.namespec == name }?.log_bytes_dropped == bytes
        }
    }

    /// A full disk: the failure and the recovery are logged with the file and errno, rotation
    /// still comes (and frees the space), and logging resumes by itself once there is room.
    @Test(.enabled(if: geteuid() == 0, "mounting a small tmpfs needs root"))
    func aFullDiskIsReportedAndLoggingResumes() throws {
        let dir = try TemporaryDirectory()
        let rotating = try SmallDisk(dir.path + "/r", size: "1m")
        let plain = try SmallDisk(dir.path + "/p", size: "1m")
        // Fill the second disk to the last byte first.
        _ = try run("/bin/dd", ["if=/dev/zero", "of=\(plain.path)/filler", "bs=64k"])
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:fast]
            command=/bin/sh -c 'while :; do echo "fast line of some length to fill the disk soon enough"; done'
            startsecs=0
            stdout_logfile=\(rotating.path)/fast.log
            stdout_logfile_maxbytes=600KB
            stdout_logfile_backups=1

            [program:slow]
            command=/bin/sh -c 'while :; do echo slow; sleep 0.05; done'
            startsecs=0
            stdout_logfile=\(plain.path)/slow.log
            stdout_logfile_maxbytes=0
            """, loglevel: "info")
        try d.waitForLog("log file \(rotating.path)/fast.log: write failed: ENOSPC")
        try d.waitForLog("log file \(rotating.path)/fast.log is written again; ")
        try d.waitForLog("log file \(plain.path)/slow.log: write failed: ENOSPC")
        #expect(FileManager.default.fileExists(atPath: rotating.path + "/fast.log.1"), "rotation came")
        unlink(plain.path + "/filler")
        let back = try d.waitForLog("log file \(plain.path)/slow.log is written again; ")
        try waitUntil("slow lines in its log") {
            ((try? String(contentsOfFile: plain.path + "/slow.log", encoding: .utf8)) ?? "").contains("slow\n")
        }
        // What the recovery line says was lost is what status and the stats segment count for it.
        let lost = try #require(Self.droppedBytes(back[0]))
        #expect(lost > 0)
        try expectDropped(d, "slow", lost)
        // One line for the failure and one for the recovery, not one per write.
        #expect(d.log.components(separatedBy: "slow.log: write failed").count - 1 == 1)
        #expect(try d.stop() == 0)
        withExtendedLifetime((rotating, plain)) {}
    }

    /// Output to a FIFO whose reader left: the loss is logged (EPIPE) and counted, once, and
    /// output flows again when a reader comes back.
    @Test func aFIFOWhoseReaderLeftIsReported() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:talker]
            command=/bin/sh -c 'while :; do echo talk; sleep 0.02; done'
            startsecs=0
            stdout_logfile=%(here)s/fifo
            stdout_logfile_maxbytes=0
            """, loglevel: "info", start: false)
        let fifo = d.dir.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        try d.launch()
        var reader = open(fifo, O_RDONLY | O_CLOEXEC)
        var buffer = [UInt8](repeating: 0, count: 4096)
        #expect(read(reader, &buffer, buffer.count) > 0, "the first reader gets output")
        close(reader)
        try d.waitForLog("log target \(fifo) is not taking output (EPIPE)")
        reader = open(fifo, O_RDONLY | O_CLOEXEC)
        defer { close(reader) }
        try d.waitForLog("log target \(fifo) takes output again; ")
        #expect(read(reader, &buffer, buffer.count) > 0, "the next reader gets output")
        #expect(d.log.components(separatedBy: "is not taking output").count - 1 == 1, "logged once")
        let back = try d.waitForLog("log target \(fifo) takes output again; ")
        let lost = try #require(Self.droppedBytes(back[0]))
        #expect(lost > 0)
        try expectDropped(d, "talker", lost)
        #expect(try d.stop() == 0)
    }

    /// A daemonized minderd with `directory=` and relative paths: every path is resolved against
    /// the directory it started in, for writes and reads alike.
    @Test func relativePathsMeanTheStartUpDirectory() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/clog", withIntermediateDirectories: true)
        let config = dir.path + "/minder.conf"
        try """
            [supervisord]
            logfile=main.log
            pidfile=m.pid
            childlogdir=clog
            directory=\(dir.path)/elsewhere

            [unix_http_server]
            file=m.sock

            [program:hello]
            command=/bin/sh -c 'echo hello; exec sleep 1000'
            startsecs=0
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let launcher = try run(minderdPath, ["-c", config], cwd: dir.path)
        #expect(launcher.status == 0, "\(launcher.stderr)")
        let pid = try pidWritten(to: dir.path + "/m.pid")
        defer { kill(pid, SIGKILL) }
        try waitUntil("hello running") {
            ((try? String(contentsOfFile: dir.path + "/main.log", encoding: .utf8)) ?? "").contains("success: hello entered RUNNING")
        }
        let ctl = ["-s", "unix://\(dir.path)/m.sock"]
        #expect(try run(minderctlPath, ctl + ["maintail"]).stdout.contains("success: hello entered RUNNING"))
        try waitUntil("hello's output through tail") { ((try? run(minderctlPath, ctl + ["tail", "hello"]))?.stdout ?? "") == "hello\n" }
        let autoLogs = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/clog")
        #expect(autoLogs.contains { $0.hasPrefix("hello-stdout---") }, "\(autoLogs)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/elsewhere").isEmpty)
        #expect(try run(minderctlPath, ctl + ["shutdown"]).status == 0)
        try waitUntil("minderd to exit") { !isAlive(pid) }
    }

    /// Without -n the daemon is minderd run anew, not a fork of the command that started it: a
    /// forked Swift program's main thread holds the runtime's locks under its parent's thread id,
    /// and the first thread to contend for one spins forever (a daemon did, under load). The
    /// command returns once the daemon has detached, with the daemon's errors until then on its
    /// stderr and its exit status.
    @Test func daemonizingRunsMinderdAnew() throws {
        let dir = try TemporaryDirectory()
        let config = dir.path + "/m.conf"
        var text = "[supervisord]\nlogfile=%(here)s/main.log\npidfile=%(here)s/m.pid\n[unix_http_server]\nfile=%(here)s/m.sock\n"
        for n in 0..<40 { text += "[program:p\(n)]\ncommand=sleep 1000\nstartsecs=0\n" }
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let launcher = try run(minderdPath, ["-c", config])
        #expect(launcher.status == 0, "\(launcher.stderr)")
        let pid = try pidWritten(to: dir.path + "/m.pid")
        defer {
            kill(pid, SIGKILL)
            DaemonHarness.removeIPCObjects(configPath: config)
        }
        let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        #expect(cmdline.split(separator: "\0").contains("--daemon-ready-fd"), "\(cmdline)")
        // Requests on the control server's threads while the main thread starts 40 programs.
        let ctl = ["-c", config]
        DispatchQueue.concurrentPerform(iterations: 8) { _ in _ = try? run(minderctlPath, ctl + ["status"]) }
        try waitUntil("every program running") {
            ((try? run(minderctlPath, ctl + ["status"]))?.stdout ?? "").split(separator: "\n").filter { $0.contains(" RUNNING ") }.count == 40
        }
        let second = try run(minderdPath, ["-c", config])
        #expect(second.status == 2 && second.stderr.contains("another minderd is already running with this config (pid \(pid)"),
                "\(second.status) \(second.stderr)")
        #expect(try run(minderctlPath, ctl + ["shutdown"]).status == 0)
        try waitUntil("minderd to exit") { !isAlive(pid) }
    }

    /// kill -9 of minderd: the next minderd on the same config stops what the first left running
    /// (SIGKILL for one that ignores its stopsignal) before it starts its own, so nothing runs twice.
    @Test func aKilledMinderdsChildrenAreStoppedByTheNext() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:sleeper]
            command=sleep 1000
            startsecs=0

            [program:stubborn]
            command=/bin/sh -c 'trap "" TERM; exec sleep 1000'
            startsecs=0
            stopwaitsecs=1
            """, loglevel: "info")
        try d.waitForLog("success: stubborn entered RUNNING")
        let old = try ["sleeper", "stubborn"].map { try d.pid(of: $0) }
        // The record is written off the loop: a kill -9 before it lands would miss a child.
        try waitUntil("both children on record") {
            let record = (try? String(contentsOfFile: d.dir.path + "/minderd.pid.children", encoding: .utf8)) ?? ""
            return old.allSatisfy { record.contains("\"pid\":\($0)") }
        }
        kill(d.pid, SIGKILL)
        _ = try d.waitForExit()
        #expect(old.allSatisfy(isAlive), "the children outlive a killed minderd")

        // The second minderd in the foreground, by its own pid: the pidfile still names the first.
        let second = try Interactive(minderdPath, ["-n", "-c", d.configPath], output: d.dir.path + "/second.out")
        defer { second.kill() }
        let pid = second.process.processIdentifier
        let found = try d.waitForLog("found sleeper (pid \(old[0]), ")
        #expect(found[0].hasSuffix("sleep) left running by an earlier minderd of this config; stopping it with SIGTERM"), "\(found)")
        try d.waitForLog("killing stubborn (pid \(old[1])), left by an earlier minderd, with SIGKILL")
        try d.waitForLog("success: stubborn entered RUNNING", count: 2)
        #expect(!old.contains(where: isAlive), "the earlier children are gone")
        let new = try ["sleeper", "stubborn"].map { try d.pid(of: $0) }
        #expect(new.allSatisfy(isAlive) && Set(new).isDisjoint(with: old))
        kill(pid, SIGTERM)
        try waitUntil("the second minderd to exit") { !isAlive(pid) }
        #expect(!FileManager.default.fileExists(atPath: d.dir.path + "/minderd.pid.children"), "nothing left after a clean exit")
    }

    /// leftover_children=leave: the next minderd names what it found and leaves it running.
    @Test func leftoverChildrenCanBeLeftAlone() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:sleeper]
            command=sleep 1000
            startsecs=0
            """, supervisord: "leftover_children=leave", loglevel: "info")
        let old = try d.pid(of: "sleeper")
        defer { kill(old, SIGKILL) }
        try waitUntil("the child on record") {
            ((try? String(contentsOfFile: d.dir.path + "/minderd.pid.children", encoding: .utf8)) ?? "").contains("\"pid\":\(old)")
        }
        kill(d.pid, SIGKILL)
        _ = try d.waitForExit()
        // The second minderd in the foreground, by its own pid: the pidfile still names the first.
        let second = try Interactive(minderdPath, ["-n", "-c", d.configPath], output: d.dir.path + "/second.out")
        defer { second.kill() }
        let pid = second.process.processIdentifier
        let found = try d.waitForLog("found sleeper (pid \(old), ")
        #expect(found[0].hasSuffix("leaving it, as leftover_children=leave asks"), "\(found)")
        try d.waitForLog("success: sleeper entered RUNNING", count: 2)
        #expect(isAlive(old), "the earlier child is left running")
        kill(pid, SIGTERM)
        try waitUntil("the second minderd to exit") { !isAlive(pid) }
        #expect(isAlive(old), "it is not the second minderd's to stop")
    }

    /// parent_death_signal=: the kernel signals the program when minderd dies, even by kill -9;
    /// a program without it outlives minderd.
    @Test func parentDeathSignalEndsAProgramWithMinderd() throws {
        let d = try DaemonHarness("""
            [program:bound]
            command=sleep 1000
            startsecs=0
            parent_death_signal=TERM

            [program:free]
            command=sleep 1000
            startsecs=0
            """, loglevel: "info")
        try d.waitForLog("success: free entered RUNNING")
        try d.waitForLog("success: bound entered RUNNING")
        let bound = try d.pid(of: "bound"), free = try d.pid(of: "free")
        kill(d.pid, SIGKILL)
        _ = try d.waitForExit()
        try waitUntil("the bound program to end with minderd") { !isAlive(bound) }
        #expect(isAlive(free))
        kill(free, SIGKILL)
    }
}
