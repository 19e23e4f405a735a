import Foundation
import Testing

/// minderctl finds its server and takes its options as supervisorctl does.
@Suite struct MinderctlOptionsTests {

    /// A client config with only [supervisorctl] serverurl, as supervisorctl accepts.
    @Test func aConfigWithOnlyTheClientSection() throws {
        let d = try DaemonHarness("[unix_http_server]\nfile=%(here)s/m.sock\n[program:x]\ncommand=sleep 1000\nstartsecs=0\n")
        try d.waitForLog("success: x entered RUNNING")
        let client = d.dir.path + "/client.conf"
        try "[supervisorctl]\nserverurl = unix://\(d.dir.path)/m.sock\n".write(toFile: client, atomically: true, encoding: .utf8)
        let r = try run(minderctlPath, ["-c", client, "status", "x"])
        #expect(r.status == 0 && r.stdout.contains("RUNNING"), "\(r.stdout)\(r.stderr)")
        #expect(try d.stop() == 0)
    }

    @Test func helpVersionAndUnknownCommands() throws {
        let d = try DaemonHarness("[unix_http_server]\nfile=%(here)s/m.sock\n[program:x]\ncommand=sleep 1000\nstartsecs=0\n")
        try d.waitForLog("success: x entered RUNNING")
        func ctl(_ args: String...) throws -> RunResult { try run(minderctlPath, ["-c", d.configPath] + args) }
        #expect(try ctl("help", "start").stdout.hasPrefix("start <name> [...]\t"))
        #expect(try ctl("help", "nosuch").stdout == "*** No help on nosuch\n")
        let unknown = try ctl("nosuchcommand")
        #expect(unknown.status == 1 && unknown.stdout == "*** Unknown syntax: nosuchcommand\n", "supervisorctl's exit status")
        for flag in ["-v", "--version"] { #expect(try run(minderctlPath, [flag]).stdout == "0.1.0\n") }
        // -i: the command, then the shell (which ends at the end of its input).
        let interactive = try ctl("-i", "pid", "x")
        #expect(interactive.stdout.hasPrefix("\(try d.pid(of: "x"))\n"), "\(interactive.stdout)")
        #expect(try d.stop() == 0)
    }

    /// No server named anywhere: supervisorctl's default, http://localhost:9001.
    @Test func theDefaultServerIsSupervisorctls() throws {
        let dir = try TemporaryDirectory()
        try "[supervisord]\n[program:x]\ncommand=sleep 1\n".write(toFile: dir.path + "/m.conf", atomically: true, encoding: .utf8)
        let r = try run(minderctlPath, ["-c", dir.path + "/m.conf", "status"])
        #expect(r.stderr.contains("http://localhost:9001"), "\(r.stdout)\(r.stderr)")
    }
}
