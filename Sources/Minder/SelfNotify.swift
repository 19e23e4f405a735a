// minderd's own sd_notify to a service manager that set NOTIFY_SOCKET
// (systemd's Type=notify, docs/deploy.md): READY=1 once every autostart
// program is up (ready, where it has ready=) or given up, STATUS= with the
// counts, RELOADING=1 and STOPPING=1, and WATCHDOG=1 at half the interval
// systemd asks for. Sends never block; a manager that is gone costs nothing.

import CMinder
import Glibc

final class SelfNotify {
    let socket: String
    /// Half of WATCHDOG_USEC, when systemd asked this process for pings.
    let watchdogInterval: Int64?
    private(set) var sentReady = false
    private var lastStatus = ""

    /// nil unless NOTIFY_SOCKET is set.
    init?(environment: [String: String]) {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        self.socket = socket
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = usec * 1000 / 2
        } else {
            watchdogInterval = nil
        }
    }

    func send(_ message: String) { _ = mn_sd_notify(socket, message) }

    /// After each turn of the loop: READY=1 the first time (and after a reload) every autostart
    /// program has settled, and STATUS= when the counts change.
    func update(settled: Bool, status: String) {
        if settled && !sentReady {
            sentReady = true
            lastStatus = status
            return send("READY=1\nSTATUS=\(status)")
        }
        if status != lastStatus {
            lastStatus = status
            send("STATUS=\(status)")
        }
    }

    func reloading() {
        sentReady = false
        send("RELOADING=1\nMONOTONIC_USEC=\(mn_monotonic_ns() / 1000)")
    }
}
