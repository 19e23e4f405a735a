import Foundation
import Testing
@testable import MinderConfig

/// A config that must be rejected, and the error that must name where.
struct Malformed: CustomTestStringConvertible, Sendable {
    var name: String
    var text: String
    /// `file:line: [section] option:` that must start the error.
    var prefix: String
    /// A piece of the message.
    var says: String
    var others: [String: String] = [:]
    var unreadable: Set<String> = []

    var testDescription: String { name }
}

let head = "[supervisord]\n"
let main = "/etc/minder/minder.conf"

let malformedConfigs: [Malformed] = [
    Malformed(name: "text before any section", text: "nodaemon=true\n[supervisord]\n",
              prefix: "\(main):1:", says: "before the first [section]"),
    Malformed(name: "a line that is neither option nor header", text: head + "[program:a]\ncommand=a\njust words\n",
              prefix: "\(main):4:", says: "expected `option = value`"),
    Malformed(name: "bad boolean (comment without a space)", text: head + "[program:web]\ncommand=a\nautostart=true;start it\n",
              prefix: "\(main):4: [program:web] autostart:", says: "'true;start it' is not a boolean"),
    Malformed(name: "bad byte size", text: head + "[program:web]\ncommand=a\nstdout_logfile_maxbytes=50MiB\n",
              prefix: "\(main):4: [program:web] stdout_logfile_maxbytes:", says: "not a byte size"),
    Malformed(name: "bad signal name", text: head + "[program:web]\ncommand=a\nstopsignal=GRACEFUL\n",
              prefix: "\(main):4: [program:web] stopsignal:", says: "not a signal name"),
    Malformed(name: "signal number that does not exist", text: head + "[program:web]\ncommand=a\nstopsignal=40\n",
              prefix: "\(main):4: [program:web] stopsignal:", says: "not a valid signal number"),
    Malformed(name: "missing command", text: head + "\n[program:web]\nautostart=true\n",
              prefix: "\(main):3: [program:web] command:", says: "needs a command= line"),
    // Found by the config fuzz target (Tests/Fuzz/corpus/config/crash-*): they trapped.
    Malformed(name: "a format width that would overflow", text: head + "[program:x]\ncommand=x %(program_name)99999999999999999999s\n",
              prefix: "\(main):3: [program:x] command:", says: "width or precision above 65536"),
    Malformed(name: "numprocs_start at the top of the range", text: head + "[program:x]\ncommand=x\nnumprocs_start=9223372036854775807\n",
              prefix: "\(main):4: [program:x] numprocs_start:", says: "does not fit in a process number"),
    Malformed(name: "unknown interpolation name", text: head + "[program:w]\ncommand=w --id %(proces_num)s\n",
              prefix: "\(main):3: [program:w] command:", says: "did you mean %(process_num)s?"),
    Malformed(name: "unset environment variable", text: "[supervisord]\nlogfile=%(ENV_LOG_DIR)s/minder.log\n",
              prefix: "\(main):2: [supervisord] logfile:", says: "environment variable LOG_DIR is not set"),
    Malformed(name: "unsupported format character", text: head + "[program:b]\ncommand=tar czf /b/$(date +%Y).tgz /d\n",
              prefix: "\(main):3: [program:b] command:", says: "unsupported format character 'Y'"),
    Malformed(name: "bare %s", text: head + "[program:b]\ncommand=date +%s\n",
              prefix: "\(main):3: [program:b] command:", says: "whole table of expansions"),
    Malformed(name: "dangling percent", text: head + "[program:b]\ncommand=echo 100%\n",
              prefix: "\(main):3: [program:b] command:", says: "incomplete format"),
    Malformed(name: "numprocs without process_num", text: head + "[program:w]\ncommand=w\nnumprocs=4\n",
              prefix: "\(main):4: [program:w] numprocs:", says: "must contain %(process_num)"),
    Malformed(name: "stopasgroup without killasgroup", text: head + "[program:w]\ncommand=w\nstopasgroup=true\nkillasgroup=false\n",
              prefix: "\(main):5: [program:w] killasgroup:", says: "cannot be false when stopasgroup=true"),
    Malformed(name: "space in a program name", text: head + "[program:my app]\ncommand=w\n",
              prefix: "\(main):2: [program:my app]:", says: "may not contain ' '"),
    Malformed(name: "unknown user", text: head + "[program:w]\ncommand=w\nuser=sogo\n",
              prefix: "\(main):4: [program:w] user:", says: "no user named 'sogo'"),
    Malformed(name: "unknown supervisord user", text: "[supervisord]\nuser=olympia\n",
              prefix: "\(main):2: [supervisord] user:", says: "no user named 'olympia'"),
    Malformed(name: "exit code out of range", text: head + "[program:w]\ncommand=w\nexitcodes=0,256\n",
              prefix: "\(main):4: [program:w] exitcodes:", says: "not a list of exit codes"),
    Malformed(name: "umask that is not octal", text: head + "[program:w]\ncommand=w\numask=089\n",
              prefix: "\(main):4: [program:w] umask:", says: "not an octal number"),
    Malformed(name: "bad autorestart", text: head + "[program:w]\ncommand=w\nautorestart=maybe\n",
              prefix: "\(main):4: [program:w] autorestart:", says: "not an autorestart policy"),
    Malformed(name: "bad integer", text: head + "[program:w]\ncommand=w\npriority=high\n",
              prefix: "\(main):4: [program:w] priority:", says: "'high' is not an integer"),
    Malformed(name: "bad log level", text: "[supervisord]\nloglevel=verbose\n",
              prefix: "\(main):2: [supervisord] loglevel:", says: "not a log level"),
    Malformed(name: "unquoted @ in environment", text: head + "[program:api]\ncommand=a\nenvironment=DB=postgres://u:p@db/app\n",
              prefix: "\(main):4: [program:api] environment:", says: "quote values"),
    Malformed(name: "unclosed quote in environment", text: "[supervisord]\nenvironment=A=\"x\n",
              prefix: "\(main):2: [supervisord] environment:", says: "quote is not closed"),
    Malformed(name: "command cut by an inline comment", text: head + "[program:a]\ncommand=bash -c 'echo hi ; exec sleep 9'\n",
              prefix: "\(main):3: [program:a] command:", says: "' ;' or ' #' starts a comment"),
    Malformed(name: "log directory that does not exist", text: head + "[program:a]\ncommand=a\nstdout_logfile=/nonexistent/a.log\n",
              prefix: "\(main):4: [program:a] stdout_logfile:", says: "does not exist"),
    Malformed(name: "childlogdir that does not exist", text: "[supervisord]\nchildlogdir=/nonexistent\n",
              prefix: "\(main):2: [supervisord] childlogdir:", says: "not an existing directory"),
    Malformed(name: "no [supervisord] section", text: "[program:a]\ncommand=a\n",
              prefix: "\(main):", says: "there is no [supervisord] section"),
    Malformed(name: "[include] without files", text: head + "[include]\n;files=conf.d/*.conf\n",
              prefix: "\(main):2: [include] files:", says: "needs a files= line"),
    Malformed(name: "include of an unreadable file", text: head + "[include]\nfiles=secret.conf\n",
              prefix: "/etc/minder/secret.conf:", says: "cannot read included file: Permission denied",
              unreadable: ["/etc/minder/secret.conf"]),
    Malformed(name: "bad line in an included file", text: head + "[include]\nfiles=more.conf\n",
              prefix: "/etc/minder/more.conf:2:", says: "expected `option = value`",
              others: ["/etc/minder/more.conf": "[program:x]\ncommand x\n"]),
    Malformed(name: "group naming an unknown program", text: head + "[group:g]\nprograms=a,b\n[program:a]\ncommand=a\n",
              prefix: "\(main):3: [group:g] programs:", says: "no [program:b]"),
    Malformed(name: "socket without a file", text: head + "[unix_http_server]\nchmod=0700\n",
              prefix: "\(main):2: [unix_http_server] file:", says: "needs a file= line"),
    Malformed(name: "socket chown to an unknown user", text: head + "[unix_http_server]\nfile=/tmp/m.sock\nchown=zulip:zulip\n",
              prefix: "\(main):4: [unix_http_server] chown:", says: "no user named 'zulip'"),
    Malformed(name: "username without password", text: head + "[unix_http_server]\nfile=/tmp/m.sock\nusername=admin\n",
              prefix: "\(main):4: [unix_http_server] username:", says: "must be given together"),
    Malformed(name: "event listener without events", text: head + "[eventlistener:l]\ncommand=l\n",
              prefix: "\(main):2: [eventlistener:l] events:", says: "needs an events= line"),
    Malformed(name: "unknown event type", text: head + "[eventlistener:l]\ncommand=l\nevents=PROCESS_STATE,TOCK\n",
              prefix: "\(main):4: [eventlistener:l] events:", says: "unknown event type 'TOCK'"),
    Malformed(name: "fcgi-program without socket", text: head + "[fcgi-program:f]\ncommand=f\n",
              prefix: "\(main):2: [fcgi-program:f] socket:", says: "needs a socket= line"),
    Malformed(name: "unknown capability", text: head + "[program:w]\ncommand=w\ncapabilities=CAP_NET_BIND_SERVIC\n",
              prefix: "\(main):4: [program:w] capabilities:", says: "did you mean CAP_NET_BIND_SERVICE?"),
    Malformed(name: "unknown group", text: head + "[program:w]\ncommand=w\ngroup=nosuchgroup\n",
              prefix: "\(main):4: [program:w] group:", says: "no group named 'nosuchgroup'"),
    Malformed(name: "soft limit above hard", text: head + "[program:w]\ncommand=w\nrlimit_nofile=2048:1024\n",
              prefix: "\(main):4: [program:w] rlimit_nofile:", says: "above the hard limit"),
    Malformed(name: "missing environment file", text: head + "[program:w]\ncommand=w\nenvironment_file=/etc/none.env\n",
              prefix: "\(main):4: [program:w] environment_file:", says: "no such file"),
    Malformed(name: "dependency on nothing", text: head + "[program:app]\ncommand=a\ndepends_on=db\n",
              prefix: "\(main):4: [program:app] depends_on:", says: "'db' is no group, program or group:process"),
    Malformed(name: "dependency on itself", text: head + "[group:g]\nprograms=app,db\n[program:db]\ncommand=d\n[program:app]\ncommand=a\ndepends_on=db,g\n",
              prefix: "\(main):8: [program:app] depends_on:", says: "'g' includes this program itself"),
    Malformed(name: "dependency cycle", text: head + "[program:a]\ncommand=a\ndepends_on=b\n[program:b]\ncommand=b\ndepends_on=c:started\n[program:c]\ncommand=c\n\ndepends_on=a:healthy\n",
              prefix: "\(main):4: [program:a] depends_on:", says: "a dependency cycle: a -> b -> c -> a"),
    Malformed(name: "completed dependency that restarts", text: head + "[program:app]\ncommand=a\ndepends_on=migrate:completed\n[program:migrate]\ncommand=m\nautorestart=true\n",
              prefix: "\(main):4: [program:app] depends_on:", says: "migrate has autorestart=true"),
    Malformed(name: "dependency condition unknown", text: head + "[program:app]\ncommand=a\ndepends_on=db:up and running\n[program:db]\ncommand=d\n",
              prefix: "\(main):4: [program:app] depends_on:", says: "is not NAME or NAME:CONDITION"),
    Malformed(name: "invalid UTF-8", text: "[supervisord]\nidentifier=\u{FFFF}\n",
              prefix: "\(main):", says: "not valid UTF-8"),
]

