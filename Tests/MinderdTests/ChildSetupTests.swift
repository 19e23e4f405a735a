import Foundation
import Testing

#if arch(x86_64)
private let onX86_64 = true
#else
private let onX86_64 = false
#endif

/// What a child finds when it starts: environment, signals, descriptors, limits, credentials.
@Suite(.serialized) struct ChildSetupTests {

    @Test func environmentSignalsDescriptorsAndLimits() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:probe]
            command=/bin/sh -c 'env > %(here)s/env.txt;ls /proc/self/fd > %(here)s/fds.txt;exec sleep 1000'
            startsecs=0
            environment=OWN="own value",PATH="/usr/bin:/bin"
            """, supervisord: "minfds=4096\nenvironment=GLOBAL=\"g\"")
        let pid = try d.pid(of: "probe")
        try waitUntil("the probe's files") { FileManager.default.fileExists(atPath: d.dir.path + "/fds.txt") }
        try waitUntil("the probe to exec sleep") { (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n" }
        let env = try String(contentsOfFile: d.dir.path + "/env.txt", encoding: .utf8)
        for line in ["SUPERVISOR_ENABLED=1", "SUPERVISOR_PROCESS_NAME=probe", "SUPERVISOR_GROUP_NAME=probe",
                     "SUPERVISOR_SERVER_URL=unix://\(d.dir.path)/m.sock", "OWN=own value", "GLOBAL=g"] {
            #expect(env.split(separator: "\n").contains(Substring(line)), "missing \(line)")
        }
        // A program's own value replaces the inherited one; it is not added beside it.
        #expect(env.split(separator: "\n").filter { $0.hasPrefix("PATH=") } == ["PATH=/usr/bin:/bin"])
        let s = procStatus(pid)
        #expect(s["SigBlk"] == "0000000000000000", "empty signal mask")
        #expect(s["SigIgn"] == "0000000000000000", "no ignored signal (supervisord leaves SIGPIPE ignored)")
        // ls itself holds one descriptor for /proc/self/fd while listing; nothing of minderd's leaks.
        let fds = try String(contentsOfFile: d.dir.path + "/fds.txt", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        #expect(fds.filter { $0 > 3 }.isEmpty, "only stdio reaches the child: \(fds)")
        // minderd raised its own limit to minfds; the child gets back the one minderd started with.
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let minderdLimits = try String(contentsOfFile: "/proc/\(d.pid)/limits", encoding: .utf8)
        let ours = try String(contentsOfFile: "/proc/self/limits", encoding: .utf8)
        func openFiles(_ text: String) -> String? { text.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) }
        #expect(openFiles(limits) == openFiles(ours))
        #expect(openFiles(minderdLimits)?.contains("4096") == true || openFiles(ours) == openFiles(minderdLimits))
        #expect(try d.stop() == 0)
    }

    @Test func ownProcessGroupAndPipelinesWork() throws {
        let d = try DaemonHarness("""
            [program:pipeline]
            command=/bin/sh -c 'yes | head -n 3 > %(here)s/yes.txt;echo "status $?" >> %(here)s/yes.txt;exec sleep 1000'
            startsecs=0
            """)
        let pid = try d.pid(of: "pipeline")
        try waitUntil("the pipeline's output") { (try? String(contentsOfFile: d.dir.path + "/yes.txt", encoding: .utf8))?.contains("status") == true }
        #expect(try String(contentsOfFile: d.dir.path + "/yes.txt", encoding: .utf8) == "y\ny\ny\nstatus 0\n")
        #expect(getpgid(pid) == pid, "the child leads its own process group")
        #expect(try d.stop() == 0)
    }

    /// On a kernel without close_range's CLOSE_RANGE_UNSHARE (Linux before 5.9) a child copies
    /// minderd's descriptor table instead of sharing it until its first step. A seccomp filter
    /// makes this kernel answer that call as an old one does (EINVAL), for minderd and its children.
    @Test(.enabled(if: onX86_64, "the filter uses x86_64's system call numbers"))
    func withoutCloseRangeUnshareChildrenGetOnlyTheirOwnDescriptors() throws {
        let d = try DaemonHarness("""
            [program:probe]
            command=/bin/sh -c 'ls /proc/self/fd > %(here)s/fds.txt;echo hello;exec sleep 1000'
            startsecs=0
            stdout_logfile=%(here)s/probe.out

            [program:notexec]
            command=%(here)s/plain.txt
            startretries=0
            """, start: false)
        try "not a program".write(toFile: d.dir.path + "/plain.txt", atomically: true, encoding: .utf8)
        d.launcher = ["/usr/bin/python3", "-c", Self.oldKernel]
        try d.launch()
        try d.waitForLog("this kernel refuses close_range(CLOSE_RANGE_UNSHARE)")
        #expect(procStatus(d.pid)["Seccomp"] == "2", "minderd runs under the filter")
        try waitUntil("the probe's output") { (try? String(contentsOfFile: d.dir.path + "/probe.out", encoding: .utf8)) == "hello\n" }
        let fds = try String(contentsOfFile: d.dir.path + "/fds.txt", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        #expect(fds.filter { $0 > 3 }.isEmpty, "only stdio reaches the child: \(fds)")
        // The exec's error still comes back through the child's close-on-exec pipe.
        try d.waitForLog("spawnerr: couldn't exec \(d.dir.path)/plain.txt: EACCES")
        #expect(try d.stop() == 0)
    }

    /// Installs a seccomp filter under which close_range with CLOSE_RANGE_UNSHARE fails with
    /// EINVAL, checks that it does, then execs its arguments.
    static let oldKernel = """
        import ctypes, errno, os, struct, sys
        libc = ctypes.CDLL(None, use_errno=True)
        def op(code, jt, jf, k): return struct.pack("<HBBI", code, jt, jf, k)
        program = b"".join([
            op(0x20, 0, 0, 4),                            # A = arch
            op(0x15, 0, 5, 0xC000003E),                   # x86_64, else allow
            op(0x20, 0, 0, 0),                            # A = system call number
            op(0x15, 0, 3, 436),                          # close_range, else allow
            op(0x20, 0, 0, 32),                           # A = its flags (third argument)
            op(0x45, 0, 1, 2),                            # CLOSE_RANGE_UNSHARE, else allow
            op(0x06, 0, 0, 0x00050000 | errno.EINVAL),    # fail with EINVAL
            op(0x06, 0, 0, 0x7FFF0000),                   # allow
        ])
        filters = ctypes.create_string_buffer(program)
        fprog = ctypes.create_string_buffer(struct.pack("<H6xQ", len(program) // 8, ctypes.addressof(filters)))
        assert libc.prctl(38, 1, 0, 0, 0) == 0            # PR_SET_NO_NEW_PRIVS
        assert libc.prctl(22, 2, fprog, 0, 0) == 0        # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        failed = libc.syscall(436, 1 << 30, 1 << 30, 2)
        assert failed == -1 and ctypes.get_errno() == errno.EINVAL, (failed, ctypes.get_errno())
        os.execv(sys.argv[1], sys.argv[1:])
        """

    /// PATH is searched once per turn of minderd's loop, not once per minderd: a command put
    /// earlier on PATH after a start is the one the next start runs.
    @Test func eachStartSearchesPathAgain() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:tool]
            command=tool
            environment=PATH="%(here)s/a:%(here)s/b"
            startsecs=0
            """, start: false)
        func install(_ dir: String) throws {
            try FileManager.default.createDirectory(atPath: d.dir.path + "/" + dir, withIntermediateDirectories: true)
            let path = d.dir.path + "/\(dir)/tool"
            try "#!/bin/sh\necho \(dir) > \(d.dir.path)/which\nexec sleep 1000\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(chmod(path, 0o755) == 0)
        }
        func which() -> String? { try? String(contentsOfFile: d.dir.path + "/which", encoding: .utf8) }
        try install("b")
        try d.launch()
        try waitUntil("b's tool to run") { which() == "b\n" }
        try install("a")
        #expect(try run(minderctlPath, ["-c", d.configPath, "restart", "tool"]).status == 0)
        try waitUntil("a's tool to run") { which() == "a\n" }
        #expect(try d.stop() == 0)
    }

    @Test func execFailuresAreReportedWithTheirReason() throws {
        let d = try DaemonHarness("""
            [program:notexec]
            command=%(here)s/plain.txt
            startretries=0

            [program:nodir]
            command=/bin/true
            directory=/nonexistent/dir
            startretries=0
            """, start: false)
        try "not a program".write(toFile: d.dir.path + "/plain.txt", atomically: true, encoding: .utf8)
        try d.launch()
        try d.waitForLog("spawnerr: couldn't exec \(d.dir.path)/plain.txt: EACCES")
        try d.waitForLog("spawnerr: couldn't chdir to /nonexistent/dir: ENOENT")
        try d.waitForLog("gave up: notexec entered FATAL state")
        try d.waitForLog("gave up: nodir entered FATAL state")
        #expect(try d.stop() == 0)
    }

    /// A start of many programs is cloned on spawn threads while the loop prepares the next:
    /// each process still gets its own pipes and descriptors, its pid is the one its program is
    /// told, and exec failures among them are each reported for their own program.
    @Test func manyStartedAtOnceEachGetTheirOwnPipesPidsAndErrors() throws {
        let d = try DaemonHarness("""
            [program:w]
            command=/bin/sh -c 'echo "I am $SUPERVISOR_PROCESS_NAME"; ls /proc/self/fd > %(here)s/fds-$SUPERVISOR_PROCESS_NAME; exec sleep 1000'
            process_name=w_%(process_num)d
            numprocs=40
            startsecs=0
            stdout_logfile=%(here)s/%(process_num)d.out

            [program:bad]
            command=/bin/true
            process_name=bad_%(process_num)d
            numprocs=5
            directory=/nonexistent/%(process_num)d
            startretries=0
            """, loglevel: "info")
        try d.waitForLog("success: w_", count: 40)
        var pids: [Int32] = []
        for n in 0..<40 {
            let pid = try d.pid(of: "w_\(n)")
            pids.append(pid)
            let out = d.dir.path + "/\(n).out", fds = d.dir.path + "/fds-w_\(n)"
            try waitUntil("w_\(n)'s output") { (try? String(contentsOfFile: out, encoding: .utf8))?.hasSuffix("\n") == true }
            #expect(try String(contentsOfFile: out, encoding: .utf8) == "I am w_\(n)\n")
            try waitUntil("w_\(n)'s descriptors") { (try? String(contentsOfFile: fds, encoding: .utf8))?.hasSuffix("\n") == true }
            let open = try String(contentsOfFile: fds, encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
            #expect(open.allSatisfy { $0 <= 3 }, "only stdio reaches w_\(n): \(open)")
            let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            #expect(environ.contains("SUPERVISOR_PROCESS_NAME=w_\(n)"), "pid \(pid) is w_\(n)'s")
        }
        #expect(Set(pids).count == 40)
        for n in 0..<5 {
            try d.waitForLog("spawnerr: couldn't chdir to /nonexistent/\(n): ENOENT")
            try d.waitForLog("gave up: bad_\(n) entered FATAL state")
        }
        // They were cloned by threads other than the loop's.
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(d.pid)/task").filter { $0 != String(d.pid) }
        let byThreads = threads.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(d.pid)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
        }
        #expect(!Set(byThreads).isDisjoint(with: pids), "spawn threads cloned them")
        #expect(try d.stop() == 0)
    }

    @Test(.enabled(if: geteuid() == 0, "running a program as another user needs root"))
    func runsAsAnotherUser() throws {
        let d = try DaemonHarness("""
            [program:unprivileged]
            command=sleep 1000
            startsecs=0
            user=nobody
            """)
        let pid = try d.pid(of: "unprivileged")
        let s = procStatus(pid)
        #expect(s["Uid"]?.split(separator: "\t").allSatisfy { $0 == "65534" } == true, "\(s["Uid"] ?? "-")")
        #expect(s["Gid"]?.split(separator: "\t").allSatisfy { $0 == "65534" } == true, "\(s["Gid"] ?? "-")")
        #expect(try d.stop() == 0)
    }

    @Test func daemonizesAndWritesThePidfile() throws {
        let dir = try TemporaryDirectory()
        let config = dir.path + "/minder.conf"
        try DaemonHarness.config("[program:bg]\ncommand=sleep 1000\nstartsecs=0\n").write(toFile: config, atomically: true, encoding: .utf8)
        let launcher = try run(minderdPath, ["-c", config], cwd: dir.path)
        #expect(launcher.status == 0, "the launching process exits once the daemon is detached: \(launcher.stderr)")
        let pidfile = dir.path + "/minderd.pid"
        let pid = try pidWritten(to: pidfile)
        defer { kill(pid, SIGKILL) }
        #expect(isAlive(pid))
        #expect(getsid(pid) == pid, "the daemon leads its own session")
        try waitUntil("bg to start") { (try? String(contentsOfFile: dir.path + "/minderd.log", encoding: .utf8))?.contains("spawned: 'bg'") == true }
        kill(pid, SIGTERM)
        try waitUntil("the daemon to exit", timeout: 30) { !isAlive(pid) }
        #expect(!FileManager.default.fileExists(atPath: pidfile), "the pidfile is removed on exit")
        let log = try String(contentsOfFile: dir.path + "/minderd.log", encoding: .utf8)
        let child = Int32(log.split(separator: "\n").first { $0.contains("spawned: 'bg'") }!.split(separator: " ").last!)!
        #expect(!isAlive(child))
    }
}
