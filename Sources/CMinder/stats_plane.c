// The stats plane: segment, semaphore, and the fault guard (stats_plane.h).
#define _GNU_SOURCE
#include "stats_plane.h"
#include "minder_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void copy_name(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    if (src) for (; i + 1 < cap && src[i]; i++) dst[i] = src[i];
    for (; i < cap; i++) dst[i] = 0;
}

/* ---- the fault guard ---- */

#define GUARDS 16

static struct {
    _Atomic uintptr_t start;
    _Atomic size_t length;
    _Atomic int lost;
} guards[GUARDS];

static struct sigaction previous_bus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

// Runs on the faulting thread. Only async-signal-safe work: atomics and mmap.
static void on_sigbus(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)context;
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < GUARDS; i++) {
        uintptr_t start = atomic_load(&guards[i].start);
        size_t length = atomic_load(&guards[i].length);
        if (start == 0 || address < start || address >= start + length) continue;
        // Private zero pages in place of the object's: the faulting access is retried on them.
        // The raw syscall, which no sanitizer's interceptor sees from inside a signal handler.
        long mapped = syscall(SYS_mmap, start, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapped != -1) {
            atomic_store(&guards[i].lost, 1);
            return;
        }
    }
    // Not a guarded range: the previous disposition handles the fault when the access is retried.
    sigaction(SIGBUS, &previous_bus, NULL);
}

static void install_guard(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_bus);
}

int mn_guard_add(const void *start, size_t length) {
    pthread_once(&guard_once, install_guard);
    for (int i = 0; i < GUARDS; i++) {
        // Claimed by its length first, so the handler never sees a start without its length.
        size_t none = 0;
        if (!atomic_compare_exchange_strong(&guards[i].length, &none, length)) continue;
        atomic_store(&guards[i].lost, 0);
        atomic_store(&guards[i].start, (uintptr_t)start);
        return i;
    }
    return -1;
}

int mn_guard_add_semaphore(const void *sem) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)sem & ~(page - 1);
    size_t length = (size_t)(((uintptr_t)sem + sizeof(sem_t) + page - 1) / page * page - start);
    return mn_guard_add((const void *)start, length);
}

int mn_guard_lost(int id) { return id >= 0 && id < GUARDS ? atomic_load(&guards[id].lost) : 0; }

void mn_guard_remove(int id) {
    if (id < 0 || id >= GUARDS) return;
    atomic_store(&guards[id].start, 0);
    atomic_store(&guards[id].lost, 0);
    atomic_store(&guards[id].length, 0);
}

/* ---- the segment, as minderd writes it ---- */

void *mn_stats_create(const char *name, uint32_t slots, int32_t pid, double start, const char *semaphore,
                      const char *request_queue, const char *fresh_semaphore, int mode, int64_t gid, uint64_t *length) {
    shm_unlink(name);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) return NULL;
    // The mode passed through the umask; the group comes from the creator: both are set here.
    struct stat st;
    if (fchmod(fd, (mode_t)mode) != 0 || (gid >= 0 && fchown(fd, (uid_t)-1, (gid_t)gid) != 0) ||
        fstat(fd, &st) != 0 || st.st_uid != geteuid()) {
        int saved = errno;
        close(fd);
        shm_unlink(name);
        errno = saved;
        return NULL;
    }
    size_t size = sizeof(minder_stats_header) + (size_t)slots * sizeof(minder_stats_slot);
    if (ftruncate(fd, (off_t)size) != 0) {
        int saved = errno;
        close(fd);
        shm_unlink(name);
        errno = saved;
        return NULL;
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return NULL;
    memset(base, 0, size);
    mn_stats_write_header(base, slots, pid, start, semaphore, 0, 0, 0, 0, 0, request_queue, fresh_semaphore);
    *length = size;
    return base;
}

void mn_stats_unmap(void *segment, uint64_t length) { munmap(segment, (size_t)length); }
int mn_stats_unlink(const char *name) { return shm_unlink(name); }

