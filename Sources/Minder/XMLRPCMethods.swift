// The methods of supervisord 4.3's `supervisor` and `system` namespaces, aliases included, each
// as a mapping onto the control requests (XMLRPCService.swift has the helpers).

import Glibc
import MinderConfig
import MinderControl
import MinderXMLRPC

extension XMLRPCService {
    static let methods: [String: Method] = {
        var m: [String: Method] = [:]

        // MARK: status and identification

        let apiVersion = method("string", [], "Return the version of the RPC API used by supervisord\n@return string version") { _, _, done in
            done(.success(.string("3.0")))
        }
        m["supervisor.getAPIVersion"] = apiVersion
        m["supervisor.getVersion"] = apiVersion
        m["supervisor.getSupervisorVersion"] = method("string", [], "Return the version of the supervisor package in use by supervisord\n@return string version") { s, _, done in
            s.info(done) { .string($0.version) }
        }
        m["supervisor.getIdentification"] = method("string", [], "Return identifying string of supervisord\n@return string identifier identifying string") { s, _, done in
            s.info(done) { .string($0.identifier) }
        }
        m["supervisor.getState"] = method("struct", [], "Return current state of supervisord as a struct\n@return struct A struct with keys int statecode, string statename") { s, _, done in
            s.info(done) { .structure([("statecode", int($0.state)), ("statename", .string($0.statename))]) }
        }
        m["supervisor.getPID"] = method("int", [], "Return the PID of supervisord\n@return int PID") { s, _, done in
            s.info(done) { int(Int($0.pid)) }
        }

        // MARK: the main log and the daemon

        let readLog = method("string", ["int", "int"], "Read length bytes from the main log starting at offset\n@param int offset offset to start reading from.\n@param int length number of bytes to read from the log.\n@return string result Bytes of log") { s, p, done in
            s.readLog(.mainLogPath, name: nil, offset: try p.int(0), length: try p.int(1), done)
        }
        m["supervisor.readLog"] = readLog
        m["supervisor.readMainLog"] = readLog
        m["supervisor.clearLog"] = method("boolean", [], "Clear the main log.\n@return boolean result always returns True unless error") { s, _, done in
            s.submit(.clearMainLog) { done(decode($0, as: [String: String].self, extra: nil).map { _ in .bool(true) }) }
        }
        m["supervisor.shutdown"] = method("boolean", [], "Shut down the supervisor process\n@return boolean result always returns True unless error") { s, _, done in
            s.submit(.shutdown) { Self.done($0, extra: nil, done) }
        }
        m["supervisor.restart"] = method("boolean", [], "Restart the supervisor process\n@return boolean result  always return True unless error") { s, _, done in
            s.withConfig({ .reload($0) }) { Self.done($0, extra: nil, done) }
        }

        // MARK: process information

        m["supervisor.getProcessInfo"] = method("struct", ["string"], "Get info about a process named name\n@param string name The name of the process (or 'group:name')\n@return struct result A structure containing data about the process") { s, p, done in
            let name = try p.string(0)
            guard case .process = spec(name) else { return done(.failure(XMLRPCFault(.BAD_NAME, name))) }
            // From the status board, as the JSON API's status: no wait for the supervisor's loop.
            let list = s.context.bridge.board.list(spec(name)).mapError { _ in XMLRPCFault(.BAD_NAME, name) }
            done(list.flatMap { $0.first.map { .success(info($0)) } ?? .failure(XMLRPCFault(.BAD_NAME, name)) })
        }
        m["supervisor.getAllProcessInfo"] = method("array", [], "Get info about all processes\n@return array result An array of process status results") { s, _, done in
            done(s.context.bridge.board.list(nil).map { .array($0.map(info)) }.mapError { _ in XMLRPCFault(.FAILED) })
        }
        m["supervisor.getAllConfigInfo"] = method("array", [], "Get info about all available process configurations. Each struct represents a single process (i.e. groups get flattened).\n@return array result An array of process config info structs") { s, _, done in
            s.withConfig({ .configInfo($0) }) { reply in
                done(decode(reply, as: [ConfigEntry].self, extra: nil).map { list in
                    .array(list.sorted { $0.name < $1.name }.map { e in
                        .structure([("name", .string(e.name)), ("group", .string(e.group)), ("inuse", .bool(e.inuse)),
                                    ("autostart", .bool(e.autostart)), ("group_prio", int(e.group_priority)),
                                    ("process_prio", int(e.process_priority))])
                    })
                })
            }
        }

        // MARK: process control

        m["supervisor.startProcess"] = method("boolean", ["string", "boolean"], required: 1, "Start a process\n@param string name Process name (or ``group:name``, or ``group:*``)\n@param boolean wait Wait for process to be fully started\n@return boolean result     Always true unless error") { s, p, done in
            let wait = try p.flag(1, default: true)
            s.operate(try p.string(0), single: true, { .start($0, wait: wait) }, done)
        }
        m["supervisor.startProcessGroup"] = method("array", ["string", "boolean"], required: 1, "Start all processes in the group named 'name'\n@param string name     The group name\n@param boolean wait    Wait for each process to be fully started\n@return array result   An array of process status info structs") { s, p, done in
            let wait = try p.flag(1, default: true)
            s.operate(try p.string(0), single: false, { .start($0, wait: wait) }, done)
        }
        m["supervisor.startAllProcesses"] = method("array", ["boolean"], required: 0, "Start all processes listed in the configuration file\n@param boolean wait    Wait for each process to be fully started\n@return array result   An array of process status info structs") { s, p, done in
            let wait = try p.flag(0, default: true)
            s.operate("", single: false, { .start($0, wait: wait) }, done)
        }
        m["supervisor.stopProcess"] = method("boolean", ["string", "boolean"], required: 1, "Stop a process named by name\n@param string name  The name of the process to stop (or 'group:name')\n@param boolean wait        Wait for the process to be fully stopped\n@return boolean result     Always return True unless error") { s, p, done in
            let wait = try p.flag(1, default: true)
            s.operate(try p.string(0), single: true, { .stop($0, wait: wait) }, done)
        }
        m["supervisor.stopProcessGroup"] = method("array", ["string", "boolean"], required: 1, "Stop all processes in the process group named 'name'\n@param string name     The group name\n@param boolean wait    Wait for each process to be fully stopped\n@return array result   An array of process status info structs") { s, p, done in
            let wait = try p.flag(1, default: true)
            s.operate(try p.string(0), single: false, { .stop($0, wait: wait) }, done)
        }
        m["supervisor.stopAllProcesses"] = method("array", ["boolean"], required: 0, "Stop all processes in the process list\n@param  boolean wait   Wait for each process to be fully stopped\n@return array result   An array of process status info structs") { s, p, done in
            let wait = try p.flag(0, default: true)
            s.operate("", single: false, { .stop($0, wait: wait) }, done)
        }
        // Only processes that can take a signal are signalled in a group, as in supervisord.
        let signallable: @Sendable (ProcessResult) -> Bool = { $0.code != .NOT_RUNNING }
        m["supervisor.signalProcess"] = method("boolean", ["string", "string"], "Send an arbitrary UNIX signal to the process named by name\n@param string name    Name of the process to signal (or 'group:name')\n@param string signal  Signal to send, as name ('HUP') or number ('1')\n@return boolean") { s, p, done in
            let signal = try p.string(1)
            guard Signals.parse(signal) != nil else { return done(.failure(XMLRPCFault(.BAD_SIGNAL, signal))) }
            s.operate(try p.string(0), single: true, { .signal($0, signal) }, keep: signallable, done)
        }
        m["supervisor.signalProcessGroup"] = method("array", ["string", "string"], "Send a signal to all processes in the group named 'name'\n@param string name    The group name\n@param string signal  Signal to send, as name ('HUP') or number ('1')\n@return array") { s, p, done in
            let signal = try p.string(1)
            guard Signals.parse(signal) != nil else { return done(.failure(XMLRPCFault(.BAD_SIGNAL, signal))) }
            s.operate(try p.string(0), single: false, { .signal($0, signal) }, keep: signallable, done)
        }
        m["supervisor.signalAllProcesses"] = method("array", ["string"], "Send a signal to all processes in the process list\n@param string signal  Signal to send, as name ('HUP') or number ('1')\n@return array         An array of process status info structs") { s, p, done in
            let signal = try p.string(0)
            guard Signals.parse(signal) != nil else { return done(.failure(XMLRPCFault(.BAD_SIGNAL, signal))) }
            s.operate("", single: false, { .signal($0, signal) }, keep: signallable, done)
        }
        m["supervisor.sendProcessStdin"] = method("boolean", ["string", "string"], "Send a string of chars to the stdin of the process name. If non-7-bit data is sent (unicode), it is encoded to utf-8 before being sent to the process' stdin.\n@param string name        The process name to send to (or 'group:name')\n@param string chars       The character data to send to the process\n@return boolean result    Always return True unless error") { s, p, done in
            let name = try p.string(0), chars = try p.string(1)
            guard case .process = spec(name) else { return done(.failure(XMLRPCFault(.BAD_NAME, name))) }
            s.submit(.stdin(spec(name), chars)) { reply in
                // A process not reading its stdin is supervisord's NO_FILE (EPIPE).
                Self.done(reply, extra: name) { result in
                    done(result.flatMapError { $0.code == Int32(Fault.FAILED.code) ? .failure(XMLRPCFault(.NO_FILE, name)) : .failure($0) })
                }
            }
        }
        m["supervisor.sendRemoteCommEvent"] = method("boolean", ["string", "string"], "Send an event that will be received by event listener subprocesses subscribing to the RemoteCommunicationEvent.\n@param  string  type  String for the \"type\" key in the event header\n@param  string  data  Data for the event body\n@return boolean       Always return True unless error") { s, p, done in
            s.submit(.remoteEvent(type: try p.string(0), data: try p.string(1))) { Self.done($0, extra: nil, done) }
        }

        // MARK: configuration

        m["supervisor.reloadConfig"] = method("array", [], "Reload the configuration.\n\nThe result contains three arrays containing names of process groups:\n\n* `added` gives the process groups that have been added\n* `changed` gives the process groups whose contents have changed\n* `removed` gives the process groups that are no longer in the configuration\n\n@return array result  [[added, changed, removed]]") { s, _, done in
            s.withConfig({ .reread($0) }) { reply in
                done(decode(reply, as: ConfigDiff.self, extra: nil).map { d in
                    .array([.array([d.added, d.changed, d.removed].map { .array($0.map { .string($0) }) })])
                })
            }
        }
        m["supervisor.addProcessGroup"] = method("boolean", ["string"], "Update the config for a running process from config file.\n@param string name         name of process group to add\n@return boolean result     true if successful") { s, p, done in
            let name = try p.string(0)
            s.withConfig({ .addGroup($0, name) }) { Self.done($0, extra: name, done) }
        }
        m["supervisor.removeProcessGroup"] = method("boolean", ["string"], "Remove a stopped process from the active configuration.\n@param string name         name of process group to remove\n@return boolean result     Indicates whether the removal was successful") { s, p, done in
            let name = try p.string(0)
            s.submit(.removeGroup(name)) { Self.done($0, extra: name, done) }
        }

        // MARK: process logs

        for (channel, names) in [("stdout", ["readProcessStdoutLog", "readProcessLog"]), ("stderr", ["readProcessStderrLog"])] {
            let read = method("string", ["string", "int", "int"], "Read length bytes from name's \(channel) log starting at offset\n@param string name        the name of the process (or 'group:name')\n@param int offset         offset to start reading from.\n@param int length         number of bytes to read from the log.\n@return string result     Bytes of log") { s, p, done in
                let name = try p.string(0)
                s.readLog(.logPath(spec(name), channel: channel), name: name, offset: try p.int(1), length: try p.int(2), done)
            }
            for n in names { m["supervisor." + n] = read }
        }
        for (channel, title, names) in [("stdout", "Stdout", ["tailProcessStdoutLog", "tailProcessLog"]), ("stderr", "Stderr", ["tailProcessStderrLog"])] {
            let tail = method("array", ["string", "int", "int"], "Provides a more efficient way to tail the (\(channel)) log than readProcess\(title)Log(). Use readProcess\(title)Log() to read chunks and tailProcess\(title)Log() to tail.\n\nRequests (length) bytes from the (name)'s log, starting at (offset). If the total log size is greater than (offset + length), the overflow flag is set and the (offset) is automatically increased to position the buffer at the end of the log. If less than (length) bytes are available, the maximum number of available bytes will be returned. (offset) returned is always the last offset in the log +1.\n\n@param string name         the name of the process (or 'group:name')\n@param int offset          offset to start reading from\n@param int length          maximum number of bytes to return\n@return array result       [string bytes, int offset, bool overflow]") { s, p, done in
                s.tailLog(try p.string(0), channel: channel, offset: try p.int(1), length: try p.int(2), done)
            }
            for n in names { m["supervisor." + n] = tail }
        }
        let clear = method("boolean", ["string"], "Clear the stdout and stderr logs for the named process and reopen them.\n@param string name   The name of the process (or 'group:name')\n@return boolean result      Always True unless error") { s, p, done in
            let name = try p.string(0)
            guard case .process = spec(name) else { return done(.failure(XMLRPCFault(.BAD_NAME, name))) }
            s.submit(.clearLogs(spec(name))) { Self.done($0, extra: name, done) }
        }
        m["supervisor.clearProcessLogs"] = clear
        m["supervisor.clearProcessLog"] = clear
        m["supervisor.clearAllProcessLogs"] = method("array", [], "Clear all process log files\n@return array result   An array of process status info structs") { s, _, done in
            s.operate("", single: false, { .clearLogs($0) }, done)
        }

        // MARK: system

        m["system.listMethods"] = method("array", [], "Return an array listing the available method names\n@return array result  An array of method names available (strings).") { _, _, done in
            done(.success(.array(methods.keys.sorted().map { .string($0) })))
        }
        m["system.methodHelp"] = method("string", ["string"], "Return a string showing the method's documentation\n@param string name   The name of the method.\n@return string result The documentation for the method name.") { _, p, done in
            guard let found = methods[try p.string(0)] else { return done(.failure(XMLRPCFault(.SIGNATURE_UNSUPPORTED))) }
            done(.success(.string(found.help)))
        }
        m["system.methodSignature"] = method("array", ["string"], "Return an array describing the method signature in the form [rtype, ptype, ptype...] where rtype is the return data type of the method, and ptypes are the parameter data types that the method accepts in method argument order.\n@param string name  The name of the method.\n@return array result  The result.") { _, p, done in
            guard let found = methods[try p.string(0)] else { return done(.failure(XMLRPCFault(.SIGNATURE_UNSUPPORTED))) }
            done(.success(.array(([found.returns] + found.params).map { .string($0) })))
        }
        m["system.multicall"] = method("array", ["array"], "Process an array of calls, and return an array of results. Calls should be structs of the form {'methodName': string, 'params': array}. Each result is either the call's return value, or a struct of the form {'faultCode': int, 'faultString': string}. This is useful when you need to make lots of small calls without lots of round trips.\n@param array calls  An array of call requests\n@return array result  An array of results") { s, p, done in
            guard case .array(let calls) = p.values[0] else { throw XMLRPCFault(.INCORRECT_PARAMETERS) }
            guard calls.count <= maxMulticall else {
                throw XMLRPCFault(.INCORRECT_PARAMETERS, "at most \(maxMulticall) calls in one system.multicall")
            }
            s.multicall(calls[...], results: [], done)
        }
        return m
    }()

