import Foundation
import MinderControl
import Testing

/// The control API's router on its own: every input gives a route or an error reply.
@Suite struct ControlRouteTests {
    func parse(_ method: String, _ target: String, _ body: String = "") -> Result<ControlRoute, ControlRoute.Refusal> {
        ControlRoute.parse(method: method, target: target, body: Array(body.utf8))
    }

    @Test(arguments: ["?=", "?==", "?=&=", "?x&=", "?&", "?&&", "?=x", "?%", "?%zz=%", "?wait=%", "?tail==1"])
    func queriesWithoutANameAreIgnored(_ query: String) {
        #expect(parse("GET", "/api/v1/processes" + query) == .success(.statuses(nil)))
        #expect(throws: Never.self) { _ = parse("POST", "/api/v1/processes/a/start" + query) }
    }

    @Test func statusFieldsAreKeysOfTheRecord() {
        #expect(parse("GET", "/api/v1/processes?fields=name,statename") == .success(.statuses(nil, fields: ["name", "statename"])))
        #expect(parse("GET", "/api/v1/processes/a?fields=pid") == .success(.statuses(.process(group: "a", name: "a"), fields: ["pid"])))
        for bad in ["fields=", "fields=name,bogus", "fields=,", "fields=Name"] {
            guard case .failure(let refusal) = parse("GET", "/api/v1/processes?" + bad) else {
                Issue.record("\(bad) was accepted")
                continue
            }
            #expect(refusal.fault == .INCORRECT_PARAMETERS && refusal.status == 400 && refusal.message.contains("statename"), "\(bad)")
        }
    }

