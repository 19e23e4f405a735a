import Foundation
import MinderControl
import NIOConcurrencyHelpers
import Testing

/// The shared-memory stats segment, read with minderctl and with the example reader in Python.
@Suite(.serialized) struct StatsTests {

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
        #expect(try run(minderctlPath, ["-c", d.configPath, "stop", "sleeper"]).status == 0)
        #expect(try run(minderctlPath, ["-c", d.configPath, "start", "manual"]).status == 0)
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

    @Test func samplesCPUMemoryDescriptorsAndThreads() throws {
        let d = try DaemonHarness("""
            [program:big]
            command=/usr/bin/python3 -c "import time;x=bytearray(60*1024*1024);time.sleep(1000)"
            startsecs=0
            """)
        try d.waitForLog("spawned: 'big'")
        struct Sample: Decodable { var rss_bytes: UInt64; var open_fds: UInt32; var threads: UInt32; var last_change: Double; var sequence: UInt64 }
        var sample: Sample?
        try waitUntil("a sample with the 60 MB", timeout: 30) {
            guard let r = try? run(minderctlPath, ["-c", d.configPath, "--json", "stats"]),
                  let rows = try? JSON.decode([Sample].self, Array(r.stdout.utf8)) else { return false }
            sample = rows.first
            return (sample?.rss_bytes ?? 0) > 60 * 1024 * 1024
        }
        #expect((sample?.open_fds ?? 0) >= 3 && (sample?.threads ?? 0) >= 1)
        // Sampling (every second) refreshes the numbers, not the time of the last state change.
        var later: Sample?
        try waitUntil("a later sample") {
            guard let r = try? run(minderctlPath, ["-c", d.configPath, "--json", "stats"]),
                  let rows = try? JSON.decode([Sample].self, Array(r.stdout.utf8)) else { return false }
            later = rows.first
            return (later?.sequence ?? 0) > (sample?.sequence ?? 0)
        }
        #expect(later?.last_change == sample?.last_change)
        #expect(try d.stop() == 0)
    }

    struct Fresh: Decodable { var namespec: String; var rss_bytes: UInt64; var cpu_user: Double; var sample_time: Double }

    /// With the default config nothing samples on a timer: each reader's request brings numbers
    /// sampled after it asked.
    @Test func eachReaderGetsNumbersSampledForIt() throws {
        let d = try DaemonHarness("""
            [program:big]
            command=/usr/bin/python3 -c "import time;x=bytearray(60*1024*1024);print('ready',flush=True);time.sleep(1000)"
            stdout_logfile=%(here)s/big.out
            startsecs=0
            """)
        try waitUntil("big to hold its 60 MB") { ((try? String(contentsOfFile: d.dir.path + "/big.out", encoding: .utf8)) ?? "") == "ready\n" }
        let asked = Date().timeIntervalSince1970
        let r = try run(minderctlPath, ["-c", d.configPath, "--json", "stats"])
        let answered = Date().timeIntervalSince1970
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        let row = try JSON.decode([Fresh].self, Array(r.stdout.utf8)).first
        #expect((row?.rss_bytes ?? 0) > 60 * 1024 * 1024)
        #expect((row?.sample_time ?? 0) >= asked && (row?.sample_time ?? 0) <= answered, "sampled after the request")
        let table = try run(minderctlPath, ["-c", d.configPath, "stats"])
        #expect(table.stdout.contains(" ms ago"), "\(table.stdout)")

        // The example reader in Python asks the same way.
        let before = Date().timeIntervalSince1970
        let python = try run("/usr/bin/python3", [packageRoot.path + "/examples/stats_reader.py", "-c", d.configPath, "--json"])
        #expect(python.status == 0 && python.stderr.isEmpty, "\(python.stderr)")
        struct PyRow: Decodable { var rss_bytes: UInt64; var sample_time: Double }
        let py = try JSON.decode([PyRow].self, Array(python.stdout.utf8)).first
        #expect((py?.sample_time ?? 0) >= before && (py?.rss_bytes ?? 0) > 60 * 1024 * 1024)
        #expect(try d.stop() == 0)
    }

