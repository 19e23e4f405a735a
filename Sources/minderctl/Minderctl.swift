// minderctl: supervisorctl's commands, output and exit codes, over minderd's
// JSON control API on its Unix socket.

import ArgumentParser
import CLineEdit
import CMinder
import Dispatch
import Glibc
import MinderConfig
import MinderControl

@main
struct Minderctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minderctl",
        abstract: "Control a running minderd (supervisorctl's commands).",
        discussion: Ctl.helpText)

    @Option(name: [.customShort("c"), .customLong("configuration")], help: "The config file (default: the same search as minderd).")
    var configFile: String?

    @Option(name: [.customShort("s"), .customLong("serverurl")], help: "unix:///path/to/minderd.sock or http://host:port")
    var serverURL: String?

    @Option(name: [.customShort("u"), .customLong("username")]) var username: String?
    @Option(name: [.customShort("p"), .customLong("password")]) var password: String?

    @Flag(help: "Print the API's JSON replies instead of supervisorctl's text.")
    var json = false

    @Option(name: [.customShort("r"), .customLong("history-file")], help: "The shell's history file (default: [supervisorctl] history_file).")
    var historyFile: String?

    @Flag(name: [.customShort("i"), .customLong("interactive")], help: "Start the shell after running the command.")
    var interactive = false

    @Flag(name: [.customShort("v"), .customLong("version")], help: "Print minderctl's version and exit.")
    var version = false

    // The shell completions offer the commands, for the first word and the ones after it alike.
    @Argument(parsing: .captureForPassthrough, help: "A command and its arguments; none starts a shell.",
              completion: .list(CommandHelp.topics.keys.sorted()))
    var words: [String] = []

    /// The command words take every argument after the options, so the parser's own `--help`, and
    /// the help data that scripts/install makes the man page from, are answered here first.
    static func main() {
        switch CommandLine.arguments.dropFirst().first {
        case "-h", "--help": print(helpMessage())
        case "--experimental-dump-help": print(_dumpHelp())
        default: main(nil)
        }
    }

    mutating func run() throws {
        if version {
            print(MinderVersion.current)
            return
        }
        var ctl: Ctl
        do {
            ctl = try Ctl.connect(configFile: configFile, serverURL: serverURL, username: username, password: password, json: json)
            if let historyFile { ctl.historyFile = historyFile }
        } catch {
            printError("Error: \(error)")
            throw ExitCode(2)
        }
        if words.isEmpty {
            ctl.shell()
            return
        }
        let status = ctl.run(words)
        if interactive { ctl.shell(showStatus: false) }
        // Straight out: the parser's way out for a thrown ExitCode first builds help text it
        // does not print, a millisecond on every command.
        Glibc.exit(status)
    }
}

struct CtlError: Error, CustomStringConvertible {
    var description: String
}

struct Ctl {
    var client: ControlClient
    /// The instance's IPC names, when a config file is known.
    var instance: InstanceID?
    var json: Bool
    var prompt: String
    var historyFile: String?
    /// Why there is no server to talk to, when there is none.
    var noServer: String?

    static let helpText = """
        commands: status [name|group:*|all ...], start|stop|restart name|group:*|all ..., \
        signal SIG name|group:*|all ..., pid [name|all], tail [-f|-N] name [stdout|stderr], maintail [-f|-N], fg name, \
        clear name|all ..., events [--follow], stats, wait name ... [--for ready|healthy|running|stopped] [--timeout S], avail, reread, update [all|group ...], add group ..., remove group ..., reload, shutdown, version, help
        """

