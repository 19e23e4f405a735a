// What a control connection may cost minderd: admission when it is accepted
// (peer credentials, connection caps, a descriptor reserve) and deadlines
// while it lives. A client the server will not serve is answered with one
// canned reply and closed before any HTTP handler exists, so a flood of them
// costs a descriptor for microseconds each. docs/security.md explains the limits.

import CMinder
import Logging
import MinderControl
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
import NIOConcurrencyHelpers
#endif

/// Connection caps, taken from the descriptor limit minderd runs under.
struct ConnectionLimits: Sendable {
    /// Connections at once, all users together.
    var total: Int
    /// Connections at once for one uid other than root; root has the whole total.
    var perUser: Int
    /// Slots only root may take, so that root's minderctl gets in when others fill theirs.
    var rootReserve: Int
    /// Descriptors never given to connections: they are kept for children's pipes and log files.
    var descriptorReserve: Int
    var descriptorLimit: Int

    /// No complete request head within this (a silent or trickling client), or between requests.
    var idleSeconds: Int64 = 30
    /// The body must follow its head within this.
    var bodySeconds: Int64 = 10
    /// A reply the client does not read (the socket stays full) is abandoned after this.
    var writeStallSeconds: Int64 = 30

    init(descriptorLimit: Int) {
        self.descriptorLimit = descriptorLimit
        descriptorReserve = min(256, max(16, descriptorLimit / 4))
        total = max(8, min(512, (descriptorLimit - descriptorReserve) / 2))
        rootReserve = max(2, total / 16)
        perUser = max(2, (total - rootReserve) / 8)
    }

    static func current() -> ConnectionLimits {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let soft = Int(clamping: min(limit.rlim_cur, 1 << 20))
        return ConnectionLimits(descriptorLimit: soft)
    }
}

/// Counts connections by client: a uid on the Unix socket, an address on TCP. Shared by every
/// server, since they draw on the same descriptors.
final class ConnectionAdmission: Sendable {
    enum Verdict: Equatable { case admitted, refused, busy }
    enum Client: Hashable, Sendable {
        case user(UInt32)
        case address(String)
    }

    let limits: ConnectionLimits
    private let counts = Locked<(total: Int, byClient: [Client: Int])>((0, [:]))
    let warnings: RateLimitedLog

    init(limits: ConnectionLimits, logger: Logger) {
        self.limits = limits
        warnings = RateLimitedLog(logger: logger)
    }

    /// `allowed`: the peer passed the credential check. An admitted connection is released when it
    /// closes. Root (on the Unix socket) alone may take the last slots.
    func admit(_ client: Client, allowed: Bool) -> Verdict {
        guard allowed else { return .refused }
        return counts.withLock { c in
            let mine = c.byClient[client, default: 0]
            if client == .user(0) {
                guard c.total < limits.total else { return .busy }
            } else {
                guard c.total < limits.total - limits.rootReserve, mine < limits.perUser else { return .busy }
            }
            c.total += 1
            c.byClient[client] = mine + 1
            return .admitted
        }
    }

    func release(_ client: Client) {
        counts.withLock { c in
            c.total -= 1
            let left = c.byClient[client, default: 1] - 1
            c.byClient[client] = left > 0 ? left : nil
        }
    }

    func admit(uid: UInt32, allowed: Bool) -> Verdict { admit(.user(uid), allowed: allowed) }
    func release(uid: UInt32) { release(.user(uid)) }

    var open: Int { counts.withLock { $0.total } }

    private let lingering = Locked(0)
    static let maxLingering = 16

    /// True when a turned-away connection may linger for its client to read the reply.
    func startLingering() -> Bool {
        lingering.withLock { n in
            guard n < Self.maxLingering else { return false }
            n += 1
            return true
        }
    }

    func stopLingering() { lingering.withLock { $0 -= 1 } }

    /// The whole reply a refused or turned-away client gets, written before any HTTP handler exists.
    static func cannedReply(_ verdict: Verdict) -> String {
        let (status, fault, message) = verdict == .refused
            ? ("403 Forbidden", Fault.FAILED, "this user may not use minderd's control socket")
            : ("503 Service Unavailable", Fault.FAILED, "too many connections; try again")
        let body = String(decoding: JSON.encode(ErrorReply(fault, message)), as: UTF8.self)
        return "HTTP/1.1 \(status)\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n"
            + "connection: close\r\n\r\n\(body)"
    }
}

