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

    mutating func run() throws {
        // Before anything opens a file: a closed 0, 1 or 2 would be handed to it.
        _ = mn_ensure_stdio()
        // Before anything can start a thread: the loop reads these through a signalfd.
        Daemon.blockSignals()
        let inputs = SystemInputs.current()
        guard let path = configFile ?? ConfigSearch.find(executable: CommandLine.arguments[0], files: inputs.files) else {
            let places = ConfigSearch.candidates(executable: CommandLine.arguments[0]).joined(separator: ", ")
            printError("minderd: no config file found (looked for \(places)); use -c FILE")
            throw ExitCode(2)
        }
        var result = ConfigLoader(inputs: inputs).load(path: path)
        if strict { result = result.strict() }

        if checkConfig && json {
            print(Verdict.json(result).serialized())
            throw ExitCode(result.config == nil ? 2 : 0)
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
        let foreground = nodaemon || config.supervisord.nodaemon
        let loader = ConfigLoader(inputs: inputs)
        let strict = self.strict
        // Re-read by reloads after a possible chdir into [supervisord] directory.
        let absolutePath = Paths.absolute(path, cwd: inputs.workingDirectory)
        // Relative paths are resolved against the start-up directory, once, for writes and reads alike.
        let cwd = inputs.workingDirectory
        // Accounts are looked up here too, never at spawn time on the supervisor's loop.
        let status = Daemon.run(config: config.absolutized(cwd: cwd).resolvingAccounts(), inputs: inputs, foreground: foreground) {
            let result = loader.load(path: absolutePath)
            return (strict ? result.strict() : result).prepared(cwd: cwd)
        }
        throw ExitCode(status)
    }
}

