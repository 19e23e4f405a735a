#!/usr/bin/env python3
"""Print minderd's live process table from its shared-memory stats segment.

Shows that the layout of Sources/CMinder/include/minder_stats.h (docs/stats.md)
is usable from outside Swift: read the header, take the semaphore named in it,
record ourselves as its holder, copy the segment with pread, release; then check
the copy (sizes, slot count, each slot's checksum) before trusting it. Other
readers can write the segment, so nothing in it is used unchecked, and it is
never mapped: a segment truncated meanwhile gives a short copy, not a SIGBUS.
First it asks minderd for a fresh sample (a message on the request queue named
in the header, then a wait on the "fresh" semaphore until the header's
sample_generation has moved on), so CPU and memory are a few ms old.

    python3 examples/stats_reader.py -c /etc/minder.conf [--json] [--no-fresh]
"""
import argparse
import ctypes
import hashlib
import json
import os
import sys
import time

MAGIC = 0x31534154534E4D00
VERSION = 3
NAME, ERROR = 64, 128


class Header(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_uint64), ("version", ctypes.c_uint32), ("slot_count", ctypes.c_uint32),
                ("header_size", ctypes.c_uint32), ("slot_size", ctypes.c_uint32), ("minderd_pid", ctypes.c_int32),
                ("retired", ctypes.c_uint32), ("start_time", ctypes.c_double), ("generation", ctypes.c_uint64),
                ("semaphore", ctypes.c_char * NAME), ("semaphore_holder", ctypes.c_int32),
                ("reserved", ctypes.c_uint32), ("events_dropped", ctypes.c_uint64),
                ("semaphore_recoveries", ctypes.c_uint64), ("sample_generation", ctypes.c_uint64),
                ("sample_time", ctypes.c_double), ("request_queue", ctypes.c_char * NAME),
                ("fresh_semaphore", ctypes.c_char * NAME)]


class Slot(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint64), ("checksum", ctypes.c_uint64), ("group", ctypes.c_char * NAME),
                ("name", ctypes.c_char * NAME), ("state", ctypes.c_int32), ("pid", ctypes.c_int32),
                ("start_time", ctypes.c_double), ("last_change", ctypes.c_double), ("restarts", ctypes.c_uint32),
                ("exit_status", ctypes.c_int32), ("spawn_error", ctypes.c_char * ERROR), ("cpu_user", ctypes.c_double),
                ("cpu_system", ctypes.c_double), ("rss_bytes", ctypes.c_uint64), ("open_fds", ctypes.c_uint32),
                ("threads", ctypes.c_uint32), ("log_bytes_written", ctypes.c_uint64),
                ("log_bytes_dropped", ctypes.c_uint64), ("ready", ctypes.c_int32), ("healthy", ctypes.c_int32)]


