// The layout of minderd's live stats in shared memory: a documented ABI
// (docs/stats.md) for readers in any language. Fixed-size, no pointers, no
// _Atomic; a reader takes the semaphore named in the header, copies, and
// releases it, and checks the copy (sizes, count, each slot's checksum)
// before it trusts a byte: other readers may write the segment too.
#ifndef MINDER_STATS_H
#define MINDER_STATS_H

#include <stdint.h>

#define MINDER_STATS_MAGIC 0x31534154534e4d00ULL  /* the bytes "\0MNSTAS1" read as a little-endian uint64 */
#define MINDER_STATS_VERSION 3
#define MINDER_STATS_NAME 64
#define MINDER_STATS_ERROR 128

typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t slot_count;
    uint32_t header_size;      /* sizeof(minder_stats_header) */
    uint32_t slot_size;        /* sizeof(minder_stats_slot) */
    int32_t minderd_pid;
    uint32_t retired;          /* 1: a newer segment replaced this one; map the name again */
    double start_time;         /* minderd's start, Unix seconds */
    uint64_t generation;       /* bumped on every write */
    char semaphore[MINDER_STATS_NAME]; /* the current semaphore's name, for sem_open */
    int32_t semaphore_holder;  /* the pid of the reader holding it, 0 when none */
    uint32_t reserved;
    uint64_t events_dropped;
    uint64_t semaphore_recoveries;
    /* Fresh samples on demand (version 3; docs/stats.md): send any message to `request_queue`,
       then wait on `fresh_semaphore` until `sample_generation` is above what it was before. */
    uint64_t sample_generation; /* bumped by every round of /proc samples; 0: none yet */
    double sample_time;         /* when the last round ran, Unix seconds */
    char request_queue[MINDER_STATS_NAME];
    char fresh_semaphore[MINDER_STATS_NAME]; /* posted once for each request a round answers */
} minder_stats_header;

typedef struct {
    uint64_t sequence;         /* bumped on every write of this slot */
    uint64_t checksum;         /* FNV-1a (64 bit) of the bytes from `group` to the end of the slot */
    char group[MINDER_STATS_NAME];
    char name[MINDER_STATS_NAME];
    int32_t state;             /* supervisord's codes: STOPPED 0 ... RUNNING 20 ... FATAL 200 */
    int32_t pid;               /* 0 when not running */
    double start_time;         /* last spawn, Unix seconds; 0: never */
    double last_change;        /* last state change, Unix seconds */
    uint32_t restarts;
    int32_t exit_status;       /* last exit code, or minus the signal number */
    char spawn_error[MINDER_STATS_ERROR];
    double cpu_user;           /* seconds */
    double cpu_system;
    uint64_t rss_bytes;
    uint32_t open_fds;
    uint32_t threads;
    uint64_t log_bytes_written; /* output that reached the log targets, over all runs (version 2) */
    uint64_t log_bytes_dropped; /* output lost on the way: a full disk, a reader that left */
    int32_t ready;             /* with ready=: 1 ready, 0 not yet; -1 without (version 3) */
    int32_t healthy;           /* 1 passing, 0 failing; -1 without a health check */
} minder_stats_slot;

/* Slot `index` of a copy. Other processes can write the segment: check header_size and
   slot_size against the sizeof values, and header_size + slot_count * slot_size against the
   copy's length, before using any slot. */
static inline minder_stats_slot *minder_stats_slot_at(void *copy, uint32_t index) {
    return (minder_stats_slot *)((char *)copy + sizeof(minder_stats_header) + (uint64_t)index * sizeof(minder_stats_slot));
}

static inline uint64_t minder_stats_checksum(const minder_stats_slot *slot) {
    const unsigned char *p = (const unsigned char *)slot->group;
    const unsigned char *end = (const unsigned char *)slot + sizeof(minder_stats_slot);
    uint64_t hash = 1469598103934665603ULL;
    for (; p < end; p++) {
        hash ^= *p;
        hash *= 1099511628211ULL;
    }
    return hash;
}
#endif
