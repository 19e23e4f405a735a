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

    @Test func unknownOptionsAndStrayWordsAreRefused() throws {
        for (arguments, message) in [(["-x"], "unknown option '-x'"), (["-n", "extra"], "unexpected argument 'extra'")] {
            let r = try run(minderdPath, arguments)
            #expect(r.status == 2 && r.stderr.contains("minderd: \(message)"), "\(r.stderr)")
        }
    }

    /// getopt's grouped form, as supervisord takes it: `-nc FILE`.
    @Test func groupedShortOptions() throws {
        let dir = try TemporaryDirectory()
        try DaemonHarness.config("[program:x]\ncommand=sleep 1000\n").write(toFile: dir.path + "/m.conf", atomically: true, encoding: .utf8)
        let r = try run(minderdPath, ["--check-config", "-sc", dir.path + "/m.conf"])
        #expect(r.status == 0 && r.stdout.contains("OK, 1 process(es)"), "\(r.stdout)\(r.stderr)")
    }

    /// The completion scripts minderd writes, loaded by the shells themselves.
    @Test func completionScripts() throws {
        let bash = try run("/bin/bash", ["-c", """
            source <("$1" --generate-completion-script bash)
            COMP_WORDS=(minderd --logl); COMP_CWORD=1; _minderd; printf '%s\\n' "${COMPREPLY[@]}"
            COMP_WORDS=(minderd -e d); COMP_CWORD=2; _minderd; printf '%s\\n' "${COMPREPLY[@]}"
            """, "bash", minderdPath])
        #expect(bash.status == 0 && bash.stdout == "--loglevel\ndebug\n", "\(bash.stdout)\(bash.stderr)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/fish"), "scripts/setup installs fish"))
    func fishCompletion() throws {
        let fish = try run("/usr/bin/fish", ["--no-config", "-c", """
            "$argv[1]" --generate-completion-script fish | source
            complete -C 'minderd --logl'; complete -C 'minderd -e d'
            """, minderdPath])
        #expect(fish.status == 0 && fish.stdout.hasPrefix("--loglevel\tLog level") && fish.stdout.contains("\ndebug\tLog level"),
                "\(fish.stdout)\(fish.stderr)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/zsh"), "scripts/setup installs zsh"))
    func zshCompletionParses() throws {
        let dir = try TemporaryDirectory()
        let script = try run(minderdPath, ["--generate-completion-script", "zsh"])
        try script.stdout.write(toFile: dir.path + "/_minderd", atomically: true, encoding: .utf8)
        let zsh = try run("/usr/bin/zsh", ["-n", dir.path + "/_minderd"])
        #expect(script.stdout.hasPrefix("#compdef minderd\n") && zsh.status == 0, "\(zsh.stderr)")
    }
}
