import Foundation
import Logging
@testable import Minder
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The connection guard's handlers on an EmbeddedChannel, with time advanced by hand.
@Suite struct ConnectionGuardTests {
    let limits = ConnectionLimits(descriptorLimit: 1024)
    var admission: ConnectionAdmission { ConnectionAdmission(limits: limits, logger: Logger(label: "test")) }

    func deadlinesChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionDeadlines(limits: limits, warnings: admission.warnings, peer: "test"))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func head() -> HTTPServerRequestPart { .head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/v1/processes")) }

    @Test func aSilentConnectionIsClosedAfterTheIdleTime() throws {
        let channel = try deadlinesChannel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(limits.idleSeconds - 1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func aBodyThatNeverComesIsClosedAfterTheBodyTime() throws {
        let channel = try deadlinesChannel()
        try channel.writeInbound(head())
        channel.embeddedEventLoop.advanceTime(by: .seconds(limits.bodySeconds))
        #expect(!channel.isActive)
    }

    @Test func aReplyBeingWorkedOnHasNoReadDeadline() throws {
        let channel = try deadlinesChannel()
        try channel.writeInbound(head())
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3600))
        #expect(channel.isActive, "a wait for startsecs or a log follow may take long")
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(limits.idleSeconds))
        #expect(!channel.isActive, "idle again after the reply")
    }

    @Test func aTurnedAwayClientGetsItsReplyAndTheDoor() throws {
        let admission = self.admission
        let channel = EmbeddedChannel(handler: TurnAway(reply: ConnectionAdmission.cannedReply(.refused), admission: admission))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var out = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(out.readString(length: out.readableBytes)?.hasPrefix("HTTP/1.1 403 Forbidden\r\n") == true)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(channel.isActive, "it lingers for the client to read")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func capsPerUserAndRootsReserve() {
        let admission = self.admission
        #expect(admission.admit(uid: 1000, allowed: false) == .refused)
        for _ in 0..<limits.perUser { #expect(admission.admit(uid: 1000, allowed: true) == .admitted) }
        #expect(admission.admit(uid: 1000, allowed: true) == .busy, "one uid's share")
        #expect(admission.admit(uid: 0, allowed: true) == .admitted, "root still gets in")
        admission.release(uid: 1000)
        #expect(admission.admit(uid: 1000, allowed: true) == .admitted, "a closed connection frees its slot")
    }
}