    /// Readers asking together, while another process floods the request queue with junk and
    /// posts the fresh semaphore at random: every reader still gets a sample taken after it
    /// asked, and minderd stays up.
    @Test func concurrentReadersAndAFloodStillGetFreshNumbers() throws {
        let d = try DaemonHarness("[program:one]\ncommand=sleep 1000\nstartsecs=0\n")
        try d.waitForLog("success: one entered RUNNING")
        let id = InstanceID(configPath: d.configPath).value
        let flood = """
            import ctypes, os, random, sys, time
            libc = ctypes.CDLL('libc.so.6', use_errno=True)
            libc.sem_open.restype = ctypes.c_void_p
            mq = libc.mq_open(b'/minder.\(id).requests', os.O_WRONLY | os.O_NONBLOCK)
            sem = libc.sem_open(b'/minder.\(id).fresh1', 0)
            assert mq >= 0 and sem, 'cannot open the objects'
            print('flooding', flush=True)
            end = time.time() + 3
            while time.time() < end:
                junk = os.urandom(random.randint(0, 16))
                libc.mq_send(mq, junk, len(junk), random.randint(0, 31))
                if random.random() < 0.1:
                    libc.sem_post(ctypes.c_void_p(sem))
            """
        try flood.write(toFile: d.dir.path + "/flood.py", atomically: true, encoding: .utf8)
        let flooder = try Interactive("/usr/bin/python3", [d.dir.path + "/flood.py"], output: d.dir.path + "/flood.out")
        defer { flooder.kill() }
        try waitUntil("the flood") { (try? String(contentsOfFile: flooder.output, encoding: .utf8)) == "flooding\n" }
        let failures = NIOLockedValueBox<[String]>([])
        let path = minderctlPath
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            for _ in 0..<8 {
                let asked = Date().timeIntervalSince1970
                guard let r = try? run(path, ["-c", d.configPath, "--json", "stats"]), r.status == 0, r.stderr.isEmpty,
                      let rows = try? JSON.decode([Fresh].self, Array(r.stdout.utf8)), let row = rows.first else {
                    failures.withLockedValue { $0.append("a read failed") }
                    continue
                }
                if row.sample_time < asked { failures.withLockedValue { $0.append("stale: sampled \(asked - row.sample_time) s before the request") } }
            }
        }
        #expect(failures.withLockedValue { $0 }.isEmpty, "\(failures.withLockedValue { $0 })")
        _ = flooder.waitForExit()
        #expect(isAlive(d.pid))
        #expect(try d.stop() == 0)
    }

    @Test func aReaderKilledHoldingTheSemaphoreDoesNotStopUpdates() throws {
        let d = try DaemonHarness(Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        // A reader that takes the semaphore, records itself, says so, and hangs.
        let holder = """
            import ctypes, hashlib, mmap, os, sys, time
            sys.path.insert(0, '\(packageRoot.path)/examples')
            from stats_reader import Header
            iid = hashlib.sha256(os.path.realpath(sys.argv[1]).encode()).hexdigest()[:16]
            fd = os.open('/dev/shm/minder.%s.stats' % iid, os.O_RDWR)
            seg = mmap.mmap(fd, 0)
            h = Header.from_buffer(seg)
            libc = ctypes.CDLL('libc.so.6')
            libc.sem_open.restype = ctypes.c_void_p
            sem = libc.sem_open(h.semaphore, 0)
            libc.sem_wait(ctypes.c_void_p(sem))
            h.semaphore_holder = os.getpid()
            print('holding', flush=True)
            time.sleep(1000)
            """
        try holder.write(toFile: d.dir.path + "/holder.py", atomically: true, encoding: .utf8)
        let reader = try Interactive("/usr/bin/python3", [d.dir.path + "/holder.py", d.configPath], output: d.dir.path + "/holder.out")
        defer { reader.kill() }
        try waitUntil("the reader to hold the semaphore") { (try? String(contentsOfFile: reader.output, encoding: .utf8)) == "holding\n" }
        kill(reader.process.processIdentifier, SIGKILL)
        _ = reader.waitForExit()
        #expect(try run(minderctlPath, ["-c", d.configPath, "stop", "sleeper"]).status == 0)
        try d.waitForLog("stats: replaced the semaphore (held by pid \(reader.process.processIdentifier), which died holding it)")
        try waitUntil("the stop in the segment") { ((try? stats(d)) ?? [:])["sleeper"]?.statename == "STOPPED" }
        #expect(try d.stop() == 0)
    }

    /// A stats_group member truncates the segment, then the semaphore's file: minderd keeps
    /// running and supervising, replaces each object, and readers see fresh stats.
    @Test(.enabled(if: geteuid() == 0, "switching to a group member needs root"),
          .disabled(if: sanitized, "a sanitizer's runtime takes SIGBUS for itself, so the fault guard is tested without one"))
    func aMemberWhoTruncatesTheObjectsCannotHurtMinderd() throws {
        let d = try DaemonHarness("[unix_http_server]\nfile=%(here)s/m.sock\n[program:one]\ncommand=sleep 1000\nstartsecs=0\n", supervisord: "stats_group=daemon\nstats_interval=0", start: false)
        chmod(d.dir.path, 0o755)
        try d.launch()
        try d.waitForLog("success: one entered RUNNING")
        let id = InstanceID(configPath: d.configPath).value
        for (object, notice) in [("minder.\(id).stats", "stats: the segment /minder.\(id).stats was truncated by another process; made a new one"),
                                 ("sem.minder.\(id).sem1", "stats: the semaphore's file was truncated by another process; replaced by /minder.\(id).sem2")] {
            let cut = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--groups=1", "/usr/bin/truncate", "-s", "0", "/dev/shm/" + object])
            #expect(cut.status == 0, "\(cut.stderr)")
            let before = try status(d)["one"]?.pid
            // The restart makes minderd write the truncated object.
            #expect(try run(minderctlPath, ["-c", d.configPath, "restart", "one"]).status == 0)
            try d.waitForLog(notice)
            #expect(isAlive(d.pid))
            let after = try status(d)["one"]?.pid
            #expect(after != nil && after != before)
            try waitUntil("the restart in the new objects") { ((try? stats(d)) ?? [:])["one"]?.pid == after }
        }
        #expect(try d.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/minder.\(id).stats"))
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/sem.minder.\(id).sem2"))
    }

    /// Random bytes over the segment (as its owner could write them): minderd neither crashes nor
    /// changes what it does; a reader reports a bad segment instead of crashing, and the next
    /// write makes the segment whole again.
    @Test func randomBytesOverTheSegmentAreHarmless() throws {
        let d = try DaemonHarness("[unix_http_server]\nfile=%(here)s/m.sock\n[program:one]\ncommand=sleep 1000\nstartsecs=0\n", supervisord: "stats_interval=0")
        try d.waitForLog("success: one entered RUNNING")
        let id = InstanceID(configPath: d.configPath).value
        let path = "/dev/shm/minder.\(id).stats"
        let size = try (FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let fd = open(path, O_WRONLY)
        for _ in 0..<20 {
            let garbage = (0..<size).map { _ in UInt8.random(in: 0...255) }
            _ = garbage.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            let r = try run(minderctlPath, ["-c", d.configPath, "stats"])
            #expect(r.status == 1 && r.stderr.contains("minder.\(id).stats"), "\(r.status) \(r.stderr)")
        }
        close(fd)
        let pid = try status(d)["one"]?.pid
        #expect(isAlive(d.pid) && pid != nil)
        #expect(try run(minderctlPath, ["-c", d.configPath, "stop", "one"]).status == 0)
        try waitUntil("a whole segment again") { ((try? stats(d)) ?? [:])["one"]?.statename == "STOPPED" }
        #expect(try d.stop() == 0)
    }

    @Test(.enabled(if: geteuid() == 0, "switching to a group member needs root"))
    func statsGroupMembersCanRead() throws {
        let d = try DaemonHarness("[program:one]\ncommand=sleep 1000\nstartsecs=0\n", supervisord: "stats_group=daemon", start: false)
        chmod(d.dir.path, 0o755)
        try d.launch()
        try d.waitForLog("success: one entered RUNNING")
        let id = InstanceID(configPath: d.configPath).value
        let segment = try FileManager.default.attributesOfItem(atPath: "/dev/shm/minder.\(id).stats")
        #expect((segment[.posixPermissions] as? Int) == 0o660 && (segment[.groupOwnerAccountID] as? Int) == 1)
        let member = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--groups=1", minderctlPath, "-c", d.configPath, "stats"])
        #expect(member.status == 0 && member.stdout.contains("one"), "\(member.stderr)")
        let outsider = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", minderctlPath, "-c", d.configPath, "stats"])
        #expect(outsider.status != 0)
        #expect(try d.stop() == 0)
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
        let failures = NIOLockedValueBox<[String]>([])
        let path = minderctlPath
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<15 {
                // minderctl checks every slot's checksum on its copy and fails on a torn one.
                guard let r = try? run(path, ["-c", d.configPath, "stats"]), r.status == 0 else {
                    failures.withLockedValue { $0.append("a read failed") }
                    continue
                }
            }
        }
        #expect(failures.withLockedValue { $0 }.isEmpty)
        try d.waitForLog("spawned: 'churn_", count: 220)
        #expect(try d.stop() == 0)
    }
}
