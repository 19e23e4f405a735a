import ArgumentParser
import CMinder
import Minder
import MinderConfig
import MinderControl

#if canImport(Glibc)
import Glibc
#endif

@main
struct Minderd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minderd",
        abstract: "Minder's supervisor daemon: runs the programs of a supervisord-style config.")

    @Option(name: [.customShort("c"), .customLong("configuration")],
            help: "The config file (default: search as supervisord does, minder.conf before supervisord.conf).")
    var configFile: String?

    @Flag(name: .customLong("check-config"), help: "Validate the config, print the processes it defines, and exit.")
    var checkConfig = false

    @Flag(help: "With --check-config: print the verdict as JSON.")
    var json = false

    @Flag(help: "Treat warnings (unknown options and sections, ...) as errors.")
    var strict = false

    @Flag(name: [.customShort("n"), .customLong("nodaemon")], help: "Stay in the foreground.")
    var nodaemon = false

    // supervisord's own options: each replaces the [supervisord] option of the same name.
    @Flag(name: [.customShort("s"), .customLong("silent")], help: "No logs to stdout (maps to the silent config option).")
    var silent = false
    @Option(name: [.customShort("u"), .customLong("user")], help: "Run minderd as this user (or numeric uid).")
    var user: String?
    @Option(name: [.customShort("m"), .customLong("umask")], help: "Use this umask for the daemon subprocess (default 022).")
    var umask: String?
    @Option(name: [.customShort("d"), .customLong("directory")], help: "Directory to chdir to when daemonized.")
    var directory: String?
    @Option(name: [.customShort("l"), .customLong("logfile")], help: "Use FILENAME as the main log file path.")
    var logfile: String?
    @Option(name: [.customShort("y"), .customLong("logfile_maxbytes")], help: "Use BYTES to limit the main log file's size.")
    var logfileMaxbytes: String?
    @Option(name: [.customShort("z"), .customLong("logfile_backups")], help: "Number of backups to keep when the log rotates.")
    var logfileBackups: String?
    @Option(name: [.customShort("e"), .customLong("loglevel")], help: "Log level (critical, error, warn, info, debug, trace or blather).")
    var loglevel: String?
    @Option(name: [.customShort("j"), .customLong("pidfile")], help: "Write minderd's pid to this file.")
    var pidfile: String?
    @Option(name: [.customShort("i"), .customLong("identifier")], help: "The identifier of this instance.")
    var identifier: String?
    @Option(name: [.customShort("q"), .customLong("childlogdir")], help: "The directory for AUTO child logs.")
    var childlogdir: String?
    @Flag(name: [.customShort("k"), .customLong("nocleanup")], help: "Keep old AUTO child logs at start-up.")
    var nocleanup = false
    @Option(name: [.customShort("a"), .customLong("minfds")], help: "The minimum number of descriptors for start success.")
    var minfds: String?
    @Flag(name: [.customShort("t"), .customLong("strip_ansi")], help: "Strip ANSI escape sequences from process output.")
    var stripAnsi = false
    @Flag(name: [.customShort("v"), .customLong("version")], help: "Print minderd's version and exit.")
    var version = false
    /// Set by a minderd that starts the daemon (Daemon.launch), never by hand.
    @Option(name: .customLong(String(Daemon.readyOption.dropFirst(2))), help: .private)
    var daemonReadyFD: Int32?

    /// The command line's [supervisord] options, as the config loader takes them.
    var overrides: [(option: String, value: String)] {
        var out: [(String, String)] = []
        for (option, value) in [("user", user), ("umask", umask), ("directory", directory), ("logfile", logfile),
                                ("logfile_maxbytes", logfileMaxbytes), ("logfile_backups", logfileBackups),
                                ("loglevel", loglevel), ("pidfile", pidfile), ("identifier", identifier),
                                ("childlogdir", childlogdir), ("minfds", minfds)] {
            if let value { out.append((option, value)) }
        }
        for (option, on) in [("silent", silent), ("nocleanup", nocleanup), ("strip_ansi", stripAnsi)] where on {
            out.append((option, "true"))
        }
        return out
    }

    mutating func run() throws {
        // Before anything opens a file: a closed 0, 1 or 2 would be handed to it.
        _ = mn_ensure_stdio()
        // Before anything can start a thread: the loop reads these through a signalfd.
        if version {
            print(MinderVersion.current)
            return
        }
        Daemon.blockSignals()
        let inputs = SystemInputs.current()
        guard let path = configFile ?? ConfigSearch.find(executable: CommandLine.arguments[0], files: inputs.files) else {
            let places = ConfigSearch.candidates(executable: CommandLine.arguments[0]).joined(separator: ", ")
            printError("minderd: no config file found (looked for \(places)); use -c FILE")
            throw ExitCode(2)
        }
        var result = ConfigLoader(inputs: inputs, overrides: overrides).load(path: path)
        if strict { result = result.strict() }

        if checkConfig && json {
            print(Verdict.json(result).serialized())
            throw ExitCode(result.config == nil ? 2 : 0)
        }
        let foreground = nodaemon || (result.config?.supervisord.nodaemon ?? true)
        // The daemon reads the config again and says what it finds.
        if !checkConfig && !foreground && daemonReadyFD == nil {
            throw ExitCode(Daemon.launch(arguments: CommandLine.arguments))
        }
        for diagnostic in result.diagnostics where diagnostic.severity != .error {
            printError(diagnostic.description)
        }
        guard let config = result.config else {
            for diagnostic in result.errors { printError(diagnostic.description) }
            printError("minderd: \(path): \(result.errors.count) error(s); nothing was started")
            throw ExitCode(2)
        }
        if checkConfig {
            print(Verdict.table(config))
            print("\(path): OK, \(config.processes.count) process(es) in \(config.groups.count) group(s)")
            return
        }
        let loader = ConfigLoader(inputs: inputs, overrides: overrides)
        let strict = self.strict
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
        throw ExitCode(status)
    }
}

