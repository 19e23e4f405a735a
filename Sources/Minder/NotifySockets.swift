// sd_notify for programs with `ready=notify` (docs/readiness.md): each gets a
// datagram socket of its own, named in its NOTIFY_SOCKET, owned by its user
// with mode 0600, in a directory of minderd's (0711). The loop reads them in
// its epoll set. What arrives is hostile input: the sender comes from the
// kernel's SCM_CREDENTIALS (never from the message), passed descriptors are
// closed, messages longer than systemd's limit are dropped, and a bounded
// number is read per turn.

import CMinder
import Glibc
import MinderControl

final class NotifySockets {
    /// epoll tokens: this bit and the socket's id.
    static let token: UInt64 = 1 << 35
    /// systemd's limit on one notification.
    static let maxMessage = 4096
    static let maxPerTurn = 32

    let directory: String
    private var byNamespec: [String: (id: Int, fd: Int32, path: String)] = [:]
    private var namespecs: [Int: String] = [:]
    private var nextID = 1

    /// nil when the directory cannot be had (then `ready=notify` programs cannot start).
    init?(instance: InstanceID) {
        directory = "/tmp/minder.\(instance.value)"
        guard mn_private_dir(directory) == 0 else { return nil }
    }

    /// The socket of `namespec`, made when first asked for, for a process running as uid/gid.
    func path(for namespec: String, uid: UInt32?, gid: UInt32?, epollFD: Int32) -> Result<String, SpawnFailure> {
        if let existing = byNamespec[namespec] { return .success(existing.path) }
        let id = nextID
        nextID += 1
        let path = "\(directory)/n\(id)"
        let fd = mn_notify_socket(path, uid.map(Int64.init) ?? -1, gid.map(Int64.init) ?? -1)
        guard fd >= 0 else { return .failure(SpawnFailure("cannot make the notify socket \(path): \(String(cString: strerror(errno)))")) }
        _ = mn_epoll_add(epollFD, fd, Self.token | UInt64(id))
        byNamespec[namespec] = (id, fd, path)
        namespecs[id] = namespec
        return .success(path)
    }

    struct Message {
        var pid: Int32
        var fields: [String: String]
        /// Whether the sender descended from the program's process when the message was read.
        var descendant: Bool
    }

    /// What one socket holds now (at most `maxPerTurn` messages), whose socket it is, and how
    /// many messages were dropped (longer than systemd's limit, or without credentials).
    /// `descends` is asked about each sender as soon as its message is read, before the next read
    /// closes the descriptors a later message passed: systemd-notify waits on such a descriptor
    /// (its barrier) and exits once it is closed, after which its ancestry is gone from /proc.
    func receive(_ token: UInt64, descends: (Int32) -> Bool) -> (messages: [Message], dropped: Int)? {
        guard let namespec = namespec(of: token), let socket = byNamespec[namespec] else { return nil }
        var buffer = [CChar](repeating: 0, count: Self.maxMessage)
        var messages: [Message] = []
        var dropped = 0
        for _ in 0..<Self.maxPerTurn {
            var pid: Int32 = 0, uid: UInt32 = 0
            let n = mn_notify_recv(socket.fd, &buffer, buffer.count, &pid, &uid)
            if n == -2 || (n >= 0 && pid <= 0) {
                dropped += 1
                continue
            }
            guard n >= 0 else { break }
            let bytes = buffer.prefix(n).map { UInt8(bitPattern: $0) }
            messages.append(Message(pid: pid, fields: NotifyMessage.parse(bytes), descendant: descends(pid)))
        }
        return (messages, dropped)
    }

    /// Whose socket an epoll token names.
    func namespec(of token: UInt64) -> String? { namespecs[Int(token & 0xffff_ffff)] }

    /// Sockets of processes no longer in the table go (after a reload or update).
    func keep(only namespecs: Set<String>) {
        for (namespec, socket) in byNamespec where !namespecs.contains(namespec) {
            close(socket.fd)
            unlink(socket.path)
            byNamespec[namespec] = nil
            self.namespecs[socket.id] = nil
        }
    }

    func closeAll() {
        keep(only: [])
        rmdir(directory)
    }
}
