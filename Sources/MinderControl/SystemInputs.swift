// The real machine behind ConfigInputs: passwd/group databases, the file
// system, the host name and environment of this process.

#if canImport(Glibc)
import Glibc
#endif
import MinderConfig

public struct SystemAccounts: AccountDatabase {
    public init() {}

    // getpw*_r with a caller buffer: the plain getpw* calls share static storage.
    private func passwd(_ lookup: (UnsafeMutablePointer<passwd>, UnsafeMutablePointer<CChar>, Int,
                                   UnsafeMutablePointer<UnsafeMutablePointer<passwd>?>) -> Int32) -> UserAccount? {
        var record = Glibc.passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = buffer.withUnsafeMutableBufferPointer { lookup(&record, $0.baseAddress!, $0.count, &result) }
        guard rc == 0, let entry = result?.pointee else { return nil }
        return UserAccount(name: String(cString: entry.pw_name), uid: entry.pw_uid, gid: entry.pw_gid,
                           home: String(cString: entry.pw_dir))
    }

    private func group(_ lookup: (UnsafeMutablePointer<group>, UnsafeMutablePointer<CChar>, Int,
                                  UnsafeMutablePointer<UnsafeMutablePointer<group>?>) -> Int32) -> GroupAccount? {
        var record = Glibc.group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 65536)
        let rc = buffer.withUnsafeMutableBufferPointer { lookup(&record, $0.baseAddress!, $0.count, &result) }
        guard rc == 0, let entry = result?.pointee else { return nil }
        return GroupAccount(name: String(cString: entry.gr_name), gid: entry.gr_gid)
    }

    public func user(named name: String) -> UserAccount? { passwd { getpwnam_r(name, $0, $1, $2, $3) } }
    public func user(id: UInt32) -> UserAccount? { passwd { getpwuid_r(id, $0, $1, $2, $3) } }
    public func group(named name: String) -> GroupAccount? { group { getgrnam_r(name, $0, $1, $2, $3) } }
    public func group(id: UInt32) -> GroupAccount? { group { getgrgid_r(id, $0, $1, $2, $3) } }
}

public struct SystemFileSystem: ConfigFileSystem {
    public init() {}

    public func readFile(_ path: String) throws(FileReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw .notFound }
            throw .unreadable(String(cString: strerror(code)))
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { throw .unreadable("it is a directory") }
        var bytes: [UInt8] = []
        // Small: most reads are /proc files (every process's stat, when minderd looks for orphans).
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(String(cString: strerror(errno)))
            }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }

    public func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public func directoryEntries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            // Read in place: an entry is only as long as its name, so copying d_name's whole
            // 256 bytes out of it would read past the end of readdir's buffer.
            let at = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let name = String(cString: at.assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

public enum SystemInputs {
    /// This process's view of the world, for minderd and minderctl.
    public static func current() -> ConfigInputs {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                env[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            p += 1
        }
        var host = [CChar](repeating: 0, count: 256)
        let hostname = gethostname(&host, host.count) == 0 ? cString(host) : "localhost"
        return ConfigInputs(environment: env, hostname: hostname, accounts: SystemAccounts(),
                            files: SystemFileSystem(), workingDirectory: workingDirectory(), uid: getuid())
    }

    /// This process's working directory, or `/` when it cannot be told (it was removed).
    public static func workingDirectory() -> String {
        var cwd = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        return getcwd(&cwd, cwd.count) != nil ? cString(cwd) : "/"
    }

    /// Where a symbolic link points, or nil.
    public static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        return n < 0 ? nil : cString(Array(buffer[..<n]))
    }
}

/// A NUL-terminated buffer as a String.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Writes a line to standard error without stdio (whose globals Swift 6 cannot share).
public func printError(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
    }
}

/// Unix time now, in seconds.
public func wallClockNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