    /// Finds the server as supervisorctl does: -s, else [supervisorctl] serverurl, else [unix_http_server] file.
    static func connect(configFile: String?, serverURL: String?, username: String?, password: String?,
                        json: Bool) throws -> Ctl {
        var url = serverURL
        var user = username, pass = password
        var prompt = "minder"
        var history: String?
        var instance: InstanceID?
        let inputs = SystemInputs.current()
        if let configFile, !inputs.files.exists(configFile) {
            throw CtlError(description: "could not find config file \(configFile)")
        }
        if let path = configFile ?? ConfigSearch.find(executable: CommandLine.arguments[0], files: inputs.files) {
            instance = InstanceID(configPath: path)
            let result = ConfigLoader(inputs: inputs).load(path: path, programs: false)
            guard let config = result.config ?? result.partial else {
                throw CtlError(description: result.errors.map(\.description).joined(separator: "\n"))
            }
            if url == nil {
                if let ctlURL = config.control.serverurl {
                    url = ctlURL
                } else if let unix = config.unixServer {
                    url = "unix://" + unix.file
                } else if let inet = config.inetServers.first {
                    url = "http://\(inet.host.isEmpty ? "localhost" : inet.host):\(inet.port)"
                } else {
                    url = "http://localhost:9001"  // supervisorctl's default
                }
            }
            user = user ?? config.control.username
            pass = pass ?? config.control.password
            if config.control.prompt != "supervisor" { prompt = config.control.prompt }
            history = config.control.historyFile.map { Paths.expandUser($0, environment: inputs.environment, accounts: inputs.accounts) }
        }
        guard let url else {
            // Reading the event queue needs no server; everything else says why there is none.
            return Ctl(client: ControlClient(socketPath: ""), instance: instance, json: json, prompt: prompt, historyFile: history,
                       noServer: "no server to talk to: give -s unix:///path, or -c with a [supervisorctl] serverurl or [unix_http_server] file")
        }
        guard let server = ControlClient.Server(url: url) else {
            throw CtlError(description: "\(url): a server URL is unix:///path or http://host:port")
        }
        if case .unix(let path) = server, path.utf8.count > 107 {
            throw CtlError(description: "socket path \(path) is \(path.utf8.count) bytes; the kernel allows 107")
        }
        return Ctl(client: ControlClient(server: server, username: user, password: pass), instance: instance, json: json,
                   prompt: prompt, historyFile: history)
    }

    // MARK: talking to minderd

    enum Reply {
        case ok([UInt8])
        case fault(ErrorReply)
    }

    func call(_ method: String, _ path: String, body: [UInt8] = []) throws(CtlError) -> Reply {
        if let noServer { throw CtlError(description: noServer) }
        let response: ControlClient.Response
        do {
            response = try client.request(method, ControlAPI.prefix + path, body: body)
        } catch {
            throw CtlError(description: error.description)
        }
        if response.status == 401 { throw CtlError(description: "Server requires authentication") }
        if (200..<300).contains(response.status) { return .ok(response.body) }
        if let fault = try? JSON.decode(ErrorReply.self, response.body) { return .fault(fault) }
        throw CtlError(description: "minderd answered HTTP \(response.status)")
    }

    func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws(CtlError) -> T {
        do { return try JSON.decode(type, bytes) } catch { throw CtlError(description: "unexpected reply from minderd") }
    }

    // MARK: commands

    /// Runs one command line; returns supervisorctl's exit status.
    func run(_ words: [String]) -> Int32 {
        guard let command = words.first else { return 0 }
        let args = Array(words.dropFirst())
        do {
            switch command {
            case "status": return try status(args)
            case "start", "stop", "restart": return try operate(command, args)
            case "signal": return try signal(args)
            case "pid": return try pid(args)
            case "tail": return try tail(args)
            case "maintail": return try maintail(args)
            case "clear": return try clear(args)
            case "fg": return try foreground(args)
            case "events": return try eventsCommand(args)
            case "stats": return try statsCommand()
            case "top": return try top()
            case "wait": return try waitCommand(args)
            case "avail": return try avail()
            case "add": return try groups(args, method: "POST", done: "added process group")
            case "remove": return try groups(args, method: "DELETE", done: "removed process group")
            case "reread": return try reread()
            case "update": return try update(args)
            case "reload": return try simple("/reload", done: "Restarted minderd")
            case "shutdown": return try simple("/shutdown", done: "Shut down")
            case "version":
                guard case .ok(let body) = try call("GET", "/supervisor") else { return 1 }
                if json { return emit(body) }
                print(try decode(SupervisorInfo.self, body).version)
                return 0
            case "help":
                guard let topic = args.first else {
                    print(Self.helpText)
                    return 0
                }
                if let text = CommandHelp.topics[topic] { print(text, terminator: "") } else { print("*** No help on \(topic)") }
                return 0
            default:
                print("*** Unknown syntax: \(words.joined(separator: " "))")
                return 1
            }
        } catch {
            printError(error.description.hasPrefix("unix://") || error.description.hasPrefix("http://") ? "\(error)" : "error: \(error)")
            if error.description.contains("no such file") { return 7 }
            return command == "status" ? 4 : (error.description.contains("refused") ? 4 : 1)
        }
    }

    func emit(_ body: [UInt8]) -> Int32 {
        print(String(decoding: body, as: UTF8.self))
        return 0
    }

