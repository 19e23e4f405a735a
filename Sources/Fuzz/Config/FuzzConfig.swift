// Fuzz target for the config reader: the input is the text of the main config
// file, loaded from an in-memory file system with a fixed environment and
// account table, so a run never reads the disk or the process environment.
// Built with -DFUZZING it is a libFuzzer target; otherwise it replays corpus
// files (scripts/fuzz --replay).

import Foundation
import MinderConfig

let mainPath = "/etc/minder/minder.conf"

/// Files an input can [include] or point environment_file= at, so those paths get exercised too.
let fixedFiles: [String: [UInt8]] = [
    "/etc/minder/conf.d/extra.conf": Array("[program:extra]\ncommand=/bin/sleep %(ENV_HOME)s\nnumprocs=2\nprocess_name=%(program_name)s_%(process_num)d\n".utf8),
    "/etc/minder/app.env": Array("A=1\nexport B='two words'\n# comment\n".utf8),
]

struct MemoryFiles: ConfigFileSystem {
    var files: [String: [UInt8]]
    // Where real configs put logs, sockets and pid files, so they get past the "directory must
    // exist" checks to the options after them.
    static let directories: Set<String> = ["/", "/dev", "/etc", "/etc/minder", "/etc/minder/conf.d", "/home", "/home/app",
                                           "/root", "/run", "/srv", "/tmp", "/var", "/var/log", "/var/log/supervisor",
                                           "/var/run", "/var/www"]

    func readFile(_ path: String) throws(FileReadError) -> [UInt8] {
        guard let bytes = files[path] else { throw .notFound }
        return bytes
    }

    func isDirectory(_ path: String) -> Bool { Self.directories.contains(path) }
    func exists(_ path: String) -> Bool { files[path] != nil || isDirectory(path) }

    func directoryEntries(_ path: String) -> [String]? {
        guard isDirectory(path) else { return nil }
        let prefix = path == "/" ? "/" : path + "/"
        return Set(files.keys).union(Self.directories).compactMap { entry in
            guard entry != path, entry.hasPrefix(prefix) else { return nil }
            let name = entry.dropFirst(prefix.count)
            return name.isEmpty || name.contains("/") ? nil : String(name)
        }
    }
}

struct FixedAccounts: AccountDatabase {
    let users = [UserAccount(name: "root", uid: 0, gid: 0, home: "/root"),
                 UserAccount(name: "app", uid: 1000, gid: 1000, home: "/home/app")]
    let groups = [GroupAccount(name: "root", gid: 0), GroupAccount(name: "app", gid: 1000)]

    func user(named name: String) -> UserAccount? { users.first { $0.name == name } }
    func user(id: UInt32) -> UserAccount? { users.first { $0.uid == id } }
    func group(named name: String) -> GroupAccount? { groups.first { $0.name == name } }
    func group(id: UInt32) -> GroupAccount? { groups.first { $0.gid == id } }
}

let expansions: Expansions = ["program_name": .string("web"), "process_num": .int(3), "numprocs": .int(4),
                              "here": .string("/etc/minder"), "ENV_HOME": .string("/root")]

func fuzzOne(_ data: [UInt8]) {
    var files = fixedFiles
    files[mainPath] = data
    let inputs = ConfigInputs(environment: ["HOME": "/root", "PATH": "/usr/bin:/bin"], hostname: "box",
                              accounts: FixedAccounts(), files: MemoryFiles(files: files),
                              workingDirectory: "/srv", uid: 0)
    let result = ConfigLoader(inputs: inputs).load(path: mainPath)
    // The messages are built from the input too; minderd and minderctl print them.
    for diagnostic in result.diagnostics { _ = diagnostic.description }

    // The value-level parsers on the raw text as well: inside a config they only see what
    // the INI reader lets through as one value.
    let text = String(decoding: data, as: UTF8.self)
    _ = try? splitCommand(text)
    _ = try? parseEnvironment(text)
    do { _ = try pyFormat(text, expansions) } catch { _ = error.message }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
import FuzzSupport

@main enum Replay {
    static func main() { replayMain("FuzzConfig", fuzzOne) }
}

#endif
