// Reading the stats segment as any reader should (docs/stats.md): take the
// semaphore named in the header with a timeout, record our pid as its holder,
// copy, release; then check the copy (StatsSnapshot). The segment is copied
// with pread, never mapped, so a segment someone truncates cannot fault us.

import CMinder
import Foundation
import MinderControl

enum StatsReader {
    static func read(_ name: String) throws(CtlError) -> [StatsRow] {
        for _ in 0..<3 {
            var writable: Int32 = 0
            let fd = mn_stats_open(name, &writable)
            guard fd >= 0 else {
                throw CtlError(description: "cannot open the stats segment \(name): \(String(cString: strerror(errno))) (is minderd running with this config?)")
            }
            defer { close(fd) }
            var headerBytes = [UInt8](repeating: 0, count: StatsSnapshot.headerSize)
            let n = mn_stats_pread(fd, &headerBytes, headerBytes.count)
            let header: minder_stats_header
            do {
                header = try StatsSnapshot.header(Array(headerBytes.prefix(max(0, n))))
            } catch {
                throw CtlError(description: "\(name): \(error)")
            }
            if header.retired != 0 { continue }  // replaced meanwhile: open the name again
            guard let sem = mn_sem_open(StatsSnapshot.text(header.semaphore)) else {
                throw CtlError(description: "cannot open the stats semaphore: \(String(cString: strerror(errno)))")
            }
            defer { mn_sem_close(sem) }
            guard mn_sem_timedwait_ms(sem, 2000) == 0 else {
                throw CtlError(description: "the stats semaphore stayed busy for 2 s (held by pid \(header.semaphore_holder))")
            }
            if writable != 0 { _ = mn_stats_set_holder(fd, getpid()) }
            var st = stat()
            let size = fstat(fd, &st) == 0 ? min(Int(st.st_size), StatsSnapshot.maxBytes) : 0
            var bytes = [UInt8](repeating: 0, count: max(0, size))
            let got = mn_stats_pread(fd, &bytes, bytes.count)
            if writable != 0 { _ = mn_stats_set_holder(fd, 0) }
            _ = mn_sem_post(sem)
            do {
                return try StatsSnapshot.rows(Array(bytes.prefix(max(0, got))))
            } catch {
                throw CtlError(description: "\(name): \(error)")
            }
        }
        throw CtlError(description: "the stats segment \(name) keeps being replaced")
    }
}
