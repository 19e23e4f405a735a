import Foundation
import Testing
@testable import MinderConfig

@Suite struct OptionTests {
    @Test func programDefaultsAreSupervisords() throws {
        let c = try config("[supervisord]\n[program:web]\ncommand=/usr/bin/web --port 80\n")
        let p = try #require(c.process("web"))
        #expect(p.argv == ["/usr/bin/web", "--port", "80"])
        #expect(p.priority == 999 && p.autostart && p.autorestart == .unexpected)
        #expect(p.startsecs == 1 && p.startretries == 3 && p.exitcodes == [0])
        #expect(p.stopsignal == 15 && p.stopwaitsecs == 10 && !p.stopasgroup && !p.killasgroup)
        #expect(p.user == nil && p.uid == nil && p.directory == nil && p.umask == nil && p.serverurl == nil)
        #expect(!p.redirectStderr && p.environment.isEmpty)
        for log in [p.stdout, p.stderr] {
            #expect(log == ChannelLog(target: .auto, maxBytes: 52_428_800, backups: 10, captureMaxBytes: 0,
                                      eventsEnabled: false, syslog: false))
        }
        #expect(c.groups.map(\.name) == ["web"] && c.groups[0].kind == .program && c.groups[0].priority == 999)
    }

    @Test func everyProgramOption() throws {
        let c = try config("""
            [supervisord]
            [program:api]
            command = /srv/api/bin/api -c "/srv/api/conf file.yml"
            process_name = %(program_name)s-%(process_num)d
            numprocs = 2
            numprocs_start = 5
            priority = -5
            autostart = no
            startsecs = 0
            startretries = 10
            autorestart = true
            exitcodes = 0, 2,255
            stopsignal = sigquit
            stopwaitsecs = 600
            stopasgroup = true
            killasgroup = true
            user = www-data
            redirect_stderr = false
            stdout_logfile = /var/log/api-%(process_num)d.log
            stdout_logfile_maxbytes = 1KB
            stdout_logfile_backups = 0
            stdout_capture_maxbytes = 50 mb
            stdout_events_enabled = on
            stdout_syslog = 1
            stderr_logfile = NONE
            stderr_logfile_maxbytes = 2GB
            stderr_logfile_backups = 3
            stderr_capture_maxbytes = 10
            stderr_events_enabled = True
            stderr_syslog = off
            environment = A="1",B=two,C='x y'
            directory = /srv/api
            umask = 027
            serverurl = unix:///tmp/x.sock
            """)
        #expect(c.processes.map(\.name) == ["api-5", "api-6"])
        let p = try #require(c.process("api-6"))
        #expect(p.processNum == 6)
        #expect(p.argv == ["/srv/api/bin/api", "-c", "/srv/api/conf file.yml"])
        #expect(p.priority == -5 && !p.autostart && p.autorestart == .always)
        #expect(p.startsecs == 0 && p.startretries == 10 && p.exitcodes == [0, 2, 255])
        #expect(p.stopsignal == 3 && p.stopwaitsecs == 600 && p.stopasgroup && p.killasgroup)
        #expect(p.user == "www-data" && p.uid == 33)
        #expect(p.stdout == ChannelLog(target: .path("/var/log/api-6.log"), maxBytes: 1024, backups: 0,
                                       captureMaxBytes: 50 * 1024 * 1024, eventsEnabled: true, syslog: true))
        #expect(p.stderr == ChannelLog(target: .none, maxBytes: 2 * 1024 * 1024 * 1024, backups: 3,
                                       captureMaxBytes: 10, eventsEnabled: true, syslog: false))
        #expect(p.environment == ["A": "1", "B": "two", "C": "x y"])
        #expect(p.directory == "/srv/api" && p.umask == 0o027 && p.serverurl == "unix:///tmp/x.sock")
    }

    @Test func supervisordSection() throws {
        let c = try config("""
            [supervisord]
            logfile = /var/log/minderd.log
            logfile_maxbytes = 0
            logfile_backups = 2
            loglevel = DEBUG
            pidfile = /tmp/minderd.pid
            nodaemon = true
            minfds = 40000
            minprocs = 500
            umask = 002
            user = app
            directory = /srv
            identifier = box1
            childlogdir = /var/log
            nocleanup = yes
            environment = LANG="C.UTF-8",CONF=%(here)s
            """)
        let s = c.supervisord
        #expect(s.logfile == "/var/log/minderd.log" && s.logfileMaxBytes == 0 && s.logfileBackups == 2)
        #expect(s.loglevel == "debug" && s.pidfile == "/tmp/minderd.pid" && s.nodaemon)
        #expect(s.minfds == 40000 && s.minprocs == 500 && s.umask == 0o002)
        #expect(s.user == "app" && s.uid == 1000 && s.directory == "/srv" && s.identifier == "box1")
        #expect(s.childlogdir == "/var/log" && s.nocleanup && s.environment == ["LANG": "C.UTF-8", "CONF": "/etc/minder"])
    }

    @Test func syslogServer() throws {
        let c = try config("[supervisord]\nsyslog_server = udp://logs.example:514\n[program:a]\ncommand=x\n[program:b]\ncommand=x\nsyslog_server=udp://[::1]:5514\n")
        #expect(c.supervisord.syslogServer == SyslogServer(host: "logs.example", port: 514))
        #expect(c.process("a")?.syslogServer == SyslogServer(host: "logs.example", port: 514), "inherited")
        #expect(c.process("b")?.syslogServer == SyslogServer(host: "::1", port: 5514))
        for bad in ["tcp://h:514", "udp://h", "udp://h:0", "udp://:514"] {
            #expect(load("[supervisord]\nsyslog_server = \(bad)\n").config == nil, "\(bad)")
        }
    }

    @Test func logTimestamps() throws {
        let c = try config("""
            [supervisord]
            [program:a]
            command=x
            stdout_log_timestamps = Yes
            stderr_log_timestamps = 0
            [eventlistener:l]
            command=x
            events=TICK_5
            stderr_log_timestamps = on
            [fcgi-program:f]
            command=x
            socket=tcp://127.0.0.1:9000
            stdout_log_timestamps = true
            [program:b]
            command=x
            """)
        #expect(c.process("a")?.stdout.timestamps == true && c.process("a")?.stderr.timestamps == false)
        #expect(c.process("l")?.stderr.timestamps == true && c.process("f")?.stdout.timestamps == true)
        #expect(c.process("b")?.stdout.timestamps == false && c.process("b")?.stderr.timestamps == false, "off by default")
        let clean = load("[supervisord]\n[program:a]\ncommand=x\nstdout_log_timestamps=true\n")
        #expect(clean.warnings.isEmpty, "a known option: \(clean.warnings)")
        let bad = load("[supervisord]\n[program:a]\ncommand=x\nstdout_log_timestamps=maybe\n")
        #expect(bad.config == nil && bad.errors.map(\.description).contains { $0.contains("[program:a] stdout_log_timestamps:") },
                "\(bad.errors)")
        let redirected = load("[supervisord]\n[program:a]\ncommand=x\nredirect_stderr=true\nstderr_log_timestamps=true\n")
        #expect(redirected.warnings.map(\.description).contains { $0.contains("stderr_log_timestamps: warning: ignored: redirect_stderr=true") },
                "\(redirected.warnings)")
    }

    @Test func dependsOn() throws {
        let c = try config("""
            [supervisord]
            [program:db]
            command=x
            [program:migrate]
            command=x
            startsecs=0
            depends_on = db
            [group:web]
            programs=app,worker
            [program:app]
            command=x
            numprocs=2
            process_name=app_%(process_num)s
            depends_on = migrate:completed , db:HEALTHY
            [program:worker]
            command=x
            depends_on=web:app_1:started, app
            [program:cron]
            command=x
            depends_on=web
            """)
        #expect(c.process("migrate")?.dependsOn == [Dependency(name: "db", condition: .ready)], "ready by default")
        #expect(c.process("app_0")?.dependsOn == [Dependency(name: "migrate", condition: .completed), Dependency(name: "db", condition: .healthy)])
        #expect(c.process("worker")?.dependsOn == [Dependency(name: "web:app_1", condition: .started), Dependency(name: "app", condition: .ready)])
        #expect(c.process("db")?.dependsOn == [])
        // A group means its processes, a program every process its section makes, group:name one.
        let processes = c.groups.flatMap { g in g.processes.map { (group: g.name, config: $0) } }
        let graph = DependencyGraph(processes)
        let index = { (name: String) in processes.firstIndex { $0.config.name == name }! }
        let waitsFor = { (name: String) in Set(graph.edges[index(name)].map { processes[$0.process].config.name }) }
        #expect(waitsFor("worker") == ["app_0", "app_1"])
        #expect(waitsFor("cron") == ["app_0", "app_1", "worker"])
        #expect(waitsFor("app_1") == ["migrate", "db"])
        #expect(Set(graph.dependents[index("db")].map { processes[$0].config.name }) == ["migrate", "app_0", "app_1"])
        #expect(graph.problems.isEmpty)
        // A chain far longer than any stack a recursive walk would need.
        var chain = "[supervisord]\n[program:p0]\ncommand=x\n"
        for n in 1..<2000 { chain += "[program:p\(n)]\ncommand=x\ndepends_on=p\(n - 1)\n" }
        #expect(load(chain + "[program:p0_]\ncommand=x\n").config != nil)
        let looped = load(chain.replacingOccurrences(of: "[program:p0]\ncommand=x\n", with: "[program:p0]\ncommand=x\ndepends_on=p1999\n"))
        #expect(looped.errors.map(\.description).contains { $0.hasSuffix("a dependency cycle: p0 -> p1999 -> p1998 -> p1997 -> p1996 -> p1995 -> ... (2000 in all) -> p1 -> p0") }, "\(looped.errors.prefix(2))")
    }

    @Test func leftoverChildren() throws {
        #expect(try config("[supervisord]\n").supervisord.leftoverChildren == .stop)
        #expect(try config("[supervisord]\nleftover_children = Leave\n").supervisord.leftoverChildren == .leave)
        let bad = load("[supervisord]\nleftover_children = kill\n")
        #expect(bad.config == nil && bad.errors.map(\.description).contains { $0.hasSuffix("leftover_children: 'kill' is not stop or leave") },
                "\(bad.errors)")
    }

    @Test func supervisordDefaults() throws {
        let s = try config("[supervisord]\n").supervisord
        #expect(s.logfile == "supervisord.log" && s.pidfile == "supervisord.pid" && s.childlogdir == "/tmp")
        #expect(s.logfileMaxBytes == 52_428_800 && s.logfileBackups == 10 && s.loglevel == "info")
        #expect(s.minfds == 1024 && s.minprocs == 200 && s.umask == 0o022 && s.identifier == "supervisor")
        #expect(!s.nodaemon && !s.nocleanup && s.user == nil && s.directory == nil)
    }

    @Test func expansions() throws {
        let c = try config("""
            [supervisord]
            environment = SHARED="s"
            [program:w]
            command = %(here)s/run %(program_name)s %(group_name)s %(host_node_name)s %(process_num)03d/%(numprocs)d %(ENV_HOME)s %(ENV_SHARED)s %(ENV_OWN)s 100%%
            process_name = w%(process_num)x
            numprocs = 11
            environment = OWN="o%(process_num)d"
            """)
        #expect(c.processes.count == 11)
        let p = try #require(c.process("wa"))
        #expect(p.command == "/etc/minder/run w w box 010/11 /root s o10 100%")
        #expect(p.environment == ["SHARED": "s", "OWN": "o10"])
    }

    @Test func programEnvironmentOverridesSupervisords() throws {
        let c = try config("""
            [supervisord]
            environment = A="global",B="global"
            [program:p]
            command = x
            environment = B="own"
            """)
        #expect(c.process("p")?.environment == ["A": "global", "B": "own"])
    }

    @Test func heterogeneousGroup() throws {
        let c = try config("""
            [supervisord]
            [program:a]
            command = a
            priority = 5
            [program:b]
            command = b %(group_name)s
            [program:c]
            command = c
            [group:backend]
            programs = b, a
            priority = 1
            """)
        #expect(c.groups.map(\.name) == ["backend", "c"])
        let g = c.groups[0]
        #expect(g.kind == .group && g.priority == 1)
        #expect(g.processes.map(\.name) == ["b", "a"], "members keep the order of programs=")
        #expect(g.processes.map(\.priority) == [999, 5], "each keeps its own priority")
        #expect(g.processes[0].command == "b backend")
    }

    @Test func groupsSortByPriorityThenName() throws {
        let c = try config("""
            [supervisord]
            [program:zeta]
            command = z
            priority = 1
            [program:beta]
            command = b
            [program:alpha]
            command = a
            """)
        #expect(c.groups.map(\.name) == ["zeta", "alpha", "beta"])
    }

    @Test func includesAreReadInSortedOrderRelativeToTheMainFile() throws {
        let result = load("""
            [supervisord]
            [include]
            files = conf.d/*.conf extra.ini missing/*.conf
            """, others: [
                "/etc/minder/conf.d/b.conf": "[program:b]\ncommand = %(here)s/b\n",
                "/etc/minder/conf.d/a.conf": "[program:a]\ncommand = a\n[program:b]\ncommand=overridden\n",
                "/etc/minder/conf.d/.hidden.conf": "[program:hidden]\ncommand = h\n",
                "/etc/minder/extra.ini": "[program:e]\ncommand = e\n",
            ])
        let c = try #require(result.config)
        #expect(c.includedFiles == ["/etc/minder/conf.d/a.conf", "/etc/minder/conf.d/b.conf", "/etc/minder/extra.ini"])
        #expect(c.processes.map(\.name).sorted() == ["a", "b", "e"])
        #expect(c.process("b")?.command == "/etc/minder/conf.d/b", "b.conf, read last, wins; %(here)s is its own directory")
        let warning = try #require(result.warnings.first)
        #expect(warning.description.hasPrefix("/etc/minder/minder.conf:3: [include] files: warning: no file matches"))
    }

    @Test func includedFilesCannotIncludeFurther() throws {
        let result = load("[supervisord]\n[include]\nfiles = a.conf\n", others: [
            "/etc/minder/a.conf": "[include]\nfiles = b.conf\n",
            "/etc/minder/b.conf": "[program:b]\ncommand = b\n",
        ])
        #expect(result.config?.processes.isEmpty == true)
        #expect(result.warnings.map(\.description) == [
            "/etc/minder/a.conf:2: [include] files: warning: an included file cannot include further files; this line is ignored",
        ])
    }

    @Test func servers() throws {
        let result = load("""
            [supervisord]
            [unix_http_server]
            file = %(here)s/../run/minder.sock
            chmod = 0770
            chown = app:www-data
            username = admin
            password = {SHA}0123
            [inet_http_server]
            port = *:9001
            [supervisorctl]
            serverurl = unix://%(here)s/x.sock
            username = admin
            password = secret
            prompt = box
            history_file = ~/.minderctl_history
            """)
        let c = try #require(result.config)
        #expect(c.unixServer == UnixServer(section: "unix_http_server", file: "/etc/run/minder.sock", chmod: 0o770,
                                           chownUID: 1000, chownGID: 33, username: "admin", password: "{SHA}0123"))
        #expect(c.servers.first == .inet(InetServer(section: "inet_http_server", host: "", port: 9001, username: nil, password: nil)))
        #expect(c.control == ControlClientSettings(serverurl: "unix:///etc/minder/x.sock", username: "admin",
                                                   password: "secret", prompt: "box", historyFile: "~/.minderctl_history"))
        #expect(result.warnings.contains { $0.section == "inet_http_server" && $0.message.contains("every interface without a username and password") })
        let local = load("[supervisord]\n[inet_http_server]\nport = 127.0.0.1:9001\n")
        #expect(local.warnings.isEmpty && local.config?.inetServers.first?.host == "127.0.0.1")
        let v6 = load("[supervisord]\n[inet_http_server]\nport = [::1]:9001\n")
        #expect(v6.warnings.isEmpty && v6.config?.inetServers.first?.host == "[::1]")
    }

    /// What minderctl reads: the socket and credentials, with the programs left unread (even broken ones).
    @Test func clientSettingsWithoutPrograms() throws {
        let text = """
            [supervisord]
            [unix_http_server]
            file = %(here)s/m.sock
            [supervisorctl]
            username = admin
            [program:a]
            command = sleep %(ENV_NOSUCH)s
            numprocs = 3
            process_name = a%(process_num)d
            """
        #expect(load(text).config == nil, "the full load reports the program's bad expansion")
        let result = load(text, programs: false)
        let c = try #require(result.config)
        #expect(c.unixServer?.file == "/etc/minder/m.sock" && c.control.username == "admin")
        #expect(c.groups.isEmpty && result.diagnostics.isEmpty)
    }

    @Test func eventListenerAndFastCGISections() throws {
        let c = try config("""
            [supervisord]
            [eventlistener:watch]
            command = watcher
            events = PROCESS_STATE, tick_60
            [fcgi-program:php]
            command = php-cgi
            socket = unix:///run/%(program_name)s.sock
            socket_owner = www-data
            socket_mode = 0660
            user = www-data
            [fcgi-program:tcp]
            command = app
            socket = tcp://LocalHost:9000
            socket_backlog = 128
            """)
        let watch = try #require(c.groups.first { $0.name == "watch" })
        #expect(watch.priority == -1 && watch.eventListener?.events == ["PROCESS_STATE", "TICK_60"])
        #expect(watch.eventListener?.bufferSize == 10)
        let php = try #require(c.groups.first { $0.name == "php" })
        #expect(php.fcgiSocket == FastCGISocket(url: "unix:///run/php.sock", owner: (33, -1), mode: 0o660, backlog: nil))
        let tcp = try #require(c.groups.first { $0.name == "tcp" })
        #expect(tcp.fcgiSocket == FastCGISocket(url: "tcp://localhost:9000", owner: nil, mode: nil, backlog: 128))
    }

    @Test func valueSpellingsSupervisordAccepts() throws {
        let c = try config("""
            [supervisord]
            [program:a]
            Command: a
            autostart = YES
            autorestart = Unexpected
            stopsignal = 9
            stdout_logfile = off
            stderr_logfile = Auto
            [program: spaced ]
            command = s
            stopsignal = hup
            stdout_logfile = syslog
            """)
        let a = try #require(c.process("a"))
        #expect(a.command == "a" && a.autostart && a.autorestart == .unexpected && a.stopsignal == 9)
        #expect(a.stdout.target == .none && a.stderr.target == .auto)
        let s = try #require(c.process("spaced"))
        #expect(s.stopsignal == 1 && s.stdout.target == .none && s.stdout.syslog)
    }

    @Test func redirectStderrDropsTheStderrLog() throws {
        let result = load("[supervisord]\n[program:a]\ncommand = a\nredirect_stderr = true\nstderr_logfile = /var/log/a.err\n")
        let a = try #require(result.config?.process("a"))
        #expect(a.redirectStderr && a.stderr.target == .none)
        #expect(result.warnings.map(\.description) == [
            "/etc/minder/minder.conf:5: [program:a] stderr_logfile: warning: ignored: redirect_stderr=true sends stderr to the stdout log",
        ])
    }

    @Test func anOptionReadTwiceIsReportedOnce() {
        let result = load("[supervisord]\n[program:g]\ncommand=x\npriority=z\n")
        #expect(result.errors.map(\.description) == ["/etc/minder/minder.conf:4: [program:g] priority: 'z' is not an integer"])
    }

    @Test func includeWarningsNameTheMainFilesLine() {
        let result = load("[supervisord]\n[include]\nfiles = conf.d/*.conf nomatch/*.conf\n", others: [
            "/etc/minder/conf.d/c.conf": "[include]\nfiles=x.conf\n",
        ])
        #expect(result.warnings.map(\.description).last == "/etc/minder/minder.conf:3: [include] files: warning: no file matches '/etc/minder/nomatch/*.conf'")
    }

    @Test func killasgroupFollowsStopasgroup() throws {
        let c = try config("[supervisord]\n[program:a]\ncommand = a\nstopasgroup = true\n")
        #expect(c.process("a")?.killasgroup == true)
    }

    @Test func numprocsZeroGivesAnEmptyGroup() throws {
        let c = try config("[supervisord]\n[program:a]\ncommand = a\nnumprocs = 0\n")
        #expect(c.groups.count == 1 && c.processes.isEmpty)
    }

    @Test func defaultSectionAppliesEverywhere() throws {
        let c = try config("[DEFAULT]\nuser = app\n[supervisord]\n[program:a]\ncommand = a\n[program:b]\ncommand = b\n")
        #expect(c.processes.map(\.uid) == [1000, 1000] && c.supervisord.uid == 1000)
    }

    @Test func duplicateSectionsMergeLaterValuesWin() throws {
        let c = try config("[supervisord]\n[program:a]\ncommand = a\npriority = 10\n[program:a]\ncommand = b\n")
        #expect(c.process("a")?.command == "b" && c.process("a")?.priority == 10)
    }

    @Test func environmentQuirksMatchSupervisord() throws {
        let c = try config(#"""
            [supervisord]
            [program:a]
            command = a
            environment = A="x,y",B='',C=path/to.file,D=1;F="''nested''",E=two words
            """#)
        #expect(c.process("a")?.environment == ["A": "x,y", "B": "", "C": "path/to.file", "D": "1", "F": "nested", "E": "two"])
    }

    @Test func unknownThingsWarnWithTheirLineAndStrictRejects() throws {
        let result = load("""
            [supervisord]
            loglevl = debug
            [program:a]
            command = a
            autostrat = true
            stdout_logfile_max_bytes = 1MB
            [programs:typo]
            x = 1
            """)
        #expect(result.config != nil)
        #expect(result.warnings.map(\.description) == [
            "/etc/minder/minder.conf:2: [supervisord] loglevl: warning: unknown option, ignored (did you mean loglevel?)",
            "/etc/minder/minder.conf:5: [program:a] autostrat: warning: unknown option, ignored (did you mean autostart?)",
            "/etc/minder/minder.conf:6: [program:a] stdout_logfile_max_bytes: warning: unknown option, ignored (did you mean stdout_logfile_maxbytes?)",
            "/etc/minder/minder.conf:7: [programs:typo]: warning: unknown section, ignored (did you mean [program:…]?)",
        ])
        let strict = result.strict()
        #expect(strict.config == nil && strict.errors.count == 4)
    }

    @Test func unclosedSectionHeaderIsAnOptionWithAHint() throws {
        let result = load("[supervisord]\n[program:web\ncommand = x\n")
        #expect(result.config?.processes.isEmpty == true)
        #expect(result.warnings.first?.description
            == "/etc/minder/minder.conf:2: [supervisord] [program: warning: looks like a section header without its closing ']'; read as an option and ignored")
    }

    @Test func leastPrivilegeOptions() throws {
        let c = try config("""
            [supervisord]
            no_new_privs = true
            [program:web]
            command = web
            user = www-data
            group = app
            capabilities = CAP_NET_BIND_SERVICE, net_raw
            rlimit_nofile = 4096
            rlimit_core = 0:unlimited
            rlimit_cpu = unlimited
            environment_file = %(here)s/web.env
            environment = B="program"
            [program:plain]
            command = plain
            no_new_privs = false
            """, others: ["/etc/minder/web.env": "# web\nA=1\nexport B='file'\nC=\"quoted \\\" value\"\n"])
        let web = try #require(c.process("web"))
        #expect(web.uid == 33 && web.gid == 1000 && web.group == "app")
        #expect(web.capabilities == [10, 13] && web.noNewPrivs)
        #expect(web.rlimits == [
            ResourceLimit(name: "nofile", resource: 7, soft: 4096, hard: 4096),
            ResourceLimit(name: "core", resource: 4, soft: 0, hard: -1),
            ResourceLimit(name: "cpu", resource: 0, soft: -1, hard: -1),
        ])
        #expect(web.environment == ["A": "1", "B": "program", "C": "quoted \" value"])
        #expect(c.process("plain")?.noNewPrivs == false && c.process("plain")?.capabilities == nil)
    }

    @Test func searchOrderPrefersMinderConf() {
        #expect(Array(ConfigSearch.candidates(executable: "/opt/minder/bin/minderd").prefix(6)) == [
            "/opt/minder/etc/minder.conf", "/opt/minder/etc/supervisord.conf",
            "/opt/minder/minder.conf", "/opt/minder/supervisord.conf",
            "minder.conf", "supervisord.conf",
        ])
        #expect(ConfigSearch.candidates(executable: "minderd").suffix(4) == [
            "/etc/minder.conf", "/etc/supervisord.conf", "/etc/supervisor/minder.conf", "/etc/supervisor/supervisord.conf",
        ])
        let fs = MemoryFileSystem(files: ["/etc/supervisord.conf": "", "/etc/supervisor/minder.conf": ""])
        #expect(ConfigSearch.find(executable: "/usr/bin/minderd", files: fs) == "/etc/supervisord.conf")
    }
}
