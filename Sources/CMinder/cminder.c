#define _GNU_SOURCE
#include "cminder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <grp.h>
#include <malloc.h>
#include <mqueue.h>
#include <semaphore.h>
#include <sys/file.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/uio.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <stddef.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MN_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define MN_TSAN 1
#endif
#ifdef MN_TSAN
#include <dlfcn.h>
#endif

/* The highest capability this kernel knows, read once (before any clone) from /proc. */
static int mn_cap_last(void);

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/* A child that copied minderd's descriptor table at clone would close every descriptor in it at
   exec: three pipes per running program and the open logs, so a start of N programs made N²
   closes. Instead the child shares the table (CLONE_FILES) and unshares it with close_range(limit,
   ~0, CLOSE_RANGE_UNSHARE), which copies only the descriptors below `limit`. What it needs is
   placed below that first: in a set of five slots, descriptors held on /dev/null and taken once,
   at the first spawn, while few are open. A set is one spawn's until its child has exec'd; there
   is one set for each thread that may spawn at once (the spawn threads, the loop, a test's).
   A kernel without the flag (before 5.9) makes the first spawn fail at MN_STAGE_UNSHARE; that
   spawn is made again the old way, and so is every later one. */
enum { MN_SLOTS = 5, MN_SLOT_SETS = 6 };
struct slot_set {
    int fd[MN_SLOTS];
    int limit;  // the first descriptor the child does not keep
    int busy;
};
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slots_freed = PTHREAD_COND_INITIALIZER;
static int slots_state;  // 0: not tried, 1: in use, -1: not available (under slots_lock)
static struct slot_set slot_sets[MN_SLOT_SETS];
static int slots_null = -1;
static int unshare_refused;  // the kernel said no to CLOSE_RANGE_UNSHARE (atomic)

static int slots_take(void) {
    slots_null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (slots_null < 0) return -1;
    for (int s = 0; s < MN_SLOT_SETS; s++) {
        struct slot_set *set = &slot_sets[s];
        set->limit = 0;
        for (int i = 0; i < MN_SLOTS; i++) {
            // Above the notification descriptors (3 to 9) a child may be given.
            set->fd[i] = fcntl(slots_null, F_DUPFD_CLOEXEC, 10);
            if (set->fd[i] < 0) {
                while (i-- > 0) close(set->fd[i]);
                while (s-- > 0) for (int j = 0; j < MN_SLOTS; j++) close(slot_sets[s].fd[j]);
                close(slots_null);
                return -1;
            }
            if (set->fd[i] + 1 > set->limit) set->limit = set->fd[i] + 1;
        }
    }
    return 0;
}

/// A free set of slots, waited for if every one is in use; NULL when there are none to use.
static struct slot_set *slots_claim(void) {
    pthread_mutex_lock(&slots_lock);
    if (slots_state == 0) slots_state = slots_take() == 0 ? 1 : -1;
    struct slot_set *set = NULL;
    while (slots_state == 1 && !set) {
        for (int s = 0; s < MN_SLOT_SETS && !set; s++) if (!slot_sets[s].busy) set = &slot_sets[s];
        if (set) set->busy = 1;
        else pthread_cond_wait(&slots_freed, &slots_lock);
    }
    pthread_mutex_unlock(&slots_lock);
    return set;
}

static void slots_release(struct slot_set *set, int refused) {
    pthread_mutex_lock(&slots_lock);
    set->busy = 0;
    if (refused) {
        slots_state = -1;
        __atomic_store_n(&unshare_refused, 1, __ATOMIC_RELEASE);
    }
    pthread_cond_broadcast(&slots_freed);
    pthread_mutex_unlock(&slots_lock);
}

struct child_args {
    const mn_spawn_attr *attr;
    int errpipe;
    /// With CLONE_FILES: the first descriptor the child does not keep; 0 without.
    int unshare_from;
};

/* The signals a child sets back to their default before it unblocks them for its exec: those
   whose disposition is not the default, since an ignored one would outlive the exec and a caught
   one would run minderd's handler in the child between the unblocking and the exec. They are
   SIGPIPE, which minderd ignores, SIGBUS, which the stats plane catches for a moment at a time,
   what the Swift runtime and the sanitizers catch, and any signal minderd's own parent left
   ignored (nohup, a shell's background job). minderd installs no other disposition once it
   spawns, so they are found once, at the first spawn, rather than with 64 system calls in every
   child while minderd waits for its exec. */
static int reset[NSIG], n_reset;
static pthread_once_t reset_once = PTHREAD_ONCE_INIT;

static int is_default(int s) {
    struct sigaction old;
    if (sigaction(s, NULL, &old) == 0) return old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO);
#if defined(__x86_64__)
    struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } k;
    if (syscall(SYS_rt_sigaction, s, NULL, &k, sizeof k.mask) == 0) return k.handler == SIG_DFL;
#endif
    return 0;  // not known: set it back anyway
}

static void find_reset(void) {
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        if (s == SIGPIPE || s == SIGBUS || !is_default(s)) reset[n_reset++] = s;
    }
}

