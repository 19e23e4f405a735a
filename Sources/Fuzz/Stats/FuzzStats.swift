// Fuzz target for the stats-segment reader (StatsSnapshot), which copies
// shared memory that any process allowed to open it may have written.
// Built with -DFUZZING it is a libFuzzer target; otherwise it replays corpus
// files (scripts/fuzz --replay), or writes the seed segments with
// --write-seeds DIR.

import CMinder
import Foundation
import MinderControl

let headerSize = MemoryLayout<minder_stats_header>.size
let slotSize = MemoryLayout<minder_stats_slot>.size

func fuzzOne(_ data: [UInt8]) {
    check(data)
    // Random bytes almost never carry a right FNV-1a checksum, so the slots' contents would
    // stop at the checksum test: the same input again with every slot's checksum made right
    // lets mutations of names, states and numbers reach the row decoding.
    var fixed = data
    if let h = try? StatsSnapshot.header(fixed) {
        let count = min(Int(h.slot_count), (fixed.count - headerSize) / slotSize)
        fixed.withUnsafeMutableBytes { raw in
            for i in 0..<count {
                let offset = headerSize + i * slotSize
                var slot = raw.loadUnaligned(fromByteOffset: offset, as: minder_stats_slot.self)
                slot.checksum = minder_stats_checksum(&slot)
                raw.storeBytes(of: slot.checksum, toByteOffset: offset + MemoryLayout<minder_stats_slot>.offset(of: \.checksum)!,
                               as: UInt64.self)
            }
        }
        check(fixed)
    }
}

func check(_ data: [UInt8]) {
    _ = try? StatsSnapshot.header(data)
    guard let rows = try? StatsSnapshot.rows(data) else { return }
    // A segment cannot yield more rows than the slots that fit in it.
    precondition(rows.count <= max(0, data.count - headerSize) / slotSize)
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
import FuzzSupport

@main enum Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.count == 2, args[0] == "--write-seeds" {
            writeSeeds(to: args[1])
            return
        }
        guard !args.isEmpty else {
            print("usage: FuzzStats FILE_OR_DIR...  (replays each input; scripts/fuzz runs the fuzzer)")
            print("       FuzzStats --write-seeds DIR  (writes the seed segment images)")
            exit(2)
        }
        print("FuzzStats: replayed \(replay(args, fuzzOne)) inputs")
    }
}

/// Segment images as minderd writes them, plus near misses of each check the reader makes,
/// so the fuzzer starts past the header tests.
func writeSeeds(to dir: String) {
    func put(_ name: String, _ bytes: [UInt8]) {
        precondition(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)), "cannot write \(dir)/\(name)")
    }
    let web = slot(group: "web", name: "web", state: 20, pid: 4242, sequence: 7)
    let worker = slot(group: "workers", name: "worker_01", state: 200, pid: 0, sequence: 3,
                      spawnError: "spawn error: No such file or directory")
    let empty = minder_stats_slot()  // sequence 0: a slot not written yet
    put("segment-2-slots", segment([web, worker]))
    put("segment-empty-slot", segment([worker, empty, web]))
    put("segment-no-slots", segment([]))
    put("segment-retired", segment([web]) { $0.retired = 1 })
    var badChecksum = segment([web, worker])
    badChecksum[headerSize + slotSize + MemoryLayout<minder_stats_slot>.offset(of: \.group)!] ^= 0x20
    put("segment-bad-checksum", badChecksum)
    put("segment-truncated", Array(segment([web, worker]).dropLast(slotSize / 2)))
    put("segment-count-too-big", segment([web]) { $0.slot_count = 0xFFFF_FFFF })
    put("segment-short-header", Array(segment([]).prefix(headerSize - 1)))
    put("segment-next-version", segment([web]) { $0.version += 1 })
    put("segment-wrong-slot-size", segment([web]) { $0.slot_size += 8 })
}

/// A header for `slots` followed by them; `edit` spoils the header for the near misses.
func segment(_ slots: [minder_stats_slot], edit: (inout minder_stats_header) -> Void = { _ in }) -> [UInt8] {
    var h = minder_stats_header()
    h.magic = MINDER_STATS_MAGIC
    h.version = UInt32(MINDER_STATS_VERSION)
    h.slot_count = UInt32(slots.count)
    h.header_size = UInt32(headerSize)
    h.slot_size = UInt32(slotSize)
    h.minderd_pid = 100
    h.start_time = 1_796_000_000
    h.generation = 12
    setText(&h.semaphore, "/minder-stats-100-1")
    h.sample_generation = 5
    h.sample_time = 1_796_000_060
    setText(&h.request_queue, "/minder.0123456789abcdef.requests")
    setText(&h.fresh_semaphore, "/minder.0123456789abcdef.fresh1")
    edit(&h)
    var bytes = withUnsafeBytes(of: h) { Array($0) }
    for s in slots { bytes += withUnsafeBytes(of: s) { Array($0) } }
    return bytes
}

func slot(group: String, name: String, state: Int32, pid: Int32, sequence: UInt64, spawnError: String = "") -> minder_stats_slot {
    var s = minder_stats_slot()
    s.sequence = sequence
    setText(&s.group, group)
    setText(&s.name, name)
    setText(&s.spawn_error, spawnError)
    s.state = state
    s.pid = pid
    s.start_time = 1_796_000_100
    s.last_change = 1_796_000_200
    s.restarts = 2
    s.exit_status = -9
    s.cpu_user = 1.5
    s.cpu_system = 0.25
    s.rss_bytes = 12 << 20
    s.open_fds = 9
    s.threads = 4
    s.log_bytes_written = 1 << 20
    s.ready = state == 20 ? 1 : -1
    s.healthy = -1
    s.log_bytes_dropped = 4096
    s.checksum = minder_stats_checksum(&s)
    return s
}

/// A C string into a fixed-size char field, NUL-terminated when it fits.
func setText<T>(_ field: inout T, _ text: String) {
    withUnsafeMutableBytes(of: &field) { raw in
        for (i, byte) in text.utf8.prefix(raw.count).enumerated() { raw[i] = byte }
    }
}

#endif
