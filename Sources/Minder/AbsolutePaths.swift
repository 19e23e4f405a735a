// Every relative path of a config made absolute once, against the directory minderd started in,
// when the config is read. minderd may chdir (`[supervisord] directory`) when it daemonizes; a
// path resolved later would then name another file for a read than it did for the write.

import MinderConfig

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
                var process = out.groups[g].processes[p]
                process.stdout = log(process.stdout)
                process.stderr = log(process.stderr)
                process.directory = process.directory.map(abs)
                out.groups[g].processes[p] = process
            }
            if var socket = out.groups[g].fcgiSocket, socket.url.hasPrefix("unix://") {
                socket.url = "unix://" + abs(String(socket.url.dropFirst("unix://".count)))
                out.groups[g].fcgiSocket = socket
            }
        }
        return out
    }
}

extension ConfigLoadResult {
    public func absolutized(cwd: String) -> ConfigLoadResult {
        var out = self
        out.config = config?.absolutized(cwd: cwd)
        return out
    }
}