// Reports the failed stage and errno to the parent, then exits: raw write and exit_group, which
// no sanitizer's interceptor sees (they would act on the parent's state, which we share).
__attribute__((no_sanitize("thread", "address"))) static void child_fail(int errpipe, int stage) {
    int msg[2] = {stage, errno};
    syscall(SYS_write, errpipe, msg, sizeof msg);
    syscall(SYS_exit_group, 127);
    __builtin_unreachable();
}

// Runs in the child, which shares the parent's memory (CLONE_VM): no malloc,
// no locks, and raw syscalls for credentials (glibc's wrappers would signal
// every thread of the parent to change theirs too).
// Left uninstrumented by the sanitizers: it runs on a stack of its own, in the parent's memory.
__attribute__((no_sanitize("thread", "address"))) static int child_main(void *p) {
    struct child_args *c = p;
    const mn_spawn_attr *a = c->attr;

    // First, and before any descriptor is touched: a table of its own, with only the low ones.
    if (c->unshare_from > 0 && syscall(SYS_close_range, (unsigned)c->unshare_from, ~0U, CLOSE_RANGE_UNSHARE) != 0) {
        child_fail(c->errpipe, MN_STAGE_UNSHARE);
    }

    // Default dispositions where minderd has others (see find_reset), then an empty mask (set
    // just before exec). glibc's sigaction refuses its two internal signals (32, 33), which an
    // ignored disposition inherited from minderd's own parent would otherwise keep.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int i = 0; i < n_reset; i++) {
        if (sigaction(reset[i], &dfl, NULL) != 0) {
#if defined(__x86_64__)
            struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } k = {SIG_DFL, 0, NULL, 0};
            syscall(SYS_rt_sigaction, reset[i], &k, NULL, sizeof k.mask);
#endif
        }
    }

    // Own process group, so a terminal's signals to minderd do not reach it.
    if (setpgid(0, 0) != 0) child_fail(c->errpipe, MN_STAGE_SETPGID);

    // Move the stdio sources above 2 first, so none is overwritten by another's dup2.
    int src[3] = {a->stdin_fd, a->stdout_fd, a->stderr_fd};
    for (int i = 0; i < 3; i++) {
        if (src[i] < 0) continue;
        int moved = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
        if (moved < 0) child_fail(c->errpipe, MN_STAGE_DUP);
        src[i] = moved;
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] < 0) continue;
        if (dup2(src[i], i) < 0) child_fail(c->errpipe, MN_STAGE_DUP);
    }
    // Everything else closes at exec; the error pipe stays open until then.
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 65536; fd++) {
            if (fd != c->errpipe) fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    // The notification descriptor survives exec (dup2 clears close-on-exec; the error pipe is
    // above 9, see mn_spawn).
    if (a->notify_fd >= 3 && a->notify_source >= 0) {
        if (a->notify_source == a->notify_fd) {
            if (fcntl(a->notify_fd, F_SETFD, 0) != 0) child_fail(c->errpipe, MN_STAGE_DUP);
        } else if (dup2(a->notify_source, a->notify_fd) < 0) {
            child_fail(c->errpipe, MN_STAGE_DUP);
        }
    }

    if (a->nofile_soft >= 0) {
        struct rlimit rl = {(rlim_t)a->nofile_soft, (rlim_t)a->nofile_hard};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) child_fail(c->errpipe, MN_STAGE_RLIMIT);
    }
    for (int i = 0; i < a->nrlimits; i++) {
        const mn_rlimit *r = &a->rlimits[i];
        struct rlimit rl = {r->soft < 0 ? RLIM_INFINITY : (rlim_t)r->soft, r->hard < 0 ? RLIM_INFINITY : (rlim_t)r->hard};
        if (setrlimit(r->resource, &rl) != 0) child_fail(c->errpipe, MN_STAGE_RLIMIT);
    }
    // Capabilities, in the order that works for a non-root uid: shrink the bounding set
    // while still privileged (needs CAP_SETPCAP), keep the permitted set across setuid,
    // switch ids, then set P=E=I and raise the ambient set, which survives exec.
    if (a->set_caps) {
        int last = mn_cap_last();
        for (int cap = 0; cap <= last; cap++) {
            int keep = 0;
            for (int i = 0; i < a->ncaps; i++) keep |= a->caps[i] == cap;
            if (!keep && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) child_fail(c->errpipe, MN_STAGE_CAPS);
        }
        if (a->uid >= 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) child_fail(c->errpipe, MN_STAGE_CAPS);
    }
    // Groups before gid before uid: each step needs the privilege the next one drops.
    if (a->uid >= 0) {
        if (syscall(SYS_setgroups, (size_t)a->ngroups, a->groups) != 0) child_fail(c->errpipe, MN_STAGE_GROUPS);
    }
    if (a->gid >= 0) {
        if (syscall(SYS_setresgid, (gid_t)a->gid, (gid_t)a->gid, (gid_t)a->gid) != 0) child_fail(c->errpipe, MN_STAGE_SETGID);
    }
    if (a->uid >= 0) {
        if (syscall(SYS_setresuid, (uid_t)a->uid, (uid_t)a->uid, (uid_t)a->uid) != 0) child_fail(c->errpipe, MN_STAGE_SETUID);
    }
    if (a->set_caps) {
        if (cap_set_proc((cap_t)a->caps_state) != 0) child_fail(c->errpipe, MN_STAGE_CAPS);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) child_fail(c->errpipe, MN_STAGE_CAPS);
        for (int i = 0; i < a->ncaps; i++) {
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, a->caps[i], 0, 0) != 0) child_fail(c->errpipe, MN_STAGE_CAPS);
        }
    }
    if (a->directory && chdir(a->directory) != 0) child_fail(c->errpipe, MN_STAGE_CHDIR);
    if (a->umask >= 0) umask((mode_t)a->umask);

    // After the ids changed, which clear it. A parent that died before this leaves the child to
    // init: it must not run on as an orphan the signal would have ended.
    if (a->pdeathsig > 0) {
        if (prctl(PR_SET_PDEATHSIG, a->pdeathsig, 0, 0, 0) != 0) child_fail(c->errpipe, MN_STAGE_PDEATHSIG);
        if (getppid() != a->parent) syscall(SYS_exit_group, 127);
    }
    // Last before exec: no setuid binary or file capability can raise privileges from here on.
    if (a->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(c->errpipe, MN_STAGE_NO_NEW_PRIVS);
    if (a->watchdog_pid_env) {
        /* The parent waits (CLONE_VFORK) and reads it no more: the child may write the digits. */
        char digits[16];
        int n = 0;
        for (unsigned v = (unsigned)syscall(SYS_getpid); v > 0 || n == 0; v /= 10) digits[n++] = (char)('0' + v % 10);
        char *out = a->watchdog_pid_env + sizeof "WATCHDOG_PID=" - 1;
        while (n > 0) *out++ = digits[--n];
        *out = 0;
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(a->path, a->argv, a->envp);
    child_fail(c->errpipe, MN_STAGE_EXEC);
    return 127;
}

static int spawn_child(const mn_spawn_attr *attr, const struct slot_set *set, pid_t *pid, int *stage, int *err);

int mn_spawn(const mn_spawn_attr *attr, pid_t *pid, int *stage, int *err) {
    pthread_once(&reset_once, find_reset);
    struct slot_set *set = slots_claim();
    int rc = spawn_child(attr, set, pid, stage, err);
    if (set) {
        int refused = rc != 0 && *stage == MN_STAGE_UNSHARE;
        slots_release(set, refused);
        if (refused) rc = spawn_child(attr, NULL, pid, stage, err);
    }
    return rc;
}

int mn_spawn_copies_table(void) { return __atomic_load_n(&unshare_refused, __ATOMIC_ACQUIRE); }

/* Spawns handed to threads of their own. The caller waits for each child's exec in mn_spawn
   (CLONE_VFORK); a start of many programs instead prepares the next while spawn threads wait for
   the last ones, one thread per core. A job carries its own copy of everything the child reads,
   so the caller's buffers need not outlive the call. The threads are started at the first job
   and never end: a child's parent-death signal is tied to the thread that cloned it. */
struct mn_spawn_job {
    mn_spawn_attr attr;  // pointing into the job's own memory
    pid_t pid;
    int rc, stage, err, done;
    struct mn_spawn_job *next;
};

static void *bump(char **at, size_t size, size_t align) {
    uintptr_t p = ((uintptr_t)*at + align - 1) & ~(uintptr_t)(align - 1);
    *at = (char *)p + size;
    return (void *)p;
}

static size_t vector_size(char *const *v, size_t *count) {
    size_t n = 0, bytes = 0;
    for (; v && v[n]; n++) bytes += strlen(v[n]) + 1;
    *count = n;
    return bytes;
}

static char *copy_string(char **at, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(bump(at, n, 1), s, n);
}

mn_spawn_job *mn_spawn_job_new(const mn_spawn_attr *a) {
    size_t nargv, nenvp;
    size_t strings = vector_size(a->argv, &nargv) + vector_size(a->envp, &nenvp) + strlen(a->path) + 1 +
                     (a->directory ? strlen(a->directory) + 1 : 0);
    size_t size = sizeof(struct mn_spawn_job) + (nargv + nenvp + 2) * sizeof(char *) +
                  (size_t)a->ngroups * sizeof(gid_t) + (size_t)a->nrlimits * sizeof(mn_rlimit) +
                  (size_t)a->ncaps * sizeof(int) + strings + 6 * 16;
    struct mn_spawn_job *job = calloc(1, size);
    if (!job) return NULL;
    char *at = (char *)(job + 1);
    job->attr = *a;
    char **argv = bump(&at, (nargv + 1) * sizeof(char *), 16);
    char **envp = bump(&at, (nenvp + 1) * sizeof(char *), 16);
    mn_rlimit *limits = a->nrlimits > 0 ? bump(&at, (size_t)a->nrlimits * sizeof(mn_rlimit), 16) : NULL;
    gid_t *groups = a->ngroups > 0 ? bump(&at, (size_t)a->ngroups * sizeof(gid_t), 16) : NULL;
    int *caps = a->ncaps > 0 ? bump(&at, (size_t)a->ncaps * sizeof(int), 16) : NULL;
    if (limits) memcpy(limits, a->rlimits, (size_t)a->nrlimits * sizeof(mn_rlimit));
    if (groups) memcpy(groups, a->groups, (size_t)a->ngroups * sizeof(gid_t));
    if (caps) memcpy(caps, a->caps, (size_t)a->ncaps * sizeof(int));
    for (size_t i = 0; i < nargv; i++) argv[i] = copy_string(&at, a->argv[i]);
    argv[nargv] = NULL;
    job->attr.watchdog_pid_env = NULL;
    for (size_t i = 0; i < nenvp; i++) {
        envp[i] = copy_string(&at, a->envp[i]);
        if (a->envp[i] == a->watchdog_pid_env) job->attr.watchdog_pid_env = envp[i];
    }
    envp[nenvp] = NULL;
    job->attr.argv = argv;
    job->attr.envp = envp;
    job->attr.rlimits = limits;
    job->attr.groups = groups;
    job->attr.caps = caps;
    job->attr.path = copy_string(&at, a->path);
    job->attr.directory = copy_string(&at, a->directory);
    return job;
}

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_queued = PTHREAD_COND_INITIALIZER, jobs_done = PTHREAD_COND_INITIALIZER;
static struct mn_spawn_job *jobs_head, *jobs_tail;
static int spawn_threads;  // started; -1: none could be

static void *spawn_thread(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&jobs_lock);
        while (!jobs_head) pthread_cond_wait(&jobs_queued, &jobs_lock);
        struct mn_spawn_job *job = jobs_head;
        jobs_head = job->next;
        if (!jobs_head) jobs_tail = NULL;
        pthread_mutex_unlock(&jobs_lock);
        pid_t pid = 0;
        int stage = 0, err = 0;
        int rc = mn_spawn(&job->attr, &pid, &stage, &err);
        pthread_mutex_lock(&jobs_lock);
        job->pid = pid;
        job->rc = rc;
        job->stage = stage;
        job->err = err;
        job->done = 1;
        pthread_cond_broadcast(&jobs_done);
        pthread_mutex_unlock(&jobs_lock);
    }
    return NULL;
}

