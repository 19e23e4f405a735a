// `page.events`: what keeps an open web page live. One server-sent event stream
// per page carries every process's row, then each row again when it changes:
// the status board wakes the stream after each change, and a burst of changes
// (a restart of everything) makes one update. While a page is open, and only
// then, its CPU and memory numbers are sampled every two seconds; with no page
// open nothing here runs.

import MinderControl
import NIOConcurrencyHelpers
import NIOCore

enum PageStream {
    /// How often an open page gets fresh CPU and memory numbers.
    static let statsInterval = TimeAmount.seconds(2)
    /// How long a change waits for the ones that come with it.
    static let settle = TimeAmount.milliseconds(15)

    static func serve(_ channel: any Channel, bridge: ControlBridge) {
        let loop = channel.eventLoop
        let board = bridge.board
        loop.execute {
            // The rows as the page last got them, and the CPU times they were worked out from;
            // touched on this loop only.
            let seen = NIOLoopBoundBox(Seen(), eventLoop: loop)
            let scheduled = Locked(false)
            let flush: @Sendable () -> Void = {
                scheduled.withLock { $0 = false }
                // A page whose socket is full gets what changed meanwhile when it drains: the rows
                // it was sent are compared, not the changes counted.
                guard channel.isActive, channel.isWritable else { return }
                let (set, gone) = seen.value.changes(board.metricsRows().rows, now: wallClockNow())
                guard !set.isEmpty || !gone.isEmpty else { return }
                channel.writeAndFlush(HTTPReply.chunk(pageUpdateFrame(set: set, gone: gone, now: wallClockNow())), promise: nil)
            }
            // Runs on the supervisor's loop: it only notes the change and leaves the work to this one.
            let wake: @Sendable () -> Void = {
                guard scheduled.withLock({ was in defer { was = true }; return !was }) else { return }
                loop.scheduleTask(in: settle) { flush() }
            }
            let watch = board.watch(wake)
            let ticks = loop.scheduleRepeatedTask(initialDelay: statsInterval, delay: statsInterval) { _ in
                bridge.submit(.freshSample) { _ in wake() }
            }
            channel.write(HTTPReply.streamHead(contentType: "text/event-stream"), promise: nil)
            channel.write(HTTPReply.chunk(Array(": minderd page\n\n".utf8)), promise: nil)
            flush()
            channel.flush()
            channel.closeFuture.whenComplete { _ in
                board.unwatch(watch)
                ticks.cancel()
            }
            // A first sample for the rows just sent, as for each tick after.
            bridge.submit(.freshSample) { _ in wake() }
        }
    }

    struct Seen {
        var records: [String: [UInt8]] = [:]
        /// Per process: its pid, CPU seconds and when they were read, and the share worked out then.
        var cpu: [String: (pid: Int32, seconds: Double, at: Double, percent: Double?)] = [:]

        /// The page records that differ from the ones sent, and the namespecs no longer there.
        mutating func changes(_ rows: [Metrics.Row], now: Double) -> (set: [[UInt8]], gone: [String]) {
            var set: [[UInt8]] = []
            var records: [String: [UInt8]] = [:]
            records.reserveCapacity(rows.count)
            for row in rows {
                let s = row.status
                var percent: Double?
                if let sample = row.sample {
                    let before = cpu[s.namespec]
                    percent = before?.pid == s.pid ? before?.percent : nil
                    // A share over less than a second would be mostly noise: the one before stands.
                    if let before, before.pid == s.pid, now - before.at >= 1 {
                        percent = max(0, sample.cpuSeconds - before.seconds) / (now - before.at) * 100
                        cpu[s.namespec] = (s.pid, sample.cpuSeconds, now, percent)
                    } else if before?.pid != s.pid {
                        cpu[s.namespec] = (s.pid, sample.cpuSeconds, now, nil)
                    }
                }
                let record = s.pageJSON(note: s.note, cpuPercent: percent, residentBytes: row.sample?.residentBytes)
                if self.records[s.namespec] != record { set.append(record) }
                records[s.namespec] = record
            }
            let gone = self.records.keys.filter { records[$0] == nil }.sorted()
            for name in gone { cpu[name] = nil }
            self.records = records
            return (set, gone)
        }
    }
}
