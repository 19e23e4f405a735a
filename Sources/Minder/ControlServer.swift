// The control API: HTTP/1.1 with JSON on the Unix socket of
// [unix_http_server], on NIO's own thread. It owns no process state: every
// request goes to the supervisor's loop through the bridge. Config files and
// logs are read here, on a worker thread, so the loop never blocks on them.

import CMinder
import Dispatch
import Glibc
import Logging
import MinderConfig
import MinderControl
import NIOCore
import NIOHTTP1
import NIOPosix

public final class ControlServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channels: [any Channel]
    let socketPath: String?
    let admission: ConnectionAdmission

    /// Binds the Unix socket (mode and owner from the config) and every `[inet_http_server]`, and
    /// starts serving; on a failure nothing stays bound.
    public init(unix: UnixServer?, inet: [InetServer], bridge: ControlBridge, capture: LogCapture, logger: Logger,
                events: EventStream? = nil, loadConfig: @escaping @Sendable () -> ConfigLoadResult) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        socketPath = unix?.file
        let admission = ConnectionAdmission(limits: ConnectionLimits.current(), logger: logger)
        self.admission = admission
        let context = HandlerContext(bridge: bridge, capture: capture, loadConfig: loadConfig, events: events)
        var channels: [any Channel] = []
        do {
            if let unix { channels.append(try Self.bind(unix, group: group, admission: admission, context: context)) }
            for server in inet { channels.append(try Self.bind(server, group: group, admission: admission, context: context)) }
        } catch {
            for channel in channels { try? channel.close().wait() }
            try? group.syncShutdownGracefully()
            if let path = unix?.file, !channels.isEmpty { unlink(path) }
            throw error
        }
        self.channels = channels
    }

    public func stop() {
        for channel in channels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
        if let socketPath { unlink(socketPath) }
    }

    /// What every admitted connection gets, on either kind of server: the HTTP codec, the
    /// deadlines, request assembly, the cross-site checks (TCP), auth (when configured), dispatch.
    /// A client that is not admitted gets one canned reply and no HTTP handler at all.
    static func serve(_ channel: any Channel, client: ConnectionAdmission.Client, peer: PeerCredentials? = nil, allowed: Bool, who: String,
                      admission: ConnectionAdmission, context: HandlerContext, credentials: (user: String, password: String)?,
                      crossSite: CrossSiteGuard?) -> EventLoopFuture<Void> {
        let verdict = admission.admit(client, allowed: allowed)
        guard verdict == .admitted else {
            admission.warnings.warning(verdict == .refused
                ? "control socket: refused a client (\(who))"
                : "control socket: turned away a client (\(who)): \(admission.open) connections open")
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(TurnAway(reply: ConnectionAdmission.cannedReply(verdict), admission: admission))
            }
        }
        channel.closeFuture.whenComplete { _ in admission.release(client) }
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.configureHTTPServerPipeline(withErrorHandling: true)
            try sync.addHandler(ConnectionDeadlines(limits: admission.limits, warnings: admission.warnings, peer: who))
            try sync.addHandler(HTTPExchange(maxBodyBytes: ControlAPI.maxBodyBytes, outcomes: context.bridge.board.requests))
            if let crossSite { try sync.addHandler(crossSite) }
            if let credentials {
                try sync.addHandler(BasicAuth(user: credentials.user, password: credentials.password, warnings: admission.warnings, peer: who))
            }
            try sync.addHandler(ControlDispatcher(context: context, peer: peer))
        }
    }

    /// The Unix socket: peer credentials decide who is served.
    static func bind(_ server: UnixServer, group: MultiThreadedEventLoopGroup, admission: ConnectionAdmission,
                     context: HandlerContext) throws -> any Channel {
        var allowedUIDs: Set<UInt32> = [0, geteuid()]
        if server.chownUID >= 0 { allowedUIDs.insert(UInt32(server.chownUID)) }
        let allowedUIDsFinal = allowedUIDs
        let allowedGID: UInt32? = server.chownGID >= 0 ? UInt32(server.chownGID) : nil
        let credentials = server.username.map { (user: $0, password: server.password ?? "") }
        let bootstrap = ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                Self.peerCredentials(channel).and(Self.peerGroups(channel)).flatMap { peer, groups in
                    // Refused unless root, minderd's own user, or the socket's chown user or a member of its group.
                    let inGroup = allowedGID.map { gid in peer?.gid == gid || (gid != 0 && groups.contains(gid)) } ?? false
                    let allowed = peer.map { allowedUIDsFinal.contains($0.uid) } == true || inGroup
                    let who = "pid \(peer?.pid ?? 0), uid \(peer.map { String($0.uid) } ?? "?")"
                    return serve(channel, client: .user(peer?.uid ?? UInt32.max), peer: peer, allowed: allowed, who: who,
                                 admission: admission, context: context, credentials: credentials, crossSite: CrossSiteGuard(names: nil))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        // The socket file is made with mode 0, then given the configured mode: no window in which
        // it is more open than asked, and the process-wide umask is left alone.
        var holder: Int32 = 0
        let fd = mn_claim_unix_socket(server.file, 256, &holder)
        guard fd >= 0 else {
            if holder != 0 { throw SocketInUse(path: server.file, pid: holder) }
            throw IOError(errnoCode: errno, reason: "bind \(server.file)")
        }
        chmod(server.file, mode_t(server.chmod))
        if server.chownUID >= 0 || server.chownGID >= 0 {
            chown(server.file, uid_t(bitPattern: Int32(server.chownUID)), gid_t(bitPattern: Int32(server.chownGID)))
        }
        do {
            return try bootstrap.withBoundSocket(fd).wait()
        } catch {
            close(fd)
            unlink(server.file)
            throw error
        }
    }

    /// `[inet_http_server]`: no peer credentials on TCP, so connections are capped per address,
    /// and requests from browsers on the host are refused (CrossSiteGuard).
    static func bind(_ server: InetServer, group: MultiThreadedEventLoopGroup, admission: ConnectionAdmission,
                     context: HandlerContext) throws -> any Channel {
        let credentials = server.username.map { (user: $0, password: server.password ?? "") }
        let names = CrossSiteGuard.names(configured: server.host)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let address = channel.remoteAddress?.ipAddress ?? "?"
                return serve(channel, client: .address(address), allowed: true, who: "address \(address)",
                             admission: admission, context: context, credentials: credentials,
                             crossSite: CrossSiteGuard(names: names))
            }
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        let host = server.host.isEmpty ? "0.0.0.0" : server.host.unbracketed
        do {
            return try bootstrap.bind(host: host, port: server.port).wait()
        } catch {
            throw PortInUse(section: server.section, address: "\(server.host.isEmpty ? "*" : server.host):\(server.port)", error: error)
        }
    }

    struct PeerCredentials: Sendable {
        var pid: Int32
        var uid: UInt32
        var gid: UInt32
    }

    /// SO_PEERGROUPS: the peer's supplementary groups (zeros fill the unused room, so gid 0 is
    /// only trusted from SO_PEERCRED).
    static func peerGroups(_ channel: any Channel) -> EventLoopFuture<Set<UInt32>> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture([])
        }
        let future: EventLoopFuture<mn_peer_groups> = provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: 59))  // SO_PEERGROUPS
        return future.map { value in
            var copy = value
            return withUnsafeBytes(of: &copy.gids) { Set($0.bindMemory(to: UInt32.self).filter { $0 != 0 }) }
        }.recover { _ in [] }
    }

    /// SO_PEERCRED: who is at the other end of the socket.
    static func peerCredentials(_ channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: 17))  // SO_PEERCRED
        return future.map { Optional($0) }.recover { _ in nil }
    }
}

