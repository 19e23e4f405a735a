// The stats plane in shared memory: the segment (layout in minder_stats.h), its
// named semaphore, and the guard that keeps minderd alive when another process
// truncates an object it has mapped. docs/stats.md and docs/security.md say why.
#ifndef MINDER_STATS_PLANE_H
#define MINDER_STATS_PLANE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/// Creates a segment for `slots` processes after unlinking any old one (O_EXCL, so an object
/// someone else creates meanwhile is an error, never used) and maps it; NULL with errno.
/// `gid` >= 0 gives that group the object. `*length` gets the mapping's length.
void *mn_stats_create(const char *name, uint32_t slots, int32_t pid, double start, const char *semaphore,
                      const char *request_queue, const char *fresh_semaphore, int mode, int64_t gid, uint64_t *length);
void mn_stats_unmap(void *segment, uint64_t length);
int mn_stats_unlink(const char *name);
/// Writes one slot. Every size, index and counter comes from the caller, never from the mapping.
void mn_stats_write_slot(void *segment, uint32_t slots, uint32_t index, uint64_t sequence,
                         const char *group, const char *name, int32_t state, int32_t pid, double start_time,
                         double last_change, uint32_t restarts, int32_t exit_status, const char *spawn_error,
                         double cpu_user, double cpu_system, uint64_t rss, uint32_t fds, uint32_t threads,
                         uint64_t log_written, uint64_t log_dropped, int32_t ready, int32_t healthy);
/// Writes the whole header (all but the holder record) from minderd's own values: bytes another
/// process wrote over it are gone at the next write.
void mn_stats_write_header(void *segment, uint32_t slots, int32_t pid, double start, const char *semaphore,
                           uint64_t generation, uint64_t events_dropped, uint64_t recoveries,
                           uint64_t sample_generation, double sample_time, const char *request_queue,
                           const char *fresh_semaphore);
/// After a recovery: the old semaphore's holder is nobody's.
void mn_stats_clear_holder(void *segment);
/// The holder pid a reader recorded: input, used only to ask whether that pid still exists.
int32_t mn_stats_holder(void *segment);
void mn_stats_retire(void *segment);

/// Readers copy the segment with pread instead of mapping it, so a segment that another process
/// truncates or rewrites can give a wrong copy (which the checks on it catch) but never a fault.
/// Opens it read-write when allowed (to record the holder), else read-only; -1 with errno.
int mn_stats_open(const char *name, int *writable);
/// Reads from offset 0 into `buffer`, at most `capacity` bytes; the count, or -1 with errno.
long mn_stats_pread(int fd, void *buffer, size_t capacity);
/// Records `pid` (0: none) as the semaphore's holder, by pwrite into the header.
int mn_stats_set_holder(int fd, int32_t pid);

/// `ms` milliseconds from now on `clock`, as an absolute time for the timed waits.
struct timespec mn_deadline_ms(clockid_t clock, int ms);

/// Named semaphores: create (with `value`, after an unlink, O_EXCL), open, try, wait with a timeout, post.
void *mn_sem_create(const char *name, unsigned value, int mode, int64_t gid);
void *mn_sem_open(const char *name);
int mn_sem_trywait(void *sem);
int mn_sem_timedwait_ms(void *sem, int ms);
int mn_sem_post(void *sem);
void mn_sem_close(void *sem);
int mn_sem_unlink(const char *name);

/// The fault guard. A shared mapping whose object another process truncates gives SIGBUS at the
/// next access. A guarded range is, on such a fault, mapped over with private zero pages, so the
/// access completes harmlessly, and marked lost; the owner then replaces the object. A fault
/// outside every guarded range goes to the handler that was there before.
/// Returns a guard id (>= 0), or -1 when all are in use.
int mn_guard_add(const void *start, size_t length);
/// The page-aligned range a named semaphore's pointer lies in.
int mn_guard_add_semaphore(const void *sem);
/// 1 once a fault replaced the range's pages.
int mn_guard_lost(int id);
void mn_guard_remove(int id);
#endif
