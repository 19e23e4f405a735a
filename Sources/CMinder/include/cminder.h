// Minder's C side: the child path between clone and exec (only
// async-signal-safe work is allowed there, which Swift cannot promise) and
// thin fixed-argument wrappers for Linux calls Swift's Glibc module lacks.
#ifndef CMINDER_H
#define CMINDER_H

#include <stdint.h>
#include <sys/types.h>
#include "minder_stats.h"
#include "stats_plane.h"

/// One resource limit for the child (RLIMIT_*); -1 means unlimited.
typedef struct {
    int resource;
    int64_t soft, hard;
} mn_rlimit;

/// What the child does before exec. Every pointer is owned by the caller and
/// must stay valid for the duration of mn_spawn.
typedef struct {
    const char *path;          // absolute path to execute
    char *const *argv;         // NULL-terminated
    char *const *envp;         // NULL-terminated
    const char *directory;     // chdir target, or NULL
    int umask;                 // -1: inherit
    int stdin_fd, stdout_fd, stderr_fd;
    int64_t uid, gid;          // -1: unchanged
    const gid_t *groups;       // supplementary groups when uid is set
    int ngroups;
    int64_t nofile_soft, nofile_hard;  // RLIMIT_NOFILE to restore; -1: leave
    const mn_rlimit *rlimits;  // the program's own limits, applied after the restore
    int nrlimits;
    /// Exactly these capabilities (effective, permitted, inheritable, ambient), the rest
    /// dropped from the bounding set, when set_caps is 1. caps_state comes from mn_caps_prepare.
    int set_caps;
    const int *caps;
    int ncaps;
    void *caps_state;
    int no_new_privs;
    /// The kernel's parent-death signal (0: none), set after the ids changed (which clear it);
    /// the child then checks that `parent` is still its parent.
    int pdeathsig;
    pid_t parent;
    /// s6's notification descriptor: `notify_source` (minderd's pipe) as descriptor `notify_fd`
    /// (3 to 9) in the child; -1: none.
    int notify_fd, notify_source;
    /// An envp entry `WATCHDOG_PID=` with room for 10 digits (writable, the caller's), which the
    /// child completes with its own pid, as systemd sets it; NULL: none.
    char *watchdog_pid_env;
} mn_spawn_attr;

/// Built in the parent (it allocates); pass to mn_spawn, then free with mn_caps_free.
void *mn_caps_prepare(const int *caps, int ncaps);
void mn_caps_free(void *state);

/// Where a failed spawn stopped (reported through the close-on-exec pipe).
enum {
    MN_STAGE_NONE = 0,
    MN_STAGE_PIPE = 1,
    MN_STAGE_CLONE = 2,
    MN_STAGE_SETPGID = 3,
    MN_STAGE_DUP = 4,
    MN_STAGE_RLIMIT = 5,
    MN_STAGE_GROUPS = 6,
    MN_STAGE_SETGID = 7,
    MN_STAGE_SETUID = 8,
    MN_STAGE_CHDIR = 9,
    MN_STAGE_EXEC = 10,
    MN_STAGE_CAPS = 11,
    MN_STAGE_NO_NEW_PRIVS = 12,
    MN_STAGE_PDEATHSIG = 13,
    MN_STAGE_UNSHARE = 14,
};

/// Starts a child in its own process group. Returns 0 and sets *pid when the
/// exec succeeded; otherwise returns -1 with *stage and *err telling why (the
/// failed child has already been reaped).
int mn_spawn(const mn_spawn_attr *attr, pid_t *pid, int *stage, int *err);

/// A spawn to run on another thread: a copy of `attr` and all it points to (caps_state
/// excepted, which the caller keeps until the job is done). NULL when out of memory.
typedef struct mn_spawn_job mn_spawn_job;
mn_spawn_job *mn_spawn_job_new(const mn_spawn_attr *attr);
/// Hands the job to the spawn threads (started at the first job).
void mn_spawn_job_submit(mn_spawn_job *job);
/// Spawns it on the calling thread instead.
void mn_spawn_job_run(mn_spawn_job *job);
/// Waits until the job is done; then as mn_spawn.
int mn_spawn_job_wait(mn_spawn_job *job, pid_t *pid, int *stage, int *err);
/// After mn_spawn_job_wait (or for a job never handed over).
void mn_spawn_job_free(mn_spawn_job *job);

/// 1 once a spawn found that the kernel refuses close_range(CLOSE_RANGE_UNSHARE) (before Linux
/// 5.9), so that every child copies the whole descriptor table; 0 otherwise.
int mn_spawn_copies_table(void);

/// One malloc arena for the whole process (mallopt M_ARENA_MAX); call before any thread starts.
int mn_malloc_one_arena(void);

