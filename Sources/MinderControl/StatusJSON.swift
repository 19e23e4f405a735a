// ProcessStatus and StateEvent as JSON without Codable: status queries are
// the control API's hot path and every state change posts an event, and for
// these flat records of strings and numbers a direct writer (and, for
// minderctl, a direct reader) is several times faster. The output is what
// JSON.encode gives, keys sorted; tests check the two agree.

import MinderConfig

extension ProcessStatus {
    /// `[record,record,...]`; with `fields`, each record has only those keys.
    public static func jsonArray(_ list: [ProcessStatus], fields: Set<String>? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(list.count * (fields == nil ? 512 : 32 * fields!.count) + 2)
        out.append(UInt8(ascii: "["))
        let mask = Key.mask(fields)
        for (n, status) in list.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            status.appendJSON(to: &out, mask: mask)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    public func appendJSON(to out: inout [UInt8], fields: Set<String>? = nil) {
        appendJSON(to: &out, mask: Key.mask(fields))
    }

    /// `mask`: a bit for each key to write (Key.mask): a request's fields are looked up once, not
    /// for every key of every record.
    func appendJSON(to out: inout [UInt8], mask: UInt32) {
        var w = JSONRecordWriter(out: out)
        out = []  // the writer owns the bytes meanwhile, so appending does not copy them
        if mask & Key.description.bit != 0 { w.string("description", description) }
        if mask & Key.exitstatus.bit != 0 { w.number("exitstatus", exitstatus) }
        if mask & Key.group.bit != 0 { w.string("group", group) }
        if mask & Key.healthy.bit != 0 { w.bool("healthy", healthy) }
        if mask & Key.log_bytes_dropped.bit != 0 { w.number("log_bytes_dropped", Int(clamping: log_bytes_dropped)) }
        if mask & Key.log_bytes_written.bit != 0 { w.number("log_bytes_written", Int(clamping: log_bytes_written)) }
        if mask & Key.name.bit != 0 { w.string("name", name) }
        if mask & Key.namespec.bit != 0 { w.string("namespec", namespec) }
        if mask & Key.now.bit != 0 { w.number("now", now) }
        if mask & Key.pid.bit != 0 { w.number("pid", Int(pid)) }
        if mask & Key.ready.bit != 0 { w.bool("ready", ready) }
        if mask & Key.restarts.bit != 0 { w.number("restarts", restarts) }
        if mask & Key.spawnerr.bit != 0 { w.string("spawnerr", spawnerr) }
        if mask & Key.start.bit != 0 { w.number("start", start) }
        if mask & Key.state.bit != 0 { w.number("state", state) }
        if mask & Key.statename.bit != 0 { w.string("statename", statename) }
        if mask & Key.status_text.bit != 0 { w.string("status_text", status_text) }
        if mask & Key.stderr_logfile.bit != 0 { w.string("stderr_logfile", stderr_logfile) }
        if mask & Key.stdout_logfile.bit != 0 { w.string("stdout_logfile", stdout_logfile) }
        if mask & Key.stop.bit != 0 { w.number("stop", stop) }
        if mask & Key.waiting_for.bit != 0 { w.string("waiting_for", waiting_for) }
        out = w.finish()
    }
}

extension ProcessStatus {
    /// `[record,...]` as minderd writes it, read without Codable: `minderctl status` reads one
    /// record per process on every call, and Codable's generic decoding was half its run at 1000
    /// processes. nil for anything but well-formed records (a missing key, a wrong type): exactly
    /// what Codable refuses (StatusJSONTests). `fields`: the keys asked for (`?fields=`), which
    /// are then the ones that must be there; the others keep their zero values.
    public static func fromJSONArray(_ bytes: [UInt8], fields: Set<String>? = nil) -> [ProcessStatus]? {
        // `ready` and `healthy` may be absent (Codable's decodeIfPresent); every other key must be there.
        let required = fields == nil ? Key.mask(nil) & ~(Key.ready.bit | Key.healthy.bit) : Key.mask(fields)
        var out: [ProcessStatus] = []
        // Each record is filled in place, in the array: copying one costs a retain for each string.
        var open = false
        var seen: UInt32 = 0
        do {
            try JSONValue.forEachMember(inArrayOfObjects: bytes, { key, value in
                if !open {
                    out.append(.blank)
                    open = true
                }
                guard let bit = out[out.count - 1].set(key, value) else { return false }
                seen |= bit
                return true
            }, end: {
                guard seen & required == required else { return false }
                if !open { out.append(.blank) }  // `{}`, where no key is required
                open = false
                seen = 0
                return true
            })
        } catch {
            return nil
        }
        return out
    }

    static let blank = ProcessStatus(name: "", group: "", statename: "", state: 0, description: "", pid: 0, start: 0, stop: 0,
                                     now: 0, spawnerr: "", exitstatus: 0, restarts: 0, stdout_logfile: "", stderr_logfile: "")

