@testable import MinderConfig

/// Files held in memory: the config layer is pure, so its tests need no disk.
struct MemoryFileSystem: ConfigFileSystem {
    var files: [String: String]
    var unreadable: Set<String> = []
    var extraDirectories: Set<String> = ["/", "/tmp", "/var/log", "/srv"]

    var directories: Set<String> {
        var dirs = extraDirectories
        for path in files.keys {
            var dir = Paths.dirname(path)
            while !dir.isEmpty && !dirs.contains(dir) {
                dirs.insert(dir)
                dir = dir == "/" ? "" : Paths.dirname(dir)
            }
        }
        return dirs
    }

    func readFile(_ path: String) throws(FileReadError) -> [UInt8] {
        if unreadable.contains(path) { throw .unreadable("Permission denied") }
        guard let text = files[path] else { throw .notFound }
        return Array(text.utf8)
    }

    func isDirectory(_ path: String) -> Bool { directories.contains(path) }
    func exists(_ path: String) -> Bool { files[path] != nil || unreadable.contains(path) || isDirectory(path) }

    func directoryEntries(_ path: String) -> [String]? {
        guard isDirectory(path) else { return nil }
        let all = Set(files.keys).union(unreadable).union(directories)
        return all.filter { $0 != path && Paths.dirname($0) == path }.map(Paths.basename)
    }
}

struct TableAccounts: AccountDatabase {
    var users = [
        UserAccount(name: "root", uid: 0, gid: 0, home: "/root"),
        UserAccount(name: "www-data", uid: 33, gid: 33, home: "/var/www"),
        UserAccount(name: "app", uid: 1000, gid: 1000, home: "/home/app"),
    ]
    var groups = [GroupAccount(name: "root", gid: 0), GroupAccount(name: "www-data", gid: 33), GroupAccount(name: "app", gid: 1000)]

    func user(named name: String) -> UserAccount? { users.first { $0.name == name } }
    func user(id: UInt32) -> UserAccount? { users.first { $0.uid == id } }
    func group(named name: String) -> GroupAccount? { groups.first { $0.name == name } }
    func group(id: UInt32) -> GroupAccount? { groups.first { $0.gid == id } }
}

let mainPath = "/etc/minder/minder.conf"

/// Loads `text` as /etc/minder/minder.conf, with `others` beside it.
func load(_ text: String, others: [String: String] = [:], unreadable: Set<String> = [],
          env: [String: String] = ["HOME": "/root", "PATH": "/usr/bin:/bin"], programs: Bool = true) -> ConfigLoadResult {
    var files = others
    files[mainPath] = text
    let inputs = ConfigInputs(environment: env, hostname: "box", accounts: TableAccounts(),
                              files: MemoryFileSystem(files: files, unreadable: unreadable),
                              workingDirectory: "/srv", uid: 0)
    return ConfigLoader(inputs: inputs).load(path: mainPath, programs: programs)
}

/// The config, which must have loaded without errors.
func config(_ text: String, others: [String: String] = [:], env: [String: String] = ["HOME": "/root"]) throws -> Config {
    let result = load(text, others: others, env: env)
    guard let config = result.config else {
        throw Failure(message: result.errors.map(\.description).joined(separator: "\n"))
    }
    return config
}

struct Failure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension Config {
    func process(_ name: String) -> ProcessConfig? { processes.first { $0.name == name } }
}
