import Foundation
import MinderControl
import Testing

/// GET /api/v1/events: every follower gets every state event, whatever the others do.
@Suite struct EventStreamTests {
    var minderctlPath: String { (minderdPath as NSString).deletingLastPathComponent + "/minderctl" }

    /// A follower writing what it reads to a file, killed by pid at the end.
    final class Follower {
        let process = Process()
        let output: String

        init(_ executable: String, _ arguments: [String], output: String) throws {
            self.output = output
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        /// The serials of the state events it has printed, in order.
        var serials: [Int] {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
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

    /// Two `minderctl events --follow` and a raw follower each get all of 1,000 state changes in
    /// order, while a fourth follower that never reads holds up none of them.
    @Test func everyFollowerGetsEveryEvent() throws {
        let d = try DaemonHarness(Self.config, loglevel: "info")
        try d.waitForLog("control socket")
        let socket = d.dir.path + "/m.sock"
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
        var all: [Int] = []
        let full = try Self.raw(socket, lastEventID: 0, output: d.dir.path + "/all.out")
        try waitUntil("every event so far") {
            all = full.serials
            return all.count >= 4
        }
        let n = all.last!
        let resumed = try Self.raw(socket, lastEventID: n - 2, output: d.dir.path + "/r.out")
        try waitUntil("the last two events") { resumed.serials == [n - 1, n] }
        #expect(all == Array(1...n), "from the start: \(all)")
        #expect(try d.stop() == 0)
    }
}
