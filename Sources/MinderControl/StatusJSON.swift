// ProcessStatus and StateEvent as JSON without JSONEncoder: status queries
// are the control API's hot path and every state change posts an event, and
// for these flat records of strings and numbers a direct writer is several
// times faster. The output is what JSON.encode gives, keys sorted, except
// that "/" is not escaped; tests check the two decode alike.

extension ProcessStatus {
    /// `[record,record,...]`
    public static func jsonArray(_ list: [ProcessStatus]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(list.count * 384 + 2)
        out.append(UInt8(ascii: "["))
        for (n, status) in list.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            status.appendJSON(to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    public func appendJSON(to out: inout [UInt8]) {
        var w = JSONRecordWriter(out: out)
        out = []  // the writer owns the bytes meanwhile, so appending does not copy them
        w.string("description", description)
        w.number("exitstatus", exitstatus)
        w.string("group", group)
        w.bool("healthy", healthy)
        w.number("log_bytes_dropped", Int(clamping: log_bytes_dropped))
        w.number("log_bytes_written", Int(clamping: log_bytes_written))
        w.string("name", name)
        w.string("namespec", namespec)
        w.number("now", now)
        w.number("pid", Int(pid))
        w.bool("ready", ready)
        w.number("restarts", restarts)
        w.string("spawnerr", spawnerr)
        w.number("start", start)
        w.number("state", state)
        w.string("statename", statename)
        w.string("status_text", status_text)
        w.string("stderr_logfile", stderr_logfile)
        w.string("stdout_logfile", stdout_logfile)
        w.number("stop", stop)
        w.string("waiting_for", waiting_for)
        out = w.finish()
    }
}

extension ProcessStatus {
    /// The web page's record of a process: what its row shows. `note` is the description without
    /// what changes by the second (a running process's pid and uptime, which the page fills in
    /// from `pid` and `start`), so that a record changes only when the process does.
    /// `cpuPercent`: of one core, since the page's last sample.
    public func pageJSON(note: String, cpuPercent: Double?, residentBytes: UInt64?) -> [UInt8] {
        var w = JSONRecordWriter(out: [])
        if let cpuPercent { w.number("cpu", (cpuPercent * 10).rounded() / 10) }
        w.string("group", group)
        w.bool("healthy", healthy)
        w.string("name", name)
        w.string("namespec", namespec)
        w.string("note", note)
        w.number("pid", Int(pid))
        w.bool("ready", ready)
        w.number("restarts", restarts)
        if let residentBytes { w.number("rss", Int(clamping: residentBytes)) }
        w.number("start", start.rounded())
        w.string("state", statename)
        return w.finish()
    }
}

/// One server-sent event of the web page's stream: the records that changed, the namespecs that
/// are gone, and minderd's clock.
public func pageUpdateFrame(set: [[UInt8]], gone: [String], now: Double) -> [UInt8] {
    var w = JSONRecordWriter(out: Array("event: update\ndata: ".utf8))
    w.strings("gone", gone)
    w.number("now", now.rounded())
    w.raw("set", set)
    return w.finish() + Array("\n\n".utf8)
}

extension StateEvent {
    /// Every key, with null where a value does not apply (`truncated` and `ready` only when set).
    public func json() -> [UInt8] {
        var w = JSONRecordWriter(out: [])
        w.number("exit_status", exit_status)
        w.bool("expected", expected)
        w.string("from", from)
        w.string("group", group)
        w.number("minderd_pid", Int(minderd_pid))
        w.string("name", name)
        w.number("pid", pid.map(Int.init))
        if let ready { w.bool("ready", ready) }
        w.number("serial", serial)
        w.number("time", time)
        w.string("to", to)
        if let truncated { w.bool("truncated", truncated) }
        return w.finish()
    }
}

/// One JSON object, written key by key in the order given.
struct JSONRecordWriter {
    private var out: [UInt8]
    private var first = true

    init(out: [UInt8]) {
        self.out = out
        self.out.append(UInt8(ascii: "{"))
    }

    mutating func finish() -> [UInt8] {
        out.append(UInt8(ascii: "}"))
        return out
    }

    private mutating func key(_ name: String) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        quoted(name)
        out.append(UInt8(ascii: ":"))
    }

    mutating func string(_ name: String, _ value: String) {
        key(name)
        quoted(value)
    }

    mutating func number(_ name: String, _ value: Int) {
        key(name)
        out.append(contentsOf: String(value).utf8)
    }

    mutating func string(_ name: String, _ value: String?) {
        guard let value else { return null(name) }
        string(name, value)
    }

    mutating func number(_ name: String, _ value: Int?) {
        guard let value else { return null(name) }
        number(name, value)
    }

    mutating func bool(_ name: String, _ value: Bool?) {
        key(name)
        out.append(contentsOf: (value.map { $0 ? "true" : "false" } ?? "null").utf8)
    }

    mutating func strings(_ name: String, _ values: [String]) {
        array(name, values.count) { $0.quoted(values[$1]) }
    }

    /// An array of JSON values written already.
    mutating func raw(_ name: String, _ values: [[UInt8]]) {
        array(name, values.count) { $0.out.append(contentsOf: values[$1]) }
    }

    private mutating func array(_ name: String, _ count: Int, _ element: (inout Self, Int) -> Void) {
        key(name)
        out.append(UInt8(ascii: "["))
        for n in 0..<count {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            element(&self, n)
        }
        out.append(UInt8(ascii: "]"))
    }

    private mutating func null(_ name: String) {
        key(name)
        out.append(contentsOf: "null".utf8)
    }

    /// As JSONEncoder writes a Double: whole numbers without a fraction.
    mutating func number(_ name: String, _ value: Double) {
        key(name)
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 {
            out.append(contentsOf: String(Int64(value)).utf8)
        } else {
            out.append(contentsOf: value.description.utf8)
        }
    }

    private mutating func quoted(_ text: String) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
