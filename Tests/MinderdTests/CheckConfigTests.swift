import Foundation
import MinderConfig
import Testing

/// The real minderd binary on real files.
@Suite struct CheckConfigTests {
    @Test func exampleConfigIsValid() throws {
        let r = try run(minderdPath, ["--check-config", "-c", packageRoot.path + "/examples/minder.conf"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("backend  worker_02  20        /bin/sh -c"))
        #expect(r.stdout.contains("OK, 5 process(es) in 2 group(s)"))
        // The container example (examples/Dockerfile) too, with --strict: no warning either.
        let container = try run(minderdPath, ["--check-config", "--strict", "-c", packageRoot.path + "/examples/container.conf"])
        #expect(container.status == 0 && container.stdout.contains("OK, 2 process(es) in 2 group(s)"), "\(container.stdout)\(container.stderr)")
    }

    /// The container options: their values checked, with file and line.
    @Test func shutdownWhenAndPrefixes() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/c.conf"
        try "[supervisord]\n[program:web]\ncommand=/bin/true\nshutdown_when=sometimes\nredirect_stderr=true\nstderr_prefix=x\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run(minderdPath, ["--check-config", "-c", path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(path):4: [program:web] shutdown_when: 'sometimes' is not never, exited or fatal"), "\(r.stderr)")
        #expect(r.stderr.contains("\(path):6: [program:web] stderr_prefix: warning: ignored: redirect_stderr=true"), "\(r.stderr)")
    }

    @Test func errorsNameFileLineSectionOptionAndExit2() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/bad.conf"
        try "[supervisord]\n[program:web]\ncommand=/bin/true\nautostart=maybe\nstopsignal=NOPE\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run(minderdPath, ["--check-config", "-c", path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(path):4: [program:web] autostart: 'maybe' is not a boolean"))
        #expect(r.stderr.contains("\(path):5: [program:web] stopsignal: 'NOPE' is not a signal name"))
        #expect(r.stderr.contains("2 error(s); nothing was started"))
        #expect(r.stdout.isEmpty)
    }

    @Test func jsonVerdict() throws {
        let dir = try TemporaryDirectory()
        let good = dir.path + "/good.conf", bad = dir.path + "/bad.conf"
        try "[supervisord]\n[program:w]\ncommand=sleep 9\nnumprocs=2\nprocess_name=w%(process_num)d\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "[supervisord]\n[program:w]\nautostart=yes\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let ok = try run(minderdPath, ["--check-config", "--json", "-c", good])
        #expect(ok.status == 0)
        let verdict = try JSONValue.parse(ok.stdout)
        #expect(verdict["ok"] == .bool(true))
        let processes = verdict["groups"]?.arrayValue?.first?["processes"]?.arrayValue ?? []
        #expect(processes.map { $0["name"] } == [.string("w0"), .string("w1")])
        #expect(processes.first?["argv"] == .array([.string("sleep"), .string("9")]))
        #expect(processes.first?["stopsignal"] == .string("TERM") && processes.first?["stdout_logfile"] == .string("auto"))

        let no = try run(minderdPath, ["--check-config", "--json", "-c", bad])
        #expect(no.status == 2)
        let rejected = try JSONValue.parse(no.stdout)
        #expect(rejected["ok"] == .bool(false))
        #expect(rejected["error"]?.stringValue == "\(bad):2: [program:w] command: [program:w] needs a command= line")
    }

    @Test func strictTurnsWarningsIntoErrors() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/typo.conf"
        try "[supervisord]\n[program:w]\ncommand=sleep 9\nautostrat=false\n".write(toFile: path, atomically: true, encoding: .utf8)
        let lenient = try run(minderdPath, ["--check-config", "-c", path])
        #expect(lenient.status == 0)
        #expect(lenient.stderr.contains("\(path):4: [program:w] autostrat: warning: unknown option, ignored (did you mean autostart?)"))
        let strict = try run(minderdPath, ["--check-config", "--strict", "-c", path])
        #expect(strict.status == 2)
        #expect(strict.stderr.contains("\(path):4: [program:w] autostrat: unknown option, ignored (did you mean autostart?)"))
    }

    @Test func searchesForMinderConfBeforeSupervisordConf() throws {
        let dir = try TemporaryDirectory()
        try "[supervisord]\n[program:from_supervisord]\ncommand=a\n".write(toFile: dir.path + "/supervisord.conf", atomically: true, encoding: .utf8)
        let first = try run(minderdPath, ["--check-config"], cwd: dir.path)
        #expect(first.stdout.contains("from_supervisord"))
        try "[supervisord]\n[program:from_minder]\ncommand=a\n".write(toFile: dir.path + "/minder.conf", atomically: true, encoding: .utf8)
        let second = try run(minderdPath, ["--check-config"], cwd: dir.path)
        #expect(second.stdout.contains("from_minder"), "\(second.stderr)")
    }
}