    @Test func routes() {
        #expect(parse("GET", "/api/v1/processes/g%3Aa") == .success(.statuses(.process(group: "g", name: "a"))))
        #expect(parse("POST", "/api/v1/processes/g:*/stop?wait=false") == .success(.stop(.group("g"), wait: false)))
        #expect(parse("POST", "/api/v1/processes/a/signal", "{\"signal\":\"HUP\"}") == .success(.signal(.process(group: "a", name: "a"), "HUP")))
        #expect(parse("POST", "/api/v1/update?groups=a,b") == .success(.update(groups: ["a", "b"])))
        #expect(parse("DELETE", "/api/v1/groups/x") == .success(.removeGroup("x")))
        #expect(parse("POST", "/api/v1/events/subscriptions") == .success(.subscribe(SubscribeRequest())))
        #expect(parse("POST", "/api/v1/events/subscriptions", #"{"maxmsg":5,"pid":7}"#) == .success(.subscribe(SubscribeRequest(maxmsg: 5, pid: 7))))
        #expect(parse("GET", "/api/v1/events/subscriptions") == .success(.subscriptions))
        #expect(parse("DELETE", "/api/v1/events/subscriptions/3") == .success(.unsubscribe(3)))
        let log = parse("GET", "/api/v1/processes/a/log/stderr?tail=10&follow=1")
        #expect(log == .success(.readLog(.process(.process(group: "a", name: "a"), channel: "stderr"),
                                         .init(tail: 10, offset: nil, length: 1600, follow: true))))
    }

    /// The web page's URLs (WebRoute): supervisord's, with a browser's GET action asking first.
    @Test func webRoutes() {
        func web(_ method: String, _ target: String, _ body: String = "", browser: Bool = false) -> Result<WebRoute, ControlRoute.Refusal>? {
            WebRoute.parse(method: method, target: target, body: Array(body.utf8), fromBrowser: browser)
        }
        #expect(web("GET", "/") == .success(.status(message: nil)))
        #expect(web("GET", "/index.html?message=Process+a+stopped") == .success(.status(message: "Process a stopped")))
        #expect(web("GET", "/index.html?processname=a&action=refresh") == .success(.status(message: nil)))
        let stop = WebAction(kind: .stop, processname: "g:a")
        #expect(web("GET", "/index.html?processname=g%3Aa&action=stop") == .success(.action(stop, confirm: false)))
        #expect(web("GET", "/index.html?processname=g%3Aa&action=stop", browser: true) == .success(.action(stop, confirm: true)))
        #expect(web("POST", "/index.html", "processname=g%3Aa&action=stop", browser: true) == .success(.action(stop, confirm: false)))
        #expect(web("GET", "/index.html?action=stopall") == .success(.action(WebAction(kind: .stopall, processname: ""), confirm: false)))
        #expect(web("POST", "/index.html", "processname=a&action=signal&signal=USR1")
            == .success(.action(WebAction(kind: .signal, processname: "a", signal: "USR1"), confirm: false)))
        #expect(web("GET", "/tail.html?processname=a&limit=99999999999999") == .success(.tail(WebTail(processname: "a", channel: "stdout", limit: ControlAPI.maxLogReadBytes))))
        #expect(web("GET", "/tail.html?channel=stderr&limit=-5") == .success(.tail(WebTail(processname: nil, channel: "stderr", limit: 0))))
        #expect(web("GET", "/page.js") == .success(.asset("page.js")))
        #expect(web("GET", "/page.events") == .success(.stream))
        #expect(web("GET", "/api/v1/processes") == nil && web("GET", "/RPC2") == nil && web("GET", "/logtail/a") == nil)
        for refused in [web("POST", "/index.html", "action=stop"), web("POST", "/index.html", "processname=a&action=signal"),
                        web("POST", "/"), web("DELETE", "/tail.html"), web("POST", "/page.events")] {
            guard case .failure? = refused else { Issue.record("\(String(describing: refused))"); continue }
        }
        #expect(htmlEscaped("<a href='x'>&\"</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;")
        #expect(urlQueryEscaped("g:a b/é") == "g%3Aa%20b%2F%C3%A9")
    }

    @Test func errorReplies() throws {
        func refusal(_ r: Result<ControlRoute, ControlRoute.Refusal>) -> (Fault, Int)? {
            if case .failure(let f) = r { return (f.fault, f.status) }
            return nil
        }
        #expect(refusal(parse("GET", "/api/v2/x"))! == (.UNKNOWN_METHOD, 404))
        #expect(refusal(parse("DELETE", "/api/v1/processes"))! == (.INCORRECT_PARAMETERS, 405))
        #expect(refusal(parse("POST", "/api/v1/processes/a/signal", "{no"))! == (.INCORRECT_PARAMETERS, 400))
        #expect(refusal(parse("GET", "/api/v1/log?length=-1"))! == (.BAD_ARGUMENTS, 400))
        #expect(refusal(parse("GET", "/api/v1/log?tail=99999999999999999999999"))! == (.BAD_ARGUMENTS, 400))
        #expect(refusal(parse("GET", "/api/v1/processes/a/frob/x"))! == (.UNKNOWN_METHOD, 404))
        #expect(refusal(parse("POST", "/api/v1/events/subscriptions", #"{"maxmsg":"many"}"#))! == (.INCORRECT_PARAMETERS, 400))
        #expect(refusal(parse("DELETE", "/api/v1/events/subscriptions/0"))! == (.UNKNOWN_METHOD, 404))
        #expect(refusal(parse("PUT", "/api/v1/events/subscriptions"))! == (.INCORRECT_PARAMETERS, 405))
    }

    @Test func logRepliesAreBounded() {
        guard case .success(.readLog(_, let q)) = parse("GET", "/api/v1/log?tail=1000000000&length=1000000000") else {
            Issue.record("not a log read")
            return
        }
        #expect(q.tail == ControlAPI.maxLogReadBytes)
        #expect(q.length == ControlAPI.maxLogReadBytes)
    }

    /// Random targets built from the characters that matter to the parser never trap.
    @Test func randomTargetsNeverTrap() {
        let alphabet = Array("/?=&%:*aA0-_.api/v1processeslogstdout".utf8) + [0, 0xff, 0xc3]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let target = "/api/v1/" + String(decoding: bytes, as: UTF8.self)
            for method in ["GET", "POST", "DELETE", "PUT"] { _ = parse(method, target, String(decoding: bytes, as: UTF8.self)) }
        }
    }
}
