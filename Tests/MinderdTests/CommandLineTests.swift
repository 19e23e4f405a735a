import Foundation
import MinderControl
import Testing

/// supervisord's command-line options, which replace the [supervisord] options of the same name.
@Suite struct CommandLineTests {
    @Test func versionFlags() throws {
        for flag in ["-v", "--version"] {
            let r = try run(minderdPath, [flag])
            #expect(r.status == 0 && r.stdout == "0.1.0\n", "\(flag): \(r.stdout)\(r.stderr)")
        }
    }

    @Test func optionsReplaceTheConfigsValues() throws {
        let d = try DaemonHarness("[unix_http_server]\nfile=%(here)s/m.sock\n[program:x]\ncommand=/bin/sh -c 'echo hi; exec sleep 1000'\nstartsecs=0\n",
                                  loglevel: "info", start: false)
        let log = d.dir.path + "/other.log", pidfile = d.dir.path + "/other.pid"
        d.arguments = ["-l", log, "-j", pidfile, "-i", "box-7", "-e", "debug", "-q", d.dir.path, "-k"]
        try d.launch()
        try waitUntil("the log at -l") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("success: x entered RUNNING")
        }
        #expect(try String(contentsOfFile: pidfile, encoding: .utf8) == "\(d.pid)\n")
        try waitUntil("-e debug: the output in the main log") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("DEBG 'x' stdout output")
        }
        #expect(!FileManager.default.fileExists(atPath: d.logPath), "the config's logfile is not used")
        let info = try ControlClient(socketPath: d.dir.path + "/m.sock").request("GET", "/api/v1/supervisor")
        #expect(try JSON.decode(SupervisorInfo.self, info.body).identifier == "box-7")
        #expect(try d.stop() == 0)
    }

    @Test func aBadValueIsAConfigError() throws {
        let dir = try TemporaryDirectory()
        try DaemonHarness.config("[program:x]\ncommand=sleep 1000\n").write(toFile: dir.path + "/m.conf", atomically: true, encoding: .utf8)
        let r = try run(minderdPath, ["-n", "-c", dir.path + "/m.conf", "-e", "loud"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("<command line>") && r.stderr.contains("loglevel: 'loud' is not a log level"), "\(r.stderr)")
    }
}
