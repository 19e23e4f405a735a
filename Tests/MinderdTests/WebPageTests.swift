import Foundation
import Testing

let chromiumAndDriver = FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
    && haveSelenium()

func haveSelenium() -> Bool {
    (try? run(venv + "/python", ["-c", "import selenium"]))?.status == 0
}

/// The web page: supervisord's URLs on both kinds of server, and the page itself in a real browser.
@Suite(.enabled(if: haveSupervisorctl, "scripts/setup installs Python's venv into .build-venv"))
struct WebPageTests {
    static let script = packageRoot.path + "/Tests/web/"
    /// A name that is markup (tabs, as supervisord forbids spaces in names).
    static let xss = "<img\tsrc=x\tonerror=alert(1)>"

    struct Reply: Decodable {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// One request through Tests/web/request.py; `url` is http://... or unix:SOCKET:/path.
    func request(_ url: String, method: String = "GET", headers: [String] = [], body: String = "", until: String? = nil) throws -> Reply {
        var arguments = [Self.script + "request.py", url, "--method", method, "--body", body]
        for header in headers { arguments += ["--header", header] }
        if let until { arguments += ["--until", until] }
        let r = try run(venv + "/python", arguments)
        guard r.status == 0 else { throw Failure("request.py \(url): \(r.stderr)") }
        return try JSONDecoder().decode(Reply.self, from: Data(r.stdout.utf8))
    }

    static func daemon(port: Int) throws -> DaemonHarness {
        try DaemonHarness("""
            [unix_http_server]
            file=%(here)s/m.sock

            [inet_http_server]
            port=127.0.0.1:\(port)

            [program:sleeper]
            command=sleep 1000
            startsecs=0

            [program:talker]
            command=/bin/sh -c 'echo "<script>alert(1)</script> out"; echo "err line" >&2; exec cat'
            startsecs=0

            [program:\(xss)]
            command=sleep 1000
            startsecs=0

            [group:svc]
            programs=a,b

            [program:a]
            command=sleep 1000
            startsecs=0

            [program:b]
            command=sleep 1000
            startsecs=0
            autostart=false
            """, loglevel: "info")
    }

