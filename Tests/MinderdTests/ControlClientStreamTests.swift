import Dispatch
import Glibc
import MinderControl
import Testing

/// minderctl's reading of a streamed (chunked) reply, from a server on a real Unix socket that
/// sends what the test says: every chunk of a burst in order, and a bad chunk size refused as an
/// error, never a trap.
@Suite struct ControlClientStreamTests {
    /// Serves one connection at `dir/s.sock`: reads the request, writes `reply`, closes.
    func withServer(_ reply: [UInt8], _ body: (ControlClient) throws -> Void) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/s.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(listener) }
        try #require(withUnixAddress(path) { bind(listener, $0, $1) } == 0 && listen(listener, 1) == 0)
        let served = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let fd = accept(listener, nil, nil)
            if fd >= 0 {
                var request = [UInt8](repeating: 0, count: 4096)
                _ = read(fd, &request, request.count)
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
            }
            served.signal()
        }
        // Wakes an accept that no client reached.
        defer {
            shutdown(listener, Int32(SHUT_RDWR))
            _ = served.wait(timeout: .now() + 30)
        }
        try body(ControlClient(socketPath: path))
    }

    static let head = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    @Test func aBurstOfChunksInOneReadComesOutWholeAndInOrder() throws {
        let events = (0..<300).map { "data: {\"serial\":\($0)}\n\n" }
        var reply = Self.head
        for e in events { reply += Array((String(e.utf8.count, radix: 16) + "\r\n" + e + "\r\n").utf8) }
        reply += Array("0\r\n\r\n".utf8)
        try withServer(reply) { client in
            var got: [String] = []
            _ = try client.stream("/api/v1/events", until: ControlClient.monotonicNow() + 30) { bytes in
                got.append(String(decoding: bytes, as: UTF8.self))
                return true
            }
            #expect(got == events)
        }
    }

    @Test(arguments: ["-5", "7fffffffffffffff", "zz", "10000000000"])
    func aBadChunkSizeIsAnError(_ size: String) throws {
        let reply = Self.head + Array("5\r\nfirst\r\n\(size)\r\nsecond\r\n0\r\n\r\n".utf8)
        try withServer(reply) { client in
            var got: [String] = []
            #expect(throws: ControlClient.ClientError.self) {
                _ = try client.stream("/api/v1/events", until: ControlClient.monotonicNow() + 30) { bytes in
                    got.append(String(decoding: bytes, as: UTF8.self))
                    return true
                }
            }
            #expect(got == ["first"])
        }
    }
}
