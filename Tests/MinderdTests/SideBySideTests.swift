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

        [program:echo]
        command=cat
        startsecs=0

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

    /// supervisorctl with its output going to a file that is polled until `done` holds, then
    /// killed: nothing here blocks on a command that does not end by itself (`tail -f`, or `fg`,
    /// whose reader thread may wait for output after stdin ended).
    static func streaming(_ d: DaemonHarness, _ args: [String], server: String? = nil, input: String? = nil,
                          until done: (String) -> Bool) throws -> String {
        let out = d.dir.path + "/streaming-\(args.joined(separator: "-")).out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: venv + "/supervisorctl")
        process.arguments = (server.map { ["-s", $0] } ?? ["-c", d.configPath]) + args
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        var seen = ""
        try waitUntil("supervisorctl \(args.joined(separator: " "))") {
            seen = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return done(seen)
        }
        return seen
    }

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
        // tail -f: what the stream shows until the program's last line.
        let follows = try [minder, supervisord].map { d in try Self.streaming(d, ["tail", "-f", "printer"]) { $0.contains("three\n") } }
        if follows[0] != follows[1] { differences.append("supervisorctl tail -f printer:\n\(follows[0])\n---\n\(follows[1])") }
        try compare(Self.before)
        // fg: a line typed goes to the program's stdin (cat echoes it into its log); EOF detaches.
        for d in [minder, supervisord] {
            // Detached at the end of its input: the line was sent by then.
            _ = try Self.streaming(d, ["fg", "echo"], input: "hello\n") { $0.contains("Exiting foreground") }
            try waitUntil("the typed line in echo's log") {
                ((try? run(venv + "/supervisorctl", ["-c", d.configPath, "tail", "echo"]))?.stdout ?? "").contains("hello")
            }
        }
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