void mn_stats_write_slot(void *segment, uint32_t slots, uint32_t index, uint64_t sequence,
                         const char *group, const char *name, int32_t state, int32_t pid, double start_time,
                         double last_change, uint32_t restarts, int32_t exit_status, const char *spawn_error,
                         double cpu_user, double cpu_system, uint64_t rss, uint32_t fds, uint32_t threads,
                         uint64_t log_written, uint64_t log_dropped, int32_t ready, int32_t healthy) {
    if (index >= slots) return;
    // The slot is built aside and copied in whole: its checksum covers exactly what was written.
    minder_stats_slot s;
    memset(&s, 0, sizeof s);
    copy_name(s.group, sizeof s.group, group);
    copy_name(s.name, sizeof s.name, name);
    s.state = state;
    s.pid = pid;
    s.start_time = start_time;
    s.last_change = last_change;
    s.restarts = restarts;
    s.exit_status = exit_status;
    copy_name(s.spawn_error, sizeof s.spawn_error, spawn_error);
    s.cpu_user = cpu_user;
    s.cpu_system = cpu_system;
    s.rss_bytes = rss;
    s.open_fds = fds;
    s.threads = threads;
    s.log_bytes_written = log_written;
    s.log_bytes_dropped = log_dropped;
    s.ready = ready;
    s.healthy = healthy;
    s.sequence = sequence;
    s.checksum = minder_stats_checksum(&s);
    char *base = segment;
    memcpy(base + sizeof(minder_stats_header) + (size_t)index * sizeof(minder_stats_slot), &s, sizeof s);
}

void mn_stats_write_header(void *segment, uint32_t slots, int32_t pid, double start, const char *semaphore,
                           uint64_t generation, uint64_t events_dropped, uint64_t recoveries,
                           uint64_t sample_generation, double sample_time, const char *request_queue,
                           const char *fresh_semaphore) {
    minder_stats_header *h = segment;
    h->magic = MINDER_STATS_MAGIC;
    h->version = MINDER_STATS_VERSION;
    h->slot_count = slots;
    h->header_size = sizeof(minder_stats_header);
    h->slot_size = sizeof(minder_stats_slot);
    h->minderd_pid = pid;
    h->retired = 0;
    h->start_time = start;
    h->generation = generation;
    copy_name(h->semaphore, sizeof h->semaphore, semaphore);
    h->events_dropped = events_dropped;
    h->semaphore_recoveries = recoveries;
    h->sample_generation = sample_generation;
    h->sample_time = sample_time;
    copy_name(h->request_queue, sizeof h->request_queue, request_queue);
    copy_name(h->fresh_semaphore, sizeof h->fresh_semaphore, fresh_semaphore);
}

void mn_stats_clear_holder(void *segment) { ((minder_stats_header *)segment)->semaphore_holder = 0; }

int32_t mn_stats_holder(void *segment) { return ((minder_stats_header *)segment)->semaphore_holder; }

void mn_stats_retire(void *segment) { ((minder_stats_header *)segment)->retired = 1; }

/* ---- the segment, as readers copy it ---- */

int mn_stats_open(const char *name, int *writable) {
    int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    *writable = fd >= 0;
    if (fd < 0 && errno == EACCES) fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    return fd;
}

long mn_stats_pread(int fd, void *buffer, size_t capacity) {
    size_t done = 0;
    while (done < capacity) {
        ssize_t n = pread(fd, (char *)buffer + done, capacity - done, (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (long)done;
}

int mn_stats_set_holder(int fd, int32_t pid) {
    ssize_t n = pwrite(fd, &pid, sizeof pid, offsetof(minder_stats_header, semaphore_holder));
    return n == (ssize_t)sizeof pid ? 0 : -1;
}

/* ---- named semaphores ---- */

void *mn_sem_create(const char *name, unsigned value, int mode, int64_t gid) {
    sem_unlink(name);
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, (mode_t)mode, value);
    if (s == SEM_FAILED) return NULL;
    // A named semaphore has no descriptor: its file under /dev/shm gets the mode and group.
    // /dev/shm is sticky, so nobody else can swap the file between the open and these calls.
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/sem.%s", name[0] == '/' ? name + 1 : name);
    chmod(path, (mode_t)mode);
    if (gid >= 0) chown(path, (uid_t)-1, (gid_t)gid);
    return s;
}

void *mn_sem_open(const char *name) {
    sem_t *s = sem_open(name, 0);
    return s == SEM_FAILED ? NULL : s;
}

int mn_sem_trywait(void *sem) { return sem_trywait((sem_t *)sem); }

struct timespec mn_deadline_ms(clockid_t clock, int ms) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int mn_sem_timedwait_ms(void *sem, int ms) {
    struct timespec ts = mn_deadline_ms(CLOCK_MONOTONIC, ms);
    int rc;
    do {
        rc = sem_clockwait((sem_t *)sem, CLOCK_MONOTONIC, &ts);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

int mn_sem_post(void *sem) { return sem_post((sem_t *)sem); }
void mn_sem_close(void *sem) { sem_close((sem_t *)sem); }
int mn_sem_unlink(const char *name) { return sem_unlink(name); }