/// An `[inet_http_server]` port that cannot be had.
public struct PortInUse: Error, CustomStringConvertible {
    public var section: String
    public var address: String
    public var error: any Error

    public var description: String { "[\(section)] cannot listen on \(address): \(error)" }
}

/// Another process serves the control socket: minderd never takes a live socket over.
public struct SocketInUse: Error, CustomStringConvertible {
    public var path: String
    public var pid: Int32

    public var description: String {
        "the control socket \(path) is served by another process (\(pid > 0 ? "pid \(pid)" : "pid unknown")); it is not replaced"
    }

    /// nil when nothing serves `path`.
    public static func check(_ path: String) -> SocketInUse? {
        let pid = mn_unix_socket_server(path)
        return pid == 0 ? nil : SocketInUse(path: path, pid: pid)
    }
}

struct HandlerContext: Sendable {
    let bridge: ControlBridge
    let capture: LogCapture
    let loadConfig: @Sendable () -> ConfigLoadResult
    let events: EventStream?
}

/// Routes a whole, authorized request: the JSON API to the router. Replies made on another thread
/// come back to this connection's loop.
final class ControlDispatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequest
    typealias OutboundOut = HTTPReply

    let context: HandlerContext
    /// Who is at the other end of a Unix socket; nil on TCP.
    let peer: ControlServer.PeerCredentials?

    init(context: HandlerContext, peer: ControlServer.PeerCredentials?) {
        self.context = context
        self.peer = peer
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        let reply = Self.replier(ctx)
        let send: @Sendable (ControlReply) -> Void = { reply(.json($0)) }
        let channel = ctx.channel
        let capture = context.capture
        let stream: @Sendable (String, Int) -> Void = { path, tail in
            Self.follow(path: path, tail: tail, channel: channel, capture: capture)
        }
        let uri = request.head.uri
        // supervisord's endpoints: XML-RPC (any path starting /RPC2, as supervisord matches it),
        // and the log tails supervisorctl's `tail -f` and `maintail -f` read.
        if uri.hasPrefix("/RPC2") {
            guard request.head.method == .POST else {
                return reply(.whole(status: 405, contentType: "text/plain; charset=utf-8", body: Array("XML-RPC takes POST\n".utf8),
                                    headers: [("allow", "POST")]))
            }
            return XMLRPCService(context: context).handle(request.body, reply: reply)
        }
        // The web page, at supervisord's URLs.
        let headers = request.head.headers
        let fromBrowser = headers.contains(name: "sec-fetch-site") || headers.contains(name: "sec-fetch-mode")
        if let page = WebRoute.parse(method: request.head.method.rawValue, target: uri, body: request.body, fromBrowser: fromBrowser) {
            switch page {
            case .failure(let refusal): return send(.fault(refusal.fault, refusal.message).with(status: refusal.status))
            case .success(let route):
                let wantsJSON = headers.first(name: "accept")?.includes("application/json") ?? false
                return WebPage(context: context).handle(route, channel: ctx.channel, wantsJSON: wantsJSON, reply: reply)
            }
        }
        if request.head.method == .GET, uri == "/metrics" || uri.hasPrefix("/metrics?") {
            let open = Metrics.wantsOpenMetrics(request.head.headers.first(name: "accept"))
            let (board, loop) = (context.bridge.board, ctx.eventLoop)
            // Numbers sampled for this scrape (coalesced with others), rendered off the supervisor's loop.
            return context.bridge.submit(.freshSample) { _ in
                loop.execute {
                    let (rows, spawnFailures) = board.metricsRows()
                    let body = Metrics.render(rows, spawnFailures: spawnFailures, events: board.events, requests: board.requests.byClass,
                                              daemon: Metrics.ownSample(), openMetrics: open)
                    reply(.whole(status: 200, contentType: open ? Metrics.openMetricsType : Metrics.contentType, body: body))
                }
            }
        }
        if let log = Self.logTail(uri), request.head.method == .GET {
            // A log not written yet is followed all the same: supervisord makes its files at the
            // first spawn, so its clients expect one.
            return context.bridge.submit(log) { answer in
                guard case .file(let path) = answer else {
                    return reply(.whole(status: 404, contentType: "text/plain; charset=utf-8", body: Array("No file\n".utf8)))
                }
                stream(path, 1024)
            }
        }
        if request.head.method == .GET, uri == ControlAPI.prefix + "/events" || uri.hasPrefix(ControlAPI.prefix + "/events?"),
           let events = context.events {
            let last = request.head.headers.first(name: "last-event-id").flatMap { Int($0.pyStrip()) }
            return events.serve(ctx.channel, lastEventID: last)
        }
        Router(context: context, peer: peer).route(request.head, request.body, send, stream)
    }

    /// `/logtail/NAME`, `/logtail/NAME/stdout`, `/logtail/NAME/stderr` and `/mainlogtail`: which log.
    static func logTail(_ uri: String) -> ControlRequest? {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if path == "/mainlogtail" { return .mainLogPath }
        guard path.hasPrefix("/logtail/") else { return nil }
        var parts = path.dropFirst("/logtail/".count).split(separator: "/", omittingEmptySubsequences: false).map {
            percentDecoded($0) ?? String($0)
        }
        var channel = "stdout"
        if parts.count == 2, parts[1] == "stdout" || parts[1] == "stderr" { channel = parts.removeLast() }
        guard parts.count == 1, !parts[0].isEmpty else { return nil }
        return .logPath(XMLRPCService.spec(parts[0]), channel: channel)
    }

    /// Writes a reply from any thread; one made on the loop itself (a status query) goes out at
    /// once, without a wake-up.
    static func replier(_ ctx: ChannelHandlerContext) -> @Sendable (HTTPReply) -> Void {
        let loop = ctx.eventLoop
        let bound = NIOLoopBound(ctx, eventLoop: loop)
        return { reply in
            if loop.inEventLoop { return bound.value.writeAndFlush(NIOAny(reply), promise: nil) }
            loop.execute { bound.value.writeAndFlush(NIOAny(reply), promise: nil) }
        }
    }

    /// A chunked reply that carries every byte written to the log from now on, until the client goes.
    static func follow(path: String, tail: Int, channel: any Channel, capture: LogCapture) {
        channel.eventLoop.execute {
            // Registered before the head goes out: whatever is written after the client sees the
            // head reaches it. Its chunks run on this loop after this task, so after the head.
            let id = capture.follow(path: path, tail: tail) { bytes in
                guard !bytes.isEmpty else { return }
                channel.eventLoop.execute {
                    // A follower that does not keep up loses output rather than holding memory or anyone else.
                    guard channel.isActive, channel.isWritable else { return }
                    channel.writeAndFlush(HTTPReply.chunk(bytes), promise: nil)
                }
            }
            channel.writeAndFlush(HTTPReply.streamHead(contentType: "text/plain; charset=utf-8"), promise: nil)
            channel.closeFuture.whenComplete { _ in capture.unfollow(path: path, id: id) }
        }
    }
}

