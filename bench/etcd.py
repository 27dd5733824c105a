#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""etcd PUT storm (issue 16): how many changes per second the etcd collector's worker
sustains against a real etcd, and its CPU per event. Part of `make bench` (root).

A private etcd (Debian's etcd-server) on 127.0.0.1 with its data dir on tmpfs (/dev/shm: the
disk is not what is measured), tapiod with only the etcd collector (JSON lines to a file), and
build/bench/etcd_put_storm putting N values of SIZE bytes over K keys from W writer processes.
Two modes, each repeated REPS times (median reported, min-max beside it):

- live: the worker watches while the storm runs. Figures: the writers' rate (the storm), events
  delivered / puts (must be 1.0), the worker's events/s from the storm's start to the last
  event, and the worker's CPU (its threads' run time, /proc/PID/task/*/schedstat) during
  that span per event.
- catch-up: tapiod is stopped (the state file keeps the revision), the storm runs, tapiod
  starts again and the worker resumes the watch after the saved revision. events/s (first to
  last event timestamp) is bounded by etcd, which sends an old watcher's backlog in batches
  from its 100 ms sync loop, at most 1000 revisions a pass (mvcc watchBatchMaxRevs); the
  worker's CPU per event here (its whole CPU, setup included, / events) is its cost with
  large watch responses, and 1 / that is its ceiling.

  python3 bench/etcd.py [--puts 20000] [--keys 1000] [--size 300] [--writers 2] [--reps 3]
                        [--smoke] [--no-results]
"""
import argparse
import datetime
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
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.path.join(ROOT, "build", "bin")
STORM = os.path.join(ROOT, "build", "bench", "etcd_put_storm")
ETCD = "/usr/bin/etcd"
PREFIX = "/registry/configmaps/bench/"
CLK = os.sysconf("SC_CLK_TCK")


def free_port_pair():
    for base in range(23790, 24790, 2):
        ok = True
        for p in (base, base + 1):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return base
    raise RuntimeError("no free port pair")


class Etcd:
    def __init__(self, tmp):
        self.port = free_port_pair()
        self.dir = tempfile.mkdtemp(prefix="tapio-etcd-bench-", dir="/dev/shm")
        self.log = open(os.path.join(tmp, "etcd.log"), "w")
        c = f"http://127.0.0.1:{self.port}"
        p = f"http://127.0.0.1:{self.port + 1}"
        self.p = subprocess.Popen(
            [ETCD, "--name", "b", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", c, "--advertise-client-urls", c,
             "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
             "--initial-cluster", f"b={p}", "--quota-backend-bytes", str(8 << 30)],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = f"127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = subprocess.run([STORM, self.endpoint, "/bench-ping/", "1", "1", "16", "1"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("etcd did not come up")

    def stop(self):
        self.p.terminate()
        self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Tapiod:
    def __init__(self, tmp, endpoint, state, out):
        cfg = os.path.join(tmp, "tapio.yaml")
        with open(cfg, "w") as f:
            f.write("\n".join([
                "log_level: info", f"collector_dir: {BIN}", "supervisor:",
                "  stats_log_interval_s: 0", "control:", "  enabled: false", "collectors:",
                "  process:", "    enabled: false", "  etcd:", "    enabled: true",
                f"    endpoints: [\"{endpoint}\"]", f"    state_file: \"{state}\"",
                "    sync_trace: false", "    health_interval_ms: 60000",
                "    state_interval_ms: 60000", ""]))
        self.out_path = out
        self.err_path = os.path.join(tmp, "tapiod.log")
        self.p = subprocess.Popen([os.path.join(BIN, "tapiod"), "--config", cfg],
                                  stdout=open(out, "w"), stderr=open(self.err_path, "w"))
        self.t_start = time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"etcd: READY \(pid (\d+)", self.err())
            if m:
                self.worker = int(m.group(1))
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError("etcd collector not READY: " + self.err())

    def err(self):
        with open(self.err_path) as f:
            return f.read()

    def cpu_s(self):
        """The worker's CPU time: the sum of its threads' schedstat run time (ns resolution;
        /proc/PID/stat's utime+stime count 10 ms ticks)."""
        total = 0
        tasks = f"/proc/{self.worker}/task"
        try:
            for tid in os.listdir(tasks):
                with open(os.path.join(tasks, tid, "schedstat")) as f:
                    total += int(f.read().split()[0])
            return total / 1e9
        except (OSError, ValueError, IndexError):
            with open(f"/proc/{self.worker}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def wall(t):
    """Seconds of an RFC 3339 UTC time with any number of fraction digits (0 if none)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", t or "")
    if not m:
        return 0
    d = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp() + float(m.group(2) or 0)


def count_puts(path, want, timeout):
    """Poll the JSON lines until `want` bench puts are there (or timeout): (count, monotonic
    time when the count was first reached, first and last event wall times)."""
    deadline = time.monotonic() + timeout
    while True:
        n, first, last = 0, None, None
        with open(path) as f:
            for line in f:
                if PREFIX not in line or '"etcd.put"' not in line:
                    continue
                n += 1
                if n == 1 or n >= want:
                    ts = wall(json.loads(line).get("time", ""))
                    if n == 1:
                        first = ts
                    last = ts
        if n >= want or time.monotonic() > deadline:
            return n, time.monotonic(), first, last
        time.sleep(0.05)


def storm(etcd, a):
    r = subprocess.run([STORM, etcd.endpoint, PREFIX, str(a.puts), str(a.keys), str(a.size),
                        str(a.writers)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("storm failed: " + r.stdout + r.stderr)
    return dict(kv.split("=") for kv in r.stdout.split())


def run_live(tmp, etcd, a):
    out = os.path.join(tmp, "live.jsonl")
    t = Tapiod(tmp, etcd.endpoint, "", out)
    try:
        time.sleep(0.3)
        cpu0 = t.cpu_s()
        t0 = time.monotonic()
        s = storm(etcd, a)
        n, t1, _, _ = count_puts(out, a.puts, 120)
        cpu1 = t.cpu_s()
    finally:
        t.stop()
    return {"writer_rate": float(s["rate"]), "delivered": n / a.puts,
            "events_s": n / (t1 - t0), "cpu_us": (cpu1 - cpu0) / max(n, 1) * 1e6}


def run_catchup(tmp, etcd, a):
    out = os.path.join(tmp, "catchup.jsonl")
    state = os.path.join(tmp, "etcd.state")
    if os.path.exists(state):
        os.unlink(state)
    Tapiod(tmp, etcd.endpoint, state, os.path.join(tmp, "first.jsonl")).stop()
    storm(etcd, a)
    t = Tapiod(tmp, etcd.endpoint, state, out)
    try:
        n, _, first, last = count_puts(out, a.puts, 120)
        cpu = t.cpu_s()
    finally:
        t.stop()
    span = (last - first) if first and last and last > first else float("nan")
    return {"delivered": n / a.puts, "events_s": (n - 1) / span,
            "cpu_us": cpu / max(n, 1) * 1e6}


def med(rows, key):
    v = [r[key] for r in rows]
    return statistics.median(v), min(v), max(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--puts", type=int, default=20000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--size", type=int, default=300)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny counts, one repetition")
    ap.add_argument("--no-results", action="store_true", help="print only")
    a = ap.parse_args()
    if a.smoke:
        a.puts, a.keys, a.reps = 500, 50, 1
    if os.geteuid() != 0:
        sys.exit("bench/etcd.py: needs root (tapiod)")
    for p in (ETCD, STORM, os.path.join(BIN, "tapio-collector-etcd")):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench/etcd.py: {p} missing (etcd-server; make all "
                     "build/bench/etcd_put_storm)")
    tmp = tempfile.mkdtemp(prefix="tapio-etcd-bench-")
    etcd = Etcd(tmp)
    live, catch = [], []
    try:
        for i in range(a.reps):
            live.append(run_live(tmp, etcd, a))
            catch.append(run_catchup(tmp, etcd, a))
            print(f"rep {i + 1}: live {live[-1]}, catch-up {catch[-1]}", flush=True)
    finally:
        etcd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ver = subprocess.run([ETCD, "--version"], capture_output=True, text=True).stdout.split("\n")[0]

    def cell(rows, key, fmt):
        m, lo, hi = med(rows, key)
        return f"{fmt.format(m)} ({fmt.format(lo)}–{fmt.format(hi)})"

    lines = [
        f"# etcd PUT storm, {datetime.date.today()}", "",
        f"Machine: {platform.node()}, kernel {platform.release()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f} at the end; {ver}, data dir on tmpfs.",
        f"Storm: {a.puts} puts of {a.size}-byte values over {a.keys} keys from {a.writers} "
        f"writer processes (build/bench/etcd_put_storm); medians of {a.reps}, min–max in "
        "brackets. Produced by `bench/etcd.py` (`make bench`).", "",
        "| mode | writers' puts/s | delivered / puts | worker events/s | worker CPU µs/event |",
        "|---|---|---|---|---|",
        f"| live (watching during the storm) | {cell(live, 'writer_rate', '{:.0f}')} | "
        f"{cell(live, 'delivered', '{:.3f}')} | {cell(live, 'events_s', '{:.0f}')} | "
        f"{cell(live, 'cpu_us', '{:.1f}')} |",
        f"| catch-up (backlog after a restart) | — | {cell(catch, 'delivered', '{:.3f}')} | "
        f"{cell(catch, 'events_s', '{:.0f}')} | {cell(catch, 'cpu_us', '{:.1f}')} |", "",
        "live: events/s is from the storm's start to the last event seen (bounded by the "
        "writers); CPU is the worker's run time (schedstat) over that span, with the small "
        "watch responses a live watch gets. catch-up: events/s from the first to the last "
        "event's timestamp, bounded by etcd's delivery of a backlog (at most 1000 revisions per "
        "pass of its 100 ms watcher sync loop, mvcc watchBatchMaxRevs: about 10k/s), not by "
        "the worker; CPU is the worker's total (setup included) per event, with large watch "
        "responses: 1 / that is the worker's ceiling on this machine.",
        ""]
    text = "\n".join(lines)
    print(text)
    if not a.no_results and not a.smoke:
        path = os.path.join(ROOT, "bench", "results", f"{datetime.date.today()}-etcd.md")
        with open(path, "w") as f:
            f.write(text)
        print(f"written to {path}")


if __name__ == "__main__":
    main()
