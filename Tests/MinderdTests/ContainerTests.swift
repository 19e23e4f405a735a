import Foundation
import MinderControl
import Testing

let haveUnshare = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")

/// minderd as a container's PID 1, and the options containers need (docs/deploy.md).
@Suite struct ContainerTests {
    /// The children of `pid`, from /proc (host pids): each thread's, as a spawn thread's
    /// children are listed under that thread.
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0) }
        }
    }

    /// A process's state letter (R, S, Z, ...) from /proc/PID/stat.
    static func state(of pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(close, offsetBy: 2)...].first
    }

    /// In a PID namespace of its own, minderd is PID 1: it reaps an orphan that is none of its
    /// programs (a double fork's grandchild) when it exits, and SIGTERM stops everything, exit 0.
    @Test(.enabled(if: haveUnshare, "needs root and unshare(1)"))
    func asPID1ItReapsOrphansAndStopsOnSIGTERM() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:forker]
            command=/bin/sh -c '(sleep 1; touch %(here)s/grandchild-done) & exit 0'
            startsecs=0
            autorestart=false

            [program:sleeper]
            command=sleep 1000
            startsecs=0
            stopwaitsecs=5
            """, loglevel: "info", start: false)
        // --kill-child: should this test fail, minderd and with it the namespace die with unshare.
        d.launcher = ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
        d.logPIDsAreOurs = false
        try d.launch()
        try d.waitForLog("success: sleeper entered RUNNING")
        try d.waitForLog("exited: forker (exit status 0; expected)")
        var minderd: Int32 = 0
        try waitUntil("minderd in its namespace") {
            minderd = Self.children(of: d.pid).first ?? 0
            return minderd != 0
        }
        #expect((try String(contentsOfFile: "/proc/\(minderd)/status", encoding: .utf8)).contains("NSpid:\t\(minderd)\t1\n"))
        // The grandchild was re-parented to minderd, did its work, exited, and is reaped: no zombie.
        try waitUntil("the grandchild's work", timeout: 60) { FileManager.default.fileExists(atPath: d.dir.path + "/grandchild-done") }
        // It may still be on its way out after its work: what is awaited is its end, reaped.
        try waitUntil("only the sleeper left, and no zombie", timeout: 60) {
            let left = Self.children(of: minderd)
            return left.count == 1 && left.allSatisfy { Self.state(of: $0) != "Z" }
        }
        let sleeper = Self.children(of: minderd)
        kill(minderd, SIGTERM)
        #expect(try d.waitForExit(timeout: 60) == 0)
        try d.waitForLog("stopped: sleeper (terminated by SIGTERM)")
        #expect(sleeper.allSatisfy { !isAlive($0) })
    }

    /// shutdown_when=fatal: the program going FATAL stops every program, and minderd exits 1 with
    /// a line naming it.
    @Test func shutdownWhenFatal() throws {
        let d = try DaemonHarness("""
            [program:main]
            command=/nonexistent/server
            startretries=0
            shutdown_when=fatal

            [program:helper]
            command=sleep 1000
            startsecs=0
            priority=1
            """, loglevel: "info")
        #expect(try d.waitForExit(timeout: 60) == 1)
        try d.waitForLog("main is FATAL (shutdown_when=fatal): shutting down, exit status 1")
        try d.waitForLog("stopped: helper (terminated by SIGTERM)")
        #expect(d.spawnedPIDs.allSatisfy { !isAlive($0) })
    }

    /// shutdown_when=exited: a job's own exit ends minderd with its status; a program that is
    /// stopped through the API does not.
    @Test func shutdownWhenExited() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:job]
            command=/bin/sh -c 'sleep 0.5; exit 3'
            startsecs=0
            exitcodes=0,3
            autorestart=false
            shutdown_when=exited

            [program:manual]
            command=sleep 1000
            startsecs=0
            shutdown_when=exited
            """, loglevel: "info")
        try d.waitForLog("success: manual entered RUNNING")
        let stop = try ControlClient(socketPath: d.dir.path + "/m.sock").request("POST", "/api/v1/processes/manual/stop")
        #expect(stop.status == 200)
        #expect(try d.waitForExit(timeout: 60) == 3)
        try d.waitForLog("job exited with status 3 (shutdown_when=exited): shutting down, exit status 3")
        #expect(!d.log.contains("manual exited"))
    }

    /// stdout_prefix= on programs that share minderd's stdout: every line of each carries its name,
    /// partial lines and interleaving included.
    @Test func stdoutPrefixOnMinderdsStdout() throws {
        let d = try DaemonHarness("""
            [program:alpha]
            command=/bin/sh -c 'printf "one\\ntwo\\n"; sleep 0.2; printf "thr"; sleep 0.2; printf "ee\\n"; exec sleep 1000'
            startsecs=0
            stdout_logfile=/dev/stdout
            stdout_logfile_maxbytes=0
            stdout_prefix=%(program_name)s |

            [program:beta]
            command=/bin/sh -c 'echo hello >&2; echo world; exec sleep 1000'
            startsecs=0
            stdout_logfile=/dev/stdout
            stdout_logfile_maxbytes=0
            stderr_logfile=/dev/stdout
            stderr_logfile_maxbytes=0
            stdout_prefix=[%(program_name)s]
            stderr_prefix=[%(program_name)s:err]
            """, loglevel: "info", start: false)
        d.stdoutPath = d.dir.path + "/stdout"
        try d.launch()
        let expected = ["alpha | one", "alpha | two", "alpha | three", "[beta] world", "[beta:err] hello"]
        var lines: [String] = []
        try waitUntil("every program line on minderd's stdout") {
            lines = ((try? String(contentsOfFile: d.stdoutPath!, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            return expected.allSatisfy(lines.contains)
        }
        #expect(!lines.contains { $0 == "one" || $0 == "world" || $0.hasPrefix("ee") }, "\(lines)")
        #expect(try d.stop() == 0)
    }
}
