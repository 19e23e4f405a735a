import Foundation
import Minder
import MinderControl
import MinderConfig
import Testing

/// supervisord's own verdicts on real configs (../shared/testdata), compared
/// key by key with Minder's `--check-config --json` verdict.
@Suite struct CorpusTests {
    static let corpus: URL? = {
        let env = ProcessInfo.processInfo.environment
        let dir = env["MINDER_CORPUS"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata/supervisord-configs")
        return FileManager.default.fileExists(atPath: dir.appendingPathComponent("SOURCES.md").path) ? dir : nil
    }()

    struct Difference: Hashable, CustomStringConvertible {
        var file: String
        var path: String
        var description: String { "\(file) at \(path)" }
    }

    @Test(.enabled(if: Self.corpus != nil, "the supervisord corpus (../shared/testdata/supervisord-configs) is not here"))
    func agreesWithSupervisordOnEveryCorpusFile() throws {
        let corpus = try #require(Self.corpus)
        let allowed = try Self.deliberateDifferences()
        var seen = Set<Difference>()
        var unexpected: [String] = []
        var compared = 0
        for subdir in ["", "broken"] {
            let dir = subdir.isEmpty ? corpus : corpus.appendingPathComponent(subdir)
            let expectedDir = dir.appendingPathComponent("expected")
            let names = try FileManager.default.contentsOfDirectory(atPath: expectedDir.path).filter { $0.hasSuffix(".json") }.sorted()
            for name in names {
                let conf = String(name.dropLast(5)) + ".conf"
                let relative = subdir.isEmpty ? conf : "\(subdir)/\(conf)"
                let expected = try JSONValue.parse(String(contentsOf: expectedDir.appendingPathComponent(name), encoding: .utf8))
                let got = try verdict(for: dir.appendingPathComponent(conf).path, context: expected["context"]!)
                compared += 1
                if let standalone = expected["standalone"] {
                    // A conf.d snippet checked on its own: supervisord rejects it, so must Minder.
                    let alone = try verdict(for: dir.appendingPathComponent(conf).path, context: .object([]))
                    if alone.verdict["ok"] != standalone["ok"] {
                        unexpected.append("\(relative) checked on its own: supervisord ok=\(standalone["ok"]!.serialized()), Minder ok=\(alone.verdict["ok"]!.serialized())")
                    }
                }
                for path in differences(expected: got.expected(expected), got: got.verdict) {
                    let d = Difference(file: relative, path: path)
                    if allowed[d] != nil {
                        seen.insert(d)
                    } else {
                        unexpected.append("\(d): supervisord \(describe(expected, path, got.replacements)), Minder \(describe(got.verdict, path, []))\n  Minder said: \(got.verdict["errors"].map { $0.serialized(pretty: false) } ?? "-")")
                    }
                }
            }
        }
        print("CorpusTests: compared \(compared) configs with supervisord's verdicts; \(seen.count) documented difference(s)")
        #expect(compared == 59, "the corpus should hold 36 real configs and 23 broken ones")
        #expect(unexpected.isEmpty, "\(unexpected.count) undocumented difference(s):\n\(unexpected.joined(separator: "\n"))")
        let stale = Set(allowed.keys).subtracting(seen)
        #expect(stale.isEmpty, "documented differences that no longer occur: \(stale)")
        for d in allowed.keys where !d.file.hasPrefix("broken/") {
            #expect(d.path != "$.ok", "no accept/reject difference is allowed on a real config: \(d)")
        }
    }

    /// docs/config-differences.json: every deliberate difference, each with its reason.
    static func deliberateDifferences() throws -> [Difference: String] {
        let url = packageRoot.appendingPathComponent("docs/config-differences.json")
        let list = try JSONValue.parse(String(contentsOf: url, encoding: .utf8)).arrayValue ?? []
        var out: [Difference: String] = [:]
        for item in list {
            let reason = item["reason"]?.stringValue ?? ""
            #expect(reason.count > 20, "each difference needs its reason: \(item.serialized(pretty: false))")
            out[Difference(file: item["file"]!.stringValue!, path: item["path"]!.stringValue!)] = reason
        }
        return out
    }

    struct Run {
        var verdict: JSONValue
        var replacements: [(String, String)]

        /// The expected verdict with ${HERE}/${WRAPPER} put back.
        func expected(_ value: JSONValue) -> JSONValue { substitute(value, replacements) }
    }

    func verdict(for path: String, context: JSONValue) throws -> Run {
        let here = (path as NSString).deletingLastPathComponent
        var env: [String: String] = [:]
        if case .object(let pairs)? = context["env"] {
            for (k, v) in pairs { env[k] = v.stringValue }
        }
        var users = FixedAccounts.debianUsers
        for u in context["extra_users"]?.arrayValue ?? [] {
            let f = u.arrayValue!
            users.append(UserAccount(name: f[0].stringValue!, uid: UInt32(f[1].intValue!), gid: UInt32(f[2].intValue!),
                                     home: f[3].stringValue!))
        }
        var groups = FixedAccounts.debianGroups
        for g in context["extra_groups"]?.arrayValue ?? [] {
            let f = g.arrayValue!
            groups.append(GroupAccount(name: f[0].stringValue!, gid: UInt32(f[1].intValue!)))
        }
        var inputs = ConfigInputs(environment: env, hostname: context["hostname"]?.stringValue ?? "testhost",
                                  accounts: FixedAccounts(users: users, groups: groups),
                                  files: SandboxFileSystem(root: here), workingDirectory: here, uid: 0)
        // supervisord's checker assumes every directory a config names exists.
        inputs.directoryExists = { _ in true }
        var replacements = [("${HERE}", here)]
        var target = path
        if context["as_include"]?.boolValue == true {
            let wrapperDir = try TemporaryDirectory()
            let wrapper = wrapperDir.path + "/supervisord.conf"
            try debianMain(include: path).write(toFile: wrapper, atomically: true, encoding: .utf8)
            replacements.append(("${WRAPPER}", wrapperDir.path))
            target = wrapper
            let run = Run(verdict: Verdict.json(ConfigLoader(inputs: inputs).load(path: target)), replacements: replacements)
            withExtendedLifetime(wrapperDir) {}
            return run
        }
        return Run(verdict: Verdict.json(ConfigLoader(inputs: inputs).load(path: target)), replacements: replacements)
    }

    /// Paths where the two verdicts differ, over the keys Minder compares.
    func differences(expected: JSONValue, got: JSONValue) -> [String] {
        if expected["ok"] != got["ok"] { return ["$.ok"] }
        guard expected["ok"] == .bool(true) else { return [] }
        var out: [String] = []
        for key in ["groups", "supervisord", "servers", "rpcinterfaces", "sections"] {
            diff(expected[key] ?? .null, got[key] ?? .null, "$.\(key)", into: &out)
        }
        return out
    }

    func diff(_ a: JSONValue, _ b: JSONValue, _ path: String, into out: inout [String]) {
        switch (a, b) {
        case let (.object(x), .object(y)):
            let keys = x.map(\.0) + y.map(\.0).filter { k in !x.contains { $0.0 == k } }
            for k in keys { diff(a[k] ?? .null, b[k] ?? .null, "\(path).\(k)", into: &out) }
        case let (.array(x), .array(y)) where x.count == y.count:
            for (i, pair) in zip(x, y).enumerated() { diff(pair.0, pair.1, "\(path)[\(i)]", into: &out) }
        default:
            if a != b { out.append(path) }
        }
    }

    func describe(_ value: JSONValue, _ path: String, _ replacements: [(String, String)]) -> String {
        var node: JSONValue? = substitute(value, replacements)
        for part in path.dropFirst(2).split(separator: ".") {
            var key = String(part)
            var indexes: [Int] = []
            while let open = key.lastIndex(of: "[") {
                indexes.insert(Int(key[key.index(after: open)..<key.index(before: key.endIndex)])!, at: 0)
                key = String(key[..<open])
            }
            node = node?[key]
            for i in indexes { node = node?.arrayValue.flatMap { i < $0.count ? $0[i] : nil } }
        }
        return node?.serialized(pretty: false) ?? "(absent)"
    }
}

func substitute(_ value: JSONValue, _ replacements: [(String, String)]) -> JSONValue {
    switch value {
    case .string(let s):
        return .string(replacements.reduce(s) { $0.replacingOccurrences(of: $1.0, with: $1.1) })
    case .array(let items): return .array(items.map { substitute($0, replacements) })
    case .object(let pairs):
        return .object(pairs.map { (substitute(.string($0.0), replacements).stringValue!, substitute($0.1, replacements)) })
    default: return value
    }
}

/// The file system as supervisord's checker lets it be seen: files are read
/// normally, but globs only see the directory of the config being checked.
struct SandboxFileSystem: ConfigFileSystem {
    let root: String
    let real = SystemFileSystem()