    func status(_ args: [String]) throws(CtlError) -> Int32 {
        // The table needs five keys of each record; --json prints them all.
        let fields: Set<String>? = json ? nil : ["name", "group", "namespec", "statename", "description"]
        let query = fields.map { "?fields=" + $0.sorted().joined(separator: ",") } ?? ""
        guard case .ok(let body) = try call("GET", "/processes" + query) else { return 4 }
        guard let all = ProcessStatus.fromJSONArray(body, fields: fields) else {
            throw CtlError(description: "unexpected reply from minderd")
        }
        var shown: [ProcessStatus] = []
        var exit: Int32 = 0
        var errors: [String] = []
        if args.isEmpty || args.contains("all") {
            shown = all
        } else {
            for arg in args {
                switch NameSpec(arg) {
                case .all: shown += all
                case .group(let g):
                    let matched = all.filter { $0.group == g }
                    if matched.isEmpty { errors.append("\(g): ERROR (no such group)"); exit = 4 }
                    shown += matched
                case .process(let g, let n):
                    let matched = all.filter { $0.group == g && $0.name == n }
                    if matched.isEmpty { errors.append("\(arg): ERROR (no such process)"); exit = 4 }
                    shown += matched
                }
            }
        }
        if json {
            print(String(decoding: JSON.encode(shown), as: UTF8.self))
        } else {
            // Fields read in place (shown[i].x): a copy of each record would retain all its strings.
            let width = max(30, shown.indices.map { shown[$0].namespec.codePoints }.max() ?? 0) + 3
            // One write for the table, not one per process, made as bytes (appending to a String
            // was a sixth of `status` at 1000 processes).
            var table: [UInt8] = []
            table.reserveCapacity(shown.count * (width + 40))
            for e in errors { table += e.utf8 + [UInt8(ascii: "\n")] }
            for i in shown.indices {
                table.append(shown[i].namespec, paddedTo: width)
                table.append(shown[i].statename, paddedTo: 10)
                table += shown[i].description.utf8
                table.append(UInt8(ascii: "\n"))
            }
            fflush(nil)  // what print() holds goes first
            writeAll(1, table)
        }
        if shown.contains(where: { Self.notRunning.contains($0.statename) }) { exit = 3 }
        return exit
    }

    /// The states for which `status` exits 3, as supervisorctl does.
    static let notRunning: Set<String> = ["STOPPED", "EXITED", "FATAL", "UNKNOWN"]

    /// supervisorctl's wording for a fault.
    static func words(_ fault: Fault, _ message: String) -> String {
        switch fault {
        case .BAD_NAME: message.contains("group") ? "no such group" : "no such process"
        case .NO_FILE: "no such file"
        case .NOT_EXECUTABLE: "file is not executable"
        case .ALREADY_STARTED: "already started"
        // With what went wrong (supervisorctl says only "spawn error").
        case .SPAWN_ERROR: message.isEmpty ? "spawn error" : "spawn error: \(message)"
        case .ABNORMAL_TERMINATION: "abnormal termination"
        case .NOT_RUNNING: "not running"
        case .BAD_SIGNAL: "bad signal name"
        case .SHUTDOWN_STATE: "shutting down"
        default: message
        }
    }

    static func exitCode(_ fault: Fault) -> Int32? {
        switch fault {
        case .SUCCESS, .ALREADY_STARTED: nil
        case .SPAWN_ERROR, .ABNORMAL_TERMINATION, .NOT_RUNNING: 7
        default: 1
        }
    }

    /// Prints per-process results; returns the exit status.
    func report(_ reply: Reply, spec: NameSpec, done: String, ignoring ignored: Fault? = nil) throws(CtlError) -> Int32 {
        switch reply {
        case .fault(let f):
            if json {
                print(String(decoding: JSON.encode(f), as: UTF8.self))
            } else {
                let message = f.error.message.hasPrefix("\(spec): ") ? String(f.error.message.dropFirst("\(spec): ".count)) : f.error.message
                print("\(spec): ERROR (\(Self.words(f.error.code, message)))")
            }
            if case .group = spec, f.error.code == .BAD_NAME { return 2 }
            return f.error.code == ignored ? 0 : Self.exitCode(f.error.code) ?? 0
        case .ok(let body):
            if json { return emit(body) }
            var exit: Int32 = 0
            for r in try decode([ProcessResult].self, body) {
                print(r.code == .SUCCESS ? "\(r.namespec): \(done)" : "\(r.namespec): ERROR (\(Self.words(r.code, r.description)))")
                if r.code != ignored, let code = Self.exitCode(r.code) { exit = code }
            }
            return exit
        }
    }

    func operate(_ command: String, _ args: [String]) throws(CtlError) -> Int32 {
        // --no-deps: start only what is named, refused when what it depends on is not up.
        let noDeps = command != "stop" && args.contains("--no-deps")
        let names = args.filter { command == "stop" || $0 != "--no-deps" }
        guard !names.isEmpty else {
            printError("Error: \(command) requires a process name")
            return 2
        }
        let query = noDeps ? "?deps=false" : ""
        var exit: Int32 = 0
        for arg in names {
            let spec = NameSpec(arg)
            if command == "restart" {
                for (step, done, ignored) in [("stop", "stopped", Fault.NOT_RUNNING), ("start", "started", Fault.ALREADY_STARTED)] {
                    let code = try report(try call("POST", "/processes/\(spec.pathComponent)/\(step)\(step == "start" ? query : "")"), spec: spec,
                                          done: done, ignoring: ignored)
                    if code != 0 { exit = code }
                }
            } else {
                let ignored: Fault = command == "start" ? .ALREADY_STARTED : .NOT_RUNNING
                let code = try report(try call("POST", "/processes/\(spec.pathComponent)/\(command)\(query)"), spec: spec,
                                      done: command == "start" ? "started" : "stopped", ignoring: ignored)
                if code != 0 { exit = code }
            }
        }
        return exit
    }

