// A small blocking HTTP/1.1 client on minderd's Unix socket: one request per
// connection (Connection: close), which is all a command-line tool needs.

#if canImport(Glibc)
import Glibc
import MinderConfig
#endif

public struct ControlClient: Sendable {
    /// minderd's Unix socket, or an `[inet_http_server]`.
    public enum Server: Sendable, Equatable {
        case unix(String)
        case tcp(host: String, port: Int)

        /// `unix:///path` or `http://host:port` (`[v6]:port`; port 80 when left out), as
        /// supervisorctl's serverurl.
        public init?(url: String) {
            if url.hasPrefix("unix://") {
                self = .unix(String(url.dropFirst("unix://".count)))
                return
            }
            guard url.hasPrefix("http://") else { return nil }
            var rest = url.dropFirst("http://".count)
            if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
            var host = String(rest), port = 80
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                host = String(rest[rest.index(after: rest.startIndex)..<close])
                let after = rest[rest.index(after: close)...]
                if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
            } else if let colon = rest.lastIndex(of: ":") {
                host = String(rest[..<colon])
                guard let p = Int(rest[rest.index(after: colon)...]) else { return nil }
                port = p
            }
            guard !host.isEmpty, (1...65535).contains(port) else { return nil }
            self = .tcp(host: host, port: port)
        }

        public var url: String {
            switch self {
            case .unix(let path): "unix://\(path)"
            case .tcp(let host, let port): "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            }
        }
    }

    public var server: Server
    public var username: String?
    public var password: String?

    public var socketPath: String {
        if case .unix(let path) = server { return path }
        return ""
    }

    public init(socketPath: String, username: String? = nil, password: String? = nil) {
        self.init(server: .unix(socketPath), username: username, password: password)
    }