// Under jobs_lock. One thread per core this process may run on, at most four (the slot sets).
static void start_spawn_threads(void) {
    cpu_set_t cpus;
    int wanted = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    if (wanted > 4) wanted = 4;
    if (wanted < 1) wanted = 1;
    // Every signal blocked, as minderd's loop reads them from a signalfd; inherited by the threads.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < wanted; i++) {
        pthread_t thread;
        if (pthread_create(&thread, &attr, spawn_thread, NULL) != 0) break;
        pthread_setname_np(thread, "minder-spawn");
        spawn_threads++;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (spawn_threads == 0) spawn_threads = -1;
}

void mn_spawn_job_submit(mn_spawn_job *job) {
    pthread_mutex_lock(&jobs_lock);
    if (spawn_threads == 0) start_spawn_threads();
    if (spawn_threads < 0) {
        // No thread to hand it to: spawned here, now.
        pthread_mutex_unlock(&jobs_lock);
        mn_spawn_job_run(job);
        return;
    }
    job->next = NULL;
    if (jobs_tail) jobs_tail->next = job;
    else jobs_head = job;
    jobs_tail = job;
    pthread_cond_signal(&jobs_queued);
    pthread_mutex_unlock(&jobs_lock);
}

void mn_spawn_job_run(mn_spawn_job *job) {
    job->rc = mn_spawn(&job->attr, &job->pid, &job->stage, &job->err);
    pthread_mutex_lock(&jobs_lock);
    job->done = 1;
    pthread_mutex_unlock(&jobs_lock);
}

