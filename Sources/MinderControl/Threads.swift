// Threads for work that blocks (the log thread, a stream target's writer, a shell's reader),
// straight from pthreads: Foundation's Thread would bring all of Foundation with it.

import CMinder
import Glibc

private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Runs `body` on a new detached thread called `name` (the first 15 bytes, as `top -H` shows it).
/// False when the system has no thread to give (a thread or memory limit): the caller says so.
@discardableResult
public func startThread(named name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    let context = Unmanaged.passRetained(ThreadBody {
        _ = mn_set_thread_name(name)
        body()
    }).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { context in
        Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        return false
    }
    pthread_detach(thread)
    return true
}