    func signal(_ args: [String]) throws(CtlError) -> Int32 {
        guard args.count >= 2 else {
            printError("Error: signal requires a signal name and a process name")
            return 2
        }
        var exit: Int32 = 0
        for arg in args.dropFirst() {
            let spec = NameSpec(arg)
            let code = try report(try call("POST", "/processes/\(spec.pathComponent)/signal", body: JSON.encode(SignalRequest(signal: args[0]))),
                                  spec: spec, done: "signalled")
            if code != 0 { exit = code }
        }
        return exit
    }

    func pid(_ args: [String]) throws(CtlError) -> Int32 {
        if args.isEmpty {
            guard case .ok(let body) = try call("GET", "/supervisor") else { return 1 }
            print(try decode(SupervisorInfo.self, body).pid)
            return 0
        }
        var exit: Int32 = 0
        for arg in args {
            switch try call("GET", "/processes/\(NameSpec(arg).pathComponent)") {
            case .fault:
                print("No such process \(arg)")
                exit = 1
            case .ok(let body):
                for p in try decode([ProcessStatus].self, body) {
                    print(p.pid)
                    if p.pid == 0 && arg != "all" { exit = 7 }
                }
            }
        }
        return exit
    }

    func tail(_ args: [String]) throws(CtlError) -> Int32 {
        var follow = false, bytes = 1600
        var rest: [String] = []
        for a in args {
            if a == "-f" { follow = true } else if a.hasPrefix("-"), let n = Int(a.dropFirst()) { bytes = n } else { rest.append(a) }
        }
        guard let name = rest.first else {
            printError("Error: tail requires a process name")
            return 2
        }
        let channel = rest.count > 1 ? rest[1] : "stdout"
        let path = "/processes/\(NameSpec(name).pathComponent)/log/\(channel)"
        return try readLog(path, follow: follow, bytes: bytes, name: name)
    }

    func maintail(_ args: [String]) throws(CtlError) -> Int32 {
        let follow = args.contains("-f")
        let bytes = args.compactMap { $0.hasPrefix("-") ? Int($0.dropFirst()) : nil }.first ?? 1600
        return try readLog("/log", follow: follow, bytes: bytes, name: "minderd")
    }

    func readLog(_ path: String, follow: Bool, bytes: Int, name: String) throws(CtlError) -> Int32 {
        if follow {
            writeAll(1, "==> Press Ctrl-C to exit <==\n".utf8)
            let failed: ControlClient.Response?
            do {
                failed = try client.stream(ControlAPI.prefix + "\(path)?follow=1&tail=\(bytes)") { data in
                    writeAll(1, data)
                }
            } catch {
                throw CtlError(description: error.description)
            }
            guard let failed else { return 0 }
            let fault = try? JSON.decode(ErrorReply.self, failed.body)
            print("\(name): ERROR (\(fault.map { Self.words($0.error.code, $0.error.message) } ?? "HTTP \(failed.status)"))")
            return 1
        }
        switch try call("GET", "\(path)?tail=\(bytes)") {
        case .fault(let f):
            print("\(name): ERROR (\(Self.words(f.error.code, f.error.message)))")
            return 1
        case .ok(let body):
            writeAll(1, try decode(LogChunk.self, body).data.utf8)
            return 0
        }
    }