int mn_spawn_job_wait(mn_spawn_job *job, pid_t *pid, int *stage, int *err) {
    pthread_mutex_lock(&jobs_lock);
    while (!job->done) pthread_cond_wait(&jobs_done, &jobs_lock);
    pthread_mutex_unlock(&jobs_lock);
    *pid = job->pid;
    *stage = job->stage;
    *err = job->err;
    return job->rc;
}

void mn_spawn_job_free(mn_spawn_job *job) { free(job); }

// The child's stack between clone and exec. A few are kept for the next spawns: mapping and
// unmapping one for each child cost page faults and, with the child sharing our memory, a TLB
// flush on every core it ran on. Threads that spawn at the same moment each take one.
static const size_t stack_size = 64 * 1024;
enum { MN_SPARE_STACKS = 4 };
static void *spare_stacks[MN_SPARE_STACKS];

static void *take_stack(void) {
    for (int i = 0; i < MN_SPARE_STACKS; i++) {
        void *stack = __atomic_exchange_n(&spare_stacks[i], NULL, __ATOMIC_ACQ_REL);
        if (stack) return stack;
    }
    return mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
}

static void give_back_stack(void *stack) {
    for (int i = 0; i < MN_SPARE_STACKS; i++) {
        void *none = NULL;
        if (__atomic_compare_exchange_n(&spare_stacks[i], &none, stack, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
    }
    munmap(stack, stack_size);
}

// With a set of slots (this spawn's), the child's descriptors go in them for the clone.
static int spawn_child(const mn_spawn_attr *attr, const struct slot_set *set, pid_t *pid, int *stage, int *err) {
    *stage = MN_STAGE_NONE;
    *err = 0;
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        *stage = MN_STAGE_PIPE;
        *err = errno;
        return -1;
    }
    void *stack = take_stack();
    if (stack == MAP_FAILED) {
        *stage = MN_STAGE_CLONE;
        *err = errno;
        close(errpipe[0]);
        close(errpipe[1]);
        return -1;
    }
    // Above the notification descriptors (3 to 9) a child may be given.
    if (errpipe[1] < 10) {
        int moved = fcntl(errpipe[1], F_DUPFD_CLOEXEC, 10);
        if (moved >= 0) {
            close(errpipe[1]);
            errpipe[1] = moved;
        }
    }
    mn_spawn_attr placed = *attr;
    struct child_args args = {&placed, errpipe[1], 0};
    int filled[MN_SLOTS] = {0};
    if (set) {
        int *fds[MN_SLOTS] = {&placed.stdin_fd, &placed.stdout_fd, &placed.stderr_fd, &placed.notify_source, &args.errpipe};
        int i = 0;
        for (; i < MN_SLOTS; i++) {
            if (*fds[i] < 0) continue;
            if (dup3(*fds[i], set->fd[i], O_CLOEXEC) < 0) break;
            *fds[i] = set->fd[i];
            filled[i] = 1;
        }
        if (i < MN_SLOTS) {
            *stage = MN_STAGE_DUP;
            *err = errno;
            for (int j = 0; j < MN_SLOTS; j++) if (filled[j]) dup3(slots_null, set->fd[j], O_CLOEXEC);
            give_back_stack(stack);
            close(errpipe[0]);
            close(errpipe[1]);
            return -1;
        }
        args.unshare_from = set->limit;
    }
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (set ? CLONE_FILES : 0);

    // No signal handler may run in the child while it shares our memory.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
#ifdef MN_TSAN
    // ThreadSanitizer's clone interceptor handles a fork, not a child sharing our memory: glibc's
    // own clone is called past it.
    typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);
    // Looked up once, atomically: threads may spawn at the same moment.
    static clone_fn cached;
    clone_fn real_clone = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (!real_clone) {
        real_clone = (clone_fn)dlsym(RTLD_NEXT, "clone");
        __atomic_store_n(&cached, real_clone, __ATOMIC_RELEASE);
    }
    pid_t child = real_clone(child_main, (char *)stack + stack_size, flags, &args);
#else
    pid_t child = clone(child_main, (char *)stack + stack_size, flags, &args);
#endif
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    // The slots let go of the child's descriptors (a pipe end held there would keep the pipe open).
    for (int i = 0; i < MN_SLOTS; i++) if (filled[i]) dup3(slots_null, set->fd[i], O_CLOEXEC);
    // CLONE_VFORK: we resume once the child has exec'd or exited, done with the stack.
    give_back_stack(stack);
    close(errpipe[1]);
    if (child < 0) {
        close(errpipe[0]);
        *stage = MN_STAGE_CLONE;
        *err = clone_errno;
        return -1;
    }
    int msg[2];
    ssize_t n;
    do {
        n = read(errpipe[0], msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof msg) {
        *stage = msg[0];
        *err = msg[1];
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return -1;
    }
    *pid = child;
    return 0;
}

int mn_malloc_one_arena(void) { return mallopt(M_ARENA_MAX, 1); }

int mn_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int mn_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = token};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int mn_epoll_add_writable(int epfd, int fd, uint64_t token) {
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = token};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int mn_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int mn_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) tokens[i] = events[i].data.u64;
    return n;
}

