// Reads a supervisord-style config the way supervisord 4.3 does (its
// ServerOptions.read_config and process_groups_from_parser), but reports
// every problem with file:line instead of stopping at the first.

public struct ConfigLoader: Sendable {
    public var inputs: ConfigInputs
    /// `[supervisord]` options given on minderd's command line (supervisord's `-l`, `-u`, ...):
    /// they replace the file's values and are checked the same way.
    public var overrides: [(option: String, value: String)] = []

    public init(inputs: ConfigInputs, overrides: [(option: String, value: String)] = []) {
        self.inputs = inputs
        self.overrides = overrides
    }

    /// Parses, expands and validates `path`. On any error `config` is nil. Without `programs`,
    /// the program, group and listener sections are neither read nor checked: what a client
    /// needs (the socket and its credentials) comes at a fraction of the cost for a large file.
    public func load(path: String, programs: Bool = true) -> ConfigLoadResult {
        var session = LoadSession(inputs: inputs, path: path)
        session.readPrograms = programs
        session.overrides = overrides
        let config = session.run()
        // An option read for two purposes (a program's priority is also its group's) is reported once.
        var seen = Set<String>()
        let diagnostics = session.diagnostics.filter { seen.insert("\($0.severity)\($0)").inserted }
        let hasErrors = diagnostics.contains { $0.severity == .error }
        return ConfigLoadResult(config: hasErrors ? nil : config, diagnostics: diagnostics, partial: config)
    }
}

private struct LoadSession {
    let inputs: ConfigInputs
    let path: String
    let here: String
    var doc = INIDocument()
    var diagnostics: [ConfigDiagnostic] = []
    /// ENV_X names: minderd's environment, then [supervisord] environment= on top.
    var envExpansions: Expansions = [:]
    /// [supervisord] no_new_privs, every program's default.
    var supervisordNoNewPrivs = false
    var supervisordSyslogServer: SyslogServer?
    var runningUID: UInt32 = 0
    var readPrograms = true
    var overrides: [(option: String, value: String)] = []

    init(inputs: ConfigInputs, path: String) {
        self.inputs = inputs
        self.path = path
        self.here = Paths.dirname(Paths.absolute(path, cwd: inputs.workingDirectory))
        for (key, value) in inputs.environment { envExpansions["ENV_" + key] = .string(value) }
    }

    // MARK: diagnostics

    func location(_ section: String, _ option: String?) -> SourceLocation {
        if let option, let entry = doc.entry(section, option) { return entry.location }
        return doc.sectionLocations[section] ?? SourceLocation(file: path, line: 0)
    }

    mutating func error(_ section: String, _ option: String?, _ message: String) {
        diagnostics.append(ConfigDiagnostic(.error, location(section, option), section: section, option: option, message))
    }

    mutating func warning(_ section: String, _ option: String?, _ message: String) {
        diagnostics.append(ConfigDiagnostic(.warning, location(section, option), section: section, option: option, message))
    }

    mutating func note(_ section: String, _ option: String?, _ message: String) {
        diagnostics.append(ConfigDiagnostic(.note, location(section, option), section: section, option: option, message))
    }

    var errorCount: Int { diagnostics.count { $0.severity == .error } }

    // MARK: reading values

    /// The expanded value of an option, or nil when it is absent or fails to expand (reported).
    mutating func string(_ section: String, _ option: String, _ expansions: Expansions, expand: Bool = true) -> String? {
        guard let entry = doc.entry(section, option) else { return nil }
        guard expand else { return entry.value }
        return expanded(entry.value, section, option, expansions)
    }

    mutating func expanded(_ value: String, _ section: String, _ option: String, _ expansions: Expansions) -> String? {
        do {
            return try pyFormat(value, expansions, over: envExpansions)
        } catch {
            self.error(section, option, error.message)
            return nil
        }
    }

    /// An option converted by `convert`; `fallback` when absent or invalid (invalid is reported).
    mutating func value<T>(_ section: String, _ option: String, _ fallback: T, _ expansions: Expansions,
                           _ convert: (String) throws(ValueError) -> T) -> T {
        optionalValue(section, option, expansions, convert) ?? fallback
    }

    mutating func optionalValue<T>(_ section: String, _ option: String, _ expansions: Expansions,
                                   _ convert: (String) throws(ValueError) -> T) -> T? {
        guard let text = string(section, option, expansions) else { return nil }
        do {
            return try convert(text)
        } catch {
            self.error(section, option, error.message)
            return nil
        }
    }

    // MARK: accounts and paths

    func userID(_ name: String) throws(ValueError) -> UInt32 {
        if let number = try? Values.integer(name) {
            guard number >= 0, number <= Int(UInt32.max), let user = inputs.accounts.user(id: UInt32(number)) else {
                throw ValueError("no user with id \(name) on this system")
            }
            return user.uid
        }
        guard let user = inputs.accounts.user(named: name) else { throw ValueError("no user named \(name.pyRepr) on this system") }
        return user.uid
    }

    func groupID(_ name: String) throws(ValueError) -> UInt32 {
        if let number = try? Values.integer(name) {
            guard number >= 0, number <= Int(UInt32.max), let group = inputs.accounts.group(id: UInt32(number)) else {
                throw ValueError("no group with id \(name) on this system")
            }
            return group.gid
        }
        guard let group = inputs.accounts.group(named: name) else { throw ValueError("no group named \(name.pyRepr) on this system") }
        return group.gid
    }