    /// The calls one after another, each waiting for the one before, as supervisord runs them.
    func multicall(_ calls: ArraySlice<XMLRPCValue>, results: [XMLRPCValue], _ done: @escaping Done) {
        guard let call = calls.first else { return done(.success(.array(results))) }
        func member(_ key: String) -> XMLRPCValue? {
            guard case .structure(let members) = call else { return nil }
            return members.last { $0.0 == key }?.1
        }
        let next: Done = { result in
            let value: XMLRPCValue = switch result {
            case .success(let v): v
            case .failure(let f): .structure([("faultCode", .int(f.code)), ("faultString", .string(f.string))])
            }
            self.multicall(calls.dropFirst(), results: results + [value], done)
        }
        guard case .string(let name)? = member("methodName") else {
            return next(.failure(XMLRPCFault(.INCORRECT_PARAMETERS, "a call is a struct with a methodName string")))
        }
        let params: [XMLRPCValue]
        switch member("params") {
        case .array(let list)?: params = list
        case nil: params = []
        default: return next(.failure(XMLRPCFault(.INCORRECT_PARAMETERS, "params must be an array")))
        }
        invoke(name, params, nested: true, next)
    }

    /// supervisord's own facts (state, pid, identifier, version) from the loop.
    func info(_ done: @escaping Done, _ value: @escaping @Sendable (SupervisorInfo) -> XMLRPCValue) {
        submit(.supervisorInfo) { reply in done(Self.decode(reply, as: SupervisorInfo.self, extra: nil).map(value)) }
    }
}