// Event sources for the supervisor's loop.
int mn_epoll_create(void);
int mn_epoll_add(int epfd, int fd, uint64_t token);
int mn_epoll_del(int epfd, int fd);
/// Watches `fd` for writability (a connect that completes).
int mn_epoll_add_writable(int epfd, int fd, uint64_t token);
/// Waits for one batch; fills tokens, returns the count (or -1 with errno).
int mn_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);

/// Blocks the given signals in the calling thread (do it first in main, before any thread exists).
int mn_block_signals(const int *signals, int count);
/// A signalfd for those signals, non-blocking and close-on-exec.
int mn_signalfd(const int *signals, int count);
/// Reads one pending signal from a signalfd: its number, or 0 when none is pending.
int mn_signalfd_read(int fd);

int mn_timerfd(void);
/// Fires every `seconds`, first after one period; 0 disarms.
int mn_timerfd_every(int fd, int seconds);
/// Arms a one-shot timer at an absolute CLOCK_MONOTONIC time in nanoseconds; 0 disarms.
int mn_timerfd_set(int fd, int64_t monotonic_ns);
void mn_timerfd_drain(int fd);
int64_t mn_monotonic_ns(void);

int mn_eventfd(void);
void mn_eventfd_signal(int fd);
void mn_eventfd_drain(int fd);

/// pipe2 with O_CLOEXEC; the read end also O_NONBLOCK when nonblock_read.
int mn_pipe(int fds[2], int nonblock_read);
int mn_set_child_subreaper(void);
/* Names the calling thread (at most 15 bytes are kept), as top -H and /proc show it. */
int mn_set_thread_name(const char *name);
/// A datagram socket for syslog messages, non-blocking so that a syslog daemon that falls behind
/// costs messages, never a wait.
int mn_syslog_socket(void);
/// A listening socket for an [fcgi-program:x] pool, close-on-exec and blocking (the pool's processes
/// accept on it as their stdin). A Unix socket replaces a file already at `path`; a TCP socket binds
/// IPv4 `host` ("" or "*": every address) with SO_REUSEADDR. Returns the descriptor, or -1 with errno.
/// `closed`: the socket file is made with mode 0, for the caller to chmod (no window in which it is
/// more open than asked, and no change of the process-wide umask while other threads make files).
int mn_listen_unix(const char *path, int backlog, int closed);
/// The pid serving a Unix socket at `path` (one that accepts a connection), -1 when it accepts but
/// its pid is unknown, 0 when nothing serves it.
int32_t mn_unix_socket_server(const char *path);
/// mn_listen_unix(path, backlog, 1) for minderd's control socket, never replacing a live socket:
/// under an exclusive lock on `path.lock` (mode 0600, minderd's user only; removed once bound),
/// a socket that accepts a connection is left alone (-1, errno EADDRINUSE, `*server` its pid)
/// and only a dead one is replaced. Two minderd starting at once cannot both bind.
int mn_claim_unix_socket(const char *path, int backlog, int32_t *server);
/// A process's start time (clock ticks after boot, /proc/PID/stat field 22), owner and executable
/// (`exe` empty when it cannot be read). 0, or -1 when there is no such process.
int mn_proc_identity(int pid, uint64_t *start_ticks, uint32_t *uid, char *exe, size_t exe_cap);
/// pidfd_open(2): a descriptor that becomes readable when the process exits; -1 with errno.
int mn_pidfd_open(int pid);
/// poll(2) for readability: 1 ready, 0 timed out, -1 error.
int mn_wait_readable(int fd, int timeout_ms);
/// Points each of descriptors 0-2 that is closed at /dev/null, so that no file minderd opens later
/// becomes a child's stdin, stdout or stderr, or gets minderd's own prints. 0, or -1 with errno.
int mn_ensure_stdio(void);
int mn_listen_tcp(const char *host, int port, int backlog);
/// Sends `message` to the syslog socket at `path` as `<priority>Mmm dd hh:mm:ss minderd[pid]: message`.
/// Returns 0, or -1 with errno (EAGAIN: the daemon's queue is full; ENOENT: no syslog socket).
int mn_syslog_send(int fd, const char *path, int priority, const char *message, size_t length);
/// Runs this executable anew (/proc/self/exe) with argv, keeping ready_fd open in it: the process
/// that becomes the daemon. Returns its pid, or -1 with errno.
int mn_spawn_self(char *const argv[], int ready_fd);
/// 1 when `pid` descends from `ancestor` (its parent, or its parent's, up to 64 generations),
/// by /proc; 0 otherwise or when it cannot be told.
int mn_is_descendant(pid_t pid, pid_t ancestor);
/// getaddrinfo(host) for TCP, the first address as numeric text in `out`: 0, or an EAI_ code for
/// gai_strerror. It may block (NSS, DNS): never on the supervisor's loop.
int mn_resolve_first(const char *host, char *out, size_t length);
/// The daemon's half of detaching, as supervisord's daemonize does it after its fork: setsid, chdir,
/// then a byte on ready_fd (the starting minderd exits 0 on it), /dev/null on 0-2, and every other
/// inherited descriptor but keep_fd closed, so whoever started minderd sees it exit. 0, or -1 with
/// errno before anything was written (stderr still reaches whoever started minderd).
int mn_detach(const char *directory, int ready_fd, int keep_fd);