    /// supervisorctl's fg: the process's output here, our input to its stdin, until it stops running.
    func foreground(_ args: [String]) throws(CtlError) -> Int32 {
        guard args.count == 1 else {
            printError("Error: fg requires a process name")
            return 2
        }
        let spec = NameSpec(args[0])
        guard case .ok(let body) = try call("GET", "/processes/\(spec.pathComponent)"),
              let info = try decode([ProcessStatus].self, body).first, info.statename == "RUNNING" else {
            print("ERROR: process not running")
            return 7
        }
        let client = self.client
        let streaming = DispatchSemaphore(value: 0)
        for (channel, fd) in [("stdout", Int32(1)), ("stderr", Int32(2))] {
            let path = ControlAPI.prefix + "/processes/\(spec.pathComponent)/log/\(channel)?follow=1&tail=0"
            startThread(named: "minderctl-fg") {
                _ = try? client.stream(path, onStart: { streaming.signal() }) { writeAll(fd, $0) }
            }
        }
        // Both streams are open before anything is sent to the process.
        _ = streaming.wait(timeout: .now() + 10)
        _ = streaming.wait(timeout: .now() + 10)
        writeAll(1, "==> Press Ctrl-C to exit <==\n".utf8)
        // Leaves once the process no longer runs; the shell's input goes to its stdin meanwhile.
        startThread(named: "minderctl-fg") {
            while true {
                sleep(1)
                let stillRunning = (try? client.request("GET", ControlAPI.prefix + "/processes/\(spec.pathComponent)"))
                    .flatMap { try? JSON.decode([ProcessStatus].self, $0.body).first?.statename == "RUNNING" } ?? false
                if !stillRunning {
                    writeAll(1, "Exiting foreground\n".utf8)
                    exit(0)
                }
            }
        }
        while let line = readLine(strippingNewline: false) {
            _ = try call("POST", "/processes/\(spec.pathComponent)/stdin", body: JSON.encode(StdinRequest(data: line)))
        }
        writeAll(1, "Exiting foreground\n".utf8)
        return 0
    }

    /// Reads minderd's state events off its queue. Each message goes to one reader only.
    func eventsCommand(_ args: [String]) throws(CtlError) -> Int32 {
        let follow = args.contains("--follow") || args.contains("-f")
        // Following reads a queue of our own (or, over TCP or when refused one, the event
        // stream), which this follower gets whole; minderd's main queue has one reader, and is
        // drained by `events` without --follow.
        if follow {
            if case .unix = client.server, noServer == nil, let code = try followOwnQueue() { return code }
            return try followEvents()
        }
        guard let instance else { throw CtlError(description: "events needs the config file (-c) to find the queue") }
        let fd = mn_mq_open_reader(instance.eventQueue, follow ? 0 : 1)
        guard fd >= 0 else {
            throw CtlError(description: "cannot open the event queue \(instance.eventQueue): \(String(cString: strerror(errno))) (is minderd running with this config?)")
        }
        defer { _ = mn_mq_close(fd) }
        let size = max(1, mn_mq_msgsize(fd))
        var buffer = [CChar](repeating: 0, count: size)
        while true {
            let n = mn_mq_receive(fd, &buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                return 0  // empty (without --follow)
            }
            printEvent(buffer.prefix(n).map { UInt8(bitPattern: $0) })
        }
    }

    func printEvent(_ bytes: [UInt8]) {
        if json {
            print(String(decoding: bytes, as: UTF8.self))
        } else if let e = try? JSON.decode(StateEvent.self, bytes) {
            let who = e.name.map { n in e.group == n || e.group == nil ? n : "\(e.group!):\(n)" } ?? "minderd"
            let exit = e.exit_status.map { " exit \($0)" } ?? ""
            print("\(e.serial) \(who) \(e.from) -> \(e.to)\(e.pid.map { " pid \($0)" } ?? "")\(exit)")
        }
        fflush(nil)
    }