    /// `user` or `user:group`; the group is -1 (unchanged) when not given.
    func userAndGroup(_ text: String) throws(ValueError) -> (uid: Int, gid: Int) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let uid = Int(try userID(parts[0]))
        let gid = parts.count == 2 ? Int(try groupID(parts[1])) : -1
        return (uid, gid)
    }

    func expandUser(_ path: String) -> String {
        Paths.expandUser(path, environment: inputs.environment, accounts: inputs.accounts)
    }

    /// supervisord's existing_directory.
    func existingDirectory(_ text: String) throws(ValueError) -> String {
        let path = expandUser(text)
        guard inputs.directoryExists(path) else { throw ValueError("\(text) is not an existing directory") }
        return path
    }

    /// supervisord's existing_dirpath: the directory part of a file path must exist.
    func existingDirPath(_ text: String) throws(ValueError) -> String {
        let path = expandUser(text)
        let dir = Paths.dirname(path)
        guard dir.isEmpty || inputs.directoryExists(dir) else {
            throw ValueError("the directory of \(text) does not exist")
        }
        return path
    }

    func normalizePath(_ text: String) -> String {
        Paths.absolute(expandUser(text), cwd: inputs.workingDirectory)
    }

    // MARK: the whole file

    mutating func run() -> Config {
        var config = Config(path: path, here: here)
        guard readMainAndIncludes(&config) else { return config }
        config.sections = doc.sectionNames
        guard doc.hasSection("supervisord") else {
            diagnostics.append(ConfigDiagnostic(.error, SourceLocation(file: path, line: 0),
                "there is no [supervisord] section (a file with only [program:x] sections is meant to be included by a main config)"))
            // A client's config (supervisorctl's) may hold only [supervisorctl] or a server section.
            if !readPrograms {
                config.servers = readServers()
                config.control = readControlClient()
            }
            return config
        }
        for (option, value) in overrides {
            doc.set("supervisord", option, INIEntry(value: value, location: SourceLocation(file: "<command line>", line: 0)))
        }
        config.supervisord = readSupervisord()
        supervisordNoNewPrivs = config.supervisord.noNewPrivs
        supervisordSyslogServer = config.supervisord.syslogServer
        if let user = config.supervisord.user {
            do {
                config.supervisord.uid = try userID(user)
            } catch {
                self.error("supervisord", "user", error.message)
            }
        }
        // The uid minderd will run its programs from: [supervisord] user= once it has dropped to it.
        runningUID = config.supervisord.uid ?? inputs.uid
        config.rpcInterfaces = readRPCInterfaces()
        if readPrograms {
            config.groups = readGroups()
            for g in config.groups.indices {
                for p in config.groups[g].processes.indices {
                    config.groups[g].processes[p].environment = config.supervisord.environment
                        .merging(config.groups[g].processes[p].environment) { $1 }
                }
            }
        }
        if readPrograms { checkDependencies(config.groups) }
        config.servers = readServers()
        config.control = readControlClient()
        if readPrograms { checkUnknown() }
        return config
    }

    /// Reads the main file and what its [include] names. False when nothing more can be checked.
    mutating func readMainAndIncludes(_ config: inout Config) -> Bool {
        guard readFile(path, required: true) else { return false }
        guard doc.hasSection("include") else { return true }
        doc.replaceHere(with: here)
        guard doc.entry("include", "files") != nil else {
            error("include", "files", "[include] needs a files= line (space-separated globs)")
            return false
        }
        let expansions: Expansions = ["here": .string(here), "host_node_name": .string(inputs.hostname)]
        guard let files = string("include", "files", expansions) else { return false }
        // Warnings point at the main file's files= line, even once an included file has its own.
        let filesLocation = doc.entry("include", "files")!.location
        func includeWarning(_ message: String) {
            diagnostics.append(ConfigDiagnostic(.warning, filesLocation, section: "include", option: "files", message))
        }
        for pattern in files.pySplit() {
            let full = Paths.join(here, pattern)
            let matches = Glob.glob(full, files: inputs.files).sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            if matches.isEmpty {
                includeWarning("no file matches \(full.pyRepr)")
                continue
            }
            for file in matches {
                if inputs.files.isDirectory(file) {
                    includeWarning("\(file) is a directory; skipped")
                    continue
                }
                let hadInclude = doc.entry("include", "files")?.location
                guard readFile(file, required: false) else { continue }
                if let nested = doc.entry("include", "files"), nested.location != hadInclude {
                    diagnostics.append(ConfigDiagnostic(.warning, nested.location, section: "include", option: "files",
                        "an included file cannot include further files; this line is ignored"))
                }
                doc.replaceHere(with: Paths.dirname(Paths.absolute(file, cwd: inputs.workingDirectory)))
                config.includedFiles.append(file)
            }
        }
        return true
    }

    mutating func readFile(_ file: String, required: Bool) -> Bool {
        let bytes: [UInt8]
        do {
            bytes = try inputs.files.readFile(file)
        } catch {
            let why: String
            switch error {
            case .notFound: why = required ? "could not find config file \(file)" : "included file \(file) cannot be opened (a dangling symlink?)"
            case .unreadable(let reason): why = "cannot read \(required ? "config" : "included") file: \(reason)"
            }
            diagnostics.append(ConfigDiagnostic(.error, SourceLocation(file: file, line: 0), why))
            return false
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            diagnostics.append(ConfigDiagnostic(.error, SourceLocation(file: file, line: 0), "the file is not valid UTF-8 text"))
            return false
        }
        do {
            let bad = try doc.read(text: text, file: file)
            for b in bad { diagnostics.append(ConfigDiagnostic(.error, b.location, b.message)) }
            return bad.isEmpty
        } catch {
            diagnostics.append(ConfigDiagnostic(.error, error.location, error.message))
            return false
        }
    }

    // MARK: [supervisord]

    mutating func readSupervisord() -> SupervisordSettings {
        let s = "supervisord"
        let x: Expansions = ["here": .string(here)]
        var out = SupervisordSettings()
        out.minfds = value(s, "minfds", out.minfds, x, Values.integer)
        out.minprocs = value(s, "minprocs", out.minprocs, x, Values.integer)
        out.directory = optionalValue(s, "directory", x, existingDirectory)
        out.user = string(s, "user", x)
        out.umask = value(s, "umask", out.umask, x, Values.octal)
        out.logfile = value(s, "logfile", out.logfile, x, existingDirPath)
        out.logfileMaxBytes = value(s, "logfile_maxbytes", out.logfileMaxBytes, x, Values.byteSize)
        out.logfileBackups = value(s, "logfile_backups", out.logfileBackups, x, Values.integer)
        out.loglevel = value(s, "loglevel", out.loglevel, x, Values.logLevel)
        out.pidfile = value(s, "pidfile", out.pidfile, x, existingDirPath)
        out.identifier = string(s, "identifier", x) ?? out.identifier
        out.nodaemon = value(s, "nodaemon", out.nodaemon, x, Values.boolean)
        out.silent = value(s, "silent", out.silent, x, Values.boolean)
        let tempDirectory = inputs.tempDirectory
        out.childlogdir = doc.entry(s, "childlogdir") == nil
            ? tempDirectory : value(s, "childlogdir", tempDirectory, x, existingDirectory)
        out.nocleanup = value(s, "nocleanup", out.nocleanup, x, Values.boolean)
        out.stripAnsi = value(s, "strip_ansi", out.stripAnsi, x, Values.boolean)
        out.leftoverChildren = value(s, "leftover_children", out.leftoverChildren, x, Values.leftoverChildren)
        out.syslogServer = optionalValue(s, "syslog_server", x, Values.syslogServer)
        out.noNewPrivs = value(s, "no_new_privs", false, x, Values.boolean)
        out.eventsQueueMaxmsg = value(s, "events_queue_maxmsg", out.eventsQueueMaxmsg, x, Values.integer)
        out.eventsQueueMsgsize = value(s, "events_queue_msgsize", out.eventsQueueMsgsize, x, Values.integer)
        out.statsInterval = value(s, "stats_interval", out.statsInterval, x, Values.integer)
        if let group = string(s, "stats_group", x) {
            do {
                out.statsGID = try groupID(group)
                out.statsGroup = group
            } catch {
                self.error(s, "stats_group", error.message)
            }
        }
        if out.statsInterval < 0 { error(s, "stats_interval", "must be 0 (no sampling) or more seconds") }
        if out.eventsQueueMaxmsg < 1 { error(s, "events_queue_maxmsg", "must be at least 1") }
        if out.eventsQueueMsgsize < 256 { error(s, "events_queue_msgsize", "must be at least 256 bytes, to hold one event") }
        // supervisord expands this one twice, the second time with host_node_name too.
        if let once = string(s, "environment", x),
           let twice = expanded(once, s, "environment", ["here": .string(here), "host_node_name": .string(inputs.hostname)]) {
            do {
                for (key, val) in try parseEnvironment(twice) {
                    out.environment[key] = val
                    envExpansions["ENV_" + key] = .string(val)
                }
            } catch {
                self.error(s, "environment", error.message)
            }
        }
        return out
    }

    mutating func readRPCInterfaces() -> [String] {
        var names: [String] = []
        let factoryKey = "supervisor.rpcinterface_factory"
        for section in doc.sectionNames where section.hasPrefix("rpcinterface:") {
            let name = String(section.dropFirst("rpcinterface:".count))
            guard let factory = string(section, factoryKey, [:]) else {
                if doc.entry(section, factoryKey) == nil {
                    error(section, nil, "[\(section)] needs a \(factoryKey) line")
                }
                continue
            }
            for option in doc.optionNames(section) where option != factoryKey {
                _ = string(section, option, [:])
            }
            if factory.pyStrip() == "supervisor.rpcinterface:make_main_rpcinterface" {
                note(section, nil, "accepted and not needed: supervisord's interface is built into minderd")
            } else {
                warning(section, factoryKey, "Minder cannot load supervisord's Python plugins; \(factory) is ignored")
            }
            names.append(name)
        }
        return names
    }

    // MARK: groups and programs

    mutating func readGroups() -> [GroupConfig] {
        var groups: [GroupConfig] = []
        var excluded = Set<String>()
        let sections = doc.sectionNames
        let x: Expansions = ["here": .string(here)]

        for section in sections where section.hasPrefix("group:") {
            let name: String
            do { name = try Values.name(String(section.dropFirst("group:".count))) } catch {
                self.error(section, nil, error.message)
                continue
            }
            let programs = string(section, "programs", x).map(listOfStrings) ?? []
            let priority = value(section, "priority", 999, x, Values.integer)
            if doc.entry(section, "programs") == nil {
                warning(section, nil, "the group lists no programs= and stays empty")
            }
            var processes: [ProcessConfig] = []
            for program in programs {
                let programSection = "program:" + program
                let fcgiSection = "fcgi-program:" + program
                let isProgram = doc.hasSection(programSection)
                let isFCGI = doc.hasSection(fcgiSection)
                if !isProgram && !isFCGI {
                    error(section, "programs", "names \(program.pyRepr), but there is no [program:\(program)] or [fcgi-program:\(program)]")
                    continue
                }
                if isProgram && isFCGI {
                    error(section, "programs", "\(program.pyRepr) is ambiguous: both [program:\(program)] and [fcgi-program:\(program)] exist")
                    continue
                }
                let member = isProgram ? programSection : fcgiSection
                excluded.insert(member)
                processes += processesFromSection(member, groupName: name)
            }
            groups.append(GroupConfig(name: name, kind: .group, priority: priority, processes: processes,
                                      location: location(section, nil), section: section))
        }

        for section in sections where section.hasPrefix("program:") && !excluded.contains(section) {
            guard let name = sectionName(section) else { continue }
            let priority = value(section, "priority", 999, x, Values.integer)
            groups.append(GroupConfig(name: name, kind: .program, priority: priority,
                                      processes: processesFromSection(section, groupName: name),
                                      location: location(section, nil), section: section))
        }

        for section in sections where section.hasPrefix("eventlistener:") {
            groups.append(eventListenerPool(section))
        }

        for section in sections where section.hasPrefix("fcgi-program:") && !excluded.contains(section) {
            if let group = fcgiGroup(section) { groups.append(group) }
        }

        return stableSorted(groups) { ($0.priority, $0.name) }
    }

    /// depends_on= names that name nothing, a process that waits for itself, and cycles: each
    /// reported at the depends_on line of the section that says it.
    mutating func checkDependencies(_ groups: [GroupConfig]) {
        let processes = groups.flatMap { g in g.processes.map { (group: g.name, config: $0) } }
        for problem in DependencyGraph(processes).problems {
            error(processes[problem.process].config.section, "depends_on", problem.message)
        }
    }

    mutating func sectionName(_ section: String) -> String? {
        let raw = String(section.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[1])
        do { return try Values.name(raw) } catch {
            self.error(section, nil, error.message)
            return nil
        }
    }

    mutating func eventListenerPool(_ section: String) -> GroupConfig {
        let name = String(section.dropFirst("eventlistener:".count))
        let x: Expansions = ["here": .string(here)]
        let priority = value(section, "priority", -1, x, Values.integer)
        let bufferSize = value(section, "buffer_size", 10, x, Values.integer)
        if bufferSize < 1 { error(section, "buffer_size", "must be at least 1, not \(bufferSize)") }
        let handler = string(section, "result_handler", x) ?? "supervisor.dispatchers:default_handler"
        if handler != "supervisor.dispatchers:default_handler" {
            warning(section, "result_handler", "Minder cannot load Python result handlers; \(handler) is ignored")
        }
        let names = Set((string(section, "events", x).map(listOfStrings) ?? []).map { $0.uppercased() })
        if names.isEmpty {
            error(section, "events", "[\(section)] needs an events= line (event type names separated by commas)")
        }
        for event in names.sorted() where !EventTypes.all.contains(event) {
            error(section, "events", "unknown event type \(event.pyRepr)")
        }
        if value(section, "redirect_stderr", false, x, Values.boolean) {
            error(section, "redirect_stderr", "must be false in an event listener: its stdout carries the listener protocol")
        }
        let processes = processesFromSection(section, groupName: name)
        return GroupConfig(name: name, kind: .eventlistener, priority: priority, processes: processes,
                           eventListener: EventListenerSettings(events: names.sorted(), bufferSize: bufferSize,
                                                                resultHandler: handler),
                           location: location(section, nil), section: section)
    }

    mutating func fcgiGroup(_ section: String) -> GroupConfig? {
        guard let name = sectionName(section) else { return nil }
        let x: Expansions = ["here": .string(here)]
        let priority = value(section, "priority", 999, x, Values.integer)
        let procUID = optionalValue(section, "user", x, userID)
        var backlog = optionalValue(section, "socket_backlog", x, Values.integer)
        if let b = backlog, !(1...65535).contains(b) {
            error(section, "socket_backlog", "must be between 1 and 65535, not \(b)")
            backlog = nil
        }
        let owner = optionalValue(section, "socket_owner", x, userAndGroup)
        let mode = optionalValue(section, "socket_mode", x, Values.octal)
        var socket: FastCGISocket?
        let url = string(section, "socket", x.merging(["program_name": .string(name)]) { $1 })
        if doc.entry(section, "socket") == nil || url?.isEmpty == true {
            error(section, "socket", "[\(section)] needs a socket= line (unix:///path or tcp://host:port)")
        } else if let url {
            do {
                socket = try fcgiSocket(url, procUID: procUID, owner: owner, mode: mode, backlog: backlog)
            } catch {
                self.error(section, "socket", error.message)
            }
        }
        let processes = processesFromSection(section, groupName: name)
        return GroupConfig(name: name, kind: .fcgiProgram, priority: priority, processes: processes, fcgiSocket: socket,
                           location: location(section, nil), section: section)
    }

    func fcgiSocket(_ url: String, procUID: UInt32?, owner: (uid: Int, gid: Int)?, mode: Int?,
                    backlog: Int?) throws(ValueError) -> FastCGISocket {
        if url.hasPrefix("unix://") {
            let rawPath = String(url.dropFirst(7))
            guard Paths.isAbsolute(rawPath) else { throw ValueError("the unix socket path \(rawPath) is not absolute") }
            let path = normalizePath(rawPath)
            var owner = owner
            if owner == nil, let procUID, procUID != inputs.uid {
                owner = (Int(procUID), Int(inputs.accounts.user(id: procUID)?.gid ?? 0))
            }
            return FastCGISocket(url: "unix://" + path, owner: owner, mode: mode ?? 0o700, backlog: backlog)
        }
        if owner != nil || mode != nil {
            throw ValueError("socket_owner and socket_mode apply to unix sockets only")
        }
        // tcp://host:port, host without spaces or colons.
        if url.hasPrefix("tcp://") {
            let rest = String(url.dropFirst(6))
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2, !parts[0].isEmpty, !parts[0].contains(where: \.isWhitespace),
               !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(parts[1]) {
                guard (1...65535).contains(port) else { throw ValueError("port \(port) is out of range 1-65535") }
                return FastCGISocket(url: "tcp://\(parts[0].lowercased()):\(port)", owner: nil, mode: nil, backlog: backlog)
            }
        }
        throw ValueError("bad socket \(url.pyRepr): use unix:///absolute/path or tcp://host:port")
    }

    /// One [program:x]-like section expanded into its processes.
    mutating func processesFromSection(_ section: String, groupName: String) -> [ProcessConfig] {
        let errorsBefore = errorCount
        guard let programName = sectionName(section) else { return [] }
        var common: Expansions = [
            "here": .string(here), "program_name": .string(programName),
            "host_node_name": .string(inputs.hostname), "group_name": .string(groupName),
        ]
        let headerLocation = location(section, nil)
        var base = ProcessConfig(name: programName, programName: programName, processNum: 0, command: "",
                                 section: section, location: headerLocation)
        base.priority = value(section, "priority", base.priority, common, Values.integer)
        base.autostart = value(section, "autostart", base.autostart, common, Values.boolean)
        base.autorestart = value(section, "autorestart", base.autorestart, common, Values.autoRestart)
        base.startsecs = value(section, "startsecs", base.startsecs, common, Values.integer)
        base.startretries = value(section, "startretries", base.startretries, common, Values.integer)
        base.stopsignal = value(section, "stopsignal", base.stopsignal, common, Values.signal)
        base.stopwaitsecs = value(section, "stopwaitsecs", base.stopwaitsecs, common, Values.integer)
        base.stopasgroup = value(section, "stopasgroup", false, common, Values.boolean)
        base.killasgroup = value(section, "killasgroup", base.stopasgroup, common, Values.boolean)
        base.exitcodes = value(section, "exitcodes", base.exitcodes, common, Values.exitCodes)
        base.redirectStderr = value(section, "redirect_stderr", false, common, Values.boolean)
        let numprocs = value(section, "numprocs", 1, common, Values.integer)
        let numprocsStart = value(section, "numprocs_start", 0, common, Values.integer)
        let environmentTemplate = string(section, "environment", common, expand: false) ?? ""
        base.stdout.captureMaxBytes = value(section, "stdout_capture_maxbytes", 0, common, Values.byteSize)
        base.stdout.eventsEnabled = value(section, "stdout_events_enabled", false, common, Values.boolean)
        base.stderr.captureMaxBytes = value(section, "stderr_capture_maxbytes", 0, common, Values.byteSize)
        base.stderr.eventsEnabled = value(section, "stderr_events_enabled", false, common, Values.boolean)
        base.stdout.timestamps = value(section, "stdout_log_timestamps", false, common, Values.boolean)
        base.stderr.timestamps = value(section, "stderr_log_timestamps", false, common, Values.boolean)
        if base.redirectStderr && doc.entry(section, "stderr_prefix") != nil {
            warning(section, "stderr_prefix", "ignored: redirect_stderr=true sends stderr to the stdout log, which stdout_prefix governs")
        }
        if base.redirectStderr && base.stderr.timestamps {
            warning(section, "stderr_log_timestamps",
                    "ignored: redirect_stderr=true sends stderr to the stdout log, which stdout_log_timestamps governs")
        }
        if let url = string(section, "serverurl", common), !url.isEmpty, url.pyStrip().uppercased() != "AUTO" {
            base.serverurl = url
        }
        if let user = string(section, "user", common) {
            do {
                let uid = try userID(user)
                base.uid = uid
                base.user = inputs.accounts.user(id: uid)?.name ?? user
            } catch {
                self.error(section, "user", error.message)
            }
        }
        base.umask = optionalValue(section, "umask", common, Values.octal)
        readPrivileges(section, &base, common)
        var processNameTemplate = string(section, "process_name", common, expand: false) ?? "%(program_name)s"
        do { processNameTemplate = try Values.name(processNameTemplate) } catch {
            self.error(section, "process_name", error.message)
        }
        if numprocs > 1 && !processNameTemplate.includes("%(process_num)") {
            error(section, doc.entry(section, "process_name") == nil ? "numprocs" : "process_name",
                  "with numprocs > 1, process_name must contain %(process_num) so each process gets its own name (e.g. process_name=%(program_name)s_%(process_num)02d)")
        }
        if numprocs > 100_000 {
            error(section, "numprocs", "\(numprocs) processes is more than Minder supervises in one program (100000)")
        }
        if numprocsStart.addingReportingOverflow(max(0, numprocs)).overflow {
            error(section, "numprocs_start", "\(numprocsStart) + numprocs does not fit in a process number")
        }
        if base.stopasgroup && !base.killasgroup {
            error(section, "killasgroup", "cannot be false when stopasgroup=true (signalling the group but killing only the leader would orphan the rest)")
        }
        if doc.entry(section, "command") == nil {
            error(section, "command", "[\(section)] needs a command= line")
        }
        guard errorCount == errorsBefore, numprocs > 0 else { return [] }

        var processes: [ProcessConfig] = []
        common["numprocs"] = .int(numprocs)  // as in supervisord, only the per-process options see it
        for processNum in numprocsStart..<(numprocsStart + numprocs) {
            var p = base
            p.processNum = processNum
            common["process_num"] = .int(processNum)
            // The program's own environment= feeds ENV_X in the options read after it.
            var x = common  // the environment's ENV_ names are looked up behind these
            if let file = string(section, "environment_file", x) {
                p.environmentFile = file
                switch Result(catching: { () throws(FileReadError) in try inputs.files.readFile(expandUser(file)) }) {
                case .failure(.notFound):
                    self.error(section, "environment_file", "cannot read \(file): no such file")
                case .failure(.unreadable(let why)):
                    self.error(section, "environment_file", "cannot read \(file): \(why)")
                case .success(let bytes):
                    do {
                        for (key, val) in try EnvironmentFile.parse(String(decoding: bytes, as: UTF8.self)) { p.environment[key] = val }
                    } catch {
                        self.error(section, "environment_file", "\(file): \(error.message)")
                    }
                }
            }
            if let text = expanded(environmentTemplate, section, "environment", x) {
                do {
                    for (key, val) in try parseEnvironment(text) {
                        p.environment[key] = val
                        x["ENV_" + key] = .string(val)
                    }
                } catch {
                    self.error(section, "environment", error.message)
                }
            }
            p.directory = string(section, "directory", x)
            readChannel(section, "stdout", &p.stdout, x)
            readChannel(section, "stderr", &p.stderr, x)
            // A prefix and its separating space (INI values lose their trailing spaces).
            p.stdout.prefix = string(section, "stdout_prefix", x).map { $0.isEmpty ? "" : $0 + " " } ?? ""
            p.stderr.prefix = p.redirectStderr ? "" : string(section, "stderr_prefix", x).map { $0.isEmpty ? "" : $0 + " " } ?? ""
            if p.redirectStderr {
                if case .path = p.stderr.target {
                    warning(section, "stderr_logfile", "ignored: redirect_stderr=true sends stderr to the stdout log")
                }
                p.stderr.target = .none
            }
            if let command = string(section, "command", x) {
                p.command = command
                do {
                    p.argv = try splitCommand(command)
                    if p.argv!.isEmpty { error(section, "command", "the command is empty") }
                } catch {
                    var message = "the command cannot be split into words (\(error.message)): \(command.pyRepr)"
                    if let raw = doc.entry(section, "command"), raw.value.contains("'") || raw.value.contains("\"") {
                        message += "; note that ' ;' or ' #' starts a comment even inside quotes"
                    }
                    self.error(section, "command", message)
                }
            }
            if let name = expanded(processNameTemplate, section, "process_name", x) { p.name = name }
            processes.append(p)
            if errorCount != errorsBefore { break }  // one report per section, not one per process
        }
        return stableSorted(processes) { ($0.priority, $0.name) }
    }

    /// Minder's least-privilege options of a program section.
    mutating func readPrivileges(_ section: String, _ p: inout ProcessConfig, _ x: Expansions) {
        if let group = string(section, "group", x) {
            do {
                p.gid = try groupID(group)
                p.group = inputs.accounts.group(id: p.gid!)?.name ?? group
            } catch {
                self.error(section, "group", error.message)
            }
        }
        p.capabilities = optionalValue(section, "capabilities", x, Capabilities.parse)
        p.noNewPrivs = value(section, "no_new_privs", supervisordNoNewPrivs, x, Values.boolean)
        p.parentDeathSignal = optionalValue(section, "parent_death_signal", x, Values.signal)
        p.syslogServer = optionalValue(section, "syslog_server", x, Values.syslogServer) ?? supervisordSyslogServer
        p.ready = optionalValue(section, "ready", x, Values.readySource)
        p.readyTimeout = value(section, "ready_timeout", p.readyTimeout, x, Values.integer)
        if p.readyTimeout < 1 { error(section, "ready_timeout", "must be 1 or more seconds, not \(p.readyTimeout)") }
        p.notifyAccess = value(section, "notify_access", p.notifyAccess, x, Values.notifyAccess)
        p.healthCheck = optionalValue(section, "health_check", x, Values.probe)
        p.probes.interval = value(section, "probe_interval", p.probes.interval, x, Values.integer)
        p.probes.timeout = value(section, "probe_timeout", p.probes.timeout, x, Values.integer)
        p.probes.delay = value(section, "probe_delay", p.probes.delay, x, Values.integer)
        p.probes.failures = value(section, "probe_failures", p.probes.failures, x, Values.integer)
        p.probes.successes = value(section, "probe_successes", p.probes.successes, x, Values.integer)
        for (option, number, least) in [("probe_interval", p.probes.interval, 1), ("probe_timeout", p.probes.timeout, 1),
                                        ("probe_delay", p.probes.delay, 0), ("probe_failures", p.probes.failures, 1),
                                        ("probe_successes", p.probes.successes, 1)] where number < least {
            error(section, option, "must be \(least) or more, not \(number)")
        }
        p.watchdogSec = value(section, "watchdog_sec", 0, x, Values.integer)
        if p.watchdogSec < 0 { error(section, "watchdog_sec", "must be 0 (off) or more seconds, not \(p.watchdogSec)") }
        if p.watchdogSec > 0 && p.ready != .notify { error(section, "watchdog_sec", "needs ready=notify: the pings come on the notify socket") }
        p.dependsOn = value(section, "depends_on", [], x, Values.dependencies)
        p.shutdownWhen = value(section, "shutdown_when", p.shutdownWhen, x, Values.shutdownWhen)
        for name in ["nofile", "nproc", "core", "as", "cpu"] {
            if let limit = optionalValue(section, "rlimit_" + name, x, { text throws(ValueError) in try ResourceLimits.parse(name, text) }) {
                p.rlimits.append(limit)
            }
        }
        // What a minderd that is not root cannot do, said now rather than at every spawn.
        if runningUID != 0 {
            let who = runningUID == inputs.uid ? "minderd runs as uid \(runningUID)" : "minderd drops to uid \(runningUID) ([supervisord] user=)"
            if let uid = p.uid, uid != runningUID {
                error(section, "user", "\(who) and cannot run programs as another user")
            }
            if let caps = p.capabilities, !caps.isEmpty {
                error(section, "capabilities", "\(who) and cannot grant capabilities")
            }
        }
    }

    mutating func readChannel(_ section: String, _ channel: String, _ log: inout ChannelLog, _ x: Expansions) {
        let key = channel + "_logfile"
        var namedSyslog = false
        // supervisord expands a logfile value twice.
        if let once = string(section, key, x), let twice = expanded(once, section, key, x) {
            switch Values.logFileName(twice) {
            case .none: log.target = .none
            case .auto: log.target = .auto
            case .syslog:
                log.target = .none
                namedSyslog = true
                warning(section, key, "\(key)=syslog is deprecated; use \(channel)_syslog=true")
            case .path(let path):
                do { log.target = .path(try existingDirPath(path)) } catch { self.error(section, key, error.message) }
            }
        }
        log.backups = value(section, channel + "_logfile_backups", log.backups, x, Values.integer)
        log.maxBytes = value(section, channel + "_logfile_maxbytes", log.maxBytes, x, Values.byteSize)
        log.syslog = value(section, channel + "_syslog", false, x, Values.boolean) || namedSyslog
        if log.target == .auto && log.maxBytes == 0 {
            warning(section, key, "AUTO log without rotation (\(channel)_logfile_maxbytes=0) grows without bound")
        }
    }

    // MARK: servers and client

    mutating func readServers() -> [ServerConfig] {
        var servers: [ServerConfig] = []
        for section in doc.sectionNames where section.hasPrefix("inet_http_server") {
            let (username, password) = credentials(section)
            guard let port = string(section, "port", [:]) else {
                if doc.entry(section, "port") == nil { error(section, "port", "[\(section)] needs a port= line") }
                continue
            }
            do {
                let (host, number) = try inetAddress(port)
                servers.append(.inet(InetServer(section: section, host: host, port: number, username: username, password: password)))
                if username == nil && !InetServer.isLoopback(host) {
                    warning(section, "port", "\(host.isEmpty ? "every interface" : host) without a username and password: anyone who can reach port \(number) controls every program")
                }
            } catch {
                self.error(section, "port", error.message)
            }
        }
        for section in doc.sectionNames where section.hasPrefix("unix_http_server") {
            guard let file = string(section, "file", ["here": .string(here)]) else {
                if doc.entry(section, "file") == nil { error(section, "file", "[\(section)] needs a file= line (the socket path)") }
                continue
            }
            var server = UnixServer(section: section, file: normalizePath(file.pyStrip()))
            if server.file.utf8.count > 107 {
                error(section, "file", "the socket path is \(server.file.utf8.count) bytes long; the kernel allows 107")
            }
            (server.username, server.password) = credentials(section)
            if let chown = optionalValue(section, "chown", [:], userAndGroup) {
                (server.chownUID, server.chownGID) = chown
            }
            server.chmod = value(section, "chmod", server.chmod, [:], Values.octal)
            servers.append(.unix(server))
        }
        return servers
    }

    mutating func credentials(_ section: String) -> (String?, String?) {
        let username = string(section, "username", [:])
        let password = string(section, "password", [:])
        if (username == nil) != (password == nil), doc.entry(section, "username") == nil || doc.entry(section, "password") == nil {
            error(section, username == nil ? "password" : "username",
                  "username and password must be given together")
        }
        return (username, password)
    }

    func inetAddress(_ text: String) throws(ValueError) -> (String, Int) {
        var host = ""
        var portText = text
        if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon]).lowercased()
            portText = String(text[text.index(after: colon)...])
            if portText.isEmpty { throw ValueError("no port number in \(text.pyRepr)") }
        }
        guard let port = try? Values.integer(portText), (1...65535).contains(port) else {
            throw ValueError("\(portText.pyRepr) is not a port number (1-65535)")
        }
        return (host == "*" ? "" : host, port)
    }

    /// [supervisorctl] is minderctl's; a problem there does not stop minderd.
    mutating func readControlClient() -> ControlClientSettings {
        var out = ControlClientSettings()
        let s = "supervisorctl"
        guard doc.hasSection(s) else { return out }
        let before = diagnostics.count
        let x: Expansions = ["here": .string(here)]
        out.serverurl = string(s, "serverurl", x)
        out.username = string(s, "username", x)
        out.password = string(s, "password", x)
        out.prompt = string(s, "prompt", x) ?? out.prompt
        out.historyFile = string(s, "history_file", x)
        for i in before..<diagnostics.count where diagnostics[i].severity == .error {
            diagnostics[i].severity = .warning
            diagnostics[i].message += " (minderctl will refuse this; minderd does not read it)"
        }
        return out
    }

    // MARK: what supervisord would silently ignore

    mutating func checkUnknown() {
        for section in doc.sectionNames {
            guard let known = KnownOptions.options(forSection: section) else {
                if section.hasPrefix("ctlplugin:") {
                    note(section, nil, "supervisorctl plugins do not apply to minderctl; ignored")
                } else if !section.hasPrefix("rpcinterface:") {
                    var message = "unknown section, ignored"
                    let kind = String(section.split(separator: ":").first ?? "")
                    let kinds = ["program", "group", "eventlistener", "fcgi-program", "supervisord", "include",
                                 "unix_http_server", "inet_http_server", "supervisorctl", "rpcinterface"]
                    if let guess = KnownOptions.suggestion(for: kind.lowercased(), among: Set(kinds)) {
                        message += " (did you mean [\(guess)\(section.contains(":") ? ":…" : "")]?)"
                    }
                    warning(section, nil, message)
                }
                continue
            }
            for option in doc.ownOptionNames(section) where !known.contains(option) {
                if option.hasPrefix("[") {
                    warning(section, option, "looks like a section header without its closing ']'; read as an option and ignored")
                } else {
                    var message = "unknown option, ignored"
                    if let guess = KnownOptions.suggestion(for: option, among: known) {
                        message += " (did you mean \(guess)?)"
                    } else if section == "supervisord", KnownOptions.program.contains(option) {
                        message += " (it is a [program:x] option)"
                    }
                    warning(section, option, message)
                }
            }
        }
        for option in doc.defaults.keys where !KnownOptions.everyOption.contains(option) {
            diagnostics.append(ConfigDiagnostic(.warning, doc.defaults[option]?.location, section: INIDocument.defaultSection,
                                                option: option, "unknown option, ignored"))
        }
    }
}