extension ControlReply {
    func with(status: Int) -> ControlReply {
        guard case .json(_, let body) = self else { return self }
        return .json(status: status, body: body)
    }
}

/// Dispatches what ControlRoute parsed: status from the board, the rest to the supervisor's loop.
struct Router {
    let context: HandlerContext
    let peer: ControlServer.PeerCredentials?

    func route(_ head: HTTPRequestHead, _ body: [UInt8], _ send: @escaping @Sendable (ControlReply) -> Void,
               _ stream: @escaping @Sendable (String, Int) -> Void) {
        let route: ControlRoute
        switch ControlRoute.parse(method: head.method.rawValue, target: head.uri, body: body) {
        case .failure(let refusal): return send(.fault(refusal.fault, refusal.message).with(status: refusal.status))
        case .success(let parsed): route = parsed
        }
        let board = context.bridge.board
        func submit(_ request: ControlRequest) { context.bridge.submit(request, reply: send) }
        func withConfig(_ make: @escaping @Sendable (ConfigLoadResult) -> ControlRequest) {
            let load = context.loadConfig
            let bridge = context.bridge
            DispatchQueue.global().async { bridge.submit(make(load()), reply: send) }
        }
        switch route {
        case .supervisorInfo: submit(.supervisorInfo)
        case .statuses(let spec, let fields): send(board.statuses(spec, fields: fields))
        case .start(let spec, let wait, let deps): submit(.start(spec, wait: wait, deps: deps))
        case .stop(let spec, let wait): submit(.stop(spec, wait: wait))
        case .restart(let spec, let wait): submit(.restart(spec, wait: wait))
        case .signal(let spec, let name): submit(.signal(spec, name))
        case .stdin(let spec, let data): submit(.stdin(spec, data))
        case .clearLogs(let spec): submit(.clearLogs(spec))
        case .readLog(.main, let query): readLog(.mainLogPath, query, send, stream)
        case .readLog(.process(let spec, let channel), let query): readLog(.logPath(spec, channel: channel), query, send, stream)
        case .reread: withConfig { .reread($0) }
        case .update(let groups): withConfig { .update($0, groups: groups) }
        case .reload: withConfig { .reload($0) }
        case .addGroup(let name): withConfig { .addGroup($0, name) }
        case .removeGroup(let name): submit(.removeGroup(name))
        case .config: withConfig { .configInfo($0) }
        case .remoteEvent(let type, let data): submit(.remoteEvent(type: type, data: data))
        case .shutdown: submit(.shutdown)
        case .subscribe(let request):
            // The queue is given to the peer's uid, which only a Unix socket's credentials tell.
            guard let peer else {
                return send(.json(status: 403, body: JSON.encode(ErrorReply(.FAILED, "event queues are made only for peers on the Unix control socket; over TCP, follow GET \(ControlAPI.prefix)/events"))))
            }
            submit(.subscribe(request, uid: peer.uid, pid: peer.pid))
        case .subscriptions: submit(.subscriptions)
        case .unsubscribe(let id):
            guard let peer else {
                return send(.json(status: 403, body: JSON.encode(ErrorReply(.FAILED, "event queues are managed only from the Unix control socket"))))
            }
            submit(.unsubscribe(id, uid: peer.uid))
        // Answered by the dispatcher when minderd has an event queue; without one there are no events.
        case .followEvents: send(.fault(.NO_FILE, "minderd posts no events").with(status: 404))
        }
    }

