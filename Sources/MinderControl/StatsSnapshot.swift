// A copy of the stats segment, checked before a byte of it is used
// (docs/stats.md). The bytes come from shared memory that other processes
// may write, so every size, count and offset in them is validated against
// the copy's own length, and each slot against its checksum. Total: any
// bytes give rows or an error, never a trap (a fuzz target feeds it).

import CMinder

public struct StatsRow: Codable, Sendable, Equatable {
    public var group: String
    public var name: String
    public var namespec: String
    public var state: Int
    public var statename: String
    public var pid: Int32
    public var start_time: Double
    public var last_change: Double
    public var restarts: UInt32
    public var exit_status: Int32
    public var spawn_error: String
    public var sequence: UInt64
    public var cpu_user: Double
    public var cpu_system: Double
    public var rss_bytes: UInt64
    public var open_fds: UInt32
    public var threads: UInt32
    public var log_bytes_written: UInt64
    public var log_bytes_dropped: UInt64
    /// With ready=: whether the process said it is ready; nil without (docs/readiness.md).
    public var ready: Bool?
    /// Whether its health check passes; nil without one.
    public var healthy: Bool?
    /// When CPU, memory, descriptors and threads were last sampled (the header's sample_time), Unix seconds; 0: never.
    public var sample_time: Double
}

public enum StatsSnapshot {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public static let headerSize = MemoryLayout<minder_stats_header>.size
    public static let slotSize = MemoryLayout<minder_stats_slot>.size
    /// The most a reader copies: far above any real segment (100000 processes need 44 MB).
    public static let maxBytes = 64 << 20

    static let stateNames = [0: "STOPPED", 10: "STARTING", 20: "RUNNING", 30: "BACKOFF", 40: "STOPPING",
                             100: "EXITED", 200: "FATAL", 1000: "UNKNOWN"]

    /// The header, when `bytes` starts with one of this layout version.
    public static func header(_ bytes: [UInt8]) throws(Invalid) -> minder_stats_header {
        guard bytes.count >= headerSize else { throw Invalid(description: "too short for a Minder stats segment") }
        let h = bytes.withUnsafeBytes { $0.loadUnaligned(as: minder_stats_header.self) }
        guard h.magic == MINDER_STATS_MAGIC, h.version == MINDER_STATS_VERSION else {
            throw Invalid(description: "not a Minder stats segment of layout version \(MINDER_STATS_VERSION)")
        }
        guard Int(h.header_size) == headerSize, Int(h.slot_size) == slotSize else {
            throw Invalid(description: "its header and slot sizes are not those of layout version \(MINDER_STATS_VERSION)")
        }
        return h
    }

    /// Every written slot of a segment's copy, sorted by group and name.
    public static func rows(_ bytes: [UInt8]) throws(Invalid) -> [StatsRow] {
        let h = try header(bytes)
        let (slotBytes, overflow) = Int(h.slot_count).multipliedReportingOverflow(by: slotSize)
        guard !overflow, slotBytes <= bytes.count - headerSize else {
            throw Invalid(description: "it claims \(h.slot_count) slots but holds \((bytes.count - headerSize) / slotSize)")
        }
        var rows: [StatsRow] = []
        var failure: Invalid?
        bytes.withUnsafeBytes { raw in
            for i in 0..<Int(h.slot_count) {
                let s = raw.loadUnaligned(fromByteOffset: headerSize + i * slotSize, as: minder_stats_slot.self)
                guard s.sequence > 0 else { continue }
                var copy = s
                guard minder_stats_checksum(&copy) == s.checksum else {
                    failure = Invalid(description: "slot \(i) fails its checksum")
                    return
                }
                let group = text(s.group), name = text(s.name)
                rows.append(StatsRow(group: group, name: name, namespec: group == name ? name : "\(group):\(name)",
                                     state: Int(s.state), statename: stateNames[Int(s.state)] ?? "UNKNOWN", pid: s.pid,
                                     start_time: s.start_time, last_change: s.last_change, restarts: s.restarts,
                                     exit_status: s.exit_status, spawn_error: text(s.spawn_error), sequence: s.sequence,
                                     cpu_user: s.cpu_user, cpu_system: s.cpu_system, rss_bytes: s.rss_bytes,
                                     open_fds: s.open_fds, threads: s.threads,
                                     log_bytes_written: s.log_bytes_written, log_bytes_dropped: s.log_bytes_dropped,
                                     ready: s.ready < 0 ? nil : s.ready != 0, healthy: s.healthy < 0 ? nil : s.healthy != 0,
                                     sample_time: h.sample_time))
            }
        }
        if let failure { throw failure }
        return rows.sorted { ($0.group, $0.name) < ($1.group, $1.name) }
    }

    /// A fixed-size C string field: up to its first NUL, or all of it.
    public static func text<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
