// Everything the config layer needs from the outside world, passed in, so the
// parser stays pure: the real system in minderd, fixed tables in tests.

public struct UserAccount: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String

    public init(name: String, uid: UInt32, gid: UInt32, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }
}

public struct GroupAccount: Sendable, Equatable {
    public var name: String
    public var gid: UInt32

    public init(name: String, gid: UInt32) {
        self.name = name
        self.gid = gid
    }
}

public protocol AccountDatabase: Sendable {
    func user(named name: String) -> UserAccount?
    func user(id: UInt32) -> UserAccount?
    func group(named name: String) -> GroupAccount?
    func group(id: UInt32) -> GroupAccount?
}

public enum FileReadError: Error, Sendable, Equatable {
    case notFound
    case unreadable(String)
}

/// The only file access the parser has: reading config files and looking at paths.
public protocol ConfigFileSystem: Sendable {
    func readFile(_ path: String) throws(FileReadError) -> [UInt8]
    func isDirectory(_ path: String) -> Bool
    /// lexists: true for a dangling symlink too.
    func exists(_ path: String) -> Bool
    /// Names in a directory (without . and ..), or nil when it cannot be listed.
    func directoryEntries(_ path: String) -> [String]?
}

public struct ConfigInputs: Sendable {
    /// minderd's environment, the source of %(ENV_X)s.
    public var environment: [String: String]
    /// %(host_node_name)s.
    public var hostname: String
    public var accounts: any AccountDatabase
    public var files: any ConfigFileSystem
    /// For relative paths.
    public var workingDirectory: String
    /// The uid minderd runs as (the default owner of an fcgi socket).
    public var uid: UInt32
    /// The check behind supervisord's "directory must exist" options (childlogdir, the
    /// directory of each log file...); the file system's answer unless replaced.
    public var directoryExists: @Sendable (String) -> Bool

    public init(environment: [String: String], hostname: String, accounts: any AccountDatabase,
                files: any ConfigFileSystem, workingDirectory: String, uid: UInt32) {
        self.environment = environment
        self.hostname = hostname
        self.accounts = accounts
        self.files = files
        self.workingDirectory = workingDirectory
        self.uid = uid
        self.directoryExists = { [files] in files.isDirectory($0) }
    }

    /// Python's tempfile.gettempdir() for the default childlogdir.
    var tempDirectory: String {
        for key in ["TMPDIR", "TEMP", "TMP"] {
            if let dir = environment[key], !dir.isEmpty, files.isDirectory(dir) { return dir }
        }
        return "/tmp"
    }
}

/// Path helpers with Python's os.path semantics, on strings.
public enum Paths {
    static func isAbsolute(_ path: String) -> Bool { path.hasPrefix("/") }

    static func join(_ base: String, _ path: String) -> String {
        if isAbsolute(path) || base.isEmpty { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    public static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        let head = String(path[...slash])
        // Keep a root made of slashes; otherwise drop trailing ones.
        let trimmed = head.replacingOccurrencesOfTrailingSlashes()
        return trimmed.isEmpty ? head : trimmed
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func normpath(_ path: String) -> String {
        if path.isEmpty { return "." }
        let initialSlashes = path.hasPrefix("//") && !path.hasPrefix("///") ? 2 : (path.hasPrefix("/") ? 1 : 0)
        var parts: [Substring] = []
        for comp in path.split(separator: "/") where comp != "." {
            if comp == ".." {
                if initialSlashes == 0 && (parts.isEmpty || parts.last == "..") {
                    parts.append(comp)
                } else if !parts.isEmpty {
                    parts.removeLast()
                }
            } else {
                parts.append(comp)
            }
        }
        let joined = parts.joined(separator: "/")
        let result = String(repeating: "/", count: initialSlashes) + joined
        return result.isEmpty ? "." : result
    }

    /// os.path.normpath(os.path.join(cwd, path))
    public static func absolute(_ path: String, cwd: String) -> String {
        normpath(join(cwd, path))
    }

    /// os.path.expanduser: ~ from $HOME, ~name from the account database.
    public static func expandUser(_ path: String, environment: [String: String], accounts: any AccountDatabase) -> String {
        guard path.hasPrefix("~") else { return path }
        let end = path.firstIndex(of: "/") ?? path.endIndex
        let name = String(path[path.index(after: path.startIndex)..<end])
        let home: String?
        if name.isEmpty {
            home = environment["HOME"]
        } else {
            home = accounts.user(named: name)?.home
        }
        guard var h = home else { return path }
        while h.count > 1 && h.hasSuffix("/") { h.removeLast() }
        let rest = String(path[end...])
        return (h == "/" && rest.hasPrefix("/") ? "" : h) + rest
    }
}

extension String {
    fileprivate func replacingOccurrencesOfTrailingSlashes() -> String {
        var s = self
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }
}