static void fill_set(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int mn_block_signals(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int mn_signalfd(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int mn_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n != (ssize_t)sizeof info) return 0;
    return (int)info.ssi_signo;
}

int mn_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int mn_timerfd_set(int fd, int64_t ns) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    if (ns > 0) {
        spec.it_value.tv_sec = ns / 1000000000;
        spec.it_value.tv_nsec = ns % 1000000000;
    }
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

int mn_timerfd_every(int fd, int seconds) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_sec = seconds;
    spec.it_interval.tv_sec = seconds;
    return timerfd_settime(fd, 0, &spec, NULL);
}

void mn_timerfd_drain(int fd) {
    uint64_t n;
    ssize_t unused = read(fd, &n, sizeof n);
    (void)unused;
}

int64_t mn_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int mn_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void mn_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t unused = write(fd, &one, sizeof one);
    (void)unused;
}

void mn_eventfd_drain(int fd) {
    uint64_t n;
    ssize_t unused = read(fd, &n, sizeof n);
    (void)unused;
}

int mn_pipe(int fds[2], int nonblock_read) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    if (nonblock_read) fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Takes fd: on failure it is closed and errno kept. */
static int bind_and_listen(int fd, const struct sockaddr *address, socklen_t length, int backlog) {
    if (bind(fd, address, length) == 0 && listen(fd, backlog) == 0) return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int32_t mn_unix_socket_server(const char *path) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path) return 0;
    strcpy(address.sun_path, path);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return 0;
    int32_t pid = 0;
    if (connect(probe, (struct sockaddr *)&address, sizeof address) == 0) {
        struct ucred cred;
        socklen_t length = sizeof cred;
        pid = getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0 && cred.pid > 0 ? cred.pid : -1;
    }
    close(probe);
    return pid;
}

