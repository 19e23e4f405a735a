#!/usr/bin/env python3
"""Run each scenario for Minder and supervisord with the same config; report ratios.

Scenarios: time until N programs are RUNNING, daemon RSS at N, the ctl tool's
`status` time, single-process status requests per second over a kept connection,
restart latency of a crashing child, idle cost, log throughput, shutdown time, and
`status` while another user floods the socket with idle connections.
"""
import argparse
import datetime
import http.server
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# supervisorctl from the supervisord folder, when the run has one: the same client for both daemons.
SUPERVISORCTL = None

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


class Supervisor:
    """One daemon under test: its binaries and how to drive them."""

    def __init__(self, kind, bindir):
        self.kind = kind
        self.daemon = os.path.join(bindir, "minderd" if kind == "minder" else "supervisord")
        self.ctl = os.path.join(bindir, "minderctl" if kind == "minder" else "supervisorctl")

    def config(self, workdir, programs, supervisord=""):
        text = (
            "[unix_http_server]\nfile=%s/s.sock\n\n"
            "[supervisord]\nlogfile=%s/daemon.log\npidfile=%s/daemon.pid\nchildlogdir=%s\nnodaemon=true\n%s\n\n"
            "[supervisorctl]\nserverurl=unix://%s/s.sock\n\n"
            "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            % (workdir, workdir, workdir, workdir, supervisord, workdir)
        ) + programs
        path = os.path.join(workdir, "bench.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, conf):
        return subprocess.Popen([self.daemon, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def status(self, conf):
        out = subprocess.run([self.ctl, "-c", conf, "status"], capture_output=True, text=True)
        return out.stdout


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_parts(pid):
    """Resident kB by where it lives: the daemon's own executable, shared libraries, anonymous
    memory (heap, stacks), and shared memory (Minder's stats segment)."""
    exe = os.path.realpath("/proc/%d/exe" % pid)
    parts = {"exe": 0, "libs": 0, "anon": 0, "shm": 0}
    where = "anon"
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                path = fields[5] if len(fields) > 5 else ""
                where = ("exe" if os.path.realpath(path) == exe else "shm" if path.startswith("/dev/shm")
                         else "anon" if not path.startswith("/") else "libs")
            elif fields and fields[0] == "Rss:":
                parts[where] += int(fields[1])
    return parts


def stripped_mb(path):
    with tempfile.TemporaryDirectory() as work:
        copy = os.path.join(work, "bin")
        shutil.copy(path, copy)
        subprocess.run(["strip", copy], check=True)
        return os.path.getsize(copy) / 1e6


def children_alive(pattern):
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def stop(proc, pattern, timeout=60):
    """SIGTERM; returns seconds until the daemon and every matching child are gone."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=timeout)
    while children_alive(pattern) and time.monotonic() - t0 < timeout:
        time.sleep(0.005)
    return time.monotonic() - t0


def cleanup(pattern):
    subprocess.run(["pkill", "-9", "-f", pattern], capture_output=True)


def reference_spawn(n):
    """Seconds for one process to posix_spawn n `sleep`s, one after the other: the machine's own
    cost of starting n processes, which no supervisor can go below."""
    tag = "1%05d" % os.getpid()
    pids = []
    try:
        t0 = time.monotonic()
        for _ in range(n):
            pids.append(os.posix_spawn("/bin/sleep", ["sleep", tag], os.environ))
        return time.monotonic() - t0
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def sleepers(sv, n, scenario, supervisord_extra="", program_extra=""):
    """A work folder and config with n long sleeps; their command line (unique to this run and
    scenario) lets the bench find and kill them."""
    work = tempfile.mkdtemp(prefix="mb-")
    tag = "sleep %d%05d" % (scenario, os.getpid())
    programs = "[program:s]\ncommand=%s\nprocess_name=%%(program_name)s_%%(process_num)d\nnumprocs=%d\nstartsecs=0\n" \
               "stdout_logfile=NONE\nstderr_logfile=NONE\n%s" % (tag, n, program_extra)
    return work, tag, sv.config(work, programs, "minfds=%d\n%s" % (n * 4 + 256, supervisord_extra))


def wait_running(sv, conf, n, timeout=120, poll=0.05):
    """Waits until n programs are RUNNING, as the ctl tool shows."""
    t0 = time.monotonic()
    while sv.status(conf).count(" RUNNING ") < n:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("%s: not all RUNNING after %d s" % (sv.kind, timeout))
        time.sleep(poll)


def timed_start(sv, conf, n):
    """Starts the daemon; returns it and the seconds until n programs are RUNNING, as the ctl tool shows."""
    t0 = time.monotonic()
    proc = sv.start(conf)
    try:
        wait_running(sv, conf, n, timeout=300, poll=0.02)
    except RuntimeError:
        proc.kill()
        raise
    return proc, time.monotonic() - t0


def scenario_startup(sv, n):
    """Seconds until n programs are RUNNING (as the ctl tool shows), RSS in kB, status time, shutdown time."""
    work, tag, conf = sleepers(sv, n, 10)
    try:
        proc, started = timed_start(sv, conf, n)
        time.sleep(1)
        rss = rss_kb(proc.pid)
        parts = rss_parts(proc.pid)
        times = []
        for _ in range(5):
            s0 = time.monotonic()
            sv.status(conf)
            times.append(time.monotonic() - s0)
        shutdown = stop(proc, tag)
        return {"start_s": started, "rss_kb": rss, "rss_parts": parts, "status_s": statistics.median(times), "shutdown_s": shutdown}
    finally:
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


def scenario_targets(sv, small, n, rounds):
    """Minder's own ratios, each measured so that the machine's phase cancels out: in every round
    the posix_spawn floor and the daemon's start of n programs run back to back, and `status` at
    `small` programs and at n alternates call by call between two daemons up at once. The order
    within a pair flips each round; the result is the median of the rounds' ratios."""
    start_ratios, status_ratios, floors, starts = [], [], [], []
    for i in range(rounds):
        work, tag, conf = sleepers(sv, n, 15)
        work_small, tag_small, conf_small = sleepers(sv, small, 16)
        procs = []
        try:
            if i % 2 == 0:
                floor = reference_spawn(n)
            proc, started = timed_start(sv, conf, n)
            procs.append((proc, tag))
            if i % 2 == 1:
                floor = reference_spawn(n)
            proc, _ = timed_start(sv, conf_small, small)
            procs.append((proc, tag_small))
            time.sleep(1)
            times = {conf: [], conf_small: []}
            for j in range(10):
                for c in ((conf, conf_small) if (i + j) % 2 == 0 else (conf_small, conf)):
                    t0 = time.monotonic()
                    sv.status(c)
                    times[c].append(time.monotonic() - t0)
            floors.append(floor)
            starts.append(started)
            start_ratios.append(started / floor)
            status_ratios.append(statistics.median(times[conf]) / statistics.median(times[conf_small]))
            for proc, t in procs:
                stop(proc, t)
        finally:
            for proc, t in procs:
                if proc.poll() is None:
                    proc.kill()
                cleanup(t)
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(work_small, ignore_errors=True)
    return {"start_ratio": statistics.median(start_ratios), "status_ratio": statistics.median(status_ratios),
            "start_ratios": start_ratios, "status_ratios": status_ratios, "floors": floors, "starts": starts}


def single_status_request(kind, name):
    """The raw bytes of one keep-alive request for one process's status: JSON for Minder's own API
    (kind "minder"), XML-RPC getProcessInfo for supervisord and for Minder's XML-RPC ("xmlrpc")."""
    if kind == "minder":
        return ("GET /api/v1/processes/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % name).encode()
    body = ("<?xml version='1.0'?><methodCall><methodName>supervisor.getProcessInfo</methodName>"
            "<params><param><value><string>%s</string></value></param></params></methodCall>" % name).encode()
    return (b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def rps_client(work):
    """bench/rps.c, built here: a client that costs far less than either server."""
    return build(work, "rps.c")


def requests_per_second(work, path, request, seconds, expect):
    """Sends `request` again and again on one connection for `seconds`; each reply must contain `expect`.
    The median of three runs, since where the scheduler puts client and server moves the rate."""
    client, request_file = rps_client(work), os.path.join(work, "request")
    with open(request_file, "wb") as f:
        f.write(request)
    rates = []
    for _ in range(3):
        out = subprocess.run([client, path, request_file, str(seconds), expect], capture_output=True, text=True, check=True)
        rates.append(float(out.stdout))
    return statistics.median(rates)


def reference_requests_per_second(seconds):
    """The same client against a C server that answers every request with a fixed reply: the
    machine's own bound for one request at a time over a Unix socket."""
    work = tempfile.mkdtemp(prefix="mb-")
    body = b'[{"statename":"RUNNING"}]'
    reply_file, sock = os.path.join(work, "reply"), os.path.join(work, "r.sock")
    with open(reply_file, "wb") as f:
        f.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    server = subprocess.Popen([rps_client(work), "--serve", sock, reply_file])
    try:
        t0 = time.monotonic()
        while not os.path.exists(sock) and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        return {"single_status_rps": requests_per_second(work, sock, request, seconds, "RUNNING")}
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def scenario_single_status(sv, n, seconds):
    """Requests per second of one process's status, on one kept connection, with n programs configured."""
    work, tag, conf = sleepers(sv, n, 12)
    proc = None
    try:
        proc = sv.start(conf)
        wait_running(sv, conf, n)
        name = "s:s_%d" % (n // 2)
        sock = os.path.join(work, "s.sock")
        result = {"single_status_rps": requests_per_second(work, sock, single_status_request(sv.kind, name), seconds, "RUNNING")}
        if sv.kind == "minder":
            result["xmlrpc_rps"] = requests_per_second(work, sock, single_status_request("xmlrpc", name), seconds, "RUNNING")
        else:
            result["xmlrpc_rps"] = result["single_status_rps"]
        if SUPERVISORCTL:
            # The real supervisorctl against either daemon: most of it is Python's start-up.
            times = []
            for _ in range(5):
                t0 = time.monotonic()
                subprocess.run([SUPERVISORCTL, "-s", "unix://" + sock, "status"], capture_output=True)
                times.append(time.monotonic() - t0)
            result["supervisorctl_status_s"] = statistics.median(times)
        stop(proc, tag)
        return result
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


def file_size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def warm_memory(mib):
    """Writes and deletes `mib` MiB in /dev/shm. On a virtual machine, pages the guest has not
    touched for a while cost a fault in the host when the page cache first takes them; this
    puts every log run on the same footing."""
    if shutil.disk_usage("/dev/shm").free < (mib + 256) * 1024 * 1024:
        return
    path = "/dev/shm/minder-bench-warm-%d" % os.getpid()
    subprocess.run(["dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=%d" % mib, "status=none"], check=True)
    os.unlink(path)


def writer_command(mib):
    return "dd if=/dev/zero bs=65536 count=%d status=none" % (mib * 16)


def log_run(sv, mib):
    """One child writes `mib` MiB to stdout: MB/s until the log file holds them all, bytes lost,
    and the daemon's CPU seconds. The child waits on a FIFO so that the clock starts with its first byte."""
    work = tempfile.mkdtemp(prefix="mb-")
    fifo = os.path.join(work, "go")
    os.mkfifo(fifo)
    log = os.path.join(work, "out.log")
    total = mib * 1024 * 1024
    programs = "[program:writer]\ncommand=/bin/sh -c 'read x < %s; exec %s'\n" \
               "startsecs=0\nautorestart=false\nstdout_logfile=%s\nstdout_logfile_maxbytes=0\nstderr_logfile=NONE\n" \
               % (fifo, writer_command(mib), log)
    conf = sv.config(work, programs)
    try:
        proc = sv.start(conf)
        t0 = time.monotonic()
        while " RUNNING " not in sv.status(conf):
            if time.monotonic() - t0 > 60:
                raise RuntimeError("%s: writer not RUNNING" % sv.kind)
            time.sleep(0.05)
        warm_memory(2 * mib)
        cpu0, _ = proc_counts(proc.pid)
        t0 = time.monotonic()
        with open(fifo, "w") as f:
            f.write("go\n")
        last, still = 0, time.monotonic()
        while True:
            size = file_size(log)
            now = time.monotonic()
            if size >= total:
                break
            if size != last:
                last, still = size, now
            elif now - still > 10:
                break  # nothing more is coming: the rest was lost
            time.sleep(0.002)
        elapsed = time.monotonic() - t0
        cpu1, _ = proc_counts(proc.pid)
        stop(proc, fifo)
        return {"log_mb_s": total / 1e6 / elapsed, "log_lost": total - file_size(log), "log_cpu_s": cpu1 - cpu0}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cat_run(mib):
    """The same writer into `cat > file`: the physical reference."""
    work = tempfile.mkdtemp(prefix="mb-")
    try:
        warm_memory(2 * mib)
        t0 = time.monotonic()
        with open(os.path.join(work, "out"), "wb") as out:
            writer = subprocess.Popen(writer_command(mib).split(), stdout=subprocess.PIPE)
            cat = subprocess.Popen(["cat"], stdin=writer.stdout, stdout=out)
            writer.stdout.close()
            _, status, usage = os.wait4(cat.pid, 0)
            cat.returncode = os.waitstatus_to_exitcode(status)
            writer.wait()
        elapsed = time.monotonic() - t0
        if cat.returncode != 0 or writer.returncode != 0:
            raise RuntimeError("dd | cat failed")
        return {"log_mb_s": mib * 1024 * 1024 / 1e6 / elapsed, "log_cpu_s": usage.ru_utime + usage.ru_stime}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def scenario_log_throughput(daemons, mib, rounds):
    """`cat > file` and each daemon in turn, `rounds` times; the median of each measure."""
    runs = {"cat": []}
    for _ in range(rounds):
        runs["cat"].append(cat_run(mib))
        for sv in daemons:
            runs.setdefault(sv.kind, []).append(log_run(sv, mib))
    return {kind: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for kind, rs in runs.items()}


def proc_counts(pid):
    """CPU seconds of a process, and each of its threads' voluntary context switches by thread id."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    switches = {}
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        switches[task] = int(line.split()[1])
        except OSError:
            pass  # the thread ended meanwhile
    return cpu, switches


def switches_between(before, after):
    """Switches in the interval of the threads alive at its end (a thread that started in it counts
    whole), and how many threads ended in it (their last switches are not seen)."""
    made = sum(n - before.get(tid, 0) for tid, n in after.items())
    return made, len(set(before) - set(after))


def settled_counts(sv, conf, proc, n, seconds):
    """Once n programs run and 5 s have passed: the daemon's CPU seconds over the next `seconds`,
    its threads' voluntary context switches, and how many threads ended meanwhile."""
    wait_running(sv, conf, n)
    time.sleep(5)
    cpu0, sw0 = proc_counts(proc.pid)
    time.sleep(seconds)
    cpu1, sw1 = proc_counts(proc.pid)
    return (cpu1 - cpu0,) + switches_between(sw0, sw1)


def scenario_idle(sv, n, seconds, supervisord_extra=""):
    """CPU seconds and voluntary context switches of the idle daemon over `seconds`, with n programs."""
    work, tag, conf = sleepers(sv, n, 11, supervisord_extra)
    try:
        proc = sv.start(conf)
        cpu, switches, ended = settled_counts(sv, conf, proc, n, seconds)
        result = {"idle_cpu_s": cpu, "idle_switches": switches, "idle_threads_ended": ended}
        if sv.kind == "minder":
            # Then a reader asks for fresh numbers: how long `minderctl stats` takes, and how old
            # the sample is when it has printed them.
            calls, ages = [], []
            for _ in range(5):
                t0 = time.time()
                out = subprocess.run([sv.ctl, "-c", conf, "--json", "stats"], capture_output=True, text=True, check=True)
                t1 = time.time()
                calls.append(t1 - t0)
                ages.append(t1 - json.loads(out.stdout)[0]["sample_time"])
            result["fresh_call_s"] = statistics.median(calls)
            result["fresh_age_max_s"] = max(ages)
        stop(proc, tag)
        return result
    finally:
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


def build(work, source):
    """A C helper from bench/, built into `work`."""
    here = os.path.dirname(os.path.abspath(__file__))
    compiler = shutil.which("clang") or shutil.which("cc")
    binary = os.path.join(work, os.path.splitext(source)[0])
    subprocess.run([compiler, "-O2", "-o", binary, os.path.join(here, source)], check=True)
    return binary


def reference_notify_chain(n):
    """Seconds for one process to start bench/notify_ready n times, one after the other, each
    once the one before has sent READY=1: the programs' own start time in a chain, without a
    supervisor."""
    work = tempfile.mkdtemp(prefix="mb-")
    tag = "1%05d" % os.getpid()
    pids = []
    try:
        program = build(work, "notify_ready.c")
        path = os.path.join(work, "n.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        t0 = time.monotonic()
        for _ in range(n):
            pids.append(os.posix_spawn(program, [program, tag], env))
            sock.recv(64)
        return time.monotonic() - t0
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        shutil.rmtree(work, ignore_errors=True)


def scenario_chain(sv, n):
    """A chain of n `ready=notify` programs, each depending on the one before: seconds from the
    first one's spawn to the last one's readiness, by the main log's clock (milliseconds)."""
    work = tempfile.mkdtemp(prefix="mb-")
    tag = "2%05d" % os.getpid()
    proc = None
    try:
        program = build(work, "notify_ready.c")
        programs = "".join("[program:c%d]\ncommand=%s %s\nstartsecs=0\nready=notify\nstdout_logfile=NONE\nstderr_logfile=NONE\n%s\n"
                           % (i, program, tag, "depends_on=c%d" % (i - 1) if i else "") for i in range(n))
        conf = sv.config(work, programs, "loglevel=info\n")
        log = os.path.join(work, "daemon.log")
        proc = sv.start(conf)
        t0 = time.monotonic()
        while (not os.path.exists(log) or log_times(log, "ready: c%d\n" % (n - 1)) == []) and time.monotonic() - t0 < 120:
            time.sleep(0.05)
        first, last = log_times(log, "spawned: 'c0'"), log_times(log, "ready: c%d\n" % (n - 1))
        if not first or not last:
            raise RuntimeError("the chain did not complete in 120 s")
        stop(proc, tag)
        return {"chain_s": last[0] - first[0]}
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def scenario_probes(sv, n, seconds):
    """The daemon's CPU over `seconds` while n programs each have an HTTP health check every
    second, against a page this script serves."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    extra = "health_check=http://127.0.0.1:%d/\nprobe_interval=1\n" % server.server_address[1]
    work, tag, conf = sleepers(sv, n, 13, program_extra=extra)
    proc = None
    try:
        proc = sv.start(conf)
        cpu, _, _ = settled_counts(sv, conf, proc, n, seconds)
        stop(proc, tag)
        return {"probes_cpu_s": cpu}
    finally:
        server.shutdown()
        if proc and proc.poll() is None:
            proc.kill()
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario_page(sv, n, loads):
    """The status page in headless Chromium with n programs: seconds from asking for it to a
    complete table (median of `loads`), and for Minder, how long a state change takes to show
    on an open page (median of 10 stops and 10 starts, from the API request to the row's change)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    port = free_port()
    work, tag, conf = sleepers(sv, n, 14)
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write("[inet_http_server]\nport=127.0.0.1:%d\n\n" % port + text)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    proc = driver = None
    url = "http://127.0.0.1:%d/" % port
    rows = "tr[data-namespec]" if sv.kind == "minder" else "table tbody tr"
    try:
        proc = sv.start(conf)
        wait_running(sv, conf, n)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.get(url)  # warms the browser
        times = []
        for _ in range(loads):
            driver.get("about:blank")
            t0 = time.monotonic()
            driver.get(url)
            while driver.execute_script("return document.querySelectorAll(arguments[0]).length", rows) < n:
                time.sleep(0.005)
            times.append(time.monotonic() - t0)
        result = {"page_load_s": statistics.median(times)}
        if sv.kind == "minder":
            while driver.find_element("id", "live").text != "live":
                time.sleep(0.01)
            delays = []
            for i in range(20):
                action, before = ("stop", "RUNNING") if i % 2 == 0 else ("start", "STOPPED")
                driver.execute_script("""
                    const cell = document.querySelector('tr[data-namespec="s:s_0"] td.state');
                    window.seenAt = 0;
                    new MutationObserver((_, o) => { if (cell.textContent !== arguments[0]) { window.seenAt = Date.now(); o.disconnect(); } })
                        .observe(cell, {childList: true, characterData: true, subtree: true});""", before)
                t0 = time.time() * 1000
                request = urllib.request.Request(url + "api/v1/processes/s%%3As_0/%s?wait=false" % action, method="POST", data=b"",
                                                 headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=30).read()
                deadline = time.monotonic() + 30
                while not driver.execute_script("return window.seenAt"):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the page did not show %s of s:s_0" % action)
                    time.sleep(0.002)
                delays.append(driver.execute_script("return window.seenAt") - t0)
                while driver.find_element("css selector", 'tr[data-namespec="s:s_0"] td.state').text not in ("RUNNING", "STOPPED"):
                    time.sleep(0.01)
            result["page_change_ms"] = statistics.median(delays)
        stop(proc, tag)
        return result
    finally:
        if driver:
            driver.quit()
        if proc and proc.poll() is None:
            proc.kill()
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


FLOOD = r"""
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
path, count, uid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import os
os.setgroups([])
os.setgid(uid)
os.setuid(uid)
held = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        s.close()
        continue
    held.append(s)
print(len(held), flush=True)
time.sleep(3600)
"""


def scenario_flood(sv, conns):
    """The ctl tool's `status` while another user holds `conns` idle connections to a socket that
    everyone may open (chmod=0777): median and worst of 5, in seconds, 30 s counting as a failure.
    Needs root (to be another user); None otherwise."""
    if os.geteuid() != 0:
        return None
    work, tag, conf = sleepers(sv, 10, 12)
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("/s.sock\n", "/s.sock\nchmod=0777\n", 1))
    os.chmod(work, 0o755)
    flooder = None
    try:
        proc = sv.start(conf)
        wait_running(sv, conf, 10)
        flooder = subprocess.Popen([sys.executable, "-c", FLOOD, os.path.join(work, "s.sock"), str(conns), "65534"],
                                   stdout=subprocess.PIPE, text=True)
        held = int(flooder.stdout.readline() or 0)
        times = []
        for _ in range(5):
            s0 = time.monotonic()
            try:
                ok = subprocess.run([sv.ctl, "-c", conf, "status"], capture_output=True, timeout=30).returncode in (0, 3)
            except subprocess.TimeoutExpired:
                ok = False
            times.append(time.monotonic() - s0 if ok else 30.0)
        flooder.kill()
        flooder.wait()
        stop(proc, tag)
        return {"flood_status_s": statistics.median(times), "flood_status_max_s": max(times), "flood_held": held}
    finally:
        if flooder and flooder.poll() is None:
            flooder.kill()
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


def log_times(path, text):
    out = []
    with open(path) as f:
        for line in f:
            m = STAMP.match(line)
            if m and text in line:
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(m.group(2)) / 1000
                out.append(t)
    return out


def scenario_restart(sv, restarts):
    """Median ms from a crashing child's exit to its successor's spawn (child lives 0.1 s)."""
    work = tempfile.mkdtemp(prefix="mb-")
    programs = "[program:crash]\ncommand=/bin/sh -c 'sleep 0.1;exit 1'\nstartsecs=0\nautorestart=true\n" \
               "stdout_logfile=NONE\nstderr_logfile=NONE\n"
    conf = sv.config(work, programs)
    log = os.path.join(work, "daemon.log")
    try:
        proc = sv.start(conf)
        t0 = time.monotonic()
        while len(log_times(log, "spawned: 'crash'") if os.path.exists(log) else []) < restarts + 1:
            if time.monotonic() - t0 > 600:
                raise RuntimeError("%s: too slow" % sv.kind)
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        exits = log_times(log, "exited: crash")
        spawns = log_times(log, "spawned: 'crash'")
        gaps = [min(s for s in spawns if s >= e) - e for e in exits if any(s >= e for s in spawns)]
        return {"restart_ms": statistics.median(gaps) * 1000}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minder", required=True, help="folder with minderd and minderctl")
    ap.add_argument("--supervisord", help="folder with supervisord and supervisorctl")
    ap.add_argument("--smoke", action="store_true", help="every scenario once, tiny")
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--targets", action="store_true", help="only Minder's start and status ratios, then stop")
    a = ap.parse_args()
    target_rounds = 1 if a.smoke else 5
    if a.targets:
        print(scenario_targets(Supervisor("minder", a.minder), 10, 5 if a.smoke else 1000, target_rounds), flush=True)
        return
    sizes = [5] if a.smoke else [10, 100, 500, 1000]
    restarts = 3 if a.smoke else 50
    status_sizes = [5] if a.smoke else [100, 500]
    log_mib = 4 if a.smoke else 1024
    daemons = [Supervisor("minder", a.minder)]
    results = {}
    if a.supervisord:
        daemons.append(Supervisor("supervisord", a.supervisord))
        global SUPERVISORCTL
        SUPERVISORCTL = os.path.join(a.supervisord, "supervisorctl")
        floor = []
        for _ in range(5):
            t0 = time.monotonic()
            subprocess.run([SUPERVISORCTL, "--help"], capture_output=True)
            floor.append(time.monotonic() - t0)
        results[("supervisorctl", "floor")] = statistics.median(floor)
    results[("c-server", "single")] = reference_requests_per_second(0.3 if a.smoke else 3)
    print("fixed-reply C server", results[("c-server", "single")], flush=True)
    for n in sizes:
        results[("spawn", n)] = statistics.median(reference_spawn(n) for _ in range(3))
        print("posix_spawn", n, results[("spawn", n)], flush=True)
    results[("minder", "binaries")] = {tool: stripped_mb(os.path.join(a.minder, tool)) for tool in ("minderd", "minderctl")}
    print("stripped binaries", results[("minder", "binaries")], flush=True)
    for kind, measured in scenario_log_throughput(daemons, log_mib, 1 if a.smoke else 3).items():
        results[(kind, "logs")] = measured
        print(kind, "logs", measured, flush=True)
    for sv in daemons:
        for n in sizes:
            results[(sv.kind, n)] = scenario_startup(sv, n)
            print(sv.kind, n, results[(sv.kind, n)], flush=True)
        results[(sv.kind, "restart")] = scenario_restart(sv, restarts)
        print(sv.kind, "restart", results[(sv.kind, "restart")], flush=True)
        for n in status_sizes:
            results[(sv.kind, "single", n)] = scenario_single_status(sv, n, 0.3 if a.smoke else 3)
            print(sv.kind, "single status", n, results[(sv.kind, "single", n)], flush=True)
        results[(sv.kind, "flood")] = scenario_flood(sv, 50 if a.smoke else 1100)
        print(sv.kind, "status during a flood", results[(sv.kind, "flood")], flush=True)
        idle_n, idle_s = (5, 1) if a.smoke else (100, 30)
        results[(sv.kind, "idle")] = scenario_idle(sv, idle_n, idle_s)
        print(sv.kind, "idle", results[(sv.kind, "idle")], flush=True)
        try:
            import selenium  # noqa: F401
            page_n = 5 if a.smoke else 1000
            results[(sv.kind, "page")] = scenario_page(sv, page_n, 1 if a.smoke else 5)
            print(sv.kind, "page", page_n, results[(sv.kind, "page")], flush=True)
        except ImportError:
            print("the web page: skipped, selenium is not installed (bench/run installs it)", flush=True)
        if sv.kind == "minder":
            results[(sv.kind, "targets")] = scenario_targets(sv, sizes[0] if a.smoke else 10, sizes[-1], target_rounds)
            print(sv.kind, "start and status ratios", results[(sv.kind, "targets")], flush=True)
            results[(sv.kind, "idle-sampling")] = scenario_idle(sv, idle_n, idle_s, "stats_interval=1")
            print(sv.kind, "idle, sampling every second", results[(sv.kind, "idle-sampling")], flush=True)
            # Readiness and dependencies: what supervisord cannot do, against the machine's own time.
            chain_n = 5 if a.smoke else 100
            results[("notify", "chain")] = statistics.median(reference_notify_chain(chain_n) for _ in range(3))
            print("notify_ready chain", chain_n, results[("notify", "chain")], flush=True)
            results[(sv.kind, "chain")] = scenario_chain(sv, chain_n)
            print(sv.kind, "chain", results[(sv.kind, "chain")], flush=True)
            results[(sv.kind, "probes")] = scenario_probes(sv, idle_n, idle_s)
            print(sv.kind, "HTTP probes", results[(sv.kind, "probes")], flush=True)
    if a.smoke:
        return
    write_report(a.out, results, sizes, status_sizes)


def plot(labels, ratios, png):
    """The ratios as bars on a log scale; raises ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.bar(labels, ratios)
    ax.set_yscale("log")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_ylabel("Minder / supervisord, log scale")
    ax.set_title("Time, memory or CPU of Minder relative to supervisord (below 1: Minder is better)")
    plt.xticks(rotation=60, ha="right")
    plt.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def write_report(out, r, sizes, status_sizes):
    def row(name, key, n, unit, fmt="%.3f"):
        s, m = r[("supervisord", n)][key], r[("minder", n)][key]
        return "| %s | %s | %s | %s | %.3f |" % (name, n, fmt % s + unit, fmt % m + unit, m / s if s else float("nan"))
    lines = [
        "# Benchmarks: Minder and supervisord side by side",
        "",
        "Measured by `bench/run` on %s (%s, %d cores, Python %s, supervisor 4.3.0, Minder release build)."
        % (datetime.date.today().isoformat(), platform.platform(), os.cpu_count(), platform.python_version()),
        "Each scenario ran for both daemons with the same config, in one run; the ratio is Minder / supervisord"
        " (below 1: Minder uses less time or memory).",
        "",
        "| scenario | N | supervisord | Minder | ratio |",
        "|---|---|---|---|---|",
    ]
    for n in sizes:
        lines.append(row("all N programs RUNNING, as the ctl tool sees them (one process spawning N `sleep`s: %.3f s)"
                         % r[("spawn", n)], "start_s", n, " s"))
    t = r[("minder", "targets")]
    lines.append("| Minder's start of %d programs against the spawn floor, each round's pair run back to back (median of %d"
                 " rounds; floors %s s, starts %s s) | %d | - | %.2fx | - |"
                 % (sizes[-1], len(t["start_ratios"]), ", ".join("%.3f" % x for x in t["floors"]),
                    ", ".join("%.3f" % x for x in t["starts"]), sizes[-1], t["start_ratio"]))
    for n in sizes:
        lines.append(row("daemon RSS", "rss_kb", n, " kB", "%d"))
    mp, sp = r[("minder", sizes[1])]["rss_parts"], r[("supervisord", sizes[1])]["rss_parts"]
    lines.append("| daemon RSS by where it lives: its executable (Minder: minderd; supervisord: python3) / shared libraries /"
                 " anonymous memory / shared memory | %d | %d / %d / %d / %d kB | %d / %d / %d / %d kB | |"
                 % (sizes[1], sp["exe"], sp["libs"], sp["anon"], sp["shm"], mp["exe"], mp["libs"], mp["anon"], mp["shm"]))
    per = {k: (r[(k, sizes[-1])]["rss_kb"] - r[(k, sizes[1])]["rss_kb"]) / (sizes[-1] - sizes[1]) for k in ("minder", "supervisord")}
    lines.append("| RSS of each added program, from %d to %d | 1 | %.1f kB | %.1f kB | %.3f |"
                 % (sizes[1], sizes[-1], per["supervisord"], per["minder"], per["minder"] / per["supervisord"]))
    lines.append("| stripped binaries (`--static-swift-stdlib -Xswiftc -Osize`: the Swift runtime linked in, glibc shared) | 1 | - |"
                 " minderd %.1f MB, minderctl %.1f MB | - |" % (r[("minder", "binaries")]["minderd"], r[("minder", "binaries")]["minderctl"]))
    for n in sizes:
        lines.append(row("ctl `status` (median of 5)", "status_s", n, " s"))
    lines.append("| Minder's `status` at %d programs against at 10, the two daemons up at once and asked in turn"
                 " (median of %d rounds' ratios: %s) | %d | - | %.2fx | - |"
                 % (sizes[-1], len(t["status_ratios"]), ", ".join("%.2f" % x for x in t["status_ratios"]), sizes[-1], t["status_ratio"]))
    for n in sizes:
        lines.append(row("shutdown: SIGTERM until daemon and children are gone", "shutdown_s", n, " s"))
    s, m = r[("supervisord", "restart")]["restart_ms"], r[("minder", "restart")]["restart_ms"]
    lines.append("| restart latency: exit to next spawn (median, child lives 0.1 s; log timestamps are in ms) | 1 | %.1f ms | %.1f ms | %.3f |"
                 % (s, m, m / s))
    for n in status_sizes:
        s1, m1 = r[("supervisord", "single", n)]["single_status_rps"], r[("minder", "single", n)]["single_status_rps"]
        lines.append("| one process's status, requests/s on one kept connection (Minder: JSON `GET /api/v1/processes/{name}`;"
                     " supervisord: XML-RPC `getProcessInfo`; a C server with a fixed reply: %.0f/s; higher is better)"
                     " | %d | %.0f/s | %.0f/s | %.1fx |" % (r[("c-server", "single")]["single_status_rps"], n, s1, m1, m1 / s1))
    for n in status_sizes:
        s1, m1 = r[("supervisord", "single", n)]["xmlrpc_rps"], r[("minder", "single", n)]["xmlrpc_rps"]
        lines.append("| one process's status over XML-RPC (`getProcessInfo`, both daemons), requests/s on one kept connection"
                     " (higher is better) | %d | %.0f/s | %.0f/s | %.1fx |" % (n, s1, m1, m1 / s1))
    for n in status_sizes:
        s1, m1 = r[("supervisord", "single", n)]["supervisorctl_status_s"], r[("minder", "single", n)]["supervisorctl_status_s"]
        lines.append("| the real `supervisorctl status` against each daemon (median of 5; `supervisorctl --help` alone: %.3f s)"
                     " | %d | %.3f s | %.3f s | %.3f |" % (r[("supervisorctl", "floor")], n, s1, m1, m1 / s1))
    ls, lm, lc = r[("supervisord", "logs")], r[("minder", "logs")], r[("cat", "logs")]
    lines += [
        "| 1 GiB to stdout into the log file: MB/s (`cat > file`: %.0f MB/s; higher is better) | 1 | %.0f MB/s (%.2fx cat) |"
        " %.0f MB/s (%.2fx cat) | %.2fx |" % (lc["log_mb_s"], ls["log_mb_s"], ls["log_mb_s"] / lc["log_mb_s"],
                                            lm["log_mb_s"], lm["log_mb_s"] / lc["log_mb_s"], lm["log_mb_s"] / ls["log_mb_s"]),
        "| 1 GiB to stdout: bytes lost | 1 | %d | %d | |" % (ls["log_lost"], lm["log_lost"]),
        "| 1 GiB to stdout: the daemon's CPU (`cat`'s: %.2f s) | 1 | %.2f s | %.2f s | %.3f |"
        % (lc["log_cpu_s"], ls["log_cpu_s"], lm["log_cpu_s"], lm["log_cpu_s"] / ls["log_cpu_s"] if ls["log_cpu_s"] else float("nan")),
    ]
    sf, mf = r[("supervisord", "flood")], r[("minder", "flood")]
    if sf and mf:
        lines.append("| ctl `status` while another user holds %d idle connections to a socket open to all (median of 5;"
                     " worst: supervisord %.3f s, Minder %.3f s; 30 s means no answer) | 1 | %.3f s | %.3f s | %.3f |"
                     % (mf["flood_held"], sf["flood_status_max_s"], mf["flood_status_max_s"], sf["flood_status_s"],
                        mf["flood_status_s"], mf["flood_status_s"] / sf["flood_status_s"]))
    si, mi, ms = r[("supervisord", "idle")], r[("minder", "idle")], r[("minder", "idle-sampling")]

    def switches(m):
        ended = m.get("idle_threads_ended", 0)
        return "%d%s" % (m["idle_switches"], " (and %d threads ended)" % ended if ended else "")
    lines += [
        "| idle, 100 programs, 30 s, default config: CPU | 100 | %.2f s | %.2f s (`stats_interval=1`: %.2f s) | %.3f |"
        % (si["idle_cpu_s"], mi["idle_cpu_s"], ms["idle_cpu_s"], mi["idle_cpu_s"] / si["idle_cpu_s"] if si["idle_cpu_s"] else float("nan")),
        "| idle, 100 programs, 30 s, default config: voluntary context switches | 100 | %s | %s (`stats_interval=1`: %s) | %.3f |"
        % (switches(si), switches(mi), switches(ms), mi["idle_switches"] / si["idle_switches"] if si["idle_switches"] else float("nan")),
        "| then `minderctl stats` asking for fresh numbers (median of 5), and the sample's age when it has printed (worst) | 100 | - | %.3f s, %.1f ms old | - |"
        % (mi["fresh_call_s"], mi["fresh_age_max_s"] * 1000),
        "| a chain of `ready=notify` programs, each `depends_on` the one before: first spawn to last ready (the same"
        " programs started one after the other by one process, each once the one before said READY=1: %.3f s) | 100 | - |"
        " %.3f s (%.0f ms more) | - |" % (r[("notify", "chain")], r[("minder", "chain")]["chain_s"],
                                          (r[("minder", "chain")]["chain_s"] - r[("notify", "chain")]) * 1000),
        "| 100 programs with an HTTP health check every second, 30 s: CPU (idle without: %.2f s) | 100 | - | %.2f s | - |"
        % (mi["idle_cpu_s"], r[("minder", "probes")]["probes_cpu_s"]),
    ]
    sp, mp = r.get(("supervisord", "page")), r.get(("minder", "page"))
    if sp and mp:
        lines += [
            "| the status page in headless Chromium: from asking for it to a complete table (median of 5) | 1000 | %.3f s | %.3f s | %.3f |"
            % (sp["page_load_s"], mp["page_load_s"], mp["page_load_s"] / sp["page_load_s"]),
            "| a state change on an open page: from the API request to the row showing it (median of 20) | 1000 |"
            " never, without a reload | %.1f ms | - |" % mp["page_change_ms"],
        ]
    lines += [
        "",
        "Reproduce with `bench/run` (it installs supervisor 4.3.0 in `.build/bench-venv` and builds Minder in"
        " release mode with `--static-swift-stdlib -Xswiftc -Osize`, as `scripts/install` does); `bench/run --smoke` runs each"
        " scenario once at a tiny size.",
    ]
    try:
        labels, ratios = [], []
        for n in sizes:
            for key, name in (("start_s", "start"), ("rss_kb", "RSS"), ("status_s", "status"), ("shutdown_s", "shutdown")):
                labels.append("%s %d" % (name, n))
                ratios.append(r[("minder", n)][key] / r[("supervisord", n)][key])
        labels.append("restart")
        ratios.append(m / s)
        for n in status_sizes:
            labels.append("1-process status %d" % n)
            ratios.append(r[("supervisord", "single", n)]["single_status_rps"] / r[("minder", "single", n)]["single_status_rps"])
        labels += ["log CPU per GiB"]
        ratios += [lm["log_cpu_s"] / ls["log_cpu_s"] if ls["log_cpu_s"] else 1]
        plot(labels, ratios, os.path.join(os.path.dirname(out), "benchmarks.png"))
        lines.insert(5, "![ratios](benchmarks.png)\n")
    except ImportError:
        pass
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().rstrip()]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
