import CMinder
import Foundation
import MinderControl
import Testing

/// The most messages an unprivileged process may give a POSIX message queue here.
let mqueueMsgMax = Int(((try? String(contentsOfFile: "/proc/sys/fs/mqueue/msg_max", encoding: .utf8)) ?? "0")
    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0

/// GET /api/v1/events: every follower gets every state event, whatever the others do.
@Suite struct EventStreamTests {

    /// A follower writing what it reads to a file, killed by pid at the end.
    final class Follower {
        let process = Process()
        let output: String

        init(_ executable: String, _ arguments: [String], output: String) throws {
            self.output = output
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            // Its errors go into the same file, so that a failure shows why it read nothing.
            let file = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            process.standardOutput = file
            process.standardError = file
            try process.run()
        }

        /// What it has printed so far.
        var text: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

        /// The serials of the state events it has printed, in order.
        var serials: [Int] {
            text.split(separator: "\n").compactMap { line in
                let json = line.hasPrefix("data: ") ? line.dropFirst(6) : line
                return (try? JSON.decode(StateEvent.self, Array(json.utf8)))?.serial
            }
        }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static let config = """
        [unix_http_server]
        file=%(here)s/m.sock

        [program:flip]
        command=sleep 1000
        autostart=false
        startsecs=0
        """

    /// A follower that speaks HTTP itself: the stream's bytes as they come, into `output`; with
    /// `stall`, it sends the request and never reads.
    static func raw(_ socket: String, lastEventID: Int? = nil, stall: Bool = false, output: String) throws -> Follower {
        try Follower(venv + "/python", ["-c", """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            resume = b'Last-Event-ID: ' + sys.argv[2].encode() + b'\\r\\n' if sys.argv[2] else b''
            s.sendall(b'GET /api/v1/events HTTP/1.1\\r\\nHost: localhost\\r\\n' + resume + b'\\r\\n')
            if sys.argv[3] == 'stall':
                time.sleep(1000)
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                sys.stdout.write(chunk.decode(errors='replace')); sys.stdout.flush()
            """, socket, lastEventID.map(String.init) ?? "", stall ? "stall" : "read"], output: output)
    }

    /// Two `minderctl events --follow` (each on a queue of its own) and a raw stream follower each
    /// get all of 1,000 state changes in order, while a stream follower and a queue subscriber that
    /// never read hold up none of them; the silent queue loses only its own oldest, counted.
    @Test(.enabled(if: mqueueMsgMax >= 128, "fs.mqueue.msg_max is below the 128 messages minderctl asks for (scripts/setup raises it where it may)"))
    func everyFollowerGetsEveryEvent() throws {
        let d = try DaemonHarness(Self.config, loglevel: "info")
        try d.waitForLog("control socket")
        let socket = d.dir.path + "/m.sock"
        let silent = try JSON.decode(Subscription.self, ControlClient(socketPath: socket)
            .request("POST", "/api/v1/events/subscriptions", body: Array(#"{"maxmsg":10,"msgsize":512}"#.utf8)).body)
        #expect(silent.maxmsg == 10 && silent.uid == geteuid() && silent.pid == getpid())
        let followers = try [
            Follower(minderctlPath, ["-s", "unix://" + socket, "--json", "events", "--follow"], output: d.dir.path + "/a.out"),
            Follower(minderctlPath, ["-s", "unix://" + socket, "--json", "events", "--follow"], output: d.dir.path + "/b.out"),
            Self.raw(socket, output: d.dir.path + "/c.out"),
        ]
        let stalled = try Self.raw(socket, stall: true, output: d.dir.path + "/d.out")
        let client = ControlClient(socketPath: socket)
        // A first cycle until every follower has seen it: then all are following.
        var first = 0
        try waitUntil("every follower following") {
            _ = try? client.request("POST", "/api/v1/processes/flip/start")
            _ = try? client.request("POST", "/api/v1/processes/flip/stop")
            guard followers.allSatisfy({ !$0.serials.isEmpty }) else { return false }
            first = followers.map { $0.serials.last! }.max()!
            return followers.allSatisfy { $0.serials.last! == first }
        }
        // 250 starts and stops: STARTING, RUNNING, STOPPING and STOPPED each time.
        for _ in 0..<250 {
            #expect(try client.request("POST", "/api/v1/processes/flip/start").status == 200)
            #expect(try client.request("POST", "/api/v1/processes/flip/stop").status == 200)
        }
        // Every follower ends on the same last event, having had each one before it.
        var final = 0
        try waitUntil("the followers to agree on the last event") {
            let lasts = followers.map { $0.serials.last ?? 0 }
            final = lasts.max() ?? 0
            return final >= first + 1000 && Set(lasts).count == 1
        }
        for f in followers {
            let got = f.serials.filter { $0 > first }
            let gap = zip(got, (first + 1)...final).first { $0 != $1 }
            #expect(got.count == final - first && gap == nil, "\(f.output): \(got.count) of \(final - first) events, first gap \(String(describing: gap))")
        }
        withExtendedLifetime(stalled) {}
        let queues = try JSON.decode([Subscription].self, client.request("GET", "/api/v1/events/subscriptions").body)
        let own = queues.filter { $0.id != silent.id }
        #expect(own.count == 2, "each minderctl follows a queue of its own: \(own)")
        #expect(own.allSatisfy { $0.maxmsg == 128 && $0.dropped == 0 }, "\(own)")
        // The silent queue holds the last 10 events; the rest were dropped, oldest first, and counted.
        let counted = queues.first { $0.id == silent.id }
        #expect(counted.map { $0.sent >= final - first && $0.dropped == $0.sent - 10 } == true, "\(String(describing: counted))")
        let mq = mn_mq_open_reader(silent.queue, 1)
        #expect(mq >= 0)
        var kept: [Int] = []
        var buffer = [CChar](repeating: 0, count: 512)
        while mq >= 0, case let n = mn_mq_receive(mq, &buffer, 512), n >= 0 {
            kept += [(try? JSON.decode(StateEvent.self, buffer.prefix(n).map { UInt8(bitPattern: $0) }))?.serial ?? -1]
        }
        _ = mn_mq_close(mq)
        #expect(kept == Array((final - 9)...final), "\(kept)")
        // A follower's exit ends its queue.
        for f in followers { kill(f.process.processIdentifier, SIGKILL) }
        try waitUntil("the followers' queues gone") {
            let left = try? JSON.decode([Subscription].self, client.request("GET", "/api/v1/events/subscriptions").body)
            return left?.map(\.id) == [silent.id]
        }
        #expect(try d.stop() == 0)
    }

    /// A queue is made for the peer's uid, from its credentials: that user can read it and
    /// another cannot; over TCP, where there are no credentials, none is made.
    @Test(.enabled(if: geteuid() == 0, "switching users needs root"))
    func aQueueBelongsToThePeerWhoAskedForIt() throws {
        let port = InetServerTests.freePort()
        let d = try DaemonHarness(Self.config.replacingOccurrences(of: "file=%(here)s/m.sock", with: "file=%(here)s/m.sock\nchmod=0777\nchown=nobody:nogroup")
            + "\n[inet_http_server]\nport=127.0.0.1:\(port)\n", loglevel: "info", start: false)
        chmod(d.dir.path, 0o755)
        try d.launch()
        try d.waitForLog("control socket")
        let script = """
            import ctypes, json, os, socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            s.sendall(b'POST /api/v1/events/subscriptions HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n')
            reply = b''
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                reply += chunk
            sub = json.loads(reply.split(b'\\r\\n\\r\\n', 1)[1])
            libc = ctypes.CDLL('libc.so.6', use_errno=True)
            print(sub['uid'], sub['queue'], libc.mq_open(sub['queue'].encode(), os.O_RDONLY) >= 0, flush=True)
            """
        try script.write(toFile: d.dir.path + "/sub.py", atomically: true, encoding: .utf8)
        let mine = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", d.dir.path + "/sub.py", d.dir.path + "/m.sock"])
        let words = mine.stdout.split(separator: " ").map(String.init)
        #expect(words.count == 3 && words[0] == "65534" && words[2] == "True\n", "\(mine.stdout)\(mine.stderr)")
        if words.count == 3 {
            let other = try run("/usr/bin/setpriv", ["--reuid=65533", "--regid=65533", "--clear-groups", "/usr/bin/python3", "-c",
                                                     "import ctypes,os,sys; print(ctypes.CDLL('libc.so.6').mq_open(sys.argv[1].encode(), os.O_RDONLY) >= 0)", words[1]])
            #expect(other.stdout == "False\n", "another user cannot read it")
        }
        let tcp = try ControlClient(server: .tcp(host: "127.0.0.1", port: port))
            .request("POST", "/api/v1/events/subscriptions", body: Array("{}".utf8))
        #expect(tcp.status == 403 && String(decoding: tcp.body, as: UTF8.self).contains("only for peers on the Unix control socket"))
        #expect(try d.stop() == 0)
    }

    /// A follower that comes back with Last-Event-ID gets what it missed.
    @Test func aFollowerResumesFromItsLastEvent() throws {
        let d = try DaemonHarness(Self.config, loglevel: "info")
        try d.waitForLog("control socket")
        let socket = d.dir.path + "/m.sock"
        let client = ControlClient(socketPath: socket)
        #expect(try client.request("POST", "/api/v1/processes/flip/start").status == 200)
        #expect(try client.request("POST", "/api/v1/processes/flip/stop").status == 200)
        // A follower that saw up to the second to last event asks for the rest.
        // Both replies came after their events: minderd's own RUNNING, flip's STARTING, RUNNING,
        // STOPPING and STOPPED are all kept, the last of them flip's STOPPED.
        let full = try Self.raw(socket, lastEventID: 0, output: d.dir.path + "/all.out")
        do {
            try waitUntil("flip's STOPPED from the start") { full.serials.count >= 5 }
        } catch { throw Failure("\(error); the follower read: \(full.text)") }
        let all = full.serials
        #expect(all == Array(1...5), "from the start: \(full.text)")
        let n = all.last!
        let resumed = try Self.raw(socket, lastEventID: n - 2, output: d.dir.path + "/r.out")
        do {
            try waitUntil("the last two events") { resumed.serials.count >= 2 }
        } catch { throw Failure("\(error); the follower read: \(resumed.text)") }
        #expect(resumed.serials == [n - 1, n], "resumed after \(n - 2): \(resumed.text)")
        #expect(try d.stop() == 0)
    }
}