int mn_claim_unix_socket(const char *path, int backlog, int32_t *server) {
    *server = 0;
    char lock[4096];
    if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock) {
        errno = ENAMETOOLONG;
        return -1;
    }
    // Only minderd's user can open its lock file, so nobody else can hold the lock.
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0) return -1;
    struct stat st;
    if (fstat(lfd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        close(lfd);
        errno = EPERM;
        return -1;
    }
    if (flock(lfd, LOCK_EX) != 0) {
        int saved = errno;
        close(lfd);
        errno = saved;
        return -1;
    }
    int32_t live = mn_unix_socket_server(path);
    if (live != 0) {
        *server = live;
        // Whoever waits for this lock will find the live socket as well.
        unlink(lock);
        close(lfd);
        errno = EADDRINUSE;
        return -1;
    }
    int fd = mn_listen_unix(path, backlog, 1);
    int saved = errno;
    // Bound: whoever takes the lock next finds a live socket, so the lock file can go.
    if (fd >= 0) unlink(lock);
    close(lfd);
    errno = saved;
    return fd;
}

int mn_proc_identity(int pid, uint64_t *start_ticks, uint32_t *uid, char *exe, size_t exe_cap) {
    // One walk to /proc/PID, then its files through that descriptor: the three facts are of the
    // same process even if the pid is reused meanwhile (the old directory's files then fail).
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d", pid);
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    struct stat st;
    int fd = fstat(dir, &st) == 0 ? openat(dir, "stat", O_RDONLY | O_CLOEXEC) : -1;
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    ssize_t len = n > 0 ? readlinkat(dir, "exe", exe, exe_cap - 1) : -1;
    close(dir);
    if (n <= 0) return -1;
    buf[n] = 0;
    exe[len > 0 ? len : 0] = 0;
    *uid = st.st_uid;
    // Fields after the command, which may hold spaces and parentheses: start after the last ')'.
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2;  // the state field
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p) p++;
    }
    if (!p) return -1;
    *start_ticks = strtoull(p, NULL, 10);
    return 0;
}

int mn_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int mn_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc;
    do {
        rc = poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

int mn_ensure_stdio(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        // The lowest free descriptor is this one, since the ones below it are open.
        int opened = open("/dev/null", O_RDWR);
        if (opened < 0) return -1;
        if (opened != fd) {
            close(opened);
            return -1;
        }
    }
    return 0;
}

int mn_listen_unix(const char *path, int backlog, int closed) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(address.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    // Linux gives the bound file the socket inode's mode (less the umask): mode 0 here makes the
    // file closed to all but root until the caller chmods it, without touching the process umask.
    if (closed && fchmod(fd, 0) != 0) {
        close(fd);
        return -1;
    }
    return bind_and_listen(fd, (struct sockaddr *)&address, sizeof address, backlog);
}

int mn_listen_tcp(const char *host, int port, int backlog) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (host[0] == 0 || strcmp(host, "*") == 0) {
        address.sin_addr.s_addr = htonl(INADDR_ANY);
    } else {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *found = NULL;
        int rc = getaddrinfo(host, NULL, &hints, &found);
        if (rc != 0 || !found) {
            errno = EADDRNOTAVAIL;
            return -1;
        }
        address.sin_addr = ((struct sockaddr_in *)found->ai_addr)->sin_addr;
        freeaddrinfo(found);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    return bind_and_listen(fd, (struct sockaddr *)&address, sizeof address, backlog);
}

int mn_syslog_socket(void) { return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); }

int mn_syslog_send(int fd, const char *path, int priority, const char *message, size_t length) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(address.sun_path, path);
    char header[64];
    time_t now = time(NULL);
    struct tm parts;
    localtime_r(&now, &parts);
    int n = snprintf(header, sizeof header, "<%d>", priority);
    n += (int)strftime(header + n, sizeof header - n, "%b %e %H:%M:%S ", &parts);
    n += snprintf(header + n, sizeof header - n, "minderd[%d]: ", (int)getpid());
    struct iovec parts_out[2] = {{header, (size_t)n}, {(void *)message, length}};
    struct msghdr m = {.msg_name = &address, .msg_namelen = sizeof address, .msg_iov = parts_out, .msg_iovlen = 2};
    return sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int mn_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int mn_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

