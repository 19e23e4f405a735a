// GET /api/v1/events: the state events as server-sent events, for any number of followers at
// once (the message queue serves one reader). The supervisor's loop publishes each event here as
// it posts it to the queue; followers are written on their connections' loops. The last events
// are kept, so that a follower that comes back with `Last-Event-ID` misses none of them; a follower
// that does not read loses its own events, counted, and holds up no one.

import MinderControl
import NIOConcurrencyHelpers
import NIOCore

public final class EventStream: Sendable {
    /// Events kept for followers that resume.
    static let kept = 1024

    private struct State {
        var recent: [(serial: Int, frame: [UInt8])] = []
        var followers: [Int: @Sendable ([UInt8]) -> Void] = [:]
        var nextID = 0
    }

    private let state = Locked(State())
    /// Events not written to a follower that was not reading, over all followers.
    private let dropped = Locked(0)

    public init() {}

    public var droppedCount: Int { dropped.withLock { $0 } }

    /// One event as a server-sent event: its serial as the id, its JSON record as the data.
    static func frame(serial: Int, json: [UInt8]) -> [UInt8] {
        Array("id: \(serial)\nevent: state\ndata: ".utf8) + json + Array("\n\n".utf8)
    }

    /// From the supervisor's loop, never waiting: each follower's write is its own loop's task.
    func publish(serial: Int, json: [UInt8]) {
        let frame = Self.frame(serial: serial, json: json)
        let followers = state.withLock { s in
            s.recent.append((serial, frame))
            if s.recent.count > Self.kept { s.recent.removeFirst(s.recent.count - Self.kept) }
            return Array(s.followers.values)
        }
        for follower in followers { follower(frame) }
    }

    /// Registers `deliver` and returns its id with the kept events after `lastID` (none when nil),
    /// atomically: no event is missed or sent twice between the two.
    func follow(after lastID: Int?, _ deliver: @escaping @Sendable ([UInt8]) -> Void) -> (id: Int, backlog: [[UInt8]]) {
        state.withLock { s in
            s.nextID += 1
            s.followers[s.nextID] = deliver
            let backlog = lastID.map { last in s.recent.filter { $0.serial > last }.map(\.frame) } ?? []
            return (s.nextID, backlog)
        }
    }

    func unfollow(_ id: Int) {
        _ = state.withLock { $0.followers.removeValue(forKey: id) }
    }

    /// Streams to `channel` until the client goes.
    func serve(_ channel: any Channel, lastEventID: Int?) {
        let dropped = self.dropped
        let deliver: @Sendable ([UInt8]) -> Void = { frame in
            channel.eventLoop.execute {
                // A follower whose socket is full loses this event rather than holding memory.
                guard channel.isActive else { return }
                guard channel.isWritable else { return dropped.withLock { $0 += 1 } }
                channel.writeAndFlush(HTTPReply.chunk(frame), promise: nil)
            }
        }
        channel.eventLoop.execute {
            let (id, backlog) = self.follow(after: lastEventID, deliver)
            channel.write(HTTPReply.streamHead(contentType: "text/event-stream"), promise: nil)
            // A comment first, so that the client sees the stream open at once.
            channel.write(HTTPReply.chunk(Array(": minderd events\n\n".utf8)), promise: nil)
            for frame in backlog { channel.write(HTTPReply.chunk(frame), promise: nil) }
            channel.flush()
            channel.closeFuture.whenComplete { _ in self.unfollow(id) }
        }
    }
}
