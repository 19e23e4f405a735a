import Foundation
import MinderControl
@testable import Minder
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The control server's HTTP handlers, each on an EmbeddedChannel of its own.
@Suite struct HTTPPipelineTests {
    func request(_ uri: String, body: String = "", headers: [(String, String)] = []) -> [HTTPServerRequestPart] {
        var head = HTTPRequestHead(version: .http1_1, method: body.isEmpty ? .GET : .POST, uri: uri)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if !body.isEmpty { head.headers.add(name: "content-length", value: String(body.utf8.count)) }
        return [.head(head)] + (body.isEmpty ? [] : [.body(ByteBuffer(string: body))]) + [.end(nil)]
    }

    func exchange() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: HTTPExchange(maxBodyBytes: 16))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// The head, the body as text, and whether an end followed.
    func response(_ channel: EmbeddedChannel) throws -> (head: HTTPResponseHead, body: String) {
        guard case .head(let head) = try #require(try channel.readOutbound(as: HTTPServerResponsePart.self)) else {
            throw CancellationError()
        }
        var text = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .body(.byteBuffer(var b)): text += b.readString(length: b.readableBytes) ?? ""
            case .end: return (head, text)
            default: break
            }
        }
        return (head, text)
    }

    @Test func partsBecomeOneRequestAndARepliesParts() throws {
        let channel = try exchange()
        for part in request("/api/v1/processes", body: "{\"a\":1}") { try channel.writeInbound(part) }
        let got = try #require(try channel.readInbound(as: HTTPRequest.self))
        #expect(got.head.uri == "/api/v1/processes" && got.body == Array("{\"a\":1}".utf8))
        try channel.writeOutbound(HTTPReply.whole(status: 200, contentType: "application/json", body: Array("[]".utf8)))
        let (head, body) = try response(channel)
        #expect(head.status == .ok && body == "[]")
        #expect(head.headers["content-length"] == ["2"] && head.headers["connection"] == ["keep-alive"])
        #expect(channel.isActive)
    }

    @Test func aBodyOverTheCapGets413AndTheDoor() throws {
        let channel = try exchange()
        for part in request("/api/v1/events", body: String(repeating: "x", count: 17)) { try channel.writeInbound(part) }
        #expect(try channel.readInbound(as: HTTPRequest.self) == nil, "nothing reaches the router")
        let (head, body) = try response(channel)
        #expect(head.status == .payloadTooLarge && head.headers["connection"] == ["close"] && body.contains("larger than 16 bytes"))
        #expect(!channel.isActive)
    }

    @Test func aStreamIsAHeadAndChunks() throws {
        let channel = try exchange()
        for part in request("/api/v1/log?follow=1") { try channel.writeInbound(part) }
        _ = try channel.readInbound(as: HTTPRequest.self)
        try channel.writeOutbound(HTTPReply.streamHead(contentType: "text/plain"))
        try channel.writeOutbound(HTTPReply.chunk(Array("line\n".utf8)))
        guard case .head(let head) = try #require(try channel.readOutbound(as: HTTPServerResponsePart.self)) else {
            Issue.record("no head first")
            return
        }
        #expect(head.headers["transfer-encoding"] == ["chunked"])
        guard case .body(.byteBuffer(let chunk)) = try #require(try channel.readOutbound(as: HTTPServerResponsePart.self)) else {
            Issue.record("no chunk")
            return
        }
        #expect(String(buffer: chunk) == "line\n")
    }

    func auth(_ password: String) -> EmbeddedChannel { EmbeddedChannel(handler: BasicAuth(user: "admin", password: password)) }

    func basic(_ pair: String) -> [(String, String)] { [("authorization", "Basic " + Data(pair.utf8).base64EncodedString())] }

    func passes(_ channel: EmbeddedChannel, _ headers: [(String, String)]) throws -> Bool {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/v1/processes")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        try channel.writeInbound(HTTPRequest(head: head, body: []))
        if try channel.readInbound(as: HTTPRequest.self) != nil { return true }
        guard case .whole(let status, _, _, let extra)? = try channel.readOutbound(as: HTTPReply.self) else {
            Issue.record("neither passed nor answered")
            return false
        }
        #expect(status == 401 && extra.contains { $0.0 == "www-authenticate" })
        return false
    }

    @Test func onlyTheConfiguredUserPasses() throws {
        let channel = auth("s3cret")
        #expect(try passes(channel, basic("admin:s3cret")))
        #expect(try !passes(channel, []))
        #expect(try !passes(channel, basic("admin:wrong")))
        #expect(try !passes(channel, basic("other:s3cret")))
        #expect(try !passes(channel, basic("admins3cret")))
        #expect(try !passes(channel, [("authorization", "Basic !!!not base64")]))
        #expect(try !passes(channel, [("authorization", "Bearer abc")]))
        #expect(try passes(channel, basic("admin:s3cret")), "a refusal leaves the connection usable")
    }

    @Test func aSHAPasswordIsCheckedByItsDigest() throws {
        let digest = "fef341f85d87439e7d91a2d465b9871ef66b5e98"  // SHA-1 of "s3cret"
        let channel = auth("{SHA}" + digest.uppercased())
        #expect(try passes(channel, basic("admin:s3cret")))
        #expect(try !passes(channel, basic("admin:{SHA}" + digest)))
    }

    /// A follow whose socket has just filled up (the client stopped reading), with the limits.
    func stalledFollow() throws -> (EmbeddedChannel, ConnectionLimits) {
        let limits = ConnectionLimits(descriptorLimit: 1024)
        let admission = ConnectionAdmission(limits: limits, logger: .init(label: "test"))
        let channel = EmbeddedChannel(handler: ConnectionDeadlines(limits: limits, warnings: admission.warnings, peer: "test"))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        for part in request("/api/v1/log?follow=1") { try channel.writeInbound(part) }
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        return (channel, limits)
    }

    /// A client that stops reading a reply is closed after the write-stall time.
    @Test func aReaderThatStallsIsClosed() throws {
        let (channel, limits) = try stalledFollow()
        channel.embeddedEventLoop.advanceTime(by: .seconds(limits.writeStallSeconds - 1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func aReaderThatCatchesUpIsKept() throws {
        let (channel, limits) = try stalledFollow()
        channel.embeddedEventLoop.advanceTime(by: .seconds(limits.writeStallSeconds - 1))
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(limits.writeStallSeconds * 10))
        #expect(channel.isActive, "a follow has no deadline while its reader keeps up")
    }
}

/// The metrics text on its own: label values escaped as the exposition format wants.
@Suite struct MetricsRenderTests {
    @Test func labelValuesAreEscaped() {
        let status = ProcessStatus(name: "a\"b\\c\nd", group: "g", statename: "RUNNING", state: 20, description: "", pid: 7,
                                   start: 1_796_000_000, stop: 0, now: 0, spawnerr: "", exitstatus: 0, restarts: 3,
                                   stdout_logfile: "", stderr_logfile: "")
        let text = String(decoding: Metrics.render([(status, ResourceSample(cpuSeconds: 1.5, residentBytes: 4096, openFDs: 5, threads: 1),
                                                     ExitCounts(expected: 2, unexpected: 5))],
                                                   spawnFailures: 4, daemon: nil), as: UTF8.self)
        #expect(text.contains("minder_process_up{group=\"g\",name=\"a\\\"b\\\\c\\nd\"} 1\n"), "\(text)")
        #expect(text.contains("minder_process_cpu_seconds_total{group=\"g\",name=\"a\\\"b\\\\c\\nd\"} 1.5\n"))
        #expect(text.contains("minder_process_restarts_total{group=\"g\",name=\"a\\\"b\\\\c\\nd\"} 3\n"))
        #expect(text.contains("""
            # TYPE minder_process_exits_total counter
            minder_process_exits_total{group="g",name="a\\"b\\\\c\\nd",expected="true"} 2
            minder_process_exits_total{group="g",name="a\\"b\\\\c\\nd",expected="false"} 5

            """), "\(text)")
        #expect(text.contains("# TYPE minder_spawn_failures_total counter\nminder_spawn_failures_total 4\n"))
        #expect(text.hasSuffix("minder_build_info{version=\"\(MinderVersion.current)\"} 1\n"))
    }

    /// A process that never exited shows both exit samples at 0, so that rates work from the start.
    @Test func exitCountsStartAtZeroForBothLabels() {
        let status = ProcessStatus(name: "web", group: "site", statename: "STOPPED", state: 0, description: "", pid: 0,
                                   start: 0, stop: 0, now: 0, spawnerr: "", exitstatus: 0, restarts: 0,
                                   stdout_logfile: "", stderr_logfile: "")
        let text = String(decoding: Metrics.render([(status, nil, ExitCounts())], daemon: nil), as: UTF8.self)
        #expect(text.contains("minder_process_exits_total{group=\"site\",name=\"web\",expected=\"true\"} 0\n"), "\(text)")
        #expect(text.contains("minder_process_exits_total{group=\"site\",name=\"web\",expected=\"false\"} 0\n"))
        #expect(text.contains("minder_spawn_failures_total 0\n"))
    }

    @Test func openMetricsNamesCounterFamiliesWithoutTotalAndEnds() {
        let status = ProcessStatus(name: "web", group: "web", statename: "RUNNING", state: 20, description: "", pid: 7,
                                   start: 1_796_000_000, stop: 0, now: 0, spawnerr: "", exitstatus: 0, restarts: 3,
                                   stdout_logfile: "", stderr_logfile: "")
        let text = String(decoding: Metrics.render([(status, nil, ExitCounts(expected: 0, unexpected: 1))], spawnFailures: 2, daemon: nil,
                                                   openMetrics: true), as: UTF8.self)
        #expect(text.contains("# TYPE minder_process_restarts counter\nminder_process_restarts_total{group=\"web\",name=\"web\"} 3\n"))
        #expect(text.contains("# TYPE minder_process_exits counter\nminder_process_exits_total{group=\"web\",name=\"web\",expected=\"true\"} 0\n"))
        #expect(text.contains("# TYPE minder_spawn_failures counter\nminder_spawn_failures_total 2\n"))
        #expect(text.contains("# TYPE minder_build info\nminder_build_info{version="))
        #expect(text.hasSuffix("\n# EOF\n"))
        #expect(Metrics.wantsOpenMetrics("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"))
        #expect(!Metrics.wantsOpenMetrics("text/plain") && !Metrics.wantsOpenMetrics(nil))
    }
}