/// supervisord's list_of_strings: comma-separated, each stripped.
private func listOfStrings(_ text: String) -> [String] {
    text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).pyStrip() }
}

/// Python's sort is stable; so is this one.
func stableSorted<T, K: Comparable>(_ items: [T], by key: (T) -> (Int, K)) -> [T] {
    items.enumerated().sorted { a, b in
        let ka = key(a.element), kb = key(b.element)
        if ka.0 != kb.0 { return ka.0 < kb.0 }
        if ka.1 != kb.1 { return ka.1 < kb.1 }
        return a.offset < b.offset
    }.map(\.element)
}

enum EventTypes {
    static let all: Set<String> = [
        "EVENT", "PROCESS_STATE", "PROCESS_STATE_STOPPED", "PROCESS_STATE_EXITED", "PROCESS_STATE_STARTING",
        "PROCESS_STATE_STOPPING", "PROCESS_STATE_BACKOFF", "PROCESS_STATE_FATAL", "PROCESS_STATE_RUNNING",
        "PROCESS_STATE_UNKNOWN", "PROCESS_LOG", "PROCESS_LOG_STDOUT", "PROCESS_LOG_STDERR", "PROCESS_COMMUNICATION",
        "PROCESS_COMMUNICATION_STDOUT", "PROCESS_COMMUNICATION_STDERR", "REMOTE_COMMUNICATION",
        "SUPERVISOR_STATE_CHANGE", "SUPERVISOR_STATE_CHANGE_RUNNING", "SUPERVISOR_STATE_CHANGE_STOPPING", "TICK",
        "TICK_5", "TICK_60", "TICK_3600", "PROCESS_GROUP", "PROCESS_GROUP_ADDED", "PROCESS_GROUP_REMOVED",
        // Minder's own: a ready=notify program said it is ready (docs/readiness.md).
        "PROCESS_READY",
    ]
}