int mn_is_descendant(pid_t pid, pid_t ancestor) {
    for (int generation = 0; generation < 64 && pid > 1; generation++) {
        char path[64], buffer[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 0;
        ssize_t n = read(fd, buffer, sizeof buffer - 1);
        close(fd);
        if (n <= 0) return 0;
        buffer[n] = 0;
        /* "pid (comm) state ppid ...": comm may hold anything, so from the last ')'. */
        char *close_paren = strrchr(buffer, ')');
        int parent;
        if (!close_paren || sscanf(close_paren + 1, " %*c %d", &parent) != 1) return 0;
        if (parent == ancestor) return 1;
        pid = parent;
    }
    return 0;
}

int mn_resolve_first(const char *host, char *out, size_t length) {
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = getaddrinfo(host, NULL, &hints, &found);
    if (rc != 0) return rc;
    rc = found ? getnameinfo(found->ai_addr, found->ai_addrlen, out, (socklen_t)length, NULL, 0, NI_NUMERICHOST) : EAI_NONAME;
    freeaddrinfo(found);
    return rc;
}

extern char **environ;

int mn_spawn_self(char *const argv[], int ready_fd) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* Only async-signal-safe calls until the exec. */
    int flags = fcntl(ready_fd, F_GETFD);
    if (flags < 0 || fcntl(ready_fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) _exit(127);
    execve("/proc/self/exe", argv, environ);
    _exit(127);
}

int mn_detach(const char *directory, int ready_fd, int keep_fd) {
    if (setsid() < 0) return -1;
    if (directory && chdir(directory) != 0) return -1;
    ssize_t n;
    do n = write(ready_fd, "1", 1); while (n < 0 && errno == EINTR);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2) close(null);
    }
    if (keep_fd > 3) syscall(SYS_close_range, 3U, (unsigned)keep_fd - 1, 0U);
    syscall(SYS_close_range, (unsigned)(keep_fd >= 3 ? keep_fd + 1 : 3), ~0U, 0U);
    return 0;
}

int mn_get_nofile(int64_t *soft, int64_t *hard) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    *soft = rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
    *hard = rl.rlim_max == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_max;
    return 0;
}

int mn_set_nofile(int64_t soft, int64_t hard) {
    struct rlimit rl = {soft < 0 ? RLIM_INFINITY : (rlim_t)soft, hard < 0 ? RLIM_INFINITY : (rlim_t)hard};
    return setrlimit(RLIMIT_NOFILE, &rl);
}

int mn_try_lock(int fd) { return flock(fd, LOCK_EX | LOCK_NB); }

int mn_raise_nproc(int64_t minimum) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) != 0) return -1;
    if (rl.rlim_cur == RLIM_INFINITY || (int64_t)rl.rlim_cur >= minimum) return 0;
    rl.rlim_cur = (rlim_t)minimum;
    if (rl.rlim_max != RLIM_INFINITY && (int64_t)rl.rlim_max < minimum) rl.rlim_max = (rlim_t)minimum;
    return setrlimit(RLIMIT_NPROC, &rl);
}

void *mn_caps_prepare(const int *caps, int ncaps) {
    (void)mn_cap_last();  // read /proc now, in the parent, not in the child
    cap_t state = cap_init();  // everything clear
    if (!state) return NULL;
    if (ncaps > 0) {
        cap_value_t values[64];
        int n = ncaps > 64 ? 64 : ncaps;
        for (int i = 0; i < n; i++) values[i] = (cap_value_t)caps[i];
        if (cap_set_flag(state, CAP_EFFECTIVE, n, values, CAP_SET) != 0 ||
            cap_set_flag(state, CAP_PERMITTED, n, values, CAP_SET) != 0 ||
            cap_set_flag(state, CAP_INHERITABLE, n, values, CAP_SET) != 0) {
            cap_free(state);
            return NULL;
        }
    }
    return state;
}

void mn_caps_free(void *state) {
    if (state) cap_free(state);
}

static int mn_cap_last(void) {
    static int last = -1;
    if (last >= 0) return last;
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    char buf[16] = {0};
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) last = atoi(buf);
    }
    if (last <= 0) last = CAP_LAST_CAP;
    return last;
}

int mn_drop_privileges(uint32_t uid, uint32_t gid, const gid_t *groups, int ngroups) {
    if (setgroups((size_t)ngroups, groups) != 0) return -1;
    if (setresgid(gid, gid, gid) != 0) return -1;
    if (setresuid(uid, uid, uid) != 0) return -1;
    return 0;
}

int mn_mq_create(const char *name, long maxmsg, long msgsize, int mode, int64_t gid) {
    struct mq_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = maxmsg;
    attr.mq_msgsize = msgsize;
    mq_unlink(name);
    // The mode passes through the umask; it is set again with fchmod.
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, (mode_t)mode, &attr);
    if (q == (mqd_t)-1) return -1;
    fchmod((int)q, (mode_t)mode);
    if (gid >= 0) fchown((int)q, (uid_t)-1, (gid_t)gid);
    return (int)q;
}

