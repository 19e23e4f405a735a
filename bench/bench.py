#!/usr/bin/env python3
"""Run each scenario for Minder and supervisord with the same config; report ratios.

Scenarios: time until N programs are RUNNING, daemon RSS at N, the ctl tool's
`status` time, restart latency of a crashing child, and shutdown time.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

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


def scenario_startup(sv, n):
    """Seconds until n programs are RUNNING (as the ctl tool shows), RSS in kB, status time, shutdown time."""
    work = tempfile.mkdtemp(prefix="mb-")
    tag = "sleep 10%05d" % os.getpid()
    programs = "[program:s]\ncommand=%s\nprocess_name=%%(program_name)s_%%(process_num)d\nnumprocs=%d\nstartsecs=0\n" \
               "stdout_logfile=NONE\nstderr_logfile=NONE\n" % (tag, n)
    conf = sv.config(work, programs, "minfds=%d" % (n * 4 + 256))
    try:
        t0 = time.monotonic()
        proc = sv.start(conf)
        while True:
            out = sv.status(conf)
            if out.count(" RUNNING ") >= n:
                break
            if time.monotonic() - t0 > 300:
                raise RuntimeError("%s: not all RUNNING after 300 s" % sv.kind)
            time.sleep(0.02)
        started = time.monotonic() - t0
        time.sleep(1)
        rss = rss_kb(proc.pid)
        times = []
        for _ in range(5):
            s0 = time.monotonic()
            sv.status(conf)
            times.append(time.monotonic() - s0)
        shutdown = stop(proc, tag)
        return {"start_s": started, "rss_kb": rss, "status_s": statistics.median(times), "shutdown_s": shutdown}
    finally:
        cleanup(tag)
        shutil.rmtree(work, ignore_errors=True)


def proc_counts(pid):
    """CPU seconds and voluntary context switches of a process, all threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    switches = 0
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, task)) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    switches += int(line.split()[1])
    return cpu, switches


def scenario_idle(sv, n, seconds, supervisord_extra=""):
    """CPU seconds and voluntary context switches of the idle daemon over `seconds`, with n programs."""
    work = tempfile.mkdtemp(prefix="mb-")
    tag = "sleep 11%05d" % os.getpid()
    programs = "[program:s]\ncommand=%s\nprocess_name=%%(program_name)s_%%(process_num)d\nnumprocs=%d\nstartsecs=0\n" \
               "stdout_logfile=NONE\nstderr_logfile=NONE\n" % (tag, n)
    conf = sv.config(work, programs, "minfds=%d\n%s" % (n * 4 + 256, supervisord_extra))
    try:
        proc = sv.start(conf)
        t0 = time.monotonic()
        while sv.status(conf).count(" RUNNING ") < n:
            if time.monotonic() - t0 > 120:
                raise RuntimeError("%s: not all RUNNING" % sv.kind)
            time.sleep(0.05)
        time.sleep(2)
        cpu0, sw0 = proc_counts(proc.pid)
        time.sleep(seconds)
        cpu1, sw1 = proc_counts(proc.pid)
        stop(proc, tag)
        return {"idle_cpu_s": cpu1 - cpu0, "idle_switches": sw1 - sw0}
    finally:
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
    a = ap.parse_args()
    sizes = [5] if a.smoke else [100, 500, 1000]
    restarts = 3 if a.smoke else 20
    daemons = [Supervisor("minder", a.minder)]
    if a.supervisord:
        daemons.append(Supervisor("supervisord", a.supervisord))
    results = {}
    for sv in daemons:
        for n in sizes:
            results[(sv.kind, n)] = scenario_startup(sv, n)
            print(sv.kind, n, results[(sv.kind, n)], flush=True)
        results[(sv.kind, "restart")] = scenario_restart(sv, restarts)
        print(sv.kind, "restart", results[(sv.kind, "restart")], flush=True)
        idle_n, idle_s = (5, 1) if a.smoke else (100, 30)
        results[(sv.kind, "idle")] = scenario_idle(sv, idle_n, idle_s)
        print(sv.kind, "idle", results[(sv.kind, "idle")], flush=True)
        if sv.kind == "minder":
            results[(sv.kind, "idle-nosampling")] = scenario_idle(sv, idle_n, idle_s, "stats_interval=0")
            print(sv.kind, "idle without sampling", results[(sv.kind, "idle-nosampling")], flush=True)
    if a.smoke:
        return
    write_report(a.out, results, sizes)


def write_report(out, r, sizes):
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
        lines.append(row("all N programs RUNNING, as the ctl tool sees them", "start_s", n, " s"))
    for n in sizes:
        lines.append(row("daemon RSS", "rss_kb", n, " kB", "%d"))
    for n in sizes:
        lines.append(row("ctl `status` (median of 5)", "status_s", n, " s"))
    for n in sizes:
        lines.append(row("shutdown: SIGTERM until daemon and children are gone", "shutdown_s", n, " s"))
    s, m = r[("supervisord", "restart")]["restart_ms"], r[("minder", "restart")]["restart_ms"]
    lines.append("| restart latency: exit to next spawn (median, child lives 0.1 s; log timestamps are in ms) | 1 | %.1f ms | %.1f ms | %.3f |"
                 % (s, m, m / s))
    si, mi, mn = r[("supervisord", "idle")], r[("minder", "idle")], r[("minder", "idle-nosampling")]
    lines += [
        "| idle, 100 programs, 30 s: CPU | 100 | %.2f s | %.2f s (sampling off: %.2f s) | %.3f |"
        % (si["idle_cpu_s"], mi["idle_cpu_s"], mn["idle_cpu_s"], mi["idle_cpu_s"] / si["idle_cpu_s"] if si["idle_cpu_s"] else float("nan")),
        "| idle, 100 programs, 30 s: voluntary context switches | 100 | %d | %d (sampling off: %d) | %.3f |"
        % (si["idle_switches"], mi["idle_switches"], mn["idle_switches"], mi["idle_switches"] / si["idle_switches"] if si["idle_switches"] else float("nan")),
    ]
    lines += [
        "",
        "Not measured yet: requests per second of a single-process status query, and log throughput"
        " against `cat > file`.",
        "",
        "Reproduce with `bench/run` (it installs supervisor 4.3.0 in `.build/bench-venv` and builds Minder in"
        " release mode); `bench/run --smoke` runs each scenario once at a tiny size.",
    ]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        labels, ratios = [], []
        for n in sizes:
            for key, name in (("start_s", "start"), ("rss_kb", "RSS"), ("status_s", "status"), ("shutdown_s", "shutdown")):
                labels.append("%s %d" % (name, n))
                ratios.append(r[("minder", n)][key] / r[("supervisord", n)][key])
        labels.append("restart")
        ratios.append(m / s)
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.bar(labels, ratios)
        ax.set_yscale("log")
        ax.axhline(1, color="black", linewidth=0.8)
        ax.set_ylabel("Minder / supervisord (log scale)")
        plt.xticks(rotation=60, ha="right")
        plt.tight_layout()
        png = os.path.join(os.path.dirname(out), "benchmarks.png")
        fig.savefig(png, dpi=100)
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
