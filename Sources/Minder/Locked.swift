// Every lock shared between minderd's threads. A pthread mutex (NIO's lock) rather than
// Synchronization.Mutex: on Linux the latter is a futex that ThreadSanitizer cannot see, so the
// sanitizer run would report every access it guards as a race.

import NIOConcurrencyHelpers

typealias Locked<Value> = NIOLockedValueBox<Value>

extension NIOLockedValueBox {
    @inlinable
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try withLockedValue(body) }
}
