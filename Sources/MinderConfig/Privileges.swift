// Minder's least-privilege options: capability names, resource limits and
// environment files (systemd's EnvironmentFile syntax).

enum Capabilities {
    /// Linux capability numbers by name (without CAP_).
    static let numbers: [String: Int32] = {
        let names = [
            "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
            "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
            "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
            "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
            "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
            "CHECKPOINT_RESTORE",
        ]
        return Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
    }()

    /// `CAP_NET_BIND_SERVICE,net_raw` → numbers; an empty value means none.
    static func parse(_ text: String) throws(ValueError) -> [Int32] {
        var out: [Int32] = []
        for raw in text.split(separator: ",").map({ String($0).pyStrip().uppercased() }) where !raw.isEmpty {
            let name = raw.hasPrefix("CAP_") ? String(raw.dropFirst(4)) : raw
            guard let number = numbers[name] else {
                var message = "unknown capability \(raw.pyRepr)"
                if let close = KnownOptions.suggestion(for: name, among: Set(numbers.keys)) { message += " (did you mean CAP_\(close)?)" }
                throw ValueError(message)
            }
            if !out.contains(number) { out.append(number) }
        }
        return out
    }
}

enum ResourceLimits {
    static let resources: [String: Int32] = ["cpu": 0, "core": 4, "nproc": 6, "nofile": 7, "as": 9]

    /// `N`, `soft:hard` or `unlimited` (also `infinity`).
    static func parse(_ name: String, _ text: String) throws(ValueError) -> ResourceLimit {
        func one(_ part: String) throws(ValueError) -> Int64 {
            let p = part.pyStrip().lowercased()
            if p == "unlimited" || p == "infinity" { return -1 }
            guard let n = Int64(p), n >= 0 else {
                throw ValueError("\(text.pyRepr) is not a limit (a number, soft:hard, or unlimited)")
            }
            return n
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2 else { throw ValueError("\(text.pyRepr) is not a limit (a number, soft:hard, or unlimited)") }
        let soft = try one(parts[0])
        let hard = parts.count == 2 ? try one(parts[1]) : soft
        if hard >= 0 && (soft < 0 || soft > hard) {
            throw ValueError("the soft limit \(parts[0]) is above the hard limit \(parts[1])")
        }
        return ResourceLimit(name: name, resource: resources[name]!, soft: soft, hard: hard)
    }
}

enum EnvironmentFile {
    /// systemd's EnvironmentFile: KEY=value lines, `#`/`;` comments, blank lines, optional
    /// `export `, values in single or double quotes (with \" and \\ inside double quotes).
    static func parse(_ text: String) throws(ValueError) -> [(String, String)] {
        var out: [(String, String)] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            line = line.pyStrip()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).pyStrip() }
            guard let eq = line.firstIndex(of: "=") else { throw ValueError("line \(index + 1): expected KEY=value") }
            let key = String(line[..<eq]).pyStrip()
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw ValueError("line \(index + 1): \(key.pyRepr) is not a variable name")
            }
            var value = String(line[line.index(after: eq)...]).pyStrip()
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
                if q == "\"" { value = value.replacingAll("\\\"", with: "\"").replacingAll("\\\\", with: "\\") }
            }
            if let existing = out.firstIndex(where: { $0.0 == key }) { out[existing].1 = value } else { out.append((key, value)) }
        }
        return out
    }
}
