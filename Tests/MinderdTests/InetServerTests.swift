import Foundation
import Testing

/// `[inet_http_server]`: the same API over TCP, on 127.0.0.1 and ::1, with its password and the
/// checks that keep a web page in a browser on the host from using it.
@Suite(.enabled(if: haveSupervisorctl, "scripts/setup installs supervisorctl into .build-venv"))
struct InetServerTests {
    /// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
    static func freePort(_ family: Int32 = AF_INET) -> Int {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var storage = sockaddr_storage()
        var length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sa_family_t(family), toByteOffset: 0, as: sa_family_t.self) }
        if family == AF_INET6 {
            withUnsafeMutableBytes(of: &storage) { raw in
                var loopback = in6addr_loopback
                withUnsafeBytes(of: &loopback) { raw.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: 16) }
            }
        }
        _ = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = withUnsafeBytes(of: &storage) { $0.load(fromByteOffset: 2, as: UInt16.self) }
        return Int(UInt16(bigEndian: port))
    }

    /// One HTTP request over TCP; the status code.
    func status(_ host: String, _ port: Int, _ request: String) throws -> Int {
        let r = try run(venv + "/python", ["-c", """
            import socket, sys
            s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
            s.sendall(sys.argv[3].encode().replace(b'\\n', b'\\r\\n'))
            print(s.recv(65536).split(b' ')[1].decode())
            """, host, String(port), request])
        return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    func rpc(_ uri: String = "/RPC2", host: String, headers: String = "", type: String = "text/xml") -> String {
        let body = "<?xml version='1.0'?><methodCall><methodName>supervisor.getPID</methodName></methodCall>"
        return "POST \(uri) HTTP/1.1\nHost: \(host)\nContent-Type: \(type)\nContent-Length: \(body.utf8.count)\nConnection: close\n\(headers)\n\(body)"
    }

    @Test func passwordOverIPv4AndIPv6() throws {
        let v4 = Self.freePort(), v6 = Self.freePort(AF_INET6)
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [inet_http_server]
            port=127.0.0.1:\(v4)
            username=admin
            password=s3cret

            [inet_http_server:v6]
            port=[::1]:\(v6)
            username=admin
            password=s3cret

            [program:sleeper]
            command=sleep 1000
            startsecs=0
            """, loglevel: "info")
        try d.waitForLog("success: sleeper entered RUNNING")
        for (host, port, url) in [("127.0.0.1", v4, "http://127.0.0.1:\(v4)"), ("::1", v6, "http://[::1]:\(v6)")] {
            #expect(try status(host, port, rpc(host: "localhost")) == 401)
            let auth = "Authorization: Basic " + Data("admin:s3cret".utf8).base64EncodedString()
            #expect(try status(host, port, rpc(host: "localhost", headers: auth + "\n")) == 200)
            #expect(try status(host, port, "GET /api/v1/processes HTTP/1.1\nHost: localhost\n\(auth)\nConnection: close\n\n") == 200)
            let served = try run(venv + "/supervisorctl", ["-s", url, "-u", "admin", "-p", "s3cret", "status", "sleeper"])
            #expect(served.status == 0 && served.stdout.contains("RUNNING"), "\(url): \(served.stdout)\(served.stderr)")
            let refused = try run(venv + "/supervisorctl", ["-s", url, "status"])
            #expect(refused.stdout.contains("Server requires authentication"), "\(refused.stdout)")
            let wrong = try run(venv + "/supervisorctl", ["-s", url, "-u", "admin", "-p", "nope", "status"])
            #expect(wrong.stdout.contains("Server requires authentication"), "\(wrong.stdout)")
            // minderctl over TCP too, a request that changes something included.
            let minderctl = minderctlPath
            let restarted = try run(minderctl, ["-s", url, "-u", "admin", "-p", "s3cret", "restart", "sleeper"])
            #expect(restarted.stdout == "sleeper: stopped\nsleeper: started\n", "\(url): \(restarted.stdout)\(restarted.stderr)")
        }
        try d.waitForLog("control: failed login (address 127.0.0.1)")
        #expect(try d.stop() == 0)
    }

    /// What a web page on the host could send is refused; supervisorctl's own requests pass.
    @Test func browserRequestsAreRefused() throws {
        let port = Self.freePort()
        let d = try DaemonHarness("""
            [inet_http_server]
            port=127.0.0.1:\(port)

            [program:sleeper]
            command=sleep 1000
            startsecs=0
            """, loglevel: "info")
        try d.waitForLog("success: sleeper entered RUNNING")
        let here = "127.0.0.1:\(port)"
        #expect(try status("127.0.0.1", port, rpc(host: here)) == 200)
        #expect(try status("127.0.0.1", port, rpc(host: "localhost:\(port)")) == 200)
        #expect(try status("127.0.0.1", port, rpc(host: "evil.example:\(port)")) == 403, "DNS rebinding")
        #expect(try status("127.0.0.1", port, rpc(host: here, headers: "Origin: http://evil.example\n")) == 403)
        #expect(try status("127.0.0.1", port, rpc(host: here, headers: "Origin: http://\(here)\n")) == 200)
        #expect(try status("127.0.0.1", port, rpc(host: here, headers: "Sec-Fetch-Site: cross-site\n")) == 403)
        #expect(try status("127.0.0.1", port, rpc(host: here, type: "text/plain")) == 403, "a form's content type")
        #expect(try status("127.0.0.1", port, "POST /api/v1/processes/sleeper/stop HTTP/1.1\nHost: \(here)\nContent-Length: 0\nConnection: close\n\n") == 403)
        #expect(try status("127.0.0.1", port, "GET /api/v1/processes HTTP/1.1\nHost: \(here)\nConnection: close\n\n") == 200)
        let served = try run(venv + "/supervisorctl", ["-s", "http://\(here)", "status"])
        #expect(served.status == 0 && served.stdout.contains("RUNNING"), "\(served.stdout)\(served.stderr)")
        #expect(try d.stop() == 0)
    }

    /// A port another process holds: minderd says which and exits 2, as supervisord refuses to start.
    @Test func aPortInUseStopsStartUp() throws {
        let port = Self.freePort()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: UInt16(port).bigEndian,
                                  sin_addr: in_addr(s_addr: UInt32(0x7f00_0001).bigEndian), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        #expect(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0)
        #expect(listen(holder, 1) == 0)
        let d = try DaemonHarness("[inet_http_server]\nport=127.0.0.1:\(port)\n[program:x]\ncommand=sleep 1000\n")
        #expect(try d.waitForExit() == 2)
        #expect(d.log.contains("[inet_http_server] cannot listen on 127.0.0.1:\(port)"), "\(d.log)")
    }
}

/// A real config from the corpus that declares an inet server, started as its users run it: its
/// port serves, and supervisorctl and minderctl reach it through the config's [supervisorctl].
@Suite(.enabled(if: CorpusTests.corpus != nil && haveSupervisorctl, "the supervisord corpus and supervisorctl are not here"))
struct CorpusInetServerTests {
    @Test func aCorpusConfigServesItsPort() throws {
        let source = try #require(CorpusTests.corpus).appendingPathComponent("027-pylons-sdidev-here.conf")
        let dir = try TemporaryDirectory()
        // Its paths are relative to its own folder: etc/ for the file, var/ beside it for logs.
        try FileManager.default.createDirectory(atPath: dir.path + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/var", withIntermediateDirectories: true)
        let config = dir.path + "/etc/supervisord.conf"
        try FileManager.default.copyItem(atPath: source.path, toPath: config)
        let started = try run(minderdPath, ["-c", config])
        #expect(started.status == 0, "\(started.stderr)")
        let pid = try pidWritten(to: dir.path + "/var/supervisord.pid")
        defer {
            kill(pid, SIGTERM)
            try? waitUntil("minderd to exit") { !isAlive(pid) }
        }
        // Its programs' commands are not installed here: they end FATAL, and the server still serves.
        try waitUntil("the four programs in status") {
            let r = try? run(venv + "/supervisorctl", ["-c", config, "status"])
            return r?.stdout.split(separator: "\n").count == 4
        }
        let minderctl = minderctlPath
        let status = try run(minderctl, ["-c", config, "status", "sdidemo"])
        #expect(status.stdout.hasPrefix("sdidemo                          STOPPED   Not started"), "\(status.stdout)\(status.stderr)")
    }
}