STATES = {0: "STOPPED", 10: "STARTING", 20: "RUNNING", 30: "BACKOFF", 40: "STOPPING", 100: "EXITED",
          200: "FATAL", 1000: "UNKNOWN"}


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def fnv1a(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def deadline_in(seconds):
    t = time.time() + seconds
    return Timespec(int(t), int((t % 1) * 1e9))


def checked_copy(fd, libc, header):
    """The whole segment, copied under its semaphore and checked: (header, rows)."""
    sem = libc.sem_open(header.semaphore, 0)
    if not sem:
        sys.exit("cannot open the semaphore %s" % header.semaphore.decode(errors="replace"))
    try:
        if libc.sem_timedwait(ctypes.c_void_p(sem), ctypes.byref(deadline_in(2))) != 0:
            sys.exit("the semaphore stayed busy (held by pid %d)" % header.semaphore_holder)
        holder = Header.semaphore_holder.offset
        os.pwrite(fd, ctypes.c_int32(os.getpid()), holder)
        copy = os.pread(fd, min(os.fstat(fd).st_size, 64 << 20), 0)
        os.pwrite(fd, ctypes.c_int32(0), holder)
        libc.sem_post(ctypes.c_void_p(sem))
    finally:
        libc.sem_close(ctypes.c_void_p(sem))

    if len(copy) < ctypes.sizeof(Header):
        sys.exit("too short for a Minder stats segment")
    h = Header.from_buffer_copy(copy)
    if h.header_size != ctypes.sizeof(Header) or h.slot_size != ctypes.sizeof(Slot):
        sys.exit("header or slot size is not that of layout version %d" % VERSION)
    if h.header_size + h.slot_count * h.slot_size > len(copy):
        sys.exit("the segment claims more slots than it holds")
    rows = []
    for i in range(h.slot_count):
        offset = h.header_size + i * h.slot_size
        raw = copy[offset:offset + ctypes.sizeof(Slot)]
        slot = Slot.from_buffer_copy(raw)
        if slot.sequence == 0:
            continue
        if fnv1a(raw[Slot.group.offset:]) != slot.checksum:
            sys.exit("slot %d fails its checksum" % i)
        rows.append({"group": slot.group.decode(errors="replace"), "name": slot.name.decode(errors="replace"),
                     "state": STATES.get(slot.state, "?"), "pid": slot.pid, "restarts": slot.restarts,
                     "exit_status": slot.exit_status, "log_bytes_dropped": slot.log_bytes_dropped,
                     "cpu_seconds": slot.cpu_user + slot.cpu_system, "rss_bytes": slot.rss_bytes,
                     "sample_time": h.sample_time, "ready": None if slot.ready < 0 else bool(slot.ready)})
    return h, sorted(rows, key=lambda r: (r["group"], r["name"]))


def ask_for_fresh(libc, header):
    """Sends a request for a fresh sample; the "fresh" semaphore to wait on, or None."""
    if not header.request_queue or not header.fresh_semaphore:
        return None
    sem = libc.sem_open(header.fresh_semaphore, 0)
    if not sem:
        return None
    mq = libc.mq_open(header.request_queue, os.O_WRONLY)
    if mq < 0:
        libc.sem_close(ctypes.c_void_p(sem))
        return None
    sent = libc.mq_timedsend(mq, b"?", 1, 0, ctypes.byref(deadline_in(1)))
    libc.mq_close(mq)
    if sent != 0:
        libc.sem_close(ctypes.c_void_p(sem))
        return None
    return sem


def snapshot(config, fresh=True):
    instance = hashlib.sha256(os.path.realpath(config).encode()).hexdigest()[:16]
    fd = os.open("/dev/shm/minder.%s.stats" % instance, os.O_RDWR)
    try:
        first = os.pread(fd, ctypes.sizeof(Header), 0)
        if len(first) < ctypes.sizeof(Header):
            sys.exit("too short for a Minder stats segment")
        header = Header.from_buffer_copy(first)
        if header.magic != MAGIC or header.version != VERSION:
            sys.exit("not a Minder stats segment of layout version %d" % VERSION)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.sem_open.restype = ctypes.c_void_p
        fresh_sem = ask_for_fresh(libc, header) if fresh else None
        if fresh_sem is None:
            return checked_copy(fd, libc, header)[1]
        # A post can be one left by a reader that gave up: only a newer sample_generation will do.
        before, deadline = header.sample_generation, deadline_in(2)
        try:
            while libc.sem_timedwait(ctypes.c_void_p(fresh_sem), ctypes.byref(deadline)) == 0:
                h, rows = checked_copy(fd, libc, header)
                if h.sample_generation > before:
                    return rows
            print("minderd did not answer the request for fresh numbers in time", file=sys.stderr)
            return checked_copy(fd, libc, header)[1]
        finally:
            libc.sem_close(ctypes.c_void_p(fresh_sem))
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-fresh", action="store_true", help="take the numbers as they are, without asking for a sample")
    a = ap.parse_args()
    rows = snapshot(a.config, fresh=not a.no_fresh)
    if a.json:
        print(json.dumps(rows))
        return
    for r in rows:
        spec = r["name"] if r["group"] == r["name"] else "%s:%s" % (r["group"], r["name"])
        print("%-33s%-10spid %d, restarts %d" % (spec, r["state"], r["pid"], r["restarts"]))


if __name__ == "__main__":
    main()
