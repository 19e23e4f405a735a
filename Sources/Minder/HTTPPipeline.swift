// The control server's HTTP handlers after the codec and the deadlines, one job each, each
// tested on its own with EmbeddedChannel: HTTPExchange turns request parts into one whole request
// and replies into response parts; BasicAuth lets only the configured user through; the
// dispatcher (ControlServer.swift) routes. Peer credentials are checked before any of them exist.

import Glibc
import MinderConfig
import MinderControl
import NIOCore
import NIOHTTP1

/// One whole request, as the handlers after HTTPExchange see it.
struct HTTPRequest {
    var head: HTTPRequestHead
    var body: [UInt8]
}

/// What those handlers write: a whole reply, or the head and then the chunks of a stream that
/// ends when the connection does (a log follow).
enum HTTPReply {
    case whole(status: Int, contentType: String, body: [UInt8], headers: [(String, String)] = [])
    case streamHead(contentType: String)
    case chunk([UInt8])

    static func json(_ reply: ControlReply) -> HTTPReply {
        guard case .json(let status, let body) = reply else {
            return .whole(status: 500, contentType: "text/plain", body: Array("no reply\n".utf8))
        }
        return .whole(status: status, contentType: "application/json", body: body)
    }
}

/// Request parts in, one HTTPRequest out; HTTPReply in, response parts out. A body larger than
/// the cap is not kept: the client gets 413 and the connection is closed after it. NIO's
/// pipelining handler before this one holds a second request until the first one's reply ended,
/// so one request is in flight per connection.
final class HTTPExchange: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPRequest
    typealias OutboundIn = HTTPReply
    typealias OutboundOut = HTTPServerResponsePart

    let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    /// Of the request being answered.
    private var keepAlive = true
    private var version = HTTPVersion.http1_1

    /// Replies counted by status class, for /metrics.
    let outcomes: RequestOutcomes?

    init(maxBodyBytes: Int, outcomes: RequestOutcomes? = nil) {
        self.maxBodyBytes = maxBodyBytes
        self.outcomes = outcomes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            tooLarge = (h.headers.first(name: "content-length").flatMap(Int.init) ?? 0) > maxBodyBytes
        case .body(var buffer):
            if tooLarge || body.count + buffer.readableBytes > maxBodyBytes {
                tooLarge = true
                body = []
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            version = head.version
            keepAlive = head.isKeepAlive && !tooLarge
            if tooLarge {
                let reply = ControlReply.fault(.INCORRECT_PARAMETERS, "request body larger than \(maxBodyBytes) bytes").with(status: 413)
                return write(context: context, data: NIOAny(HTTPReply.json(reply)), promise: nil)
            }
            context.fireChannelRead(wrapInboundOut(HTTPRequest(head: head, body: body)))
            body = []
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .whole(let status, let contentType, let body, let extra):
            outcomes?.count(status)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: String(body.count))
            headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
            for (name, value) in extra { headers.add(name: name, value: value) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status),
                                                                 headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
            }
            done.cascade(to: promise)
        case .streamHead(let contentType):
            outcomes?.count(200)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "transfer-encoding", value: "chunked")
            // A stream's head and chunks wait for the writer's flush, so that a backlog goes out
            // in one write, not one per event.
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))),
                          promise: promise)
        case .chunk(let bytes):
            var buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: promise)
        }
    }

    /// Malformed HTTP: NIO has answered 400; nothing more is read from this client.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// supervisord's optional username and password (`[unix_http_server]`, `[inet_http_server]`):
/// HTTP Basic auth on every request, the password in clear or as `{SHA}` and the SHA-1 hex.
final class BasicAuth: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequest
    typealias InboundOut = HTTPRequest
    typealias OutboundOut = HTTPReply

    let user: String
    let password: String
    /// Where failed logins are told, rate-limited, with the peer.
    let warnings: RateLimitedLog?
    let peer: String

    init(user: String, password: String, warnings: RateLimitedLog? = nil, peer: String = "") {
        self.user = user
        self.password = password
        self.warnings = warnings
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        let header = request.head.headers.first(name: "authorization")
        guard authorized(header) else {
            if header != nil { warnings?.warning("control: failed login (\(peer))") }
            let reply = ControlReply.fault(.FAILED, "authentication required").with(status: 401)
            guard case .json(let status, let body) = reply else { return }
            context.writeAndFlush(wrapOutboundOut(.whole(status: status, contentType: "application/json", body: body,
                                                         headers: [("www-authenticate", "Basic realm=\"minderd\"")])), promise: nil)
            return
        }
        context.fireChannelRead(data)
    }

    func authorized(_ header: String?) -> Bool {
        guard let header, header.count < 4096, header.hasPrefix("Basic "),
              let decoded = Base64.decode(String(header.dropFirst(6))) else { return false }
        let pair = String(decoding: decoded, as: UTF8.self)
        guard let colon = pair.firstIndex(of: ":"), pair[..<colon] == user else { return false }
        let given = pair[pair.index(after: colon)...]
        // supervisord's {SHA}<hex> form keeps the SHA-1 of the password instead of the password.
        if password.hasPrefix("{SHA}") {
            let digest = Digest.hex(Digest.sha1(Array(given.utf8)))
            return digest == password.dropFirst(5).lowercased()
        }
        return given == password
    }
}

