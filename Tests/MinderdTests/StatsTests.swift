import Foundation
import MinderControl
import Synchronization
import Testing

/// The shared-memory stats segment, read with minderctl and with the example reader in Python.
@Suite(.serialized) struct StatsTests {
    var minderctlPath: String { (minderdPath as NSString).deletingLastPathComponent + "/minderctl" }

    struct Row: Decodable {
        var namespec: String
        var statename: String
        var pid: Int32
        var restarts: Int
    }

    func stats(_ d: DaemonHarness) throws -> [String: Row] {
        let r = try run(minderctlPath, ["-c", d.configPath, "--json", "stats"])
        #expect(r.status == 0, "\(r.stderr)")
        return Dictionary(uniqueKeysWithValues: try JSON.decode([Row].self, Array(r.stdout.utf8)).map { ($0.namespec, $0) })
    }

    func status(_ d: DaemonHarness) throws -> [String: ProcessStatus] {
        let r = try run(minderctlPath, ["-c", d.configPath, "--json", "status"])
        return Dictionary(uniqueKeysWithValues: try JSON.decode([ProcessStatus].self, Array(r.stdout.utf8)).map { ($0.namespec, $0) })
    }

    static let programs = """
        [unix_http_server]
        file=%(here)s/m.sock

        [program:sleeper]
        command=sleep 1000
        startsecs=0

        [program:manual]
        command=sleep 1000
        autostart=false

        [program:crasher]
        command=/bin/sh -c 'sleep 0.2;exit 1'
        startsecs=0
        autorestart=true
        """

    @Test func segmentMatchesTheAPIAcrossStartsCrashesAndStops() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("spawned: 'crasher'", count: 3)
        var segment = try stats(d)
        var api = try status(d)
        for name in ["sleeper", "manual"] {
            #expect(segment[name]?.statename == api[name]?.statename && segment[name]?.pid == api[name]?.pid, "\(name)")
        }
        #expect((segment["crasher"]?.restarts ?? 0) >= 2)
        _ = try run(minderctlPath, ["-c", d.configPath, "stop", "sleeper"])
        _ = try run(minderctlPath, ["-c", d.configPath, "start", "manual"])
        segment = try stats(d)
        api = try status(d)
        #expect(segment["sleeper"]?.statename == "STOPPED" && segment["sleeper"]?.pid == 0)
        #expect(segment["manual"]?.statename == "RUNNING" && segment["manual"]?.pid == api["manual"]?.pid)

        // The example reader in Python agrees.
        let python = try run("/usr/bin/python3", [packageRoot.path + "/examples/stats_reader.py", "-c", d.configPath, "--json"])
        #expect(python.status == 0, "\(python.stderr)")
        #expect(python.stdout.contains("\"name\": \"manual\", \"state\": \"RUNNING\", \"pid\": \(api["manual"]!.pid)"))
        #expect(try d.stop() == 0)
        #expect(try run(minderctlPath, ["-c", d.configPath, "stats"]).status != 0, "the segment is removed on exit")
    }

    @Test func concurrentReadersNeverSeeATornSlot() throws {
        let d = try DaemonHarness("""
            [program:churn]
            command=/bin/true
            process_name=%(program_name)s_%(process_num)d
            numprocs=10
            startsecs=0
            autorestart=true
            """)
        try d.waitForLog("spawned: 'churn_", count: 20)
        let failures = Mutex<[String]>([])
        let path = minderctlPath
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<15 {
                // minderctl checks every slot's checksum on its copy and fails on a torn one.
                guard let r = try? run(path, ["-c", d.configPath, "stats"]), r.status == 0 else {
                    failures.withLock { $0.append("a read failed") }
                    continue
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        try d.waitForLog("spawned: 'churn_", count: 220)
        #expect(try d.stop() == 0)
    }
}
