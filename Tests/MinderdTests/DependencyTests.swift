import Foundation
import MinderControl
import Testing

/// depends_on=: starts that wait for what they need, in order, with real programs, minderctl,
/// supervisorctl and `update`; stops in reverse.
@Suite struct DependencyTests {
    let ctl = minderctlPath

    func status(_ d: DaemonHarness, _ name: String) -> ProcessStatus? { d.status(name) }

    /// Where `text` first appears in the main log (lines are in the order minderd did things).
    func line(_ d: DaemonHarness, _ text: String, last: Bool = false) -> Int? {
        let lines = d.log.split(separator: "\n")
        return last ? lines.lastIndex { $0.contains(text) } : lines.firstIndex { $0.contains(text) }
    }

    /// db (ready when the test says) -> migrate (a one-shot, `completed`) -> app -> worker, and a
    /// program with no dependency that starts at once.
    @Test func aChainStartsInOrderAndStopsInReverse() throws {
        let dir = try TemporaryDirectory()
        try ReadinessTests.rawSender.write(toFile: dir.path + "/sender.py", atomically: true, encoding: .utf8)
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:db]
            command=/usr/bin/python3 \(dir.path)/sender.py \(dir.path)/go
            startsecs=0
            ready=notify

            [program:migrate]
            command=/bin/sh -c 'echo migrated'
            startsecs=0
            autorestart=false
            depends_on=db

            [program:app]
            command=sleep 1000
            startsecs=0
            depends_on=migrate:completed

            [program:worker]
            command=sleep 1000
            startsecs=0
            depends_on=app