int mn_mq_open_reader(const char *name, int nonblock) {
    mqd_t q = mq_open(name, O_RDONLY | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
    return q == (mqd_t)-1 ? -1 : (int)q;
}

int mn_mq_open_writer(const char *name) {
    mqd_t q = mq_open(name, O_WRONLY | O_CLOEXEC);
    return q == (mqd_t)-1 ? -1 : (int)q;
}

int mn_mq_send(int mqd, const char *bytes, size_t length) { return mq_send((mqd_t)mqd, bytes, length, 0); }

int mn_mq_timedsend(int mqd, const char *bytes, size_t length, int ms) {
    // mq_timedsend's deadline is on CLOCK_REALTIME.
    struct timespec ts = mn_deadline_ms(CLOCK_REALTIME, ms);
    int rc;
    do {
        rc = mq_timedsend((mqd_t)mqd, bytes, length, 0, &ts);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

long mn_mq_receive(int mqd, char *buffer, size_t capacity) {
    return (long)mq_receive((mqd_t)mqd, buffer, capacity, NULL);
}

int mn_tcp_connect_start(const char *address, int port) {
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    socklen_t length;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        length = sizeof *v6;
    } else {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&storage, length) != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int mn_tcp_connect_result(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
}

int mn_sd_notify(const char *path, const char *message) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) {
        errno = EINVAL;
        return -1;
    }
    memcpy(addr.sun_path, path, length);
    if (path[0] == '@') addr.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    ssize_t n = sendto(fd, message, strlen(message), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length));
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}

int mn_private_dir(const char *path) {
    if (mkdir(path, 0711) != 0) {
        if (errno != EEXIST) return -1;
        struct stat st;
        if (lstat(path, &st) != 0) return -1;
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
            errno = EEXIST;
            return -1;
        }
    }
    return chmod(path, 0711);
}

int mn_notify_socket(const char *path, int64_t uid, int64_t gid) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    unlink(path);
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        chmod(path, 0600) != 0 || ((uid >= 0 || gid >= 0) && chown(path, (uid_t)uid, (gid_t)gid) != 0)) {
        int saved = errno;
        close(fd);
        unlink(path);
        errno = saved;
        return -1;
    }
    return fd;
}

long mn_notify_recv(int fd, char *buffer, size_t capacity, int32_t *pid, uint32_t *uid) {
    struct iovec iov = {buffer, capacity};
    union {
        char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 32)];
        struct cmsghdr align;
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    *pid = 0;
    *uid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            *pid = cred.pid;
            *uid = cred.uid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            // Nobody asked for descriptors: each one passed is closed at once.
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int passed;
                memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
                close(passed);
            }
        }
    }
    if ((size_t)n > capacity || (msg.msg_flags & MSG_TRUNC)) return -2;
    return (long)n;
}

int mn_mq_give(int mqd, uint32_t uid) { return fchown(mqd, (uid_t)uid, (gid_t)-1); }

int64_t mn_raise_msgqueue(int64_t minimum) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) != 0) return -1;
    struct rlimit want = rl;
    if (rl.rlim_max != RLIM_INFINITY && (int64_t)rl.rlim_max < minimum) want.rlim_max = (rlim_t)minimum;
    want.rlim_cur = want.rlim_max;
    if (setrlimit(RLIMIT_MSGQUEUE, &want) != 0) {
        // Not allowed above the hard limit: up to it, then.
        want = rl;
        want.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_MSGQUEUE, &want);
    }
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) != 0) return -1;
    return rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur;
}

int64_t mn_pid_uid(int32_t pid) {
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    struct stat st;
    if (pid <= 0 || stat(path, &st) != 0) return -1;
    return (int64_t)st.st_uid;
}

long mn_mq_msgsize(int mqd) {
    struct mq_attr attr;
    if (mq_getattr((mqd_t)mqd, &attr) != 0) return -1;
    return attr.mq_msgsize;
}

int mn_mq_close(int mqd) { return mq_close((mqd_t)mqd); }
int mn_mq_unlink(const char *name) { return mq_unlink(name); }


static ssize_t read_small(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0) buf[n] = 0;
    return n;
}

int mn_proc_sample(int pid, uint64_t *utime, uint64_t *stime, uint32_t *threads, uint64_t *rss_pages, uint32_t *fds) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof buf) <= 0) return -1;
    // Fields after the command, which may hold spaces and parentheses: state is field 3.
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long ut = 0, st = 0, rss = 0;
    long nthreads = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %ld %*d %*u %*u %llu",
               &ut, &st, &nthreads, &rss) != 4)
        return -1;
    *utime = ut;
    *stime = st;
    *threads = (uint32_t)nthreads;
    *rss_pages = rss;
    // Since Linux 6.2 the size of /proc/PID/fd is the number of open descriptors: one stat()
    // instead of reading the directory. Older kernels say 0, and the directory is counted.
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    struct stat fd_dir;
    uint32_t count = 0;
    if (stat(path, &fd_dir) == 0 && fd_dir.st_size > 0) {
        count = (uint32_t)fd_dir.st_size;
    } else {
        DIR *dir = opendir(path);
        if (dir) {
            struct dirent *e;
            while ((e = readdir(dir)) != NULL) if (e->d_name[0] != '.') count++;
            closedir(dir);
        }
    }
    *fds = count;
    return 0;
}
