// A small blocking HTTP/1.1 client on minderd's Unix socket: one request per
// connection (Connection: close), which is all a command-line tool needs.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

public struct ControlClient: Sendable {
    public var socketPath: String
    public var username: String?
    public var password: String?

    public init(socketPath: String, username: String? = nil, password: String? = nil) {
        self.socketPath = socketPath
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

        public var description: String {
            switch self {
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
        let fd = try open("GET", path, body: [])
        defer { close(fd) }
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
        pending.removeFirst(headEnd! + 4)
        onStart()
        // Chunked transfer coding: "<hex size>\r\n<data>\r\n", a zero size ends it.
        while true {
            if let lineEnd = (0..<max(0, pending.count - 1)).first(where: { pending[$0] == 13 && pending[$0 + 1] == 10 }) {
                let sizeText = String(decoding: pending[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw .other("bad chunked reply from minderd")
                }
                if size == 0 { return nil }
                if pending.count >= lineEnd + 2 + size + 2 {
                    onData(Array(pending[(lineEnd + 2)..<(lineEnd + 2 + size)]))
                    pending.removeFirst(lineEnd + 2 + size + 2)
                    continue
                }
            }
            guard let chunk = try receive(fd) else { return nil }
            pending += chunk
        }
    }

    /// Connects and sends one request; returns the socket.
    private func open(_ method: String, _ path: String, body: [UInt8]) throws(ClientError) -> Int32 {
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
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        head += "Content-Length: \(body.count)\r\n"
        if !body.isEmpty { head += "Content-Type: application/json\r\n" }
        if let username {
            let token = Data("\(username):\(password ?? "")".utf8).base64EncodedString()
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
                throw .other("sending to unix://\(socketPath): \(String(cString: strerror(err)))")
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
            if n < 0 { throw .other("reading from unix://\(socketPath): \(String(cString: strerror(errno)))") }
            return n == 0 ? nil : Array(chunk[0..<n])
        }
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