    public init(server: Server, username: String? = nil, password: String? = nil) {
        self.server = server
        self.username = username
        self.password = password
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    public enum ClientError: Error, CustomStringConvertible {
        case noSocket(String)
        case refused(String)
        case permission(String)
        case other(String)
        /// A stream's deadline passed.
        case timedOut

        public var description: String {
            switch self {
            case .timedOut: "timed out"
            case .noSocket(let p): "unix://\(p) no such file (is minderd running?)"
            case .refused(let p): "unix://\(p) refused connection (minderd not running, or a stale socket)"
            case .permission(let p): "unix://\(p): permission denied (see [unix_http_server] chmod/chown)"
            case .other(let m): m
            }
        }
    }

    public func request(_ method: String, _ path: String, body: [UInt8] = []) throws(ClientError) -> Response {
        let fd = try open(method, path, body: body)
        defer { close(fd) }
        var response: [UInt8] = []
        while let chunk = try receive(fd) { response += chunk }
        return try Self.parse(response)
    }

    /// A streamed reply (chunked): `onData` gets each piece as it arrives, until minderd ends
    /// the reply or closes. A reply that is not 200 comes back whole, as from `request`.
    public func stream(_ path: String, onStart: () -> Void = {}, onData: ([UInt8]) -> Void) throws(ClientError) -> Response? {
        try stream(path, until: nil, onStart: onStart) { bytes in
            onData(bytes)
            return true
        }
    }

    /// CLOCK_MONOTONIC in seconds: the clock of stream deadlines.
    public static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// As above; `onData` returning false ends the stream, and so does `deadline` (monotonicNow()
    /// seconds), with `.timedOut`.
    public func stream(_ path: String, until deadline: Double?, onStart: () -> Void = {},
                       onData: ([UInt8]) -> Bool) throws(ClientError) -> Response? {
        let fd = try open("GET", path, body: [])
        defer { close(fd) }
        /// Each read waits at most until the deadline.
        func receive(_ fd: Int32) throws(ClientError) -> [UInt8]? {
            guard let deadline else { return try self.receive(fd) }
            let left = deadline - Self.monotonicNow()
            guard left > 0 else { throw .timedOut }
            var limit = timeval(tv_sec: Int(left), tv_usec: Int((left - Double(Int(left))) * 1e6) + 1)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            do {
                return try self.receive(fd)
            } catch {
                if Self.monotonicNow() >= deadline { throw .timedOut }
                throw error
            }
        }
        var pending: [UInt8] = []
        var headEnd: Int?
        while headEnd == nil {
            guard let chunk = try receive(fd) else { return try Self.parse(pending) }
            pending += chunk
            headEnd = Self.headerEnd(pending)
        }
        let head = try Self.parse(Array(pending[..<(headEnd! + 4)]))
        guard head.status == 200 else {
            while let chunk = try receive(fd) { pending += chunk }
            return try Self.parse(pending)
        }
        onStart()
        var start = headEnd! + 4
        while true {
            guard let next = try Self.takeChunks(pending, from: start, onData) else { return nil }
            // What was taken goes once per read, not once per chunk (one read may bring hundreds
            // of events).
            pending.removeFirst(next)
            start = 0
            guard let chunk = try receive(fd) else { return nil }
            pending += chunk
        }
    }

    /// Chunked transfer coding, `<hex size>[;ext]\r\n<data>\r\n` until a zero size: gives
    /// `onData` each whole chunk of `bytes` from `start` on, and returns where the first partial
    /// one begins; nil once the last chunk came or `onData` said stop. A size that is not hex, is
    /// negative or is absurd is an error, before it is added to anything.
    public static func takeChunks(_ bytes: [UInt8], from start: Int, _ onData: ([UInt8]) -> Bool) throws(ClientError) -> Int? {
        var start = start
        while let lineEnd = (start..<max(start, bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) {
            let sizeText = String(decoding: bytes[start..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.pyStrip(), radix: 16), size >= 0, size < 1 << 40 else {
                throw .other("bad chunked reply from minderd")
            }
            if size == 0 { return nil }
            guard bytes.count >= lineEnd + 2 + size + 2 else { break }
            if !onData(Array(bytes[(lineEnd + 2)..<(lineEnd + 2 + size)])) { return nil }
            start = lineEnd + 2 + size + 2
        }
        return start
    }

    /// Connects and sends one request; returns the socket.
    private func open(_ method: String, _ path: String, body: [UInt8]) throws(ClientError) -> Int32 {
        let fd: Int32
        let hostHeader: String
        switch server {
        case .unix(let socketPath):
            fd = try Self.connectUnix(socketPath)
            hostHeader = "localhost"
        case .tcp(let host, let port):
            fd = try Self.connectTCP(host, port, url: server.url)
            hostHeader = "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\n"
        head += "Content-Length: \(body.count)\r\n"
        // Over TCP minderd takes a request that changes something only with its protocol's type.
        if method != "GET" { head += "Content-Type: application/json\r\n" }
        if let username {
            let token = Base64.encode(Array("\(username):\(password ?? "")".utf8))
            head += "Authorization: Basic \(token)\r\n"
        }
        let bytes = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                close(fd)
                throw .other("sending to \(server.url): \(String(cString: strerror(err)))")
            }
            sent += n
        }
        return fd
    }

    /// The next bytes from the socket, or nil at its end.
    private func receive(_ fd: Int32) throws(ClientError) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .other("reading from \(server.url): \(String(cString: strerror(errno)))") }
            return n == 0 ? nil : Array(chunk[0..<n])
        }
    }

    private static func connectUnix(_ socketPath: String) throws(ClientError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .other("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .other("socket path \(socketPath) is longer than the kernel's 107 bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            let err = errno
            close(fd)
            switch err {
            case ENOENT: throw .noSocket(socketPath)
            case ECONNREFUSED: throw .refused(socketPath)
            case EACCES, EPERM: throw .permission(socketPath)
            default: throw .other("unix://\(socketPath): \(String(cString: strerror(err)))")
            }
        }
        return fd
    }

    /// Each address the name resolves to, in turn, until one connects.
    private static func connectTCP(_ host: String, _ port: Int, url: String) throws(ClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else { throw .other("\(url): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let a = entry {
            entry = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
            lastError = errno
            close(fd)
        }
        throw .other(lastError == ECONNREFUSED ? "\(url) refused connection" : "\(url): \(String(cString: strerror(lastError)))")
    }

    static func headerEnd(_ raw: [UInt8]) -> Int? {
        let separator: [UInt8] = [13, 10, 13, 10]
        return (0..<max(0, raw.count - 3)).first { Array(raw[$0..<($0 + 4)]) == separator }
    }

    static func parse(_ raw: [UInt8]) throws(ClientError) -> Response {
        guard let end = headerEnd(raw) else {
            throw .other("minderd closed the connection without a complete reply")
        }
        let head = String(decoding: raw[0..<end], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, let status = Int(fields[1]) else { throw .other("bad reply from minderd: \(statusLine)") }
        return Response(status: status, body: Array(raw[(end + 4)...]))
    }
}