    /// `wait NAME... [--for ready|healthy|running|stopped] [--timeout S]`: until every named process
    /// (group:* for a group) is in that condition, kept up to date by the state events minderd
    /// streams, so it returns as soon as the last one gets there. 0 then; 1 on timeout (default
    /// 60 s), or when one it waits to be up goes FATAL; 2 for a bad argument or name.
    func waitCommand(_ args: [String]) throws(CtlError) -> Int32 {
        var names: [String] = [], condition = WaitState.Condition.ready, timeout = 60.0
        var rest = args[...]
        while let arg = rest.popFirst() {
            switch arg {
            case "--for":
                guard let c = rest.popFirst().flatMap(WaitState.Condition.init(rawValue:)) else {
                    print("Error: --for takes ready, healthy, running or stopped")
                    return 2
                }
                condition = c
            case "--timeout":
                guard let t = rest.popFirst().flatMap(Double.init), t >= 0 else {
                    print("Error: --timeout takes seconds")
                    return 2
                }
                timeout = t
            default: names.append(arg)
            }
        }
        guard !names.isEmpty else {
            print(CommandHelp.topics["wait"]!, terminator: "")
            return 2
        }
        var watch = WaitState(condition: condition, names: names)
        /// Every named process, read again: at the start, once the stream runs (so nothing is
        /// missed in between), and after one of minderd's own events (a reload may change them).
        func readAll() throws(CtlError) {
            var found: [ProcessStatus] = []
            for name in names {
                switch try call("GET", "/processes/\(NameSpec(name).pathComponent)") {
                case .fault(let f): throw CtlError(description: "\(name): \(f.error.message)")
                case .ok(let body): found += try decode([ProcessStatus].self, body)
                }
            }
            watch.replaceAll(found)
        }
        /// One process an event names; a fault means it is gone (removed by a reload).
        func read(_ spec: NameSpec) throws(CtlError) {
            switch try call("GET", "/processes/\(spec.pathComponent)") {
            case .fault: watch.forget(spec.description)
            case .ok(let body): for s in try decode([ProcessStatus].self, body) { watch.note(s) }
            }
        }
        func report() -> Int32? {
            if let failed = watch.failed {
                print("Error: \(failed)")
                return 1
            }
            return watch.unmet.isEmpty ? 0 : nil
        }
        do throws(CtlError) { try readAll() } catch {
            print("Error: \(error)")
            return 2
        }
        if let code = report() { return code }
        let deadline = ControlClient.monotonicNow() + timeout
        var failure: CtlError?
        var pending: [UInt8] = []
        /// false once the wait is over, met or failed.
        func follow(_ step: () throws(CtlError) -> Void) -> Bool {
            do throws(CtlError) { try step() } catch {
                failure = error
                return false
            }
            return watch.failed == nil && !watch.unmet.isEmpty
        }
        var stillGoing = true
        do {
            _ = try client.stream(ControlAPI.prefix + "/events", until: deadline, onStart: { stillGoing = follow(readAll) }) { bytes in
                guard stillGoing else { return false }
                pending += bytes
                for frame in Self.eventFrames(&pending) {
                    guard let event = try? JSON.decode(StateEvent.self, frame) else { continue }
                    stillGoing = follow { () throws(CtlError) in
                        switch watch.apply(event) {
                        case .current: break
                        case .read(let spec): try read(spec)
                        case .readAll: return try readAll()
                        }
                        // An event may be older than the last read (it was on its way meanwhile),
                        // so a wait that seems met is confirmed by reading them all once more.
                        if watch.unmet.isEmpty && watch.failed == nil { try readAll() }
                    }
                    if !stillGoing { return false }
                }
                return true
            }
        } catch .timedOut {
        } catch {
            throw CtlError(description: error.description)
        }
        if let failure { throw failure }
        if let code = report() { return code }
        let left = watch.unmet.sorted().map { ns in
            watch.known[ns].map { "\($0.namespec) (\($0.statename)\($0.ready == false ? ", not ready" : ""))" } ?? ns
        }
        print("Error: timed out after \(timeout) s waiting for \(condition.rawValue): \(left.joined(separator: ", "))")
        return 1
    }

    /// Takes the complete server-sent-event frames off the front of `pending` and returns each
    /// one's `data:`, the event's JSON; a partial frame stays for the next bytes.
    static let dataField = Array("data: ".utf8)

    static func eventFrames(_ pending: inout [UInt8]) -> [[UInt8]] {
        var events: [[UInt8]] = []
        var start = 0
        while let end = (start..<max(start, pending.count - 1)).first(where: { pending[$0] == 10 && pending[$0 + 1] == 10 }) {
            for line in pending[start..<end].split(separator: 10) where line.starts(with: Self.dataField) {
                events.append(Array(line.dropFirst(Self.dataField.count)))
            }
            start = end + 2
        }
        pending.removeFirst(start)
        return events
    }

