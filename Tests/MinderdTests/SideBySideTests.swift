import Foundation
import Testing

/// The real supervisorctl 4.3.0 runs the same commands against minderd and against supervisord
/// 4.3.0 on the same config, one step at a time: outputs and exit codes must be identical once
/// pids, uptimes, dates and the two work folders are normalized. The only exceptions are in
/// `allowed`, each naming the documented difference it stems from.
let haveSupervisord = FileManager.default.isExecutableFile(atPath: venv + "/supervisord")

@Suite(.enabled(if: haveSupervisord && haveSupervisorctl, "scripts/setup installs supervisor into .build-venv"))
struct SideBySideTests {
    /// Commands whose output may differ, with where the difference is documented.
    static let allowed: [String: String] = [
        "version": "docs/xmlrpc.md: getSupervisorVersion is Minder's version",
        "maintail": "the main logs hold each daemon's own lines (docs/lifecycle.md)",
    ]

    static func config(updated: Bool) -> String {
        """
        [unix_http_server]
        file=%(here)s/s.sock

        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

        [supervisorctl]
        serverurl=unix://%(here)s/s.sock

        [program:sleeper]
        command=sleep 1000
        startsecs=0

        [program:printer]
        command=/bin/sh -c 'printf "\(updated ? "four" : "one\\\\ntwo\\\\nthree")\\\\n"; exec sleep 1000'
        startsecs=0
        stdout_logfile=%(here)s/printer.log

        [program:manual]
        command=sleep 1000
        autostart=false
        startsecs=0

        [program:broken]
        command=/nonexistent/binary
        autostart=false

        [program:crashy]
        command=/bin/false
        startsecs=1
        startretries=0

        [group:g]
        programs=manual
        \(updated ? """

            [program:extra]
            command=sleep 1000
            startsecs=0
            """ : """

            [program:pool]
            command=sleep 1000
            process_name=%(program_name)s_%(process_num)d
            numprocs=2
            startsecs=0
            """)
        """
    }

    static let before: [[String]] = [
        ["status"], ["status", "sleeper"], ["status", "nosuch"], ["status", "g:*"], ["status", "pool:*"], ["status", "crashy"],
        ["start", "g:manual"], ["start", "g:manual"], ["start", "nosuch"], ["start", "broken"], ["start", "crashy"],
        ["stop", "g:manual"], ["stop", "g:manual"], ["stop", "nosuch"], ["start", "g:*"], ["stop", "g:*"],
        ["stop", "pool:*"], ["start", "pool:*"], ["restart", "sleeper"], ["restart", "nosuch"], ["restart", "pool:*"],
        ["signal", "HUP", "sleeper"], ["signal", "NOPE", "sleeper"], ["signal", "HUP", "g:manual"], ["signal", "USR1", "pool:*"],
        ["signal", "HUP", "nosuch"], ["pid", "nosuch"], ["pid", "g:manual"],
        ["tail", "printer"], ["tail", "-5", "printer"], ["tail", "printer", "stderr"], ["tail", "nosuch"], ["tail", "g:manual"],
        ["clear", "printer"], ["tail", "printer"], ["clear", "nosuch"], ["clear", "all"],
        ["avail"], ["reread"], ["maintail", "-1"], ["version"], ["nosuchcommand"],
    ]

    static let after: [[String]] = [
        ["reread"], ["avail"], ["update"], ["status"], ["tail", "printer"], ["remove", "extra"], ["stop", "extra"], ["remove", "extra"],
        ["add", "extra"], ["add", "extra"], ["add", "nosuch"], ["remove", "nosuch"], ["update"], ["stop", "all"], ["status"],
        ["start", "all"], ["status"],
    ]

    /// Output made comparable: pids, uptimes, dates and the work folder replaced.
    static func normalized(_ text: String, dir: String) -> String {
        var t = text.replacingOccurrences(of: dir, with: "DIR")
        for (pattern, replacement) in [
            (#"pid \d+"#, "pid N"), (#"uptime [0-9a-z, ]*\d+:\d\d:\d\d"#, "uptime U"),
            (#"[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M"#, "DATE"), (#"(?m)^\d+$"#, "N"),
        ] {
            t = t.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return t
    }

    @Test func supervisorctlSeesTheSameFromBoth() throws {
        let minder = try DaemonHarness(Self.config(updated: false), loglevel: "info", start: false)
        let supervisord = try DaemonHarness(Self.config(updated: false), loglevel: "info", start: false)
        supervisord.daemonPath = venv + "/supervisord"
        // The test runner's threads block most signals, and a child inherits that mask: supervisord
        // (unlike minderd) never unblocks SIGTERM, so it starts with a clean mask.
        supervisord.launcher = [venv + "/python", "-c",
                                "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])"]
        for d in [minder, supervisord] {
            try d.launch()
            try d.waitForLog("success: pool_1 entered RUNNING")
            try d.waitForLog("gave up: crashy entered FATAL")
        }
        var differences: [String] = []
        var compared = 0
        func compare(_ commands: [[String]]) throws {
            for command in commands {
                let results = try [minder, supervisord].map { d in
                    let r = try run(venv + "/supervisorctl", ["-c", d.configPath] + command)
                    var out = Self.normalized(r.stdout + r.stderr, dir: d.dir.path)
                    // Several processes' results come in the order each finished, in supervisord
                    // too: lines of an operation on a group or on all are compared as a set.
                    if command.contains(where: { $0 == "all" || $0.hasSuffix(":*") }) {
                        out = out.split(separator: "\n").sorted().joined(separator: "\n")
                    }
                    return (status: r.status, out: out)
                }
                if results[0].out.contains("sleeper") { compared += 1 }
                if let trace = ProcessInfo.processInfo.environment["SIDE_BY_SIDE_TRACE"] {
                    let text = "$ \(command)\n[minderd \(results[0].status)]\n\(results[0].out)[supervisord \(results[1].status)]\n\(results[1].out)\n"
                    if let h = FileHandle(forWritingAtPath: trace) { h.seekToEndOfFile(); h.write(Data(text.utf8)); h.closeFile() }
                }
                if results[0].status != results[1].status || results[0].out != results[1].out,
                   Self.allowed[command[0]] == nil {
                    differences.append("""
                        supervisorctl \(command.joined(separator: " ")):
                          minderd (exit \(results[0].status)):
                        \(results[0].out)
                          supervisord (exit \(results[1].status)):
                        \(results[1].out)
                        """)
                }
            }
        }
        try compare(Self.before)
        for d in [minder, supervisord] {
            try DaemonHarness.config(Self.config(updated: true), loglevel: "info").write(toFile: d.configPath, atomically: true, encoding: .utf8)
        }
        try compare(Self.after)
        #expect(compared >= 4, "the commands reached minderd")
        #expect(differences.isEmpty, "\(differences.count) differences:\n\(differences.joined(separator: "\n"))")
        #expect(try minder.stop() == 0)
        _ = try supervisord.stop(timeout: 120)
    }
}