    func inside(_ path: String) -> Bool { path == root || path.hasPrefix(root + "/") }
    func readFile(_ path: String) throws(FileReadError) -> [UInt8] { try real.readFile(path) }
    func isDirectory(_ path: String) -> Bool { inside(path) && real.isDirectory(path) }
    func exists(_ path: String) -> Bool { inside(path) && real.exists(path) }
    func directoryEntries(_ path: String) -> [String]? { inside(path) ? real.directoryEntries(path) : nil }
}

/// Debian's packaged /etc/supervisor/supervisord.conf, its include pointed at one snippet.
func debianMain(include: String) -> String {
    """
    ; supervisor config file

    [unix_http_server]
    file=/var/run/supervisor.sock   ; (the path to the socket file)
    chmod=0700                       ; sockef file mode (default 0700)

    [supervisord]
    logfile=/var/log/supervisor/supervisord.log ; (main log file;default $CWD/supervisord.log)
    pidfile=/var/run/supervisord.pid ; (supervisord pidfile;default supervisord.pid)
    childlogdir=/var/log/supervisor            ; ('AUTO' child log dir, default $TEMP)

    ; the below section must remain in the config file for RPC
    ; (supervisorctl/web interface) to work, additional interfaces may be
    ; added by defining them in separate rpcinterface: sections
    [rpcinterface:supervisor]
    supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

    [supervisorctl]
    serverurl=unix:///var/run/supervisor.sock ; use a unix:// URL  for a unix socket

    ; The [include] section can just contain the "files" setting.  This
    ; setting can list multiple files (separated by whitespace or
    ; newlines).  It can also contain wildcards.  The filenames are
    ; interpreted as relative to this file.  Included files *cannot*
    ; include files themselves.

    [include]
    files = \(include)

    """
}
