import Foundation
import MinderControl
import Testing

/// GET /metrics, checked by Prometheus' own tools: promtool on the text, and a real Prometheus
/// scraping minderd over [inet_http_server].
let havePrometheus = FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool")

@Suite(.enabled(if: havePrometheus, "scripts/setup installs Debian's prometheus"))
struct MetricsTests {
    static let programs = """
        [program:sleeper]
        command=/bin/sh -c 'echo started; exec sleep 1000'
        startsecs=0

        [program:manual]
        command=sleep 1000
        autostart=false
        """

    @Test func promtoolAcceptsTheExposition() throws {
        let d = try DaemonHarness("[unix_http_server]\nfile=%(here)s/m.sock\n" + Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        let metrics = d.dir.path + "/metrics.txt"
        // Nothing samples on a timer by default: the scrape itself has the running process sampled.
        let r = try ControlClient(socketPath: d.dir.path + "/m.sock").request("GET", "/metrics")
        let text = String(decoding: r.body, as: UTF8.self)
        #expect(text.contains("minder_process_resident_memory_bytes{group=\"sleeper\",name=\"sleeper\"} "))
        try text.write(toFile: metrics, atomically: true, encoding: .utf8)
        let check = try run("/bin/sh", ["-c", "/usr/bin/promtool check metrics < \(metrics)"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(text.contains("minder_process_up{group=\"sleeper\",name=\"sleeper\"} 1\n"))
        #expect(text.contains("minder_process_up{group=\"manual\",name=\"manual\"} 0\n"))
        #expect(text.contains("minder_process_state{group=\"sleeper\",name=\"sleeper\"} 20\n"))
        #expect(text.contains("minder_process_log_written_bytes_total{group=\"sleeper\",name=\"sleeper\"} 8\n"), "\"started\\n\"")
        #expect(!text.contains("minder_process_resident_memory_bytes{group=\"manual\""), "no resources for what does not run")
        #expect(text.contains("minder_build_info{version=\"0.1.0\"} 1\n"))
        // minderd's own counts: events posted (minderd's and sleeper's starts at least), none
        // dropped, and replies by status class.
        let posted = text.split(separator: "\n").first { $0.hasPrefix("minder_events_total ") }.flatMap { Int($0.split(separator: " ")[1]) }
        #expect((posted ?? 0) >= 3, "\(String(describing: posted))")
        #expect(text.contains("minder_events_dropped_total{where=\"subscribers\"} 0\n"))
        let second = String(decoding: try ControlClient(socketPath: d.dir.path + "/m.sock").request("GET", "/metrics").body, as: UTF8.self)
        #expect(second.contains("minder_control_requests_total{code=\"2xx\"} "), "the first scrape counted")
        #expect(!second.contains("minder_control_requests_total{code=\"2xx\"} 0\n"))
        #expect(try d.stop() == 0)
    }

    /// minder_process_exits_total and minder_spawn_failures_total from a real minderd: a program
    /// that exits with a code not in exitcodes twice, then with 0; one whose command does not exist;
    /// one stopped through the API. promtool accepts the families.
    @Test func exitsAndSpawnFailuresAreCounted() throws {
        let d = try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [program:flaky]
            command=/bin/sh -c 'n=$(cat %(here)s/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > %(here)s/runs; [ $n -le 2 ] && exit 3; exit 0'
            startsecs=0
            autorestart=unexpected

            [program:missing]
            command=/nonexistent/minder-metrics-test
            startretries=1

            [program:sleeper]
            command=sleep 1000
            startsecs=0
            """, loglevel: "info")
        let client = ControlClient(socketPath: d.dir.path + "/m.sock")
        var text = ""
        func scrape() -> String {
            text = (try? client.request("GET", "/metrics")).map { String(decoding: $0.body, as: UTF8.self) } ?? ""
            return text
        }
        try waitUntil("flaky's three exits and missing's two failed spawns") {
            let t = scrape()
            return t.contains("minder_process_exits_total{group=\"flaky\",name=\"flaky\",expected=\"false\"} 2\n")
                && t.contains("minder_process_exits_total{group=\"flaky\",name=\"flaky\",expected=\"true\"} 1\n")
                && t.contains("minder_process_state{group=\"missing\",name=\"missing\"} 200\n")
        }
        #expect(text.contains("minder_spawn_failures_total 2\n"), "one spawn and one retry: \(text)")
        #expect(text.contains("minder_process_exits_total{group=\"missing\",name=\"missing\",expected=\"false\"} 0\n"),
                "a spawn that failed is no exit")
        #expect(text.contains("minder_process_exits_total{group=\"sleeper\",name=\"sleeper\",expected=\"true\"} 0\n"))
        try d.waitForLog("success: sleeper entered RUNNING")
        _ = try client.request("POST", "/api/v1/processes/sleeper/stop")
        try waitUntil("sleeper's stop counted as expected") {
            scrape().contains("minder_process_exits_total{group=\"sleeper\",name=\"sleeper\",expected=\"true\"} 1\n")
        }
        #expect(text.contains("minder_process_exits_total{group=\"sleeper\",name=\"sleeper\",expected=\"false\"} 0\n"), "\(text)")
        let metrics = d.dir.path + "/metrics.txt"
        try text.write(toFile: metrics, atomically: true, encoding: .utf8)
        let check = try run("/bin/sh", ["-c", "/usr/bin/promtool check metrics < \(metrics)"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(try d.stop() == 0)
    }

    @Test func prometheusScrapesMinderdOverTCP() throws {
        let port = InetServerTests.freePort(), web = InetServerTests.freePort()
        let d = try DaemonHarness("[inet_http_server]\nport=127.0.0.1:\(port)\n" + Self.programs)
        try d.waitForLog("success: sleeper entered RUNNING")
        try """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: minder
                static_configs:
                  - targets: ['127.0.0.1:\(port)']
            """.write(toFile: d.dir.path + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(d.dir.path)/prometheus.yml", "--storage.tsdb.path=\(d.dir.path)/data",
                                "--web.listen-address=127.0.0.1:\(web)"]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/null"))
        try prometheus.run()
        defer {
            kill(prometheus.processIdentifier, SIGKILL)
            prometheus.waitUntilExit()
        }
        var answer = ""
        try waitUntil("Prometheus to have scraped minderd", timeout: 60) {
            let r = try? run(venv + "/python", ["-c", """
                import sys, urllib.request
                url = 'http://127.0.0.1:%s/api/v1/query?query=minder_process_up' % sys.argv[1]
                print(urllib.request.urlopen(url, timeout=5).read().decode())
                """, String(web)])
            answer = r?.stdout ?? ""
            return answer.contains("\"name\":\"sleeper\"")
        }
        #expect(answer.contains("\"value\":[") && answer.contains("\"1\"]"), "\(answer)")
        #expect(try d.stop() == 0)
    }
}