    /// `events --follow` on the Unix socket: asks minderd for a queue of our own (room for 128
    /// events of 512 bytes, about 75 KB of its user's 800 KB RLIMIT_MSGQUEUE; the defaults when
    /// the kernel allows no more), reads it until minderd
    /// exits, and says on stderr when events were lost (a gap in the serials). nil when minderd
    /// refuses one: the caller follows the stream instead.
    func followOwnQueue() throws(CtlError) -> Int32? {
        var subscription: Subscription?
        var refusal = ""
        for body in [#"{"maxmsg":128,"msgsize":512}"#, ""] {
            switch try call("POST", "/events/subscriptions", body: Array(body.utf8)) {
            case .ok(let bytes):
                subscription = try decode(Subscription.self, bytes)
            case .fault(let f):
                refusal = f.error.message
                continue
            }
            break
        }
        guard let subscription else {
            writeAll(2, "minderctl: no event queue of our own (\(refusal)); following the event stream\n".utf8)
            return nil
        }
        let mq = mn_mq_open_reader(subscription.queue, 1)
        guard mq >= 0 else {
            throw CtlError(description: "cannot open the event queue \(subscription.queue): \(String(cString: strerror(errno)))")
        }
        defer { _ = mn_mq_close(mq) }
        // minderd's exit ends the follow; our own exit ends the subscription (minderd watches our pid).
        let minderd = mn_pidfd_open(subscription.minderd_pid)
        var buffer = [CChar](repeating: 0, count: subscription.msgsize)
        var fds = [pollfd(fd: mq, events: Int16(POLLIN), revents: 0), pollfd(fd: minderd, events: Int16(POLLIN), revents: 0)]
        var last: Int?
        while true {
            while true {
                let n = mn_mq_receive(mq, &buffer, buffer.count)
                if n < 0 { break }
                let bytes = buffer.prefix(n).map { UInt8(bitPattern: $0) }
                if let serial = (try? JSON.decode(StateEvent.self, bytes))?.serial {
                    if let last, serial > last + 1 {
                        writeAll(2, "minderctl: \(serial - last - 1) events were dropped from our queue (\(subscription.maxmsg) messages) while we were behind\n".utf8)
                    }
                    last = serial
                }
                printEvent(bytes)
            }
            if fds[1].revents != 0 { return 0 }
            if poll(&fds, minderd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR { return 1 }
        }
    }

    /// `events --follow`: GET /events as server-sent events, each event's data line printed.
    func followEvents() throws(CtlError) -> Int32 {
        if let noServer { throw CtlError(description: noServer) }
        var pending: [UInt8] = []
        let response: ControlClient.Response?
        do {
            response = try client.stream(ControlAPI.prefix + "/events") { bytes in
                pending += bytes
                for event in Self.eventFrames(&pending) { printEvent(event) }
            }
        } catch {
            throw CtlError(description: error.description)
        }
        if let response, response.status != 200 {
            throw CtlError(description: "minderd answered HTTP \(response.status)")
        }
        return 0
    }

    /// One snapshot of the shared-memory stats, sampled for it: needs no control socket, only
    /// the segment and its request queue.
    func statsCommand() throws(CtlError) -> Int32 {
        guard let instance else { throw CtlError(description: "stats needs the config file (-c) to find the segment") }
        let snapshot = try StatsReader.read(instance.statsSegment, fresh: true)
        if let stale = snapshot.stale { writeAll(2, "minderctl: \(stale)\n".utf8) }
        if json {
            print(String(decoding: JSON.encode(snapshot.rows), as: UTF8.self))
            return 0
        }
        print(Self.statsTable(snapshot))
        return 0
    }

    static func statsTable(_ snapshot: StatsReader.Snapshot) -> String {
        let rows = snapshot.rows
        let width = max(20, rows.map(\.namespec.codePoints).max() ?? 0) + 2
        func cell(_ text: String, _ w: Int) -> String { text.padded(to: w) }
        var lines = [cell("NAME", width) + cell("STATE", 10) + cell("PID", 9) + cell("RESTARTS", 10) + cell("CPU s", 10)
            + cell("RSS MB", 9) + cell("FDS", 6) + "THREADS"]
        for r in rows {
            lines.append(cell(r.namespec, width) + cell(r.statename, 10) + cell(String(r.pid), 9) + cell(String(r.restarts), 10)
                + cell(cFormat("%.2f", r.cpu_user + r.cpu_system), 10)
                + cell(cFormat("%.1f", Double(r.rss_bytes) / 1_048_576), 9) + cell(String(r.open_fds), 6) + String(r.threads))
        }
        let sampled = snapshot.header.sample_time
        if sampled > 0 {
            let age = max(0, wallClockNow() - sampled)
            lines.append(age < 1 ? "sampled \(Int(age * 1000)) ms ago" : "sampled \(cFormat("%.1f", age)) s ago")
        } else {
            lines.append("not sampled yet")
        }
        return lines.joined(separator: "\n")
    }

    /// A live table, sampled for each refresh (every second) through the segment alone (no
    /// control socket needed).
    func top() throws(CtlError) -> Int32 {
        guard let instance else { throw CtlError(description: "top needs the config file (-c) to find the segment") }
        while true {
            let snapshot = try StatsReader.read(instance.statsSegment, fresh: true)
            writeAll(1, ("\u{1B}[H\u{1B}[2J" + Self.statsTable(snapshot) + "\n").utf8)
            sleep(1)
        }
    }

    func clear(_ args: [String]) throws(CtlError) -> Int32 {
        var exit: Int32 = 0
        for arg in args {
            let spec = NameSpec(arg)
            let code = try report(try call("DELETE", "/processes/\(spec.pathComponent)/log"), spec: spec, done: "cleared")
            if code != 0 { exit = code }
        }
        return exit
    }

    /// supervisorctl's avail: `%-32s %-9s %-9s %s`.
    func avail() throws(CtlError) -> Int32 {
        switch try call("GET", "/config") {
        case .fault(let f):
            print("ERROR: \(f.error.code.rawValue): \(f.error.message)")
            return 1
        case .ok(let body):
            if json { return emit(body) }
            for e in try decode([ConfigEntry].self, body) {
                print(e.namespec.padded(to: 32) + " "
                    + (e.inuse ? "in use" : "avail").padded(to: 9) + " "
                    + (e.autostart ? "auto" : "manual").padded(to: 9) + " "
                    + "\(e.group_priority):\(e.process_priority)")
            }
            return 0
        }
    }

    /// add / remove of whole groups.
    func groups(_ names: [String], method: String, done: String) throws(CtlError) -> Int32 {
        var exit: Int32 = 0
        for name in names {
            switch try call(method, "/groups/\(NameSpec.process(group: name, name: name).pathComponent)") {
            case .ok: print("\(name): \(done)")
            case .fault(let f):
                switch f.error.code {
                case .ALREADY_ADDED: print("ERROR: process group already active")
                case .STILL_RUNNING: print("ERROR: process/group still running: \(name)")
                case .BAD_NAME: print("ERROR: no such process/group: \(name)")
                default: print("ERROR: \(f.error.message)")
                }
                exit = 1
            }
        }
        return exit
    }

    func reread() throws(CtlError) -> Int32 {
        switch try call("POST", "/reread") {
        case .fault(let f):
            print("ERROR: CANT_REREAD: \(f.error.message)")
            return 1
        case .ok(let body):
            if json { return emit(body) }
            let d = try decode(ConfigDiff.self, body)
            let lines = d.added.map { ($0, "available") } + d.changed.map { ($0, "changed") } + d.removed.map { ($0, "disappeared") }
            if lines.isEmpty { print("No config updates to processes") }
            for (name, what) in lines.sorted(by: { $0.0 < $1.0 }) { print("\(name): \(what)") }
            return 0
        }
    }

    func update(_ args: [String]) throws(CtlError) -> Int32 {
        let groups = args.filter { $0 != "all" }
        let query = groups.isEmpty ? "" : "?groups=" + groups.joined(separator: ",")
        switch try call("POST", "/update" + query) {
        case .fault(let f):
            print("ERROR: \(f.error.code.rawValue): \(f.error.message)")
            return 1
        case .ok(let body):
            if json { return emit(body) }
            let d = try decode(ConfigDiff.self, body)
            for name in d.removed { print("\(name): stopped"); print("\(name): removed process group") }
            for name in d.changed { print("\(name): stopped"); print("\(name): updated process group") }
            for name in d.added { print("\(name): added process group") }
            return 0
        }
    }

    func simple(_ path: String, done: String) throws(CtlError) -> Int32 {
        switch try call("POST", path) {
        case .fault(let f):
            print("ERROR: \(f.error.code == .SHUTDOWN_STATE ? "already shutting down" : f.error.message)")
            return 1
        case .ok(let body):
            if json { return emit(body) }
            print(done)
            return 0
        }
    }

    // MARK: shell

    func shell(showStatus: Bool = true) {
        if showStatus { _ = run(["status"]) }
        if let why = mn_line_editing_unavailable() {
            writeAll(2, "minderctl: no line editing or history, since libedit cannot be loaded (\(String(cString: why)))\n".utf8)
        }
        if let historyFile { _ = mn_read_history(historyFile) }
        defer { if let historyFile { _ = mn_write_history(historyFile) } }
        while let raw = mn_readline("\(prompt)> ") {
            let line = String(cString: raw)
            mn_free_line(raw)
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let first = words.first else { continue }
            mn_add_history(line)
            if first == "quit" || first == "exit" { return }
            _ = run(words)
        }
        print()
    }
}

extension String {
    /// Spaces after it up to `width` code points, as Python's `%-Ns` counts them (a longer text is
    /// kept whole).
    fileprivate func padded(to width: Int) -> String {
        let count = codePoints
        return count >= width ? self : self + String(repeating: " " as String, count: width - count)
    }

    /// How many code points, as Python's len() counts (UTF-8 bytes that begin one).
    fileprivate var codePoints: Int { utf8.reduce(0) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 } }
}

extension [UInt8] {
    /// `text` and spaces after it up to `width` code points, as Python's `%-Ns` counts them.
    fileprivate mutating func append(_ text: String, paddedTo width: Int) {
        append(contentsOf: text.utf8)
        var pad = width - text.codePoints
        while pad > 0 {
            let n = Swift.min(pad, Self.spaces.count)
            append(contentsOf: Self.spaces[..<n])
            pad -= n
        }
    }

    private static let spaces = [UInt8](repeating: UInt8(ascii: " "), count: 64)
}

/// All of `bytes` to a descriptor (stdout, stderr), whatever a pipe takes at a time.
func writeAll(_ fd: Int32, _ bytes: some Collection<UInt8>) {
    var rest = Array(bytes)[...]
    while !rest.isEmpty {
        let n = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        rest = rest.dropFirst(n)
    }
}