extension SideBySideTests {
    /// Every method of both namespaces through Python's xmlrpc.client, with good and bad
    /// arguments: each call's value or fault, normalized, must be the same from both daemons.
    static let calls = #"""
        import re, sys, xmlrpc.client
        from supervisor.xmlrpc import SupervisorTransport
        here = sys.argv[1]
        p = xmlrpc.client.ServerProxy('http://127.0.0.1', transport=SupervisorTransport(None, None, 'unix://' + here + '/s.sock'))
        def norm(v):
            if isinstance(v, dict):
                return {k: norm(x) for k, x in sorted(v.items())
                        if k not in ('pid', 'start', 'stop', 'now') or isinstance(x, int) and x == 0} | \
                       {k: 'T' for k, x in v.items() if k in ('pid', 'start', 'stop', 'now') and x != 0}
            if isinstance(v, list) and v and all(isinstance(x, dict) and 'status' in x for x in v):
                # several processes' results come in the order each finished, in supervisord too
                return sorted((norm(x) for x in v), key=lambda x: (x['group'], x['name']))
            if isinstance(v, list):
                return [norm(x) for x in v]
            if isinstance(v, str):
                v = v.replace(here, 'DIR')
                v = re.sub(r'pid \d+', 'pid N', v)
                v = re.sub(r'uptime [0-9a-z, ]*\d+:\d\d:\d\d', 'uptime U', v)
                v = re.sub(r'[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M', 'DATE', v)
                v = re.sub(r'-(stdout|stderr)---supervisor-[a-z0-9_]+\.log', r'-\1---supervisor-X.log', v)
            return v
        def call(name, *args):
            try:
                r = getattr(p, name)(*args)
            except xmlrpc.client.Fault as f:
                r = ('FAULT', f.faultCode, f.faultString)
            print(name, repr(args), '->', repr(norm(r)))
        s = 'supervisor.'
        call(s + 'getAPIVersion'); call(s + 'getVersion'); call(s + 'getIdentification'); call(s + 'getState')
        call(s + 'getProcessInfo', 'sleeper'); call(s + 'getProcessInfo', 'g:manual'); call(s + 'getProcessInfo', 'nosuch')
        call(s + 'getProcessInfo', 'g:*'); call(s + 'getProcessInfo', 'crashy'); call(s + 'getProcessInfo', 'broken')
        call(s + 'getAllProcessInfo')
        call(s + 'startProcess', 'g:manual'); call(s + 'startProcess', 'g:manual'); call(s + 'startProcess', 'nosuch')
        call(s + 'startProcess', 'broken'); call(s + 'startProcess', 'crashy'); call(s + 'startProcess', 'g:*')
        call(s + 'stopProcess', 'g:manual'); call(s + 'stopProcess', 'g:manual'); call(s + 'stopProcess', 'nosuch')
        call(s + 'startProcess', 'g:manual', False); call(s + 'stopProcess', 'g:manual', True)
        call(s + 'startProcessGroup', 'g'); call(s + 'startProcessGroup', 'nosuch'); call(s + 'stopProcessGroup', 'g')
        call(s + 'stopProcessGroup', 'pool'); call(s + 'startProcessGroup', 'pool', True)
        call(s + 'signalProcess', 'sleeper', 'HUP'); call(s + 'signalProcess', 'sleeper', 'NOPE')
        call(s + 'signalProcess', 'g:manual', 'HUP'); call(s + 'signalProcess', 'nosuch', 'HUP')
        call(s + 'signalProcess', 'sleeper', '1'); call(s + 'signalProcessGroup', 'pool', 'USR1')
        call(s + 'signalProcessGroup', 'nosuch', 'USR1')
        call(s + 'sendProcessStdin', 'g:manual', 'x'); call(s + 'sendProcessStdin', 'nosuch', 'x')
        call(s + 'sendRemoteCommEvent', 'type', 'data')
        call(s + 'readProcessStdoutLog', 'printer', 0, 0); call(s + 'readProcessStdoutLog', 'printer', -4, 0)
        call(s + 'readProcessStdoutLog', 'printer', 4, 3); call(s + 'readProcessStdoutLog', 'printer', -4, 2)
        call(s + 'readProcessStdoutLog', 'printer', 0, -1); call(s + 'readProcessStdoutLog', 'nosuch', 0, 0)
        call(s + 'readProcessLog', 'printer', 100, 0); call(s + 'readProcessStderrLog', 'printer', 0, 0)
        call(s + 'tailProcessStdoutLog', 'printer', 0, 5); call(s + 'tailProcessStdoutLog', 'printer', 14, 5)
        call(s + 'tailProcessStdoutLog', 'printer', 10, 5); call(s + 'tailProcessStdoutLog', 'printer', 100, 5)
        call(s + 'tailProcessLog', 'printer', 0, 100); call(s + 'tailProcessStderrLog', 'printer', 0, 5)
        call(s + 'tailProcessStdoutLog', 'nosuch', 0, 5)
        call(s + 'clearProcessLogs', 'printer'); call(s + 'clearProcessLog', 'nosuch'); call(s + 'clearAllProcessLogs')
        call(s + 'reloadConfig'); call(s + 'addProcessGroup', 'g'); call(s + 'addProcessGroup', 'nosuch')
        call(s + 'removeProcessGroup', 'pool'); call(s + 'removeProcessGroup', 'nosuch')
        call(s + 'stopProcessGroup', 'pool'); call(s + 'removeProcessGroup', 'pool'); call(s + 'addProcessGroup', 'pool')
        call('system.methodSignature', 'supervisor.startProcess'); call('system.methodSignature', 'nosuch')
        call('system.methodHelp', 'nosuch')
        call('system.multicall', [{'methodName': 'supervisor.getAPIVersion', 'params': []},
                                  {'methodName': 'supervisor.getProcessInfo', 'params': ['nosuch']},
                                  {'methodName': 'supervisor.stopProcess', 'params': ['g:manual']}])
        call('system.listMethods')
        call(s + 'nosuch'); call(s + 'getState', 1); call(s + 'stopAllProcesses'); call(s + 'startAllProcesses')
        call(s + 'signalAllProcesses', 'HUP')
        """#

    @Test func xmlrpcClientSeesTheSameFromBoth() throws {
        let minder = try DaemonHarness(Self.config(updated: false), loglevel: "info", start: false)
        let supervisord = try DaemonHarness(Self.config(updated: false), loglevel: "info", start: false)
        supervisord.daemonPath = venv + "/supervisord"
        var outputs: [[Substring]] = []
        for d in [minder, supervisord] {
            try d.launch()
            try d.waitForLog("success: pool_1 entered RUNNING")
            try d.waitForLog("gave up: crashy entered FATAL")
            let script = d.dir.path + "/calls.py"
            try Self.calls.write(toFile: script, atomically: true, encoding: .utf8)
            let r = try run(venv + "/python", [script, d.dir.path], timeout: 120)
            #expect(r.status == 0, "\(r.stderr)")
            outputs.append(r.stdout.split(separator: "\n"))
        }
        #expect(outputs[0].count > 60, "every call was made")
        let allowed = ["supervisor.getSupervisorVersion", "supervisor.getPID", "system.methodHelp ('supervisor"]
        for (m, s) in zip(outputs[0], outputs[1]) where m != s && !allowed.contains(where: { m.hasPrefix($0) }) {
            Issue.record("minderd:     \(m)\nsupervisord: \(s)")
        }
        #expect(try minder.stop() == 0)
        _ = try supervisord.stop(timeout: 120)
    }
}