/// A connection that will not be served: its canned reply is written as soon as it is active.
/// Closing at once could reach a client before it has sent its request, which then fails to send
/// and never reads the reply; so the connection lingers, its input discarded, until the client
/// closes or for a second at most. Only a few linger at once: under a flood the rest are closed
/// right after the reply.
final class TurnAway: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let reply: String
    let admission: ConnectionAdmission

    init(reply: String, admission: ConnectionAdmission) {
        self.reply = reply
        self.admission = admission
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel, admission = admission
        var buffer = channel.allocator.buffer(capacity: reply.utf8.count)
        buffer.writeString(reply)
        let linger = admission.startLingering()
        channel.writeAndFlush(buffer).whenComplete { _ in
            guard linger else { return channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in admission.stopLingering() }
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }

    /// Whatever it sent is discarded unread.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// At most one warning a second; the ones left out are counted in the next.
final class RateLimitedLog: Sendable {
    private let state = Locked<(last: Int64, suppressed: Int)>((0, 0))
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func warning(_ message: @autoclosure () -> String) {
        let now = mn_monotonic_ns()
        let suppressed: Int? = state.withLock { s in
            guard s.last == 0 || now - s.last >= 1_000_000_000 else {
                s.suppressed += 1
                return nil
            }
            defer { s = (now, 0) }
            return s.suppressed
        }
        guard let suppressed else { return }
        let more = suppressed > 0 ? " (and \(suppressed) more like it in the last second)" : ""
        logger.warning("\(message())\(more)")
    }
}

/// Closes a connection that sends no request head within the idle time, no body within the body
/// time after its head, or does not read a reply for the write-stall time. A reply being worked
/// on (a `wait` for startsecs, a log follow) has no read deadline.
final class ConnectionDeadlines: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let limits: ConnectionLimits
    let warnings: RateLimitedLog
    let peer: String
    private var readDeadline: Scheduled<Void>?
    private var writeDeadline: Scheduled<Void>?
    /// The reply being written says `connection: close`.
    private var closing = false

    init(limits: ConnectionLimits, warnings: RateLimitedLog, peer: String) {
        self.limits = limits
        self.warnings = warnings
        self.peer = peer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, seconds: limits.idleSeconds, "no request") }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, seconds: limits.idleSeconds, "no request")
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, seconds: limits.bodySeconds, "no complete request body")
        case .end: disarm()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head): closing = head.headers.first(name: "connection")?.lowercased() == "close"
        // A connection that closes after this reply needs no idle deadline: a cancelled one would
        // still wake the event loop once when it was due.
        case .end: if !closing { arm(context, seconds: limits.idleSeconds, "no request") }
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writeDeadline?.cancel()
        writeDeadline = nil
        if !context.channel.isWritable {
            let channel = context.channel, warnings = warnings, peer = peer, seconds = limits.writeStallSeconds
            writeDeadline = context.eventLoop.scheduleTask(in: .seconds(seconds)) {
                warnings.warning("control socket: closed a connection (\(peer)) that read no reply for \(seconds) s")
                channel.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        writeDeadline?.cancel()
        // NIO leaves its timer armed for a cancelled deadline, so an idle minderd would wake once
        // when it was due, up to 30 s after the client left. A task due in a millisecond re-arms
        // the timer that soon (a task due now would run without it); after it runs the loop
        // sleeps until a deadline that still exists.
        _ = context.eventLoop.scheduleTask(in: .milliseconds(1)) {}
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext, seconds: Int64, _ what: String) {
        readDeadline?.cancel()
        let channel = context.channel, warnings = warnings, peer = peer
        readDeadline = context.eventLoop.scheduleTask(in: .seconds(seconds)) {
            warnings.warning("control socket: closed a connection (\(peer)) with \(what) within \(seconds) s")
            channel.close(promise: nil)
        }
    }

    private func disarm() {
        readDeadline?.cancel()
        readDeadline = nil
    }
}