@Suite struct MalformedTests {
    @Test(arguments: malformedConfigs)
    func rejectedWithItsLocation(_ m: Malformed) throws {
        var result = load(m.text, others: m.others, unreadable: m.unreadable)
        if m.name == "invalid UTF-8" {
            // A byte sequence no String can hold goes through the file system as is.
            let files = BadBytesFileSystem()
            let inputs = ConfigInputs(environment: [:], hostname: "box", accounts: TableAccounts(), files: files,
                                      workingDirectory: "/", uid: 0)
            result = ConfigLoader(inputs: inputs).load(path: main)
        }
        #expect(result.config == nil, "must be rejected")
        let errors = result.errors.map(\.description)
        #expect(errors.contains { $0.hasPrefix(m.prefix) && $0.contains(m.says) },
                "expected an error starting \(m.prefix.debugDescription) saying \(m.says.debugDescription), got \(errors)")
    }

    @Test func everyErrorIsReportedNotJustTheFirst() {
        let result = load("[supervisord]\nminfds=lots\n[program:a]\ncommand=a\nautostart=maybe\n[program:b]\nstartsecs=x\n")
        #expect(result.errors.map(\.description) == [
            "\(main):2: [supervisord] minfds: 'lots' is not an integer",
            "\(main):5: [program:a] autostart: 'maybe' is not a boolean (use true/false, yes/no, on/off or 1/0)",
            "\(main):7: [program:b] startsecs: 'x' is not an integer",
            "\(main):6: [program:b] command: [program:b] needs a command= line",
        ])
    }

    @Test func aNonRootMinderdCannotSwitchUsersOrGrantCapabilities() {
        let inputs = ConfigInputs(environment: [:], hostname: "box", accounts: TableAccounts(),
                                  files: MemoryFileSystem(files: [main: "[supervisord]\n[program:a]\ncommand=a\nuser=www-data\n[program:b]\ncommand=b\ncapabilities=CAP_KILL\n"]),
                                  workingDirectory: "/", uid: 1000)
        let result = ConfigLoader(inputs: inputs).load(path: main)
        #expect(result.errors.map(\.description) == [
            "\(main):4: [program:a] user: minderd runs as uid 1000 and cannot run programs as another user",
            "\(main):7: [program:b] capabilities: minderd runs as uid 1000 and cannot grant capabilities",
        ])
    }

    @Test func missingConfigFile() {
        let inputs = ConfigInputs(environment: [:], hostname: "box", accounts: TableAccounts(),
                                  files: MemoryFileSystem(files: [:]), workingDirectory: "/", uid: 0)
        let result = ConfigLoader(inputs: inputs).load(path: "/etc/none.conf")
        #expect(result.errors.map(\.description) == ["/etc/none.conf: could not find config file /etc/none.conf"])
    }

    @Test func includeMatchingNothingIsAWarningUnlessStrict() {
        let result = load(head + "[include]\nfiles=/etc/minder/conf.d/*.conf\n")
        #expect(result.config != nil)
        #expect(result.warnings.map(\.description) == [
            "\(main):3: [include] files: warning: no file matches '/etc/minder/conf.d/*.conf'",
        ])
        #expect(result.strict().errors.map(\.description) == [
            "\(main):3: [include] files: no file matches '/etc/minder/conf.d/*.conf'",
        ])
    }

    @Test func supervisorctlProblemsDoNotStopTheDaemon() {
        let result = load(head + "[supervisorctl]\nserverurl=unix://%(ENV_NOPE)s/x.sock\n")
        #expect(result.config != nil)
        #expect(result.warnings.count == 1)
    }
}

struct BadBytesFileSystem: ConfigFileSystem {
    func readFile(_ path: String) throws(FileReadError) -> [UInt8] { Array("[supervisord]\nidentifier=".utf8) + [0xFF, 0xFE, 0x0A] }
    func isDirectory(_ path: String) -> Bool { path == "/" || path == "/etc" || path == "/tmp" }
    func exists(_ path: String) -> Bool { true }
    func directoryEntries(_ path: String) -> [String]? { nil }
}
