import CMinder
import Foundation
import MinderConfig

/// The package's root directory, from this file's place in it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

extension JSONValue {
    var intValue: Int? {
        if case .int(let i) = self { return i }
        return nil
    }
}

/// A user and group table that does not depend on the machine.
struct FixedAccounts: AccountDatabase {
    var users: [UserAccount]
    var groups: [GroupAccount]

    func user(named name: String) -> UserAccount? { users.first { $0.name == name } }
    func user(id: UInt32) -> UserAccount? { users.first { $0.uid == id } }
    func group(named name: String) -> GroupAccount? { groups.first { $0.name == name } }
    func group(id: UInt32) -> GroupAccount? { groups.first { $0.gid == id } }

    /// Debian 12's base-passwd accounts.
    static let debianUsers: [UserAccount] = [
        ("root", 0, 0, "/root"), ("daemon", 1, 1, "/usr/sbin"), ("bin", 2, 2, "/bin"), ("sys", 3, 3, "/dev"),
        ("sync", 4, 65534, "/bin"), ("games", 5, 60, "/usr/games"), ("man", 6, 12, "/var/cache/man"),
        ("lp", 7, 7, "/var/spool/lpd"), ("mail", 8, 8, "/var/mail"), ("news", 9, 9, "/var/spool/news"),
        ("uucp", 10, 10, "/var/spool/uucp"), ("proxy", 13, 13, "/bin"), ("www-data", 33, 33, "/var/www"),
        ("backup", 34, 34, "/var/backups"), ("list", 38, 38, "/var/list"), ("irc", 39, 39, "/run/ircd"),
        ("_apt", 42, 65534, "/nonexistent"), ("nobody", 65534, 65534, "/nonexistent"),
    ].map { UserAccount(name: $0.0, uid: $0.1, gid: $0.2, home: $0.3) }

    static let debianGroups: [GroupAccount] = [
        ("root", 0), ("daemon", 1), ("bin", 2), ("sys", 3), ("adm", 4), ("tty", 5), ("disk", 6), ("lp", 7),
        ("mail", 8), ("news", 9), ("uucp", 10), ("man", 12), ("proxy", 13), ("kmem", 15), ("dialout", 20),
        ("fax", 21), ("voice", 22), ("cdrom", 24), ("floppy", 25), ("tape", 26), ("sudo", 27), ("audio", 29),
        ("dip", 30), ("www-data", 33), ("backup", 34), ("operator", 37), ("list", 38), ("irc", 39), ("src", 40),
        ("shadow", 42), ("utmp", 43), ("video", 44), ("sasl", 45), ("plugdev", 46), ("staff", 50), ("games", 60),
        ("users", 100), ("nogroup", 65534),
    ].map { GroupAccount(name: $0.0, gid: $0.1) }
}

/// A fresh directory under /tmp (short, so socket paths fit), removed when released.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/minder-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The minderd built beside this test bundle.
let minderdPath: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("minderd").path
}()

/// The minderctl beside it.
let minderctlPath = (minderdPath as NSString).deletingLastPathComponent + "/minderctl"

/// Set by scripts/sanitize: the binaries under test carry a sanitizer's runtime.
let sanitized = ProcessInfo.processInfo.environment["MINDER_SANITIZER"] != nil

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion; a hang is killed after `timeout` seconds and fails the caller.
/// `ownGroup`: the command's process group (Foundation starts each child in one of its own) is
/// killed when it ends or times out: for a command that starts others (a browser).
func run(_ executable: String, _ arguments: [String], cwd: String? = nil, timeout: Double = 60, ownGroup: Bool = false) throws -> RunResult {
    let dir = try TemporaryDirectory()
    let outPath = dir.path + "/out", errPath = dir.path + "/err"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    try process.run()
    defer { if ownGroup { kill(-process.processIdentifier, SIGKILL) } }
    if done.wait(timeout: .now() + timeout) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw Failure("\(executable) \(arguments) did not finish within \(timeout) s")
    }
    return RunResult(status: process.terminationStatus,
                     stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                     stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Whether this machine's name resolves to a loopback address (it does through /etc/hosts on
/// Debian and in most containers).
func hostnameIsLocal() -> Bool {
    var text = [CChar](repeating: 0, count: 64)
    guard mn_resolve_first(ProcessInfo.processInfo.hostName, &text, text.count) == 0 else { return false }
    let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return address.hasPrefix("127.") || address == "::1"
}

/// Whether process `pid` has a file whose path contains `library` mapped. /proc files have no
/// size, and String(contentsOfFile:) reads one page of them: the maps of a sanitized process are
/// longer.
func maps(_ pid: Int32, _ library: String) throws -> Bool {
    let maps = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(pid)/maps"))
    defer { try? maps.close() }
    return String(decoding: try maps.readToEnd() ?? Data(), as: UTF8.self).contains(library)
}

/// Whether process `pid` waits in a read of its standard input (/proc/PID/syscall: the call's
/// number, then its first argument, the descriptor).
func readingStandardInput(_ pid: Int32) -> Bool {
    let call = (try? String(contentsOfFile: "/proc/\(pid)/syscall", encoding: .utf8)) ?? ""
    #if arch(x86_64)
    let read = 0
    #else
    let read = 63  // arm64's generic numbers
    #endif
    return call.hasPrefix("\(read) 0x0 ")
}
