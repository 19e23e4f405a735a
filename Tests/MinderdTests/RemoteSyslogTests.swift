import Foundation
import Testing

/// syslog_server=udp://...: a real rsyslog (Debian's) on loopback takes a program's lines.
let haveRsyslog = FileManager.default.isExecutableFile(atPath: "/usr/sbin/rsyslogd")

@Suite(.enabled(if: haveRsyslog && geteuid() == 0, "needs Debian's rsyslog (scripts/setup installs it) and root to run it"))
struct RemoteSyslogTests {
    /// True once something listens on UDP 127.0.0.1:`port` (/proc/net/udp).
    static func listening(_ port: Int) -> Bool {
        let table = (try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8)) ?? ""
        return table.contains(String(format: "0100007F:%04X", port))
    }

    @Test func rsyslogReceivesEveryLineInOrder() throws {
        let port = InetServerTests.freePort()
        let dir = try TemporaryDirectory()
        let received = dir.path + "/received.log"
        try """
            global(workDirectory="\(dir.path)")
            module(load="imudp")
            input(type="imudp" address="127.0.0.1" port="\(port)")
            template(name="fields" type="string" string="%programname%|%procid%|%structured-data%|%msg%\\n")
            *.* action(type="omfile" file="\(received)" template="fields")
            """.write(toFile: dir.path + "/rsyslog.conf", atomically: true, encoding: .utf8)
        let rsyslog = Process()
        rsyslog.executableURL = URL(fileURLWithPath: "/usr/sbin/rsyslogd")
        rsyslog.arguments = ["-n", "-f", dir.path + "/rsyslog.conf", "-i", dir.path + "/rsyslog.pid"]
        rsyslog.standardOutput = FileHandle.nullDevice
        rsyslog.standardError = FileHandle.nullDevice
        try rsyslog.run()
        defer {
            kill(rsyslog.processIdentifier, SIGKILL)
            rsyslog.waitUntilExit()
        }
        try waitUntil("rsyslog listening") { Self.listening(port) }
        // 2,000 lines at about 1,000 a second, then quiet.
        let d = try DaemonHarness("""
            [program:talker]
            command=/usr/bin/python3 -c "import time; [(print('line', i, flush=True), time.sleep(0.001)) for i in range(2000)]; time.sleep(1000)"
            startsecs=0
            stdout_syslog=true
            syslog_server=udp://127.0.0.1:\(port)
            """, loglevel: "info")
        let pid = try d.pid(of: "talker")
        var lines: [Substring] = []
        try waitUntil("2,000 lines at rsyslog") {
            lines = ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { $0.hasPrefix("talker|") }
            return lines.count >= 2000
        }
        #expect(lines.count == 2000)
        for (i, line) in lines.enumerated() {
            let fields = line.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, fields[1] == "\(pid)", fields[2] == "[minder@32473 group=\"talker\" stream=\"stdout\"]",
                  fields[3].trimmingCharacters(in: .whitespaces) == "line \(i)" else {
                Issue.record("line \(i): \(line)")
                break
            }
        }
        #expect(try d.stop() == 0)
    }
}
