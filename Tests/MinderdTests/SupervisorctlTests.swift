import Foundation
import Testing

/// supervisord's own clients against a real minderd: supervisorctl 4.3.0 and Python's
/// xmlrpc.client with supervisor's transport, both from .build-venv (scripts/setup installs them).
let venv = packageRoot.path + "/.build-venv/bin"
let haveSupervisorctl = FileManager.default.isExecutableFile(atPath: venv + "/supervisorctl")

@Suite(.enabled(if: haveSupervisorctl, "scripts/setup installs supervisorctl into .build-venv"))
struct SupervisorctlTests {
    static let programs = """
        [unix_http_server]
        file=%(here)s/m.sock

        [program:sleeper]
        command=sleep 1000
        startsecs=0

        [program:talker]
        command=/bin/sh -c 'while :; do echo hello; sleep 0.1; done'
        startsecs=0

        [program:broken]
        command=/nonexistent/binary
        autostart=false

        [program:manual]
        command=sleep 1000
        autostart=false
        startsecs=1

        [group:g]
        programs=manual
        """

    func ctl(_ d: DaemonHarness, _ args: String..., auth: [String] = []) throws -> RunResult {
        try run(venv + "/supervisorctl", ["-s", "unix://" + d.dir.path + "/m.sock"] + auth + args)
    }

    /// Python with supervisor's transport as `p` (a ServerProxy on the daemon's socket): runs
    /// `code` and returns what it printed.
    func python(_ d: DaemonHarness, _ code: String) throws -> RunResult {
        let script = """
            import socket, xmlrpc.client, sys
            from supervisor.xmlrpc import SupervisorTransport
            p = xmlrpc.client.ServerProxy('http://127.0.0.1', transport=SupervisorTransport(None, None, 'unix://\(d.dir.path)/m.sock'))
            def fault(call):
                try:
                    call()
                except xmlrpc.client.Fault as f:
                    return (f.faultCode, f.faultString)
                return None
            def post(body):  # the whole raw reply to `body` POSTed to /RPC2
                s = socket.socket(socket.AF_UNIX)
                s.connect('\(d.dir.path)/m.sock')
                s.sendall(b'POST /RPC2 HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % len(body) + body)
                out = b''
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return out
                    out += chunk

            """ + code
        let path = d.dir.path + "/client.py"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        return try run(venv + "/python", [path])
    }

