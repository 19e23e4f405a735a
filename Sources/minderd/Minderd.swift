import CMinder
import Minder
import MinderConfig
import MinderControl

#if canImport(Glibc)
import Glibc
#endif

@main
struct Minderd {
    static let commandLine = CommandLineSpec(
        command: "minderd",
        abstract: "Minder's supervisor daemon: runs the programs of a supervisord-style config.",
        options: [
            .option("c", "configuration", "The config file (default: search as supervisord does, minder.conf before supervisord.conf).",
                    completion: .file),
            .flag(nil, "check-config", "Validate the config, print the processes it defines, and exit."),
            .flag(nil, "json", "With --check-config: print the verdict as JSON."),
            .flag(nil, "strict", "Treat warnings (unknown options and sections, ...) as errors."),
            .flag("n", "nodaemon", "Stay in the foreground."),
            // supervisord's own options: each replaces the [supervisord] option of the same name.
            .flag("s", "silent", "No logs to stdout (maps to the silent config option)."),
            .option("u", "user", "Run minderd as this user (or numeric uid).", completion: .user),
            .option("m", "umask", "Use this umask for the daemon subprocess (default 022)."),
            .option("d", "directory", "Directory to chdir to when daemonized.", completion: .directory),
            .option("l", "logfile", "Use FILENAME as the main log file path.", completion: .file),
            .option("y", "logfile_maxbytes", "Use BYTES to limit the main log file's size."),
            .option("z", "logfile_backups", "Number of backups to keep when the log rotates."),
            .option("e", "loglevel", "Log level (critical, error, warn, info, debug, trace or blather).",
                    completion: .list(["critical", "error", "warn", "info", "debug", "trace", "blather"])),
            .option("j", "pidfile", "Write minderd's pid to this file.", completion: .file),
            .option("i", "identifier", "The identifier of this instance."),
            .option("q", "childlogdir", "The directory for AUTO child logs.", completion: .directory),
            .flag("k", "nocleanup", "Keep old AUTO child logs at start-up."),
            .option("a", "minfds", "The minimum number of descriptors for start success."),
            .flag("t", "strip_ansi", "Strip ANSI escape sequences from process output."),
            .flag("v", "version", "Print minderd's version and exit."),
            // Set by a minderd that starts the daemon (Daemon.launch), never by hand.
            .option(nil, String(Daemon.readyOption.dropFirst(2)), "", hidden: true),
        ])

    /// The [supervisord] options the command line can replace; the flags among them set "true".
    static let overridable = ["user", "umask", "directory", "logfile", "logfile_maxbytes", "logfile_backups", "loglevel",
                              "pidfile", "identifier", "childlogdir", "minfds", "silent", "nocleanup", "strip_ansi"]

    let values: [String: String]

    static func main() {
        // One malloc arena for every thread, set before any thread starts. minderd's threads (the
        // loop, the log thread, the control server's) allocate little, and a per-thread arena
        // strands what one thread frees where the others cannot reuse it: about 0.5 kB a program.
        _ = mn_malloc_one_arena()
        let request: CommandLineRequest
        do {
            request = try commandLine.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            printError("minderd: \(error.description)\nUsage: minderd <options> (see minderd --help)")
            exit(2)
        }
        switch request {
        case .help: print(commandLine.help, terminator: "")
        case .dumpHelp: print(String(decoding: commandLine.dumpHelp, as: UTF8.self))
        case .completion(let shell): print(commandLine.completionScript(shell: shell), terminator: "")
        case .run(let values): exit(Minderd(values: values).run())
        }
    }

    func flag(_ name: String) -> Bool { values[name] != nil }

    /// The command line's [supervisord] options, as the config loader takes them.
    var overrides: [(option: String, value: String)] {
        Self.overridable.compactMap { name in values[name].map { (name, $0) } }
    }

    /// minderd's exit status.
    func run() -> Int32 {
        // Before anything opens a file: a closed 0, 1 or 2 would be handed to it.
        _ = mn_ensure_stdio()
        // Before anything can start a thread: the loop reads these through a signalfd.
        if flag("version") {
            print(MinderVersion.current)
            return 0
        }
        Daemon.blockSignals()
        let inputs = SystemInputs.current()
        guard let path = values["configuration"] ?? ConfigSearch.find(executable: CommandLine.arguments[0], files: inputs.files) else {
            let places = ConfigSearch.candidates(executable: CommandLine.arguments[0]).joined(separator: ", ")
            printError("minderd: no config file found (looked for \(places)); use -c FILE")
            return 2
        }
        var result = ConfigLoader(inputs: inputs, overrides: overrides).load(path: path)
        if flag("strict") { result = result.strict() }

        if flag("check-config") && flag("json") {
            print(Verdict.json(result).serialized())
            return result.config == nil ? 2 : 0
        }
        let foreground = flag("nodaemon") || (result.config?.supervisord.nodaemon ?? true)
        // The daemon reads the config again and says what it finds.
        let readyOption = String(Daemon.readyOption.dropFirst(2))
        let daemonReadyFD = values[readyOption].flatMap { Int32($0) }
        if !flag("check-config") && !foreground && values[readyOption] == nil {
            return Daemon.launch(arguments: CommandLine.arguments)
        }
        for diagnostic in result.diagnostics where diagnostic.severity != .error {
            printError(diagnostic.description)
        }
        guard let config = result.config else {
            for diagnostic in result.errors { printError(diagnostic.description) }
            printError("minderd: \(path): \(result.errors.count) error(s); nothing was started")
            return 2
        }
        if flag("check-config") {
            print(Verdict.table(config))
            print("\(path): OK, \(config.processes.count) process(es) in \(config.groups.count) group(s)")
            return 0
        }
        let loader = ConfigLoader(inputs: inputs, overrides: overrides)
        let strict = flag("strict")
        // Re-read by reloads after a possible chdir into [supervisord] directory.
        let absolutePath = Paths.absolute(path, cwd: inputs.workingDirectory)
        // Relative paths are resolved against the start-up directory, once, for writes and reads alike.
        let cwd = inputs.workingDirectory
        // Accounts are looked up here too, never at spawn time on the supervisor's loop.
        let status = Daemon.run(config: config.absolutized(cwd: cwd).resolvingAccounts().resolvingSyslogServers(), inputs: inputs, foreground: foreground,
                                readyFD: daemonReadyFD) {
            let result = loader.load(path: absolutePath)
            return (strict ? result.strict() : result).prepared(cwd: cwd)
        }
        return status
    }
}