            [program:other]
            command=sleep 1000
            startsecs=0
            """)
        try d.waitForLog("success: other entered RUNNING")
        try d.waitForLog("success: db entered RUNNING")
        try waitUntil("the waits to show") { status(d, "worker")?.waiting_for == "app to be ready" }
        #expect(status(d, "migrate")?.waiting_for == "db to be ready")
        #expect(status(d, "app")?.waiting_for == "migrate to complete")
        let waiting = status(d, "app")
        #expect(waiting?.statename == "STOPPED" && waiting?.description == "waiting for migrate to complete", "\(String(describing: waiting))")
        #expect(line(d, "spawned: 'migrate'") == nil, "nothing waiting was started")
        // supervisorctl sees supervisord's STOPPED, with the reason as the description.
        let before = try run(venv + "/supervisorctl", ["-s", "unix://" + d.dir.path + "/m.sock", "status", "app"])
        #expect(before.stdout.contains("STOPPED") && before.stdout.contains("waiting for migrate to complete"), "\(before.stdout)")

        _ = FileManager.default.createFile(atPath: dir.path + "/go", contents: nil)
        try d.waitForLog("success: worker entered RUNNING")
        let ready = try #require(line(d, "ready: db")), migrated = try #require(line(d, "spawned: 'migrate'"))
        let completed = try #require(line(d, "exited: migrate (exit status 0; expected)"))
        let app = try #require(line(d, "spawned: 'app'")), appUp = try #require(line(d, "success: app entered RUNNING"))
        let worker = try #require(line(d, "spawned: 'worker'"))
        #expect(ready < migrated && migrated < completed && completed < app && appUp < worker, "\(d.log)")
        #expect(status(d, "worker")?.waiting_for == "")

        // A restart of what others depend on acts on it alone.
        let appPID = status(d, "app")?.pid
        #expect(try run(ctl, ["-c", d.configPath, "restart", "db"]).status == 0)
        #expect(status(d, "app")?.pid == appPID && status(d, "app")?.statename == "RUNNING")

        // Shutdown stops dependents first: worker, then app, then db (all of priority 999).
        #expect(try d.stop() == 0)
        let stops = ["worker", "app", "db"].map { line(d, "stopped: \($0) (", last: true) }
        #expect(stops.allSatisfy { $0 != nil } && stops == stops.sorted { $0! < $1! }, "\(d.log)")
    }

    /// A dependency that goes FATAL leaves its dependent waiting with the reason; starting the
    /// dependent starts what it needs (or, with --no-deps, is refused); a stop ends a wait.
    @Test func startsPullDependenciesAndFailuresAreShown() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:broken]
            command=/bin/false
            startsecs=1
            startretries=0

            [program:app]
            command=sleep 1000
            startsecs=0
            depends_on=broken

            [program:lazy]
            command=sleep 1000
            startsecs=0
            autostart=false

            [program:user]
            command=sleep 1000
            startsecs=0
            autostart=false
            depends_on=lazy

            [program:viaxmlrpc]
            command=sleep 1000
            startsecs=0
            autostart=false
            depends_on=lazy2:started

            [program:lazy2]
            command=sleep 1000
            startsecs=0
            autostart=false
            """)
        try d.waitForLog("gave up: broken entered FATAL state")
        try waitUntil("app to show why it waits") { status(d, "app")?.waiting_for == "broken, which is FATAL" }
        #expect(status(d, "app")?.description == "waiting for broken, which is FATAL")
        // Starting app starts broken again, which fails again: the start says why.
        let pulled = try run(ctl, ["-c", d.configPath, "start", "app"])
        #expect(pulled.status != 0 && pulled.stdout == "app: ERROR (spawn error: waiting for broken, which is FATAL)\n", "\(pulled.stdout)")
        #expect(d.log.split(separator: "\n").filter { $0.contains("spawned: 'broken'") }.count == 2)
        // A stop ends the wait.
        #expect(try run(ctl, ["-c", d.configPath, "stop", "app"]).stdout == "app: stopped\n")
        #expect(status(d, "app")?.waiting_for == "" && status(d, "app")?.description == "Not started")

        let refused = try run(ctl, ["-c", d.configPath, "start", "--no-deps", "user"])
        #expect(refused.status != 0 && refused.stdout == "user: ERROR (spawn error: needs lazy, which is STOPPED; nothing else was started (deps=false))\n", "\(refused.stdout)")
        #expect(status(d, "lazy")?.statename == "STOPPED" && status(d, "user")?.statename == "STOPPED")
        // A group start (user:*) pulls dependencies as a single start does.
        let started = try run(ctl, ["-c", d.configPath, "start", "user:*"])
        #expect(started.status == 0 && started.stdout == "user: started\n", "\(started.stdout)")
        #expect(status(d, "lazy")?.statename == "RUNNING" && status(d, "user")?.statename == "RUNNING")
        let lazy = try #require(line(d, "success: lazy entered RUNNING")), user = try #require(line(d, "spawned: 'user'"))
        #expect(lazy < user)
        // XML-RPC's startProcess (supervisorctl's start) does the same.
        let xml = try run(venv + "/supervisorctl", ["-s", "unix://" + d.dir.path + "/m.sock", "start", "viaxmlrpc"])
        #expect(xml.stdout == "viaxmlrpc: started\n", "\(xml.stdout)\(xml.stderr)")
        #expect(status(d, "lazy2")?.statename == "RUNNING")
        #expect(try d.stop() == 0)
    }

    /// cache (priority 1000, RUNNING after a second) and web (priority 1, so first unless it
    /// waits), with `webOptions` for web.
    static func cacheAndWeb(_ webOptions: String) -> String {
        """
        [program:cache]
        command=sleep 1000
        startsecs=1
        priority=1000

        [program:web]
        command=sleep 1000
        startsecs=0
        priority=1
        \(webOptions)
        """
    }

    /// Programs started together have their clones made on spawn threads: a `started` dependency
    /// whose spawn is still out is not counted until its exec is known, and here it fails (its
    /// directory is missing), so what needs it waits, while the rest of the start goes on.
    @Test func aDependencyWhoseExecFailsInTheSameStartIsNotCountedAsStarted() throws {
        let dir = try TemporaryDirectory()
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:base]
            command=sleep 1000
            directory=\(dir.path)/missing
            startsecs=0
            startretries=0
            priority=1

            [program:other]
            command=sleep 1000
            startsecs=0
            priority=2

            [program:app]
            command=sleep 1000
            startsecs=0
            priority=3
            depends_on=base:started
            """)
        try d.waitForLog("gave up: base entered FATAL state")
        try d.waitForLog("success: other entered RUNNING state")
        #expect(line(d, "spawnerr: couldn't chdir to \(dir.path)/missing") != nil, "\(d.log)")
        #expect(line(d, "spawned: 'app'") == nil, "\(d.log)")
        #expect(status(d, "app")?.waiting_for.contains("base") == true, "\(String(describing: status(d, "app")))")
        #expect(try d.stop() == 0)
    }

    /// SIGHUP reads the config anew: an edge added there orders the restart (web after cache,
    /// against priority), and an edge removed lets its program start at once.
    @Test func aReloadTakesAddedAndRemovedEdges() throws {
        let programs = { (webDeps: String, appDeps: String) in Self.cacheAndWeb(webDeps) + """

            [program:app]
            command=sleep 1000
            startsecs=0
            \(appDeps)
            """ }
        let d = try DaemonHarness(programs("", "depends_on=cache"))
        try d.waitForLog("success: app entered RUNNING")
        #expect(try #require(line(d, "success: cache entered RUNNING")) < (try #require(line(d, "spawned: 'app'"))))
        try DaemonHarness.config(programs("depends_on=cache", ""), loglevel: "debug").write(toFile: d.configPath, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        try d.waitForLog("reloaded ")
        try d.waitForLog("success: web entered RUNNING", count: 2)
        try d.waitForLog("success: app entered RUNNING", count: 2)
        let reloaded = try #require(line(d, "reloaded "))
        let lines = d.log.split(separator: "\n").map(String.init)
        let after = { (text: String) in lines.indices.first { $0 > reloaded && lines[$0].contains(text) } }
        let cache = try #require(after("success: cache entered RUNNING")), web = try #require(after("spawned: 'web'"))
        let app = try #require(after("spawned: 'app'"))
        #expect(cache < web, "web now waits for cache")
        #expect(app < cache, "app no longer does")
        #expect(try d.stop() == 0)
    }

    /// `update` adds a program whose dependency already runs (it starts) and one whose
    /// dependency is new too (both start, in order).
    @Test func updateHandlesNewEdges() throws {
        let base = """
            [unix_http_server]
            file=%(here)s/m.sock

            [program:db]
            command=sleep 1000
            startsecs=0
            """
        let d = try DaemonHarness(base)
        try d.waitForLog("success: db entered RUNNING")
        try DaemonHarness.config(base + """

            [program:app]
            command=sleep 1000
            startsecs=0
            depends_on=db

            """ + Self.cacheAndWeb("depends_on=cache")).write(toFile: d.configPath, atomically: true, encoding: .utf8)
        let update = try run(ctl, ["-c", d.configPath, "update"])
        #expect(update.status == 0, "\(update.stdout)")
        try d.waitForLog("success: web entered RUNNING")
        try d.waitForLog("success: app entered RUNNING")
        let cache = try #require(line(d, "success: cache entered RUNNING")), web = try #require(line(d, "spawned: 'web'"))
        #expect(cache < web, "web (priority 1) waited for cache (priority 1000)")
        #expect(try d.stop() == 0)
    }
}