    @Test func statusStartStopAndTheirExitCodes() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: talker entered RUNNING")
        let status = try ctl(d, "status")
        #expect(status.status == 3, "a process not running makes status exit 3, as supervisorctl does: \(status.stderr)")
        let lines = status.stdout.split(separator: "\n").map { String($0.prefix(42)).trimmingCharacters(in: .whitespaces) }
        #expect(lines == ["broken                           STOPPED", "g:manual                         STOPPED",
                          "sleeper                          RUNNING", "talker                           RUNNING"], "\(status.stdout)")
        #expect(try ctl(d, "start", "g:manual").stdout == "g:manual: started\n")
        let again = try ctl(d, "start", "g:manual")
        #expect(again.stdout == "g:manual: ERROR (already started)\n")
        let broken = try ctl(d, "start", "broken")
        #expect(broken.stdout == "broken: ERROR (no such file)\n" && broken.status == 1, "\(broken.stdout) \(broken.status)")
        let nosuch = try ctl(d, "start", "nosuch")
        #expect(nosuch.stdout == "nosuch: ERROR (no such process)\n" && nosuch.status == 1)
        #expect(try ctl(d, "stop", "g:*").stdout == "g:manual: stopped\n")
        #expect(try ctl(d, "restart", "sleeper").stdout == "sleeper: stopped\nsleeper: started\n")
        #expect(try ctl(d, "status", "sleeper").status == 0)
        #expect(try ctl(d, "status", "nosuch").status == 4)
        #expect(try ctl(d, "pid").stdout == "\(d.pid)\n")
        #expect(try ctl(d, "pid", "sleeper").stdout == "\(try d.pid(of: "sleeper"))\n")
        #expect(try ctl(d, "signal", "HUP", "sleeper").stdout == "sleeper: signalled\n")
        #expect(try ctl(d, "signal", "NOPE", "sleeper").stdout == "sleeper: ERROR (bad signal name)\n")
        #expect(try ctl(d, "version").stdout.hasPrefix("0."))
        let stopAll = try ctl(d, "stop", "all")
        #expect(Set(stopAll.stdout.split(separator: "\n")) == ["sleeper: stopped", "talker: stopped"], "\(stopAll.stdout)")
        #expect(try d.stop() == 0)
    }

    @Test func logsTailAndFollow() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: talker entered RUNNING")
        try waitUntil("talker's output") { ((try? ctl(d, "tail", "talker"))?.stdout ?? "").contains("hello\nhello\n") }
        #expect(try ctl(d, "maintail").stdout.contains("success: talker entered RUNNING"))
        // tail -f reads /logtail/talker/stdout, which streams until the client goes.
        let seen = try SideBySideTests.streaming(d, ["tail", "-f", "talker"], server: "unix://" + d.dir.path + "/m.sock") {
            $0.components(separatedBy: "hello").count > 5
        }
        #expect(seen.hasPrefix("==> Press Ctrl-C to exit <==\n"))
        #expect(try ctl(d, "clear", "talker").stdout == "talker: cleared\n")
        #expect(try ctl(d, "tail", "nosuch").stdout == "nosuch: ERROR (no such process name)\n")
        #expect(try d.stop() == 0)
    }

    @Test func rereadUpdateAddRemoveAvail() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: talker entered RUNNING")
        #expect(try ctl(d, "reread").stdout == "No config updates to processes\n")
        let avail = try ctl(d, "avail").stdout
        #expect(avail.contains("g:manual                         avail     manual    999:999")
            || avail.contains("g:manual                         in use    manual    999:999"), "\(avail)")
        try (String(contentsOfFile: d.configPath, encoding: .utf8) + "\n[program:extra]\ncommand=sleep 1000\nstartsecs=0\n")
            .write(toFile: d.configPath, atomically: true, encoding: .utf8)
        #expect(try ctl(d, "reread").stdout == "extra: available\n")
        #expect(try ctl(d, "update").stdout == "extra: added process group\n")
        #expect(try ctl(d, "status", "extra").stdout.contains("RUNNING"))
        #expect(try ctl(d, "remove", "extra").stdout == "ERROR: process/group still running: extra\n")
        #expect(try ctl(d, "stop", "extra").stdout == "extra: stopped\n")
        #expect(try ctl(d, "remove", "extra").stdout == "extra: removed process group\n")
        #expect(try ctl(d, "add", "extra").stdout == "extra: added process group\n")
        #expect(try ctl(d, "add", "extra").stdout == "ERROR: process group already active\n")
        #expect(try d.stop() == 0)
    }

    @Test func shutdownAndReload() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: talker entered RUNNING")
        let before = try d.pid(of: "sleeper")
        #expect(try ctl(d, "reload").stdout == "Restarted supervisord\n")
        try waitUntil("a new sleeper") { ((try? d.pid(of: "sleeper")) ?? before) != before }
        #expect(try ctl(d, "shutdown").stdout == "Shut down\n")
        #expect(try d.waitForExit() == 0)
    }

    @Test func usernameAndPassword() throws {
        let d = try DaemonHarness(Self.programs.replacingOccurrences(of: "file=%(here)s/m.sock",
                                                                     with: "file=%(here)s/m.sock\nusername=admin\npassword=s3cret"))
        try d.waitForLog("success: talker entered RUNNING")
        let refused = try ctl(d, "status")
        #expect(refused.stdout.contains("Server requires authentication"), "\(refused.stdout)\(refused.stderr)")
        let wrong = try ctl(d, "status", auth: ["-u", "admin", "-p", "nope"])
        #expect(wrong.stdout.contains("Server requires authentication"))
        let served = try ctl(d, "status", "sleeper", auth: ["-u", "admin", "-p", "s3cret"])
        #expect(served.status == 0 && served.stdout.contains("RUNNING"), "\(served.stdout)\(served.stderr)")
        #expect(try d.stop() == 0)
    }

    /// The XML-RPC values themselves, as supervisord's docs and source give them.
    @Test func methodsAnswerAsSupervisordsDo() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: talker entered RUNNING")
        let r = try python(d, """
            assert p.supervisor.getAPIVersion() == '3.0' and p.supervisor.getVersion() == '3.0'
            assert p.supervisor.getState() == {'statecode': 1, 'statename': 'RUNNING'}
            assert p.supervisor.getIdentification() == 'supervisor'
            assert p.supervisor.getPID() == \(d.pid)
            info = p.supervisor.getProcessInfo('sleeper')
            assert sorted(info) == sorted(['name', 'group', 'start', 'stop', 'now', 'state', 'statename', 'spawnerr',
                'exitstatus', 'logfile', 'stdout_logfile', 'stderr_logfile', 'pid', 'description']), info
            assert info['state'] == 20 and info['statename'] == 'RUNNING' and info['pid'] > 0, info
            assert all(isinstance(info[k], int) for k in ('start', 'stop', 'now', 'state', 'exitstatus', 'pid'))
            assert info['description'].startswith('pid %d, uptime 0:00:' % info['pid']), info
            names = [(i['group'], i['name']) for i in p.supervisor.getAllProcessInfo()]
            assert names == sorted(names) and len(names) == 4, names
            assert fault(lambda: p.supervisor.getProcessInfo('g:*')) == (10, 'BAD_NAME: g:*')
            assert fault(lambda: p.supervisor.getProcessInfo('nosuch')) == (10, 'BAD_NAME: nosuch')
            assert fault(lambda: p.supervisor.stopProcess('g:manual')) == (70, 'NOT_RUNNING: g:manual')
            assert fault(lambda: p.supervisor.startProcess('sleeper')) == (60, 'ALREADY_STARTED: sleeper')
            assert fault(lambda: p.supervisor.signalProcess('sleeper', 'NOPE')) == (11, 'BAD_SIGNAL: NOPE')
            assert fault(lambda: p.supervisor.nosuchMethod()) == (1, 'UNKNOWN_METHOD')
            assert fault(lambda: p.supervisor._dispatch()) == (1, 'UNKNOWN_METHOD')
            assert fault(lambda: p.supervisor.getPID(1)) == (2, 'INCORRECT_PARAMETERS')
            assert fault(lambda: p.supervisor.readLog(-5, 5)) == (3, 'BAD_ARGUMENTS')
            assert p.supervisor.startProcess('g:manual', False) is True
            results = p.supervisor.stopProcessGroup('g')
            assert results == [{'name': 'manual', 'group': 'g', 'status': 80, 'description': 'OK'}], results
            assert fault(lambda: p.supervisor.startProcessGroup('g:*')) == (10, 'BAD_NAME: g:*')
            assert p.supervisor.startProcessGroup('g') == [{'name': 'manual', 'group': 'g', 'status': 80, 'description': 'OK'}]
            methods = p.system.listMethods()
            assert len(methods) == 41 and methods == sorted(methods) and 'supervisor.tailProcessLog' in methods, methods
            assert p.system.methodSignature('supervisor.tailProcessStdoutLog') == ['array', 'string', 'int', 'int']
            assert 'offset' in p.system.methodHelp('supervisor.readLog')
            assert fault(lambda: p.system.methodHelp('nosuch')) == (4, 'SIGNATURE_UNSUPPORTED')
            calls = [{'methodName': 'supervisor.getPID', 'params': []},
                     {'methodName': 'supervisor.getProcessInfo', 'params': ['nosuch']},
                     {'methodName': 'system.multicall', 'params': [[]]}]
            assert p.system.multicall(calls) == [\(d.pid), {'faultCode': 10, 'faultString': 'BAD_NAME: nosuch'},
                {'faultCode': 2, 'faultString': 'INCORRECT_PARAMETERS: Recursive system.multicall forbidden'}]
            too_many = [{'methodName': 'supervisor.getPID', 'params': []}] * 257
            assert fault(lambda: p.system.multicall(too_many)) == (2, 'INCORRECT_PARAMETERS: at most 256 calls in one system.multicall')
            assert p.supervisor.reloadConfig() == [[[], [], []]]
            print('ok')
            """)
        #expect(r.stdout == "ok\n", "\(r.stderr)")
        #expect(try d.stop() == 0)
    }

    /// readProcessStdoutLog's readFile and tailProcessStdoutLog's offset protocol, on a log of known size.
    @Test func logMethodsFollowSupervisordsOffsetRules() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:counted]
            command=/bin/sh -c 'for i in 1 2 3 4 5; do printf 0123456789; done; exec sleep 1000'
            startsecs=0
            stdout_logfile=%(here)s/counted.log
            stderr_logfile=NONE

            [program:quiet]
            command=sleep 1000
            startsecs=0
            """)
        try waitUntil("50 bytes logged") { (try? FileManager.default.attributesOfItem(atPath: d.dir.path + "/counted.log")[.size] as? Int) == 50 }
        let r = try python(d, """
            read = p.supervisor.readProcessStdoutLog
            assert read('counted', 0, 0) == '0123456789' * 5
            assert read('counted', 45, 0) == '56789'
            assert read('counted', 40, 3) == '012'
            assert read('counted', -4, 0) == '6789'
            assert read('counted', 100, 0) == ''
            tail = p.supervisor.tailProcessStdoutLog
            assert tail('counted', 0, 10) == ['0123456789', 50, True], tail('counted', 0, 10)
            assert tail('counted', 50, 10) == ['', 50, False]
            assert tail('counted', 45, 10) == ['0123456789', 50, False]
            assert tail('counted', 60, 10) == ['', 50, False]
            assert p.supervisor.tailProcessStderrLog('counted', 0, 10) == ['', 0, False]
            assert fault(lambda: p.supervisor.readProcessStderrLog('counted', 0, 0))[0] == 20, 'no stderr log configured'
            assert p.supervisor.readProcessStderrLog('quiet', 0, 0) == '', 'a log not written yet reads as empty'
            assert p.supervisor.tailProcessStderrLog('quiet', 0, 10) == ['', 0, False]
            assert fault(lambda: tail('nosuch', 0, 10)) == (10, 'BAD_NAME: nosuch')
            print('ok')
            """)
        #expect(r.stdout == "ok\n", "\(r.stderr)")
        #expect(try d.stop() == 0)
    }

    /// Bodies that are not XML-RPC calls get 400, and hostile XML is refused without harm.
    @Test func hostileBodiesGet400AndTheDaemonStaysUp() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: talker entered RUNNING")
        let r = try python(d, """
            def status(body):
                return post(body).split(b' ')[1]
            laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' \\
                + b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>' \\
                + b'<methodCall><methodName>&d;</methodName></methodCall>'
            external = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><methodCall><methodName>&e;</methodName></methodCall>'
            deep = b'<methodCall><methodName>system.listMethods</methodName><params><param><value>' + b'<array><data><value>' * 40
            for body in [b'', b'not xml', b'<methodCall></methodCall>', laughs, external, deep, b'<a>' * 100000]:
                assert status(body) == b'400', body[:60]
            assert status(b"<?xml version='1.0'?><methodCall><methodName>supervisor.getPID</methodName></methodCall>") == b'200'
            print('ok')
            """)
        #expect(r.stdout == "ok\n", "\(r.stderr)")
        #expect(try ctl(d, "status", "sleeper").status == 0, "still serving")
        #expect(try d.stop() == 0)
    }

    /// libxml2 is loaded by the first XML-RPC request, not at start.
    @Test func libxml2IsLoadedByTheFirstXMLRPCRequest() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: talker entered RUNNING")
        #expect(try !maps(d.pid, "/libxml2.so"))
        #expect(try ctl(d, "status", "sleeper").status == 0)
        #expect(try maps(d.pid, "/libxml2.so"))
        #expect(try d.stop() == 0)
    }

    /// Debian's libxml2, which the next test hides.
    static let libxml2 = "/usr/lib/x86_64-linux-gnu/libxml2.so.2"

    /// Where libxml2 cannot be loaded (here a mount namespace puts an empty file over it), an
    /// XML-RPC request gets 503 saying why, and minderd goes on serving its own API and page.
    @Test(.enabled(if: haveUnshare, "needs root and unshare(1)"),
          .enabled(if: FileManager.default.fileExists(atPath: libxml2), "needs Debian's libxml2 at \(libxml2)"))
    func withoutLibxml2XMLRPCIsRefusedAndTheRestServes() throws {
        let d = try DaemonHarness(Self.programs, start: false)
        d.launcher = ["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                      "mount --bind /dev/null \"$(readlink -f \(Self.libxml2))\" && exec \"$@\"", "sh"]
        try d.launch()
        try d.waitForLog("success: talker entered RUNNING")
        let r = try python(d, """
            out = post(b"<?xml version='1.0'?><methodCall><methodName>supervisor.getPID</methodName></methodCall>")
            print(out.split(b'\\r\\n')[0].decode())
            print(out.split(b'\\r\\n\\r\\n', 1)[1].decode())
            s = socket.socket(socket.AF_UNIX)
            s.connect('\(d.dir.path)/m.sock')
            s.sendall(b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n')
            print('page', s.recv(65536).split(b'\\r\\n')[0].decode())
            """)
        #expect(r.stdout.hasPrefix("HTTP/1.1 503"), "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("XML-RPC is unavailable: cannot load libxml2"), "\(r.stdout)")
        #expect(d.status("sleeper")?.statename == "RUNNING", "the JSON API still answers")
        #expect(r.stdout.contains("page HTTP/1.1 200"), "the page still answers: \(r.stdout)")
        #expect(try !maps(d.pid, "/libxml2.so"))
        #expect(try d.stop() == 0)
    }
}