    /// supervisord's URLs answer as its page's do, over TCP and on the Unix socket, and a script
    /// (no fetch metadata) gets supervisord's behaviour: the action, then a redirect with the message.
    @Test func supervisordURLs() throws {
        let port = InetServerTests.freePort()
        let d = try Self.daemon(port: port)
        try d.waitForLog("success: talker entered RUNNING")
        try d.waitForLog("success: sleeper entered RUNNING")
        let tcp = "http://127.0.0.1:\(port)", unix = "unix:\(d.dir.path)/m.sock:"
        for base in [tcp, unix] {
            for path in ["/", "/index.html", "/index.html?processname=sleeper&action=refresh"] {
                let page = try request(base + path)
                #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8", "\(base)\(path)")
                for name in ["sleeper", "talker", "a", "b"] { #expect(page.body.contains("data-namespec=\"\(name == "a" || name == "b" ? "svc:" + name : name)\"")) }
                // The name is text; the security headers are on every page.
                #expect(page.body.contains("&lt;img\tsrc=x\tonerror=alert(1)&gt;") && !page.body.contains("<img"))
                #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
                #expect(page.headers["x-content-type-options"] == "nosniff" && page.headers["x-frame-options"] == "DENY")
            }
            let message = try request(base + "/index.html?message=%3Cb%3Ehi%3C%2Fb%3E")
            #expect(message.body.contains("&lt;b&gt;hi&lt;/b&gt;"))
        }

        // Each action, as a script sends it: done, then 303 to the page with supervisord's message.
        func act(_ query: String, _ message: String, base: String = tcp) throws {
            let reply = try request(base + "/index.html?" + query)
            #expect(reply.status == 303, "\(query): \(reply.status) \(reply.body)")
            #expect(reply.headers["location"]?.hasPrefix("index.html?message=") == true, "relative, for a path prefix")
            let shown = reply.headers["location"].flatMap { $0.dropFirst("index.html?message=".count).removingPercentEncoding } ?? ""
            #expect(shown.hasPrefix(message), "\(query): \(shown)")
        }
        try act("processname=sleeper&action=stop", "Process sleeper stopped")
        #expect(d.status("sleeper")?.statename == "STOPPED")
        try act("processname=sleeper&action=start", "Process sleeper started", base: unix)
        #expect(d.status("sleeper")?.statename == "RUNNING")
        let pid = d.status("sleeper")?.pid
        try act("processname=sleeper&action=restart", "Process sleeper restarted")
        #expect(d.status("sleeper")?.statename == "RUNNING" && d.status("sleeper")?.pid != pid)
        try act("processname=sleeper&action=stop", "Process sleeper stopped")
        try act("processname=sleeper&action=stop", "ERROR: ")
        try act("processname=nosuch&action=start", "ERROR: ")
        try act("processname=svc%3A%2A&action=start", "Process svc:* started")
        #expect(d.status("svc:b")?.statename == "RUNNING")
        try act("action=stopall", "All stopped at ")
        #expect(d.status("talker")?.statename == "STOPPED" && d.status("svc:a")?.statename == "STOPPED")
        try act("action=restartall", "All restarted at ")
        #expect(d.status("talker")?.statename == "RUNNING" && d.status("sleeper")?.statename == "RUNNING")
        try d.waitForLog("success: talker entered RUNNING", count: 2)

        // The log views: tail.html with escaped text, the raw tails that stream.
        let tail = try request(tcp + "/tail.html?processname=talker&limit=4000")
        #expect(tail.status == 200 && tail.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; out") && !tail.body.contains("<script>alert"))
        let errors = try request(unix + "/tail.html?processname=talker&channel=stderr")
        #expect(errors.body.contains("err line") && !errors.body.contains("&lt;script&gt;"))
        #expect(try request(tcp + "/tail.html?processname=nosuch").status == 404)
        let main = try request(tcp + "/tail.html")
        #expect(main.status == 200 && main.body.contains("entered RUNNING"))
        for (base, path, text) in [(tcp, "/logtail/talker/stderr", "err line"), (unix, "/logtail/talker/stderr", "err line"),
                                   (tcp, "/mainlogtail", "entered RUNNING"), (unix, "/mainlogtail", "entered RUNNING")] {
            let streamed = try request(base + path, until: text)
            #expect(streamed.status == 200 && streamed.body.contains(text), "\(base)\(path): \(streamed.body)")
        }
        _ = try request(tcp + "/api/v1/processes/talker/stdin", method: "POST", headers: ["Content-Type: application/json"],
                        body: "{\"data\": \"typed line\\n\"}")
        let followed = try request(tcp + "/logtail/talker", until: "typed line")
        #expect(followed.body.contains("typed line"))
        try act("processname=talker&action=clearlog", "Log for talker cleared")
        #expect(!(try request(tcp + "/tail.html?processname=talker").body.contains("alert(1)")))
        #expect(try request(tcp + "/page.css").headers["content-type"] == "text/css; charset=utf-8")
        #expect(try request(tcp + "/page.js").headers["content-type"] == "text/javascript; charset=utf-8")
        let stream = try request(tcp + "/page.events", until: "\"namespec\":\"sleeper\"")
        #expect(stream.headers["content-type"] == "text/event-stream" && stream.body.contains("event: update"))
        #expect(try d.stop() == 0)
    }

    /// What a browser sends: a GET action asks first, a POST needs the browser's word that it comes
    /// from the page, and nothing from another site acts, on either server.
    @Test func browsersConfirmAndOtherSitesAreRefused() throws {
        let port = InetServerTests.freePort()
        let d = try Self.daemon(port: port)
        try d.waitForLog("success: sleeper entered RUNNING")
        let tcp = "http://127.0.0.1:\(port)", unix = "unix:\(d.dir.path)/m.sock:"
        let pid = d.status("sleeper")?.pid
        let navigate = ["Sec-Fetch-Site: none", "Sec-Fetch-Mode: navigate"]
        for base in [tcp, unix] {
            let asked = try request(base + "/index.html?processname=sleeper&action=stop", headers: navigate)
            #expect(asked.status == 200 && asked.body.contains("<form class=\"confirm\" method=\"post\" action=\"index.html\">"))
            #expect(asked.body.contains("name=\"action\" value=\"stop\"") && asked.body.contains("name=\"processname\" value=\"sleeper\""))
            let form = "Content-Type: application/x-www-form-urlencoded"
            for headers in [["Sec-Fetch-Site: cross-site", form], ["Sec-Fetch-Site: same-site", form], ["Origin: http://evil.example", form],
                            ["Sec-Fetch-Site: cross-site", "Content-Type: text/plain"]] {
                let refused = try request(base + "/index.html", method: "POST", headers: headers, body: "processname=sleeper&action=stop")
                #expect(refused.status == 403, "\(base) \(headers)")
            }
            let json = try request(base + "/api/v1/processes/sleeper/stop", method: "POST", headers: ["Sec-Fetch-Site: cross-site", "Content-Type: text/plain"])
            #expect(json.status == 403)
        }
        // Over TCP a form POST with no browser's word is refused too (on the socket it is a script's).
        #expect(try request(tcp + "/index.html", method: "POST", headers: ["Content-Type: application/x-www-form-urlencoded"],
                            body: "processname=sleeper&action=stop").status == 403)
        #expect(d.status("sleeper")?.statename == "RUNNING" && d.status("sleeper")?.pid == pid)
        // The page's own POST: its origin, the JSON answer its script asks for.
        let done = try request(tcp + "/index.html", method: "POST",
                               headers: ["Sec-Fetch-Site: same-origin", "Origin: http://127.0.0.1:\(port)", "Accept: application/json",
                                         "Content-Type: application/x-www-form-urlencoded"],
                               body: "processname=sleeper&action=signal&signal=TERM")
        #expect(done.status == 200 && done.body == "{\"message\":\"Signal TERM sent to sleeper\"}", "\(done.body)")
        // Behind a reverse proxy the origin is the proxy's, named in X-Forwarded-Host.
        let proxied = try request(unix + "/index.html", method: "POST",
                                  headers: ["Sec-Fetch-Site: same-origin", "Origin: https://ops.example", "X-Forwarded-Host: ops.example",
                                            "Content-Type: application/x-www-form-urlencoded"],
                                  body: "processname=sleeper&action=stop")
        #expect(proxied.status == 303, "\(proxied.body)")
        #expect(d.status("sleeper")?.statename == "STOPPED")
        #expect(try d.stop() == 0)
    }

    /// The page in Chromium: every process listed and live, clicks that act without a reload,
    /// a log view that follows, markup shown as text, and nothing from another site acting.
    @Test(.enabled(if: chromiumAndDriver, "scripts/setup installs chromium, chromium-driver and selenium"))
    func inChromium() throws {
        let port = InetServerTests.freePort()
        let d = try Self.daemon(port: port)
        try d.waitForLog("success: talker entered RUNNING")
        try d.waitForLog("success: sleeper entered RUNNING")
        let base = "http://127.0.0.1:\(port)/"
        let config: [String: Any] = [
            "base": base, "api": "http://127.0.0.1:\(port)",
            "processes": ["sleeper", "talker", Self.xss, "svc:a", "svc:b"],
            "sleeper": "sleeper", "xss": Self.xss, "talker": "talker", "evil_port": InetServerTests.freePort(),
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let r = try run(venv + "/python", [Self.script + "page_test.py", json], timeout: 300, ownGroup: true)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try d.stop() == 0)
    }
}
