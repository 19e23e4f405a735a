// A config as minderd runs it, prepared once when it is read (at start and by every reload):
// every relative path made absolute against the directory minderd started in (minderd may chdir
// when it daemonizes, and a path resolved later would name another file for a read than for the
// write), and every program's user looked up (so that spawning never waits for NSS).

import Glibc
import MinderConfig
import MinderControl

extension Config {
    public func absolutized(cwd: String) -> Config {
        func abs(_ path: String) -> String { path.hasPrefix("/") ? path : Paths.absolute(path, cwd: cwd) }
        func log(_ channel: ChannelLog) -> ChannelLog {
            var c = channel
            if case .path(let path) = c.target, path != "syslog" { c.target = .path(abs(path)) }
            return c
        }
        var out = self
        if out.supervisord.logfile != "syslog" { out.supervisord.logfile = abs(out.supervisord.logfile) }
        out.supervisord.pidfile = abs(out.supervisord.pidfile)
        out.supervisord.childlogdir = abs(out.supervisord.childlogdir)
        out.servers = out.servers.map { server in
            guard case .unix(var unix) = server else { return server }
            unix.file = abs(unix.file)
            return .unix(unix)
        }
        for g in out.groups.indices {
            for p in out.groups[g].processes.indices {
                // Written back only when a path changes: a write copies the group's process list,
                // and the config is kept for as long as minderd runs.
                let process = out.groups[g].processes[p]
                let stdout = log(process.stdout), stderr = log(process.stderr), directory = process.directory.map(abs)
                guard stdout != process.stdout || stderr != process.stderr || directory != process.directory else { continue }
                out.groups[g].processes[p].stdout = stdout
                out.groups[g].processes[p].stderr = stderr
                out.groups[g].processes[p].directory = directory
            }
            if var socket = out.groups[g].fcgiSocket, socket.url.hasPrefix("unix://") {
                socket.url = "unix://" + abs(String(socket.url.dropFirst("unix://".count)))
                out.groups[g].fcgiSocket = socket
            }
        }
        return out
    }
}

extension Config {
    /// Each `user=` program's ids and supplementary groups, looked up now (NSS may be slow or
    /// remote) rather than at every spawn on the supervisor's loop. Only root switches users.
    public func resolvingAccounts() -> Config {
        guard geteuid() == 0 else { return self }
        var out = self
        let accounts = SystemAccounts()
        for g in out.groups.indices {
            for p in out.groups[g].processes.indices {
                let process = out.groups[g].processes[p]
                guard let uid = process.uid, let account = accounts.user(id: uid) else { continue }
                let gid = process.gid ?? account.gid
                out.groups[g].processes[p].identity = ProcessIdentity(
                    uid: account.uid, gid: gid, groups: Spawner.supplementaryGroups(account.name, gid))
            }
        }
        return out
    }
}

extension Config {
    /// syslog_server hosts looked up now, while the config is read, never on the log thread.
    public func resolvingSyslogServers() -> Config {
        var out = self
        var known: [String: [UInt8]] = [:]
        func resolve(_ server: inout SyslogServer?) {
            guard var s = server else { return }
            let key = s.url
            if known[key] == nil { known[key] = Self.lookUp(s.host, s.port) }
            s.address = known[key]!
            server = s
        }
        resolve(&out.supervisord.syslogServer)
        for g in out.groups.indices {
            for p in out.groups[g].processes.indices where out.groups[g].processes[p].syslogServer != nil {
                resolve(&out.groups[g].processes[p].syslogServer)
            }
        }
        return out
    }

    /// The first address of `host` for UDP, as sockaddr bytes; empty when there is none.
    static func lookUp(_ host: String, _ port: Int) -> [UInt8] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let list else { return [] }
        defer { freeaddrinfo(list) }
        return Array(UnsafeRawBufferPointer(start: list.pointee.ai_addr, count: Int(list.pointee.ai_addrlen)))
    }
}

extension ConfigLoadResult {
    /// What minderd runs: paths made absolute, accounts and syslog servers looked up.
    public func prepared(cwd: String) -> ConfigLoadResult {
        var out = self
        out.config = config?.absolutized(cwd: cwd).resolvingAccounts().resolvingSyslogServers()
        return out
    }
}
