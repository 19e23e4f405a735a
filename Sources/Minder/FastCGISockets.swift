// [fcgi-program:x] pools share one listening socket, which each process gets
// as its stdin (where a FastCGI server expects it), as supervisord does. The
// socket is made when the pool's first process starts and closed when its
// last one has exited; a Unix socket replaces a file already at its path.

import CMinder
import Glibc
import Logging
import MinderConfig

extension Supervisor {
    /// The pool's socket for one more process: made now if none of its processes holds it.
    func acquireSocket(_ group: String, _ socket: FastCGISocket) -> Result<Int32, SpawnFailure> {
        if let held = fcgiSockets[group] {
            fcgiSockets[group] = (held.fd, held.users + 1)
            return .success(held.fd)
        }
        logger.info("Creating socket \(socket.url)")
        let backlog = Int32(socket.backlog ?? 4096)
        var fd: Int32
        if socket.url.hasPrefix("unix://") {
            let path = String(socket.url.dropFirst("unix://".count))
            fd = mn_listen_unix(path, backlog, socket.mode == nil ? 0 : 1)
            if fd >= 0, let owner = socket.owner, chown(path, uid_t(bitPattern: Int32(owner.uid)), gid_t(bitPattern: Int32(owner.gid))) != 0 {
                let why = errnoText()
                close(fd)
                return .failure(SpawnFailure("could not change ownership of socket file \(path): \(why)"))
            }
            if fd >= 0, let mode = socket.mode, chmod(path, mode_t(mode)) != 0 {
                let why = errnoText()
                close(fd)
                return .failure(SpawnFailure("could not change permissions of socket file \(path): \(why)"))
            }
        } else {
            let address = socket.url.dropFirst("tcp://".count)
            let colon = address.lastIndex(of: ":") ?? address.endIndex
            let port = Int32(address[address.index(after: colon)...]) ?? 0
            fd = mn_listen_tcp(String(address[..<colon]), port, backlog)
        }
        guard fd >= 0 else { return .failure(SpawnFailure("could not create socket \(socket.url): \(errnoText())")) }
        fcgiSockets[group] = (fd, 1)
        return .success(fd)
    }

    /// One process of the pool no longer holds the socket; the last one closes it.
    func releaseSocket(_ group: String) {
        guard let held = fcgiSockets[group] else { return }
        if held.users > 1 {
            fcgiSockets[group] = (held.fd, held.users - 1)
            return
        }
        if let url = config.groups.first(where: { $0.name == group })?.fcgiSocket?.url {
            logger.info("Closing socket \(url)")
        }
        close(held.fd)
        fcgiSockets[group] = nil
    }
}