/// Room for SO_PEERGROUPS: a peer with more supplementary groups than this is not matched by group.
typedef struct {
    uint32_t gids[64];
} mn_peer_groups;

int mn_get_nofile(int64_t *soft, int64_t *hard);
/// Raises RLIMIT_NPROC's soft limit to at least `minimum` (and the hard limit when allowed): 0, or -1.
int mn_raise_nproc(int64_t minimum);
int mn_set_nofile(int64_t soft, int64_t hard);
/// minderd's own switch to [supervisord] user=: groups, gid, then uid (glibc's wrappers, so
/// every thread changes). 0, or -1 with errno.
int mn_drop_privileges(uint32_t uid, uint32_t gid, const gid_t *groups, int ngroups);
// POSIX message queues (mq_open is variadic, and <mqueue.h> is not in Swift's Glibc).
/// Creates the queue afresh (a stale one is unlinked first), read-write and non-blocking.
/// Returns the descriptor, or -1 with errno (EINVAL: maxmsg/msgsize above the kernel's limits).
int mn_mq_create(const char *name, long maxmsg, long msgsize, int mode, int64_t gid);
/// Opens an existing queue to read; blocking unless nonblock.
int mn_mq_open_reader(const char *name, int nonblock);
/// Opens an existing queue to write, blocking: -1 with errno.
int mn_mq_open_writer(const char *name);
/// 0, or -1 with errno (EAGAIN: full).
int mn_mq_send(int mqd, const char *bytes, size_t length);
/// Waits up to `ms` for room: 0, or -1 with errno (ETIMEDOUT).
int mn_mq_timedsend(int mqd, const char *bytes, size_t length, int ms);
/// The message's length, or -1 with errno (EAGAIN: empty on a non-blocking queue).
long mn_mq_receive(int mqd, char *buffer, size_t capacity);
long mn_mq_msgsize(int mqd);
/// A private directory for sockets: made with mode 0711, or, if it exists, accepted only as a real
/// directory (no symlink) owned by this user, then set to 0711. 0, or -1 with errno.
int mn_private_dir(const char *path);
/// A datagram socket bound at `path` for sd_notify messages (a stale file is unlinked first):
/// SO_PASSCRED on, non-blocking; the file given to uid/gid (-1: unchanged) with mode 0600.
/// The descriptor, or -1 with errno.
int mn_notify_socket(const char *path, int64_t uid, int64_t gid);
/// One datagram: its length, with the sender's pid and uid from SCM_CREDENTIALS (0 when absent).
/// Descriptors passed with SCM_RIGHTS are closed. -1 with errno (EAGAIN: none waiting); -2: the
/// message was longer than `capacity` (dropped).
long mn_notify_recv(int fd, char *buffer, size_t capacity, int32_t *pid, uint32_t *uid);
/// A non-blocking TCP connection to an IPv4 or IPv6 address: the socket (its connect in progress,
/// or done), or -1 with errno.
int mn_tcp_connect_start(const char *address, int port);
/// After the socket polled writable: 0 when the connection was made, else the error number.
int mn_tcp_connect_result(int fd);
/// Sends one sd_notify message to `path` (`@name`: the abstract namespace), as sd_notify(3) does.
/// 0, or -1 with errno.
int mn_sd_notify(const char *path, const char *message);
/// Gives the queue to `uid` (its owner can then open it; it stays charged to minderd's user).
int mn_mq_give(int mqd, uint32_t uid);
/// Raises RLIMIT_MSGQUEUE's soft limit to the hard one, and both to at least `minimum` bytes when
/// allowed (CAP_SYS_RESOURCE). The soft limit after, or -1.
int64_t mn_raise_msgqueue(int64_t minimum);
/// The owner of /proc/PID (the process's effective uid), or -1 when there is no such process.
int64_t mn_pid_uid(int32_t pid);
int mn_mq_close(int mqd);
int mn_mq_unlink(const char *name);


/// One /proc sample of a process: CPU ticks, threads, resident pages, open descriptors. 0, or -1.
int mn_proc_sample(int pid, uint64_t *utime, uint64_t *stime, uint32_t *threads, uint64_t *rss_pages, uint32_t *fds);

/// flock(LOCK_EX | LOCK_NB): 0 when taken, -1 with errno (EWOULDBLOCK when another holds it).
int mn_try_lock(int fd);
#endif