    /// Sets the member `key`: its bit, 0 for a key this client does not know yet, nil for a key
    /// of Minder's with the wrong type (a bad record).
    mutating func set(_ key: String, _ value: JSONValue) -> UInt32? {
        let bit: Key
        switch (key, value) {
        case ("name", .string(let v)): name = v; bit = .name
        case ("group", .string(let v)): group = v; bit = .group
        case ("namespec", .string(let v)): namespec = v; bit = .namespec
        case ("statename", .string(let v)): statename = v; bit = .statename
        case ("state", .int(let v)): state = v; bit = .state
        case ("description", .string(let v)): description = v; bit = .description
        case ("pid", .int(let v)):
            guard let v = Int32(exactly: v) else { return nil }
            pid = v; bit = .pid
        case ("start", _): guard let v = value.number else { return nil }; start = v; bit = .start
        case ("stop", _): guard let v = value.number else { return nil }; stop = v; bit = .stop
        case ("now", _): guard let v = value.number else { return nil }; now = v; bit = .now
        case ("spawnerr", .string(let v)): spawnerr = v; bit = .spawnerr
        case ("exitstatus", .int(let v)): exitstatus = v; bit = .exitstatus
        case ("restarts", .int(let v)): restarts = v; bit = .restarts
        case ("stdout_logfile", .string(let v)): stdout_logfile = v; bit = .stdout_logfile
        case ("stderr_logfile", .string(let v)): stderr_logfile = v; bit = .stderr_logfile
        case ("log_bytes_written", .int(let v)):
            guard let v = UInt64(exactly: v) else { return nil }
            log_bytes_written = v; bit = .log_bytes_written
        case ("log_bytes_dropped", .int(let v)):
            guard let v = UInt64(exactly: v) else { return nil }
            log_bytes_dropped = v; bit = .log_bytes_dropped
        case ("ready", .bool(let v)): ready = v; bit = .ready
        case ("ready", .null): ready = nil; bit = .ready
        case ("healthy", .bool(let v)): healthy = v; bit = .healthy
        case ("healthy", .null): healthy = nil; bit = .healthy
        case ("status_text", .string(let v)): status_text = v; bit = .status_text
        case ("waiting_for", .string(let v)): waiting_for = v; bit = .waiting_for
        default:
            // A key of Minder's with the wrong type is a bad record; another key is one this
            // client does not know yet.
            return Self.keys.contains(key) ? nil : 0
        }
        return bit.bit
    }

    /// Every key of a record; its bit in a mask is its place here.
    enum Key: Int, CaseIterable {
        case name, group, namespec, statename, state, description, pid, start, stop, now, spawnerr, exitstatus, restarts
        case stdout_logfile, stderr_logfile, log_bytes_written, log_bytes_dropped, ready, healthy, status_text, waiting_for

        var bit: UInt32 { 1 << UInt32(rawValue) }

        /// The bits of `fields`; every bit for nil.
        static func mask(_ fields: Set<String>?) -> UInt32 {
            guard let fields else { return (1 << UInt32(allCases.count)) - 1 }
            return keys.indices.reduce(0) { fields.contains(keys[$1]) ? $0 | 1 << UInt32($1) : $0 }
        }
    }

    /// Every key of a record, in Key's order (a test checks it against the case names).
    public static let keys: [String] = [
        "name", "group", "namespec", "statename", "state", "description", "pid", "start", "stop", "now", "spawnerr",
        "exitstatus", "restarts", "stdout_logfile", "stderr_logfile", "log_bytes_written", "log_bytes_dropped",
        "ready", "healthy", "status_text", "waiting_for",
    ]
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
public struct JSONRecordWriter {
    private var out: [UInt8]
    private var first = true

    public init(out: [UInt8]) {
        self.out = out
    }

    public mutating func finish() -> [UInt8] {
        out.append(contentsOf: first ? "{}".utf8 : "}".utf8)
        return out
    }

    /// Keys are Minder's own literals, which need no escaping. Appended byte by byte: a string
    /// literal's UTF-8 view goes through Array's generic append, once per key of every record.
    private mutating func key(_ name: StaticString) {
        out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
        out.append(UInt8(ascii: "\""))
        first = false
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    public mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        quoted(value)
    }

    public mutating func number(_ name: StaticString, _ value: Int) {
        key(name)
        appendDecimal(value, to: &out)
    }

    public mutating func string(_ name: StaticString, _ value: String?) {
        guard let value else { return null(name) }
        string(name, value)
    }

    public mutating func number(_ name: StaticString, _ value: Int?) {
        guard let value else { return null(name) }
        number(name, value)
    }

    public mutating func bool(_ name: StaticString, _ value: Bool?) {
        key(name)
        out.append(contentsOf: (value.map { $0 ? "true" : "false" } ?? "null").utf8)
    }

    public mutating func strings(_ name: StaticString, _ values: [String]) {
        array(name, values.count) { $0.quoted(values[$1]) }
    }

    /// An array of JSON values written already.
    public mutating func raw(_ name: StaticString, _ values: [[UInt8]]) {
        array(name, values.count) { $0.out.append(contentsOf: values[$1]) }
    }

    private mutating func array(_ name: StaticString, _ count: Int, _ element: (inout Self, Int) -> Void) {
        key(name)
        out.append(UInt8(ascii: "["))
        for n in 0..<count {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            element(&self, n)
        }
        out.append(UInt8(ascii: "]"))
    }

    private mutating func null(_ name: StaticString) {
        key(name)
        out.append(contentsOf: "null".utf8)
    }

    public mutating func number(_ name: StaticString, _ value: Double) {
        key(name)
        out.append(contentsOf: JSONValue.numberText(value).utf8)
    }

    private mutating func quoted(_ text: String) {
        JSONValue.appendString(text, to: &out)
    }
}

/// `value` in decimal, as `String(value)` writes it, without making the string.
public func appendDecimal(_ value: Int, to out: inout [UInt8]) {
    if value < 0 { out.append(UInt8(ascii: "-")) }
    let start = out.count
    var rest = value.magnitude
    repeat {
        out.append(UInt8(ascii: "0") + UInt8(rest % 10))
        rest /= 10
    } while rest > 0
    out[start...].reverse()
}
