// The web page: supervisord's status page and its URLs, served on every
// control server with that server's auth. The HTML is whole without
// JavaScript (the table, the log); the script (WebAssets) makes it live and
// sends actions as same-origin POSTs. Everything a process or a log says is
// escaped; the headers allow no outside source and no framing. docs/web.md.

import Dispatch
import MinderControl
import NIOCore

struct WebPage {
    let context: HandlerContext

    /// On every page reply: nothing loads from elsewhere, no inline script runs, no site frames it.
    static let securityHeaders: [(String, String)] = [
        ("content-security-policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ]

    func handle(_ route: WebRoute, channel: any Channel, wantsJSON: Bool, reply: @escaping @Sendable (HTTPReply) -> Void) {
        switch route {
        case .status(let message):
            reply(Self.html(Self.statusPage(context.bridge.board, message: message)))
        case .action(let action, confirm: true):
            reply(Self.html(Self.confirmPage(action)))
        case .action(let action, confirm: false):
            Self.act(action, bridge: context.bridge) { message in
                if wantsJSON {
                    reply(.whole(status: 200, contentType: "application/json", body: JSON.encode(["message": message]),
                                 headers: Self.securityHeaders))
                } else {
                    // Relative, so that it holds under a reverse proxy's path prefix.
                    reply(.whole(status: 303, contentType: "text/plain; charset=utf-8", body: Array((message + "\n").utf8),
                                 headers: Self.securityHeaders + [("location", "index.html?message=" + urlQueryEscaped(message))]))
                }
            }
        case .tail(let tail):
            let request: ControlRequest = tail.processname.map { .logPath(XMLRPCService.spec($0), channel: tail.channel) } ?? .mainLogPath
            context.bridge.submit(request) { answer in
                guard case .file(let path) = answer else {
                    let problem = Self.problem(answer) ?? "no such log"
                    return reply(Self.html(Self.tailPage(tail, text: "", problem: problem), status: 404))
                }
                // The file is read on a worker thread, never on a loop.
                DispatchQueue.global().async {
                    let text = tail.limit == 0 ? "" : (try? LogReader.readFile(path: path, offset: -tail.limit, length: 0).get()) ?? ""
                    reply(Self.html(Self.tailPage(tail, text: text, problem: nil)))
                }
            }
        case .asset(let name):
            let (type, body) = name == "page.css" ? ("text/css; charset=utf-8", WebAssets.css) : ("text/javascript; charset=utf-8", WebAssets.script)
            reply(.whole(status: 200, contentType: type, body: Array(body.utf8), headers: Self.securityHeaders))
        case .stream:
            PageStream.serve(channel, bridge: context.bridge)
        }
    }

    static func html(_ page: String, status: Int = 200) -> HTTPReply {
        .whole(status: status, contentType: "text/html; charset=utf-8", body: Array(page.utf8), headers: securityHeaders)
    }

    /// The fault message of an error reply, or nil for success.
    static func problem(_ reply: ControlReply) -> String? {
        guard case .json(let status, let body) = reply else { return nil }
        guard status >= 300 else { return nil }
        return (try? JSON.decode(ErrorReply.self, body))?.error.message ?? "failed (HTTP \(status))"
    }

    /// Does what `action` asks and says how it went, in supervisord's words.
    static func act(_ action: WebAction, bridge: ControlBridge, done: @escaping @Sendable (String) -> Void) {
        let spec = XMLRPCService.spec(action.processname)
        let name = action.processname
        let (request, success): (ControlRequest, String) = switch action.kind {
        case .start: (.start(spec, wait: true, deps: true), "Process \(name) started")
        case .stop: (.stop(spec, wait: true), "Process \(name) stopped")
        case .restart: (.restart(spec, wait: true), "Process \(name) restarted")
        case .clearlog: (.clearLogs(spec), "Log for \(name) cleared")
        case .signal: (.signal(spec, action.signal), "Signal \(action.signal) sent to \(name)")
        case .stopall: (.stop(.all, wait: true), "All stopped")
        case .restartall: (.restart(.all, wait: true), "All restarted")
        }
        bridge.submit(request) { reply in
            guard let problem = problem(reply) else {
                return done(action.kind == .stopall || action.kind == .restartall
                    ? success + " at " + Supervisor.stopTime(wallClockNow()) : success)
            }
            done("ERROR: " + problem)
        }
    }

    // MARK: pages

    static func head(_ title: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(htmlEscaped(title))</title><link rel="stylesheet" href="page.css"><script src="page.js" defer></script></head>

        """
    }

    static func actionLink(_ kind: String, _ namespec: String, _ label: String? = nil) -> String {
        let query = namespec.isEmpty ? "" : "processname=\(htmlEscaped(urlQueryEscaped(namespec)))&amp;"
        return "<a href=\"index.html?\(query)action=\(kind)\" data-action=\"\(kind)\">\(label ?? kind)</a>"
    }

    static func statusPage(_ board: StatusBoard, message: String?) -> String {
        let now = wallClockNow()
        let rows = board.metricsRows().rows
        var page = head("Minder status")
        page += """
        <body><header><h1>Minder</h1><nav><a href="index.html">Refresh</a> \(actionLink("restartall", "", "Restart all")) \
        \(actionLink("stopall", "", "Stop all")) <a href="tail.html">Main log</a></nav></header>
        <p id="message" role="status">\(htmlEscaped(message ?? ""))</p>
        <div class="tools"><input id="filter" type="search" placeholder="Filter by name" aria-label="Filter by name">
        <label>Signal <select id="signal">\(["HUP", "TERM", "INT", "QUIT", "KILL", "USR1", "USR2"].map { "<option>\($0)</option>" }.joined())</select></label>
        <span id="live" class="live"></span></div>
        <table id="processes"><thead><tr><th>State</th><th>Name</th><th>Description</th><th>CPU</th><th>Memory</th>\
        <th>Restarts</th><th>Actions</th></tr></thead>

        """
        page.reserveCapacity(page.utf8.count + rows.count * 900)
        var index = 0
        while index < rows.count {
            let group = rows[index].status.group
            var end = index
            while end < rows.count, rows[end].status.group == group { end += 1 }
            page += "<tbody data-group=\"\(htmlEscaped(group))\">"
            // A group header when the group is more than its one program of the same name.
            if end - index > 1 || rows[index].status.name != group {
                page += "<tr class=\"group\"><th colspan=\"6\">\(htmlEscaped(group))</th><td class=\"actions\">"
                    + ["start", "stop", "restart"].map { actionLink($0, group + ":*") }.joined(separator: " ") + "</td></tr>"
            }
            for row in rows[index..<end] { page += processRow(row.status.described(now: now), row.sample) }
            page += "</tbody>\n"
            index = end
        }
        page += "</table>\n<footer>Minder \(ControlAPI.version)</footer></body></html>\n"
        return page
    }

    static func processRow(_ s: ProcessStatus, _ sample: ResourceSample?) -> String {
        let spec = htmlEscaped(s.namespec)
        let link = htmlEscaped(urlQueryEscaped(s.namespec))
        let memory = sample.map { megabytes($0.residentBytes) } ?? ""
        return "<tr data-namespec=\"\(spec)\" data-state=\"\(s.statename)\"><td class=\"state \(s.statename.lowercased())\">\(s.statename)</td>"
            + "<td class=\"name\"><a href=\"tail.html?processname=\(link)\">\(htmlEscaped(s.name))</a></td>"
            + "<td class=\"desc\">\(htmlEscaped(s.description))</td><td class=\"cpu\"></td><td class=\"mem\">\(memory)</td>"
            + "<td class=\"restarts\">\(s.restarts)</td>"
            // One menu button a row, which the script fills: a browser builds a table of 1000 rows
            // several times faster than one with six links in each. Without the script, the
            // process's own page (its log view) has the action links.
            + "<td class=\"actions\"><button type=\"button\" class=\"menu\" aria-haspopup=\"menu\">actions</button></td></tr>\n"
    }

    static func megabytes(_ bytes: UInt64) -> String {
        let tenths = (bytes * 10 + 512 * 1024) / (1024 * 1024)
        return "\(tenths / 10).\(tenths % 10) MB"
    }

    static func confirmPage(_ action: WebAction) -> String {
        let what = action.processname.isEmpty ? "every process" : action.processname
        let verb = action.kind == .signal ? "Send \(action.signal) to" : action.kind.rawValue.replacingPrefix("stopall", "stop").replacingPrefix("restartall", "restart").capitalizedFirst
        var page = head("Confirm: \(verb) \(what)")
        page += """
        <body><header><h1>Minder</h1><nav><a href="index.html">Status</a></nav></header>
        <form class="confirm" method="post" action="index.html"><p>\(htmlEscaped(verb)) <b>\(htmlEscaped(what))</b>?</p>
        <input type="hidden" name="action" value="\(action.kind.rawValue)">
        <input type="hidden" name="processname" value="\(htmlEscaped(action.processname))">
        <input type="hidden" name="signal" value="\(htmlEscaped(action.signal))">
        <button type="submit" autofocus>\(htmlEscaped(verb)) \(htmlEscaped(what))</button> <a href="index.html">Cancel</a>
        <p class="why">A link asked for this. Actions from a browser are confirmed here, so that no other site can make them.</p>
        </form></body></html>

        """
        return page
    }

    static func tailPage(_ tail: WebTail, text: String, problem: String?) -> String {
        let title = tail.processname.map { "\($0) \(tail.channel)" } ?? "minderd's main log"
        var page = head(title)
        var nav = "<a href=\"index.html\">Status</a>"
        var follow = "api/v1/log?follow=1&amp;tail=\(tail.limit)"
        if let name = tail.processname {
            let link = htmlEscaped(urlQueryEscaped(name))
            let other = tail.channel == "stdout" ? "stderr" : "stdout"
            nav += " <a href=\"tail.html?processname=\(link)&amp;channel=\(other)&amp;limit=\(tail.limit)\">\(other)</a>"
            nav += " <a href=\"tail.html\">Main log</a> "
            nav += ["start", "stop", "restart", "clearlog"].map { actionLink($0, name) }.joined(separator: " ")
            follow = "api/v1/processes/\(link)/log/\(tail.channel)?follow=1&amp;tail=\(tail.limit)"
        }
        page += """
        <body><header><h1>\(htmlEscaped(title))</h1><nav>\(nav) <a href="\(tail.processname.map { "tail.html?processname=" + htmlEscaped(urlQueryEscaped($0)) + "&amp;channel=" + tail.channel + "&amp;limit=\(tail.limit)" } ?? "tail.html")">Refresh</a></nav></header>
        <p id="message" role="status">\(htmlEscaped(problem ?? ""))</p>
        <pre id="log" tabindex="0" data-follow="\(problem == nil ? follow : "")">\(htmlEscaped(text))</pre>
        </body></html>

        """
        return page
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, _ with: String) -> String {
        hasPrefix(prefix) ? with + dropFirst(prefix.count) : self
    }

    fileprivate var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
