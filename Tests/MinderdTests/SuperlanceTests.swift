import Foundation
import Testing

/// superlance 2.0.0's plugins from PyPI, run unchanged as event listeners under minderd: they
/// read events over the listener protocol and drive minderd over XML-RPC at the
/// SUPERVISOR_SERVER_URL minderd gives them.
let haveSuperlance = FileManager.default.isExecutableFile(atPath: venv + "/memmon")

@Suite(.enabled(if: haveSuperlance, "scripts/setup installs superlance into .build-venv"))
struct SuperlanceTests {
    /// What a listener wrote to its stderr (its AUTO log in the work folder).
    func stderr(_ d: DaemonHarness, _ listener: String) -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: d.dir.path)) ?? []
        return files.filter { $0.hasPrefix(listener + "-stderr---") }
            .map { (try? String(contentsOfFile: d.dir.path + "/" + $0, encoding: .utf8)) ?? "" }.joined()
    }

    /// An unexpected exit is mailed (through a stand-in sendmail that appends to a file).
    @Test func crashmailMailsAnUnexpectedExit() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:crasher]
            command=/bin/sh -c 'sleep 0.5; exit 3'
            startsecs=0
            autorestart=false

            [eventlistener:crashmail]
            command=\(venv)/crashmail -a -m ops@example.com -s "cat >> %(here)s/mail.txt"
            events=PROCESS_STATE_EXITED
            """, loglevel: "info")
        let mail = d.dir.path + "/mail.txt"
        try waitUntil("crashmail's mail") {
            ((try? String(contentsOfFile: mail, encoding: .utf8)) ?? "").contains("exited unexpectedly")
        }
        let text = try String(contentsOfFile: mail, encoding: .utf8)
        #expect(text.hasPrefix("To: ops@example.com\nSubject:  crasher crashed at "), "\(text)")
        #expect(text.contains("Process crasher in group crasher exited unexpectedly (pid \(try d.pid(of: "crasher"))) from state RUNNING"))
        #expect(try d.stop() == 0)
    }

    /// memmon, on TICK_5, restarts a program whose resident memory is over its limit.
    @Test func memmonRestartsAProgramOverItsMemoryLimit() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:hog]
            command=/usr/bin/python3 -c "import time; x = b'x' * (64 << 20); time.sleep(1000)"
            startsecs=0

            [eventlistener:memmon]
            command=\(venv)/memmon -p hog=16MB
            events=TICK_5
            """, loglevel: "info")
        let first = try d.pid(of: "hog")
        try d.waitForLog("spawned: 'hog'", count: 2, timeout: 60)
        #expect(try d.pid(of: "hog") != first)
        #expect(!isAlive(first))
        try waitUntil("memmon's account of it") { stderr(d, "memmon").contains("Restarting hog:hog") }
        #expect(try d.stop() == 0)
    }

    /// httpok, on TICK_5, restarts a web server whose URL stops answering 200.
    @Test func httpokRestartsAProgramWhoseURLFails() throws {
        let port = InetServerTests.freePort()
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:web]
            command=/usr/bin/python3 -m http.server \(port) --bind 127.0.0.1 --directory %(here)s/www
            startsecs=0
            stopwaitsecs=2

            [eventlistener:httpok]
            command=\(venv)/httpok -p web -t 5 http://127.0.0.1:\(port)/ok
            events=TICK_5
            """, loglevel: "info", start: false)
        try FileManager.default.createDirectory(atPath: d.dir.path + "/www", withIntermediateDirectories: true)
        try "ok\n".write(toFile: d.dir.path + "/www/ok", atomically: true, encoding: .utf8)
        try d.launch()
        let first = try d.pid(of: "web")
        try d.waitForLog("httpok entered RUNNING")
        try FileManager.default.removeItem(atPath: d.dir.path + "/www/ok")
        try d.waitForLog("spawned: 'web'", count: 2, timeout: 60)
        #expect(try d.pid(of: "web") != first)
        try waitUntil("httpok's account of it") { stderr(d, "httpok").contains("web restarted") }
        #expect(try d.stop() == 0)
    }
}