/// `[inet_http_server]` takes requests from anything that can reach the port, a web page in a
/// browser on the host included: such a page may send requests to 127.0.0.1:9001, or have its own
/// name resolve there (DNS rebinding). So over TCP a request must name this server in `Host` (an
/// address, `localhost`, the configured host or the machine's name), must not come from another
/// site (`Origin`, `Sec-Fetch-Site`), and a request that changes anything must carry its
/// protocol's content type, which a cross-site form cannot send without the browser asking first.
/// The one form minderd takes is the web page's action POST to index.html, and only with a
/// browser's word that it comes from this origin. On the Unix socket, which a browser reaches
/// only through a reverse proxy, the same checks apply to requests that carry a browser's headers.
final class CrossSiteGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequest
    typealias InboundOut = HTTPRequest
    typealias OutboundOut = HTTPReply

    /// Host names (lowercase, no port) this server answers to, besides addresses; nil on the
    /// Unix socket, whose clients name no host.
    let names: Set<String>?

    init(names: Set<String>?) {
        self.names = names
    }

    static func names(configured host: String) -> Set<String> {
        var buffer = [CChar](repeating: 0, count: 256)
        let machine = gethostname(&buffer, buffer.count - 1) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        return Set(["localhost", host.lowercased(), machine.lowercased()].filter { !$0.isEmpty })
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        if let refusal = refusal(request.head) {
            let reply = ControlReply.fault(.FAILED, refusal).with(status: 403)
            context.writeAndFlush(wrapOutboundOut(.json(reply)), promise: nil)
            return
        }
        context.fireChannelRead(data)
    }

    /// Why the request is refused, or nil.
    func refusal(_ head: HTTPRequestHead) -> String? {
        let host = head.headers.first(name: "host") ?? ""
        let site = head.headers.first(name: "sec-fetch-site")?.lowercased()
        let origin = head.headers.first(name: "origin")
        if let names {
            guard head.headers.contains(name: "host") else { return "a request over TCP must name the server in Host" }
            let name = Self.hostName(host)
            guard Self.isAddress(name) || names.contains(name) else {
                return "Host \(host) is not a name of this server"
            }
        } else if site == nil && origin == nil {
            return nil  // not from a browser
        }
        if let site, site != "same-origin", site != "none" {
            return "a request from another site is refused"
        }
        // Behind a reverse proxy the browser's origin is the proxy's, which it names in
        // X-Forwarded-Host (a header that no cross-site request can add without asking first).
        if let origin {
            let ours = [host, head.headers.first(name: "x-forwarded-host") ?? ""].filter { !$0.isEmpty }.map { $0.lowercased() }
            guard ours.contains(where: { origin.lowercased() == "http://" + $0 || origin.lowercased() == "https://" + $0 }) else {
                return "a request from another origin (\(origin)) is refused"
            }
        }
        if head.method != .GET && head.method != .HEAD {
            let type = head.headers.first(name: "content-type")?.split(separator: ";").first?
                .pyStrip().lowercased()
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if path == "/index.html", type == "application/x-www-form-urlencoded" {
                return site == "same-origin" || origin != nil ? nil : "the page's actions are taken only from the page itself"
            }
            let wanted = head.uri.hasPrefix("/RPC2") ? "text/xml" : "application/json"
            guard type == wanted else { return "a \(head.method.rawValue) over \(names == nil ? "a proxy" : "TCP") must be sent as \(wanted)" }
        }
        return nil
    }

    /// `name`, `name:port`, `[v6]`, `[v6]:port`: the name or address alone, lowercase.
    static func hostName(_ host: String) -> String {
        let h = host.pyStrip().lowercased()
        if h.hasPrefix("["), let close = h.firstIndex(of: "]") { return String(h[h.index(after: h.startIndex)..<close]) }
        if h.filter({ $0 == ":" }).count == 1, let colon = h.firstIndex(of: ":") { return String(h[..<colon]) }
        return h
    }

    static func isAddress(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }
}
