import Foundation
import Testing

/// Users, groups, capabilities, no_new_privs and limits, read back from /proc of the running child.
@Suite(.serialized) struct PrivilegeTests {

    /// A port below 1024 that no other test uses at the same time.
    let port = 600 + Int(getpid() % 300)

    @Test(.enabled(if: geteuid() == 0, "users, groups and capabilities need root"))
    func capabilitiesUsersAndLimits() throws {
        let bind = "/usr/bin/python3 -c \"import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',\(port)));print('bound',flush=True);time.sleep(1000)\""
        let d = try DaemonHarness("""
            [program:rootdefault]
            command=sleep 1000
            startsecs=0

            [program:plain]
            command=sleep 1000
            user=nobody
            startsecs=0

            [program:binder]
            command=\(bind)
            user=nobody
            group=daemon
            capabilities=CAP_NET_BIND_SERVICE
            no_new_privs=true
            rlimit_nofile=512:1024
            rlimit_core=unlimited
            rlimit_nproc=300
            environment_file=%(here)s/env.list
            environment=OVERRIDDEN="program"
            startsecs=0

            [program:nocap]
            command=\(bind.replacingOccurrences(of: "\(port)", with: "\(port + 1)"))
            user=nobody
            startsecs=0
            autorestart=false
            startretries=0

            [program:narrowed]
            command=sleep 1000
            capabilities=CAP_KILL
            startsecs=0
            """, start: false)
        chmod(d.dir.path, 0o755)
        try "# from a file\nexport FROM_FILE=\"file value\"\nOVERRIDDEN=file\n".write(toFile: d.dir.path + "/env.list", atomically: true, encoding: .utf8)
        try d.launch()
        let own = procStatus(getpid())

        let root = procStatus(try d.pid(of: "rootdefault"))
        #expect(root["CapEff"] == own["CapEff"] && root["CapBnd"] == own["CapBnd"], "root keeps root's set")
        #expect(root["NoNewPrivs"] == "0")

        let plain = procStatus(try d.pid(of: "plain"))
        #expect(plain["Uid"] == "65534\t65534\t65534\t65534")
        for key in ["CapEff", "CapPrm", "CapInh", "CapAmb"] { #expect(plain[key] == "0000000000000000", "\(key) of a non-root program") }

        let binderPID = try d.pid(of: "binder")
        try waitUntil("binder to bind port \(port)") {
            let log = FileManager.default.enumerator(atPath: d.dir.path)?.compactMap { $0 as? String }.first { $0.hasPrefix("binder-stdout") }
            return log.flatMap { try? String(contentsOfFile: d.dir.path + "/" + $0, encoding: .utf8) } == "bound\n"
        }
        let binder = procStatus(binderPID)
        #expect(binder["Uid"] == "65534\t65534\t65534\t65534" && binder["Gid"] == "1\t1\t1\t1")
        #expect(binder["Groups"] == "1", "group= with nobody's own memberships (none): \(binder["Groups"] ?? "-")")
        #expect(plain["Groups"] == "65534", "the user's groups: \(plain["Groups"] ?? "-")")
        for key in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] { #expect(binder[key] == "0000000000000400", "\(key): \(binder[key] ?? "-")") }
        #expect(binder["NoNewPrivs"] == "1")
        let limits = try String(contentsOfFile: "/proc/\(binderPID)/limits", encoding: .utf8).split(separator: "\n")
        #expect(limits.contains { $0.hasPrefix("Max open files") && $0.contains(" 512 ") && $0.contains(" 1024 ") })
        #expect(limits.contains { $0.hasPrefix("Max core file size") && $0.split(separator: " ").filter { $0 == "unlimited" }.count == 2 })
        #expect(limits.contains { $0.hasPrefix("Max processes") && $0.contains(" 300 ") })
        let environ = try String(contentsOfFile: "/proc/\(binderPID)/environ", encoding: .utf8).split(separator: "\0")
        #expect(environ.contains("FROM_FILE=file value") && environ.contains("OVERRIDDEN=program"))

        try d.waitForLog("exited: nocap")
        let nocapErr = FileManager.default.enumerator(atPath: d.dir.path)?.compactMap { $0 as? String }.first { $0.hasPrefix("nocap-stderr") }
        let err = nocapErr.flatMap { try? String(contentsOfFile: d.dir.path + "/" + $0, encoding: .utf8) } ?? ""
        #expect(err.contains("PermissionError"), "without the capability the bind fails with EACCES: \(err)")

        let narrowed = procStatus(try d.pid(of: "narrowed"))
        #expect(narrowed["Uid"]?.hasPrefix("0\t") == true)
        for key in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] { #expect(narrowed[key] == "0000000000000020", "\(key): \(narrowed[key] ?? "-")") }
        #expect(try d.stop() == 0)
    }
}