    /// Asks the loop where the log is, then reads it on a worker thread.
    func readLog(_ request: ControlRequest, _ query: ControlRoute.LogQuery, _ send: @escaping @Sendable (ControlReply) -> Void,
                 _ stream: @escaping @Sendable (String, Int) -> Void) {
        context.bridge.submit(request) { reply in
            guard case .file(let path) = reply else { return send(reply) }
            if query.follow { return stream(path, query.tail ?? 1600) }
            DispatchQueue.global().async {
                send(LogReader.read(path: path, tail: query.tail, offset: query.offset ?? 0, length: query.length))
            }
        }
    }
}

/// Reading a log file as supervisord's readLog and tail do.
enum LogReader {
    /// `count` bytes of `fd` from `start`, as text (invalid UTF-8 replaced, so a read that splits
    /// a character never fails a reply).
    static func text(_ fd: Int32, from start: Int, count: Int) -> String {
        var buffer = [UInt8](repeating: 0, count: max(0, count))
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        return String(decoding: buffer.prefix(max(0, n)), as: UTF8.self)
    }

    static func size(_ fd: Int32) -> Int {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_size) : 0
    }

    /// supervisord's readFile: from `offset` (to the end when `length` is 0, else `length` bytes),
    /// or with a negative offset and no length the last `-offset` bytes. At most maxLogReadBytes:
    /// a longer read gets its first (or, from the end, last) that many bytes.
    static func readFile(path: String, offset: Int, length: Int) -> Result<String, Fault> {
        if (offset < 0 && length != 0) || length < 0 { return .failure(.BAD_ARGUMENTS) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        // A log not written yet reads as empty: supervisord creates its files at the first spawn.
        guard fd >= 0 else { return errno == ENOENT ? .success("") : .failure(.FAILED) }
        defer { close(fd) }
        let size = size(fd), cap = ControlAPI.maxLogReadBytes
        if offset < 0 {
            let count = min(-offset, size, cap)
            return .success(text(fd, from: size - count, count: count))
        }
        let available = max(0, size - offset)
        return .success(text(fd, from: offset, count: min(length == 0 ? available : min(length, available), cap)))
    }

    /// supervisord's tailFile, quirks included (docs/xmlrpc.md): past `offset + length` the last
    /// `length` bytes with overflow set; the next offset is always the size.
    static func tail(path: String, offset: Int, length: Int) -> LogChunk {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return LogChunk(data: "", offset: 0, overflow: false) }
        defer { close(fd) }
        let size = size(fd)
        var offset = offset, length = length, overflow = false
        if size > offset + length {
            overflow = true
            offset = size - 1
        }
        if offset + length > size {
            if offset > size - 1 { length = 0 }
            offset = size - length
        }
        offset = max(0, offset)
        length = max(0, length)
        return LogChunk(data: length == 0 ? "" : text(fd, from: offset, count: length), offset: size, overflow: overflow)
    }

    static func read(path: String, tail: Int?, offset: Int, length: Int) -> ControlReply {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            // A log not written yet reads as empty, as in supervisord.
            return errno == ENOENT ? .ok(LogChunk(data: "", offset: 0, overflow: false))
                : .fault(.FAILED, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = Int(st.st_size)
        var start: Int, count: Int, overflow = false, next = size
        if let tail {
            start = max(0, size - max(0, tail))
            count = size - start
        } else {
            // The tail protocol of tailProcessStdoutLog(offset, length).
            if offset > size { return .ok(LogChunk(data: "", offset: size, overflow: false)) }
            if size - offset > length {
                overflow = true
                start = size - length
            } else {
                start = offset
            }
            count = size - start
            next = size
        }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(start)) }
        return .ok(LogChunk(data: String(decoding: buffer.prefix(max(0, n)), as: UTF8.self), offset: next, overflow: overflow))
    }
}
