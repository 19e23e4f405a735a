import Foundation
import Testing

/// [fcgi-program:x]: the pool's processes share one listening socket as their stdin.
struct FastCGITests {
    @Test func processesAcceptOnTheSharedSocketWhichLivesAsLongAsThey() throws {
        let d = try DaemonHarness("""
            [fcgi-program:echo]
            command=/usr/bin/python3 %(here)s/serve.py
            socket=unix://%(here)s/echo.sock
            socket_mode=0600
            numprocs=2
            process_name=%(program_name)s_%(process_num)d
            startsecs=0
            autorestart=false
            stderr_logfile=%(here)s/serve.err
            """, start: false)
        // A FastCGI server in miniature: accept one connection on stdin, answer with its pid, exit.
        try """
            import os, socket
            s = socket.socket(fileno=0)
            c, _ = s.accept()
            c.sendall(b"pid %d\\n" % os.getpid())
            c.close()
            """.write(toFile: d.dir.path + "/serve.py", atomically: true, encoding: .utf8)
        try d.launch()
        try d.waitForLog("success: echo_1 entered RUNNING")
        let path = d.dir.path + "/echo.sock"
        let pids = [try d.pid(of: "echo_0"), try d.pid(of: "echo_1")]
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let replies = [try request(path), try request(path)]
        #expect(Set(replies) == Set(pids.map { "pid \($0)\n" }), "each process answered on the shared socket")
        #expect(d.log.components(separatedBy: "Creating socket unix://\(path)").count == 2, "one socket for the pool")
        // The last process to go closes it.
        try d.waitForLog("exited: echo_0")
        try d.waitForLog("exited: echo_1")
        try d.waitForLog("Closing socket unix://\(path)")
        #expect(try d.stop() == 0)
    }

    /// Connects to a Unix socket and reads until the server closes.
    func request(_ path: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let connected = withUnixAddress(path) { connect(fd, $0, $1) }
        guard connected == 0 else { throw Failure("connect \(path): \(String(cString: strerror(errno)))") }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            reply += buffer.prefix(n)
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
