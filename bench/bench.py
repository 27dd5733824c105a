#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The tapio benchmarks (run by bench/run.sh, i.e. `make bench`): exec storm against execsnoop
# and bpftrace, the pipeline ceiling through the bench-only collector, redis-benchmark overhead
# with every kernel collector against an empty-probe floor, and footprint / recovery. Prints one
# table per workload and writes the same to bench/results/<date>.md. Standard library only.
import argparse
import datetime
import glob
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
BBIN = os.path.join(ROOT, "build", "bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
KERNEL_COLLECTORS = ["process", "network", "security", "dns"]

OUT = []  # the markdown report, built as the run goes


def say(s=""):
    print(s, flush=True)
    OUT.append(s)


def log(s):
    print("  .. " + s, file=sys.stderr, flush=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, nd=0, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return f"{v:,.{nd}f}{unit}"


def table(head, rows):
    say("| " + " | ".join(head) + " |")
    say("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        say("| " + " | ".join(str(c) for c in r) + " |")
    say()


# ---- /proc helpers ------------------------------------------------------------------------

def children_map():
    m = {}
    for d in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        m.setdefault(int(rest[1]), []).append(int(d.split("/")[2]))
    return m


def tree(pid):
    m = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(m.get(p, []))
    return out


def cpu_s(pid):
    """utime+stime of one process (all its threads), seconds; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def bpf_maps_of(pid):
    """{map_id: (name-less type, memlock bytes)} of the BPF maps pid holds open."""
    maps = {}
    for fd in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            with open(fd) as f:
                info = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if "map_id" in info and "memlock" in info:
            maps[int(info["map_id"])] = (info.get("map_type", "?"), int(info["memlock"]))
    return maps


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    os_name = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    load = open("/proc/loadavg").read().split()[:3]
    return [("kernel", platform.release()), ("cpus (nproc)", str(os.cpu_count())),
            ("cpu model", cpu), ("memory", f"{mem:.1f} GiB"), ("os", os_name),
            ("load average at start", " ".join(load))]


def tool_version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def pkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() or "?"


# ---- generators ---------------------------------------------------------------------------

class Gen:
    """A generator started with --wait: its pid is known before it runs."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        self.pid = int(line.split("=")[1])

    def go(self):
        self.t0 = time.monotonic()
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    def wait(self, timeout=None):
        out, _ = self.p.communicate(timeout=timeout)
        self.t1 = time.monotonic()
        return dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", out))


# ---- tools under test ---------------------------------------------------------------------

STATS_RE = re.compile(r"stats (\w+): state=\w+ pid=-?\d+ restarts=(\d+) events=(\d+) \(\d+/s\) "
                      r"drops: kernel=(\d+) worker_queue=(\d+) seq_gaps=(\d+) sink=(\d+) "
                      r"decode_errors=(\d+)")


class Tool:
    """One observability tool run: start, wait until attached, sample, stop."""

    def __init__(self, name, argv, stdout_path, tmp, ready=None, stop_sig=signal.SIGINT,
                 env=None):
        self.name, self.tmp = name, tmp
        self.err_path = os.path.join(tmp, f"{name}.err")
        self.stdout_path = stdout_path
        self.t_start = time.monotonic()
        out = open(stdout_path, "wb")
        self.p = subprocess.Popen(argv, stdout=out, stderr=open(self.err_path, "wb"),
                                  stdin=subprocess.DEVNULL, env=env)
        out.close()
        self.stop_sig = stop_sig
        self.ready_s = None
        (ready or self.wait_fds)()

    def wait_fds(self, timeout=20):
        """Peers: attached when their count of perf-event/bpf-link fds stops growing."""
        deadline, last, stable = time.monotonic() + timeout, -1, 0
        while time.monotonic() < deadline:
            n = 0
            for pid in tree(self.p.pid):
                for fd in glob.glob(f"/proc/{pid}/fd/*"):
                    try:
                        t = os.readlink(fd)
                    except OSError:
                        continue
                    if "perf_event" in t or "bpf_link" in t:
                        n += 1
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.err()}")
            stable = stable + 1 if n == last and n > 0 else 0
            last = n
            if stable >= 4:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.name} did not attach: {self.err()}")
        self.ready_s = time.monotonic() - self.t_start
        time.sleep(0.2)

    def err(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def procs(self):
        return tree(self.p.pid)

    def cpu(self):
        """{pid: cpu seconds} for the tool's process tree."""
        return {p: cpu_s(p) or 0.0 for p in self.procs()}

    def mem(self):
        return {p: (comm(p), status_kib(p, "VmRSS"), status_kib(p, "VmHWM")) for p in self.procs()}

    def stop(self, timeout=20):
        try:
            self.p.send_signal(self.stop_sig)
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        return self.err()


def tapio_config(tmp, collectors, extra="", stats_interval=0, fd_store=True):
    path = os.path.join(tmp, "tapio.yaml")
    body = ["log_level: info", f"collector_dir: {BIN}", "supervisor:",
            f"  stats_log_interval_s: {stats_interval}",
            f"  fd_store: {'true' if fd_store else 'false'}", "control:", "  enabled: false"]
    if extra:
        body.append(extra.rstrip("\n"))
    body.append("collectors:")
    for name in KERNEL_COLLECTORS + ["bench"]:
        if name in collectors:
            body.append(f"  {name}:\n    enabled: true")
            for k, v in collectors[name].items():
                body.append(f"    {k}: {v}")
        elif name == "process":
            body.append("  process:\n    enabled: false")
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")
    return path


class Tapio(Tool):
    def __init__(self, tmp, collectors, stdout_path="/dev/null", extra="", stats_interval=0):
        self.collectors = collectors
        cfg = tapio_config(tmp, collectors, extra, stats_interval)
        super().__init__("tapiod", [os.path.join(BIN, "tapiod"), "--config", cfg], stdout_path,
                         tmp, ready=self.wait_ready, stop_sig=signal.SIGTERM)

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        want = set(self.collectors)
        while time.monotonic() < deadline:
            log = self.err()
            got = set(re.findall(r"(\w+): READY \(pid", log))
            if want <= got:
                self.ready_s = time.monotonic() - self.t_start
                self.ready_log_s = self.log_ready_span(log)
                return
            if self.p.poll() is not None:
                raise RuntimeError(f"tapiod exited: {log}")
            time.sleep(0.01)
        raise RuntimeError(f"tapiod: not all READY within {timeout}s: {self.err()}")

    @staticmethod
    def log_ready_span(log):
        """Seconds from tapiod's first log line to its last READY line (log timestamps)."""
        ts = []
        for line in log.splitlines():
            m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
            if m:
                t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
                ts.append((t, "READY (pid" in line))
        if not ts:
            return None
        last = max((t for t, r in ts if r), default=None)
        return last - ts[0][0] if last else None

    def supervisor_and_workers(self):
        return self.p.pid, [p for p in self.procs() if p != self.p.pid]

    def final_stats(self):
        stats = {}
        for m in STATS_RE.finditer(self.err()):
            stats[m.group(1)] = dict(zip(
                ["restarts", "events", "kernel", "worker_queue", "seq_gaps", "sink", "decode"],
                map(int, m.groups()[1:])))
        return stats


def lost_from_peer(text):
    # libbpf-tools: "Lost N events on CPU #C!"; bpftrace: "Lost N events"
    return sum(int(n) for n in re.findall(r"[Ll]ost (\d+) events", text))


# ---- 1. exec storm ------------------------------------------------------------------------

BPFTRACE_EXEC = ('tracepoint:sched:sched_process_exec { printf("%d %d %s\\n", pid, '
                 'curtask->real_parent->tgid, str(args->filename)); }')


def start_tool(kind, tmp, out):
    if kind == "tapio":
        return Tapio(tmp, {"process": {}}, stdout_path=out)
    if kind == "execsnoop":
        return Tool("execsnoop", ["execsnoop"], out, tmp)
    if kind == "bpftrace":
        return Tool("bpftrace", ["bpftrace", "-e", BPFTRACE_EXEC], out, tmp)
    return None


def count_delivered(kind, path, gen_pid):
    """Events in a capture file that are execs whose parent is the generator."""
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            if kind == "tapio":
                if '"process.exec"' in line and f'"ppid":{gen_pid},' in line:
                    n += 1
            else:
                parts = line.split()
                if kind == "execsnoop" and len(parts) >= 3 and parts[2] == str(gen_pid):
                    n += 1
                if kind == "bpftrace" and len(parts) >= 2 and parts[1] == str(gen_pid):
                    n += 1
    return n


def count_lines(kind, path):
    """All events a tool emitted in a capture (the denominator of CPU per event)."""
    with open(path, errors="replace") as f:
        if kind == "tapio":
            return sum(1 for line in f if line.startswith("{"))
        if kind == "execsnoop":
            return sum(1 for line in f if not line.startswith("PCOMM"))
        return sum(1 for line in f if re.match(r"\d+ \d+ ", line))


def exec_storm(a, tmp):
    say("## 1. Exec storm")
    say()
    say(f"`build/bench/execstorm --count {a.execs} --parallel {a.parallel}` (fork + exec "
        f"/bin/true, {a.parallel} in flight), {a.reps} interleaved repetitions per tool, "
        "output to /dev/null; medians. Then one capture run per tool (output to a tmpfs file) "
        "to count what it delivered.")
    say()
    kinds = ["none", "tapio", "execsnoop", "bpftrace"]
    res = {k: [] for k in kinds}
    for rep in range(a.reps):
        for kind in kinds:
            log(f"exec storm rep {rep + 1}/{a.reps}: {kind}")
            res[kind].append(storm_run(a, tmp, kind, "/dev/null"))
    cap = {}
    for kind in kinds[1:]:
        path = os.path.join("/dev/shm", f"tapio-bench-{kind}.out")
        log(f"exec storm capture: {kind}")
        r = storm_run(a, tmp, kind, path)
        r["delivered"] = count_delivered(kind, path, r["gen_pid"])
        r["all_events"] = count_lines(kind, path)
        os.unlink(path)
        cap[kind] = r
    base = med([r["rate"] for r in res["none"]])
    rows = []
    summary = {"none_rate": base}
    for kind in kinds:
        rs = res[kind]
        rate = med([r["rate"] for r in rs])
        lo, hi = min(r["rate"] for r in rs), max(r["rate"] for r in rs)
        row = [kind, fmt(rate), f"{fmt(lo)}–{fmt(hi)}",
               fmt(100 * rate / base if base else None, 1, " %")]
        if kind == "none":
            rows.append(row + ["-"] * 6)
            continue
        c = cap[kind]
        ev_per_exec = c["all_events"] / c["execs"] if c["execs"] else None
        cpu = med([r["cpu"] for r in rs])
        cpu_per_kexec = 1000 * cpu / a.execs * 1000 if cpu is not None else None
        cpu_per_kev = cpu_per_kexec / ev_per_exec if ev_per_exec else None
        lost = med([r["lost"] for r in rs])
        summary[kind] = dict(rate=rate, cpu_kexec=cpu_per_kexec, cpu_kev=cpu_per_kev,
                             delivered=c["delivered"], execs=c["execs"], lost=lost,
                             rss=med([r["rss_kib"] for r in rs]))
        rows.append(row + [f"{c['delivered']}/{c['execs']}", fmt(lost),
                           fmt(ev_per_exec, 2), fmt(cpu_per_kexec, 1), fmt(cpu_per_kev, 1),
                           fmt(med([r["rss_kib"] for r in rs]) / 1024, 1, " MiB")])
    table(["tool", "execs/s", "range", "vs none", "generator's execs delivered (capture run)",
           "drops reported (median)", "events per exec", "CPU ms / 1000 execs",
           "CPU ms / 1000 events", "peak RSS (sum of processes)"], rows)
    say("CPU = utime+stime of the tool's whole process tree (tapiod + workers) from just before "
        "the storm to 1 s after it ended (drain included), start-up excluded. tapio emits three "
        "events per exec (process.fork, process.exec, process.exit) where execsnoop and the "
        "bpftrace one-liner emit one, so both normalisations are shown. Kernel-side BPF time "
        "runs in the exec'ing tasks and shows up as the execs/s slowdown, not in the tool's CPU.")
    say()
    return summary


def storm_run(a, tmp, kind, out):
    tool = start_tool(kind, tmp, out)
    gen = Gen([os.path.join(BBIN, "execstorm"), "--count", str(a.execs), "--parallel",
               str(a.parallel), "--wait"])
    c0 = tool.cpu() if tool else {}
    gen.go()
    r = gen.wait(timeout=600)
    time.sleep(1.0)
    res = dict(gen_pid=gen.pid, execs=r["execs"], rate=r["execs"] / (r["elapsed_ns"] / 1e9))
    if tool:
        c1 = tool.cpu()
        res["cpu"] = sum(c1.values()) - sum(c0.get(p, 0) for p in c1)
        res["rss_kib"] = sum((m[2] or 0) for m in tool.mem().values())
        err = tool.stop()
        if kind == "tapio":
            st = tool.final_stats().get("process", {})
            res["lost"] = sum(st.get(k, 0) for k in ("kernel", "worker_queue", "seq_gaps", "sink"))
        else:
            res["lost"] = lost_from_peer(err)
    return res


# ---- 2. pipeline ceiling ------------------------------------------------------------------

def file_sink_section(tmp):
    """A binary file sink, if this tapiod has `sinks.file`; else None."""
    out = subprocess.run([os.path.join(BIN, "tapiod"), "--print-default-config"],
                         capture_output=True, text=True).stdout
    m = re.search(r"^sinks:\n((?:  .*\n|\s*\n)*)", out, re.M)
    if not m or not re.search(r"^  file:", m.group(1), re.M):
        return None
    sect = re.search(r"^  file:\n((?:    .*\n)*)", m.group(1), re.M).group(1)
    keys = re.findall(r"^    (\w+):", sect, re.M)
    lines = ["sinks:", "  stdout:", "    enabled: false", "  file:", "    enabled: true"]
    if "format" in keys:
        lines.append("    format: binary")
    path = os.path.join(tmp, "sink.bin")
    for k in ("path", "file", "filename"):
        if k in keys:
            lines.append(f"    {k}: {path}")
            break
    return "\n".join(lines), path


def pipeline_run(a, tmp, rate, seconds, sink, perf=None):
    gen = Gen([os.path.join(BBIN, "getppid_gen"), "--rate", str(rate), "--seconds", str(seconds),
               "--wait"])
    extra = sink[0] if sink else ""
    t = Tapio(tmp, {"bench": {"pid": gen.pid}}, extra=extra, stats_interval=1)
    sup, workers = t.supervisor_and_workers()
    c0 = t.cpu()
    prof = None
    if perf:
        prof = subprocess.Popen(["perf", "record", "-g", "-o", perf, "-p",
                                 ",".join(map(str, [sup] + workers)), "--", "sleep",
                                 str(seconds + 1)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(0.3)
    gen.go()
    r = gen.wait(timeout=seconds * 10 + 60)
    # Drained: tapiod's per-second stats line shows every call (resolution: the 1 s stats
    # period), or the count has not moved for 2.5 s (loss), or 15 s passed.
    deadline = time.monotonic() + 15
    last, moved, lag = -1, time.monotonic(), None
    while time.monotonic() < deadline:
        evs = [int(x) for x in re.findall(r"stats bench: .*? events=(\d+)", t.err())]
        cur = evs[-1] if evs else 0
        if cur >= r["calls"]:
            lag = time.monotonic() - gen.t1
            break
        if cur != last:
            last, moved = cur, time.monotonic()
        elif time.monotonic() - moved > 2.5:
            break
        time.sleep(0.05)
    c1 = t.cpu()
    if prof:
        prof.wait()
    t.stop()
    st = t.final_stats().get("bench", {})
    lost = sum(st.get(k, 0) for k in ("kernel", "worker_queue", "seq_gaps", "sink"))
    el = r["elapsed_ns"] / 1e9
    cpu_sup = c1.get(sup, 0) - c0.get(sup, 0)
    cpu_w = sum(c1.get(p, 0) - c0.get(p, 0) for p in workers)
    ev = st.get("events", 0)
    return dict(target=rate, calls=r["calls"], rate=r["calls"] / el, events=ev,
                lost=max(r["calls"] - ev, 0),
                stats=st, lag=lag, cpu_sup=cpu_sup, cpu_worker=cpu_w,
                ns_sup=1e9 * cpu_sup / ev if ev else None,
                ns_worker=1e9 * cpu_w / ev if ev else None,
                zero_loss=(lost == 0 and ev == r["calls"]))  # lost: the sum of the counters


def pipeline(a, tmp):
    say("## 2. Pipeline ceiling (bench collector)")
    say()
    fs = file_sink_section(tmp)
    sinks = [("JSON lines to /dev/null", None)]
    if fs:
        sinks.insert(0, ("binary file sink", fs))
    else:
        say("`tapiod --print-default-config` has no `sinks.file` section in this build: only the "
            "JSON sink was measured.")
        say()
    say(f"getppid_gen at a fixed rate for {a.pipe_secs} s per step; a step passes when tapiod's "
        "final counters show zero loss (kernel, worker_queue, seq_gaps, sink) and every call "
        "arrived, and the backlog cleared: tapiod's per-second stats line showed every event less "
        "than 1.5 s after the generator stopped (lag; resolution is that 1 s stats period). The "
        "16 MiB ring buffer (the default) holds ~0.5 M records, so loss alone would hide a "
        "consumer slower than the rate for a few seconds.")
    say()
    results = {}
    for label, sink in sinks:
        rows, best, first_bad = [], None, None
        for rate in a.rates:
            ok = None
            for attempt in range(2):  # a loss is confirmed once before the ladder stops
                log(f"pipeline {label}: {rate}/s (attempt {attempt + 1})")
                r = pipeline_run(a, tmp, rate, a.pipe_secs, sink)
                rows.append([fmt(rate), fmt(r["rate"]), fmt(r["events"]), fmt(r["lost"]),
                             f"k={r['stats'].get('kernel')} q={r['stats'].get('worker_queue')} "
                             f"gap={r['stats'].get('seq_gaps')} sink={r['stats'].get('sink')}",
                             fmt(r["lag"], 2, " s"), fmt(r["ns_worker"], 0),
                             fmt(r["ns_sup"], 0), "yes" if r["zero_loss"] else "no"])
                ok = r["zero_loss"] and (r["lag"] is not None and r["lag"] < 1.5)
                if ok:
                    best = r
                    break
            if not ok:
                first_bad = rate
                break
        log(f"pipeline {label}: flat out")
        flat = [pipeline_run(a, tmp, 0, a.pipe_secs, sink) for _ in range(a.flat_reps)]
        for r in flat:
            rows.append(["flat out", fmt(r["rate"]), fmt(r["events"]), fmt(r["lost"]),
                         f"k={r['stats'].get('kernel')} q={r['stats'].get('worker_queue')} "
                         f"gap={r['stats'].get('seq_gaps')} sink={r['stats'].get('sink')}",
                         fmt(r["lag"], 2, " s"), fmt(r["ns_worker"], 0), fmt(r["ns_sup"], 0),
                         "yes" if r["zero_loss"] else "no"])
        say(f"### {label}")
        say()
        table(["target calls/s", "achieved calls/s", "events out", "lost (calls − events)",
               "drop counters", "lag",
               "worker ns CPU/event", "tapiod ns CPU/event", "zero loss"], rows)
        delivered_flat = med([r["events"] / a.pipe_secs for r in flat])
        say(f"Highest zero-loss rate: **{fmt(best['target'] if best else None)} events/s**"
            + (f" (first loss at {first_bad:,}/s)" if first_bad else " (no loss on the ladder)")
            + f"; flat out the generator made {fmt(med([r['rate'] for r in flat]))} calls/s and "
            f"{fmt(delivered_flat)} events/s came out (median of {a.flat_reps}).")
        say()
        results[label] = dict(best=best, first_bad=first_bad, flat=flat)
    return results


# ---- 3. redis overhead --------------------------------------------------------------------

FLOOR_TRACEPOINTS = {
    "process": ["tracepoint:sched:sched_process_exec", "tracepoint:sched:sched_process_exit",
                "tracepoint:sched:sched_process_fork"],
    "network": ["tracepoint:sock:inet_sock_set_state", "tracepoint:tcp:tcp_retransmit_skb",
                "tracepoint:tcp:tcp_send_reset", "tracepoint:tcp:tcp_receive_reset"],
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def floor_probes(collectors, tapio):
    """Empty-action bpftrace probes on the tracepoints the running collectors attach: the
    tp_btf/raw_tp hooks from the table above, and every perf-event tracepoint tapio's workers
    hold as the kernel lists them (`bpftool perf`: the security collector's syscall
    tracepoints, for one, which put every task on the kernel's syscall-tracing slow path)."""
    tps = []
    for c in collectors:
        tps += FLOOR_TRACEPOINTS.get(c, [])
    pids = set(tapio.procs())
    r = subprocess.run(["bpftool", "-j", "perf"], capture_output=True, text=True)
    try:
        attached = json.loads(r.stdout or "[]")
    except ValueError:
        attached = []
    for e in attached:
        name = e.get("tracepoint")
        if e.get("pid") in pids and name:
            for d in glob.glob(f"/sys/kernel/tracing/events/*/{name}"):
                tps.append(f"tracepoint:{d.split('/')[-2]}:{name}")
    seen, out = set(), []
    for t in tps:
        if t not in seen and os.path.exists("/sys/kernel/tracing/events/" +
                                            "/".join(t.split(":")[1:])):
            seen.add(t)
            out.append(t)
    return out


def redis_bench(a, tmp, port):
    r = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q", "--csv",
                        "-n", str(a.redis_n), "-t", "get,set", "-P", "16", "-c", "50"],
                       capture_output=True, text=True, timeout=600)
    rps = {}
    for line in r.stdout.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if len(f) >= 2 and f[0] in ("SET", "GET"):
            rps[f[0]] = float(f[1])
    return rps


def redis_overhead(a, tmp):
    say("## 3. Workload overhead: redis-benchmark")
    say()
    present = [c for c in KERNEL_COLLECTORS
               if os.access(os.path.join(BIN, f"tapio-collector-{c}"), os.X_OK)]
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                            "", "--appendonly", "no", "--daemonize", "no"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        # Probe tapio once for its hooks, to build the matching floor.
        t = Tapio(tmp, {c: {} for c in present})
        floor = floor_probes(present, t)
        t.stop()
        kinds = ["none", "tapio", "floor", "execsnoop"]
        if "security" in present:
            kinds.insert(2, "tapio without security")
        res = {k: [] for k in kinds}
        startup = []
        for rep in range(a.reps):
            for kind in kinds:
                log(f"redis rep {rep + 1}/{a.reps}: {kind}")
                tool = None
                if kind == "tapio":
                    tool = Tapio(tmp, {c: {} for c in present})
                    startup.append((tool.ready_s, tool.ready_log_s))
                elif kind == "tapio without security":
                    tool = Tapio(tmp, {c: {} for c in present if c != "security"})
                elif kind == "floor":
                    tool = Tool("bpftrace-floor", ["bpftrace", "-e", ",".join(floor) + " {}"],
                                "/dev/null", tmp)
                elif kind == "execsnoop":
                    tool = start_tool("execsnoop", tmp, "/dev/null")
                rps = redis_bench(a, tmp, port)
                if tool:
                    tool.stop()
                res[kind].append(rps)
    finally:
        srv.terminate()
        srv.wait()
    say(f"redis-server {pkg_version('redis-server')} on 127.0.0.1 (no persistence); "
        f"`redis-benchmark -n {a.redis_n} -t get,set -P 16 -c 50`, {a.reps} interleaved "
        f"repetitions, medians. tapio: collectors {', '.join(present)} (every kernel collector "
        f"whose binary exists), JSON to /dev/null. Floor: bpftrace with empty actions on the "
        f"same {len(floor)} tracepoints ({', '.join(sorted(set(t.split(':')[1] for t in floor)))}"
        "; the list from the kernel's own record of tapio's attachments). execsnoop: the peer, "
        "whose sys_enter/exit_execve tracepoints also put every syscall on the kernel's "
        "syscall-tracing slow path.")
    say()
    rows, ratios = [], {}
    for kind in kinds:
        row = [kind]
        for op in ("SET", "GET"):
            v = med([r.get(op) for r in res[kind]])
            b = med([r.get(op) for r in res["none"]])
            row += [fmt(v), fmt(100 * v / b if v and b else None, 1, " %")]
            ratios[(kind, op)] = v / b if v and b else None
        rows.append(row)
    table(["agent", "SET req/s", "SET vs none", "GET req/s", "GET vs none"], rows)
    if "dns" in present:
        say("The dns collector's cgroup_skb program runs on every packet; bpftrace cannot attach "
            "cgroup_skb, so the floor does not include it.")
        say()
    return dict(ratios=ratios, present=present, startup=startup, floor=floor)


# ---- 4. footprint and recovery ------------------------------------------------------------

def footprint(a, tmp, present):
    say("## 4. Footprint and recovery")
    say()
    t = Tapio(tmp, {c: {} for c in present})
    log("footprint: steady state")
    # Steady state: some activity, then idle.
    subprocess.run([os.path.join(BBIN, "execstorm"), "--count", "500"], stdout=subprocess.DEVNULL)
    time.sleep(3)
    sup, workers = t.supervisor_and_workers()
    rows = []
    names = {}
    for m in re.finditer(r"(\w+): READY \(pid (\d+)\)", t.err()):
        names[int(m.group(2))] = m.group(1)
    mem = t.mem()
    fp = {}
    for p in [sup] + workers:
        n = "tapiod (supervisor)" if p == sup else f"{names.get(p, comm(p))} worker"
        maps = bpf_maps_of(p)
        memlock = sum(v[1] for v in maps.values())
        rss = mem.get(p, (None, None, None))[1]
        hwm = mem.get(p, (None, None, None))[2]
        fp[n] = dict(rss=rss, hwm=hwm, maps=len(maps), memlock=memlock)
        rows.append([n, fmt(rss / 1024 if rss else None, 1, " MiB"),
                     fmt(hwm / 1024 if hwm else None, 1, " MiB"), str(len(maps)),
                     fmt(memlock / 1024 / 1024, 2, " MiB")])
    t.stop()
    table(["process", "RSS steady", "RSS peak (VmHWM)", "BPF maps", "BPF map memlock"], rows)
    say("BPF map memory: the `memlock` of each map fd the worker holds (/proc/PID/fdinfo), "
        "deduplicated by map id; the ring buffer dominates (its size is configurable).")
    say()
    return fp


def log_time(line):
    """Seconds (of the day) of a tapiod log line's ISO timestamp, or None."""
    m = re.match(r"\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d\.\d+)Z", line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def restart_span(err):
    """From tapiod's log: the death of the process worker → its successor's READY, seconds."""
    dead = None
    for line in err.splitlines():
        if dead is None and re.search(r"process: killed by signal 9", line):
            dead = log_time(line)
        elif dead is not None and re.search(r"process: READY \(pid", line):
            t = log_time(line)
            return t - dead if t is not None else None
    return None


def recovery(a, tmp, fd_store=True):
    log(f"recovery: {a.kills} kills, fd store {'on' if fd_store else 'off'}")
    marker = os.path.join(tmp, "tapio-bench-marker")
    shutil.copy("/bin/true", marker)
    times, restarts, spans = [], [], []
    for i in range(a.kills):
        # tapiod's stdout as a pipe we read, to see the first marker exec after the restart
        cfg = tapio_config(tmp, {"process": {}}, fd_store=fd_store)
        p = subprocess.Popen([os.path.join(BIN, "tapiod"), "--config", cfg],
                             stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "rec.err"), "w"))
        os.set_blocking(p.stdout.fileno(), False)
        worker = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and worker is None:
            m = re.search(r"process: READY \(pid (\d+)\)", open(os.path.join(tmp, "rec.err")).read())
            if m:
                worker = int(m.group(1))
            drain_pipe(p)
            time.sleep(0.01)
        if worker is None:
            p.kill()
            p.wait()
            continue
        time.sleep(0.3)
        drain_pipe(p)
        t0 = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        loop = subprocess.Popen([os.path.join(BBIN, "execstorm"), "--exe", marker, "--count",
                                 "100000", "--parallel", "1", "--interval-us", "2000"],
                                stdout=subprocess.DEVNULL)
        got, buf = None, b""
        while time.monotonic() - t0 < 15:
            rl, _, _ = select.select([p.stdout], [], [], 0.05)
            if rl:
                chunk = drain_pipe(p)
                buf = (buf + chunk)[-1 << 16:]
                if marker.encode() in buf and b'"process.exec"' in buf:
                    got = time.monotonic() - t0
                    break
        loop.kill()
        loop.wait()
        err = open(os.path.join(tmp, "rec.err")).read()
        m = re.search(r"process: .*?restarting in (\d+) ms", err)
        restarts.append(int(m.group(1)) if m else None)
        spans.append(restart_span(err))
        p.send_signal(signal.SIGTERM)
        try:
            p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        times.append(got)
    return times, restarts, spans


def drain_pipe(p):
    out = b""
    while True:
        try:
            d = os.read(p.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            break
        if not d:
            break
        out += d
    return out


# ---- profiles -----------------------------------------------------------------------------

def perf_top(path, n=12):
    r = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children", "--sort",
                        "comm,dso,symbol", "--percent-limit", "1.5"],
                       capture_output=True, text=True)
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s+(\d+\.\d+)%\s+(\S+)\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$", line)
        if m:
            sym = re.sub(r"(\s+-)+$", "", m.group(5))
            rows.append([m.group(1) + " %", m.group(2), m.group(3), sym])
        if len(rows) >= n:
            break
    return rows


def profiles(a, tmp):
    if not shutil.which("perf"):
        say("perf is not installed: no profiles.")
        return
    say("## Profiles")
    say()
    # exec storm
    path = os.path.join(tmp, "storm.perf")
    t = Tapio(tmp, {"process": {}})
    pids = [t.p.pid] + t.supervisor_and_workers()[1]
    gen = Gen([os.path.join(BBIN, "execstorm"), "--count", str(a.execs), "--wait"])
    prof = subprocess.Popen(["perf", "record", "-g", "-o", path, "-p", ",".join(map(str, pids))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    gen.go()
    gen.wait()
    time.sleep(0.5)
    prof.send_signal(signal.SIGINT)
    prof.wait()
    t.stop()
    say("### tapiod + process worker during the exec storm (perf record -g, self time)")
    say()
    table(["self", "process", "object", "symbol"], perf_top(path))
    # pipeline
    path = os.path.join(tmp, "pipe.perf")
    pipeline_run(a, tmp, 0, min(a.pipe_secs, 3), None, perf=path)
    say("### tapiod + bench worker, pipeline flat out, JSON to /dev/null")
    say()
    table(["self", "process", "object", "symbol"], perf_top(path))


# ---- 5. NATS JetStream sink ---------------------------------------------------------------

NATS_PORT, NATS_HTTP = 14299, 19499


class NatsServer:
    """A single-node nats-server -js on loopback, its store in tmp."""

    def __init__(self, tmp, port=NATS_PORT):
        self.dir = tempfile.mkdtemp(prefix="nats-", dir=tmp)
        self.port, self.p = port, None

    def start(self):
        self.p = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                   "-sd", self.dir], stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(self.dir, "server.log"), "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not come up")

    def stop(self):
        if self.p:
            self.p.terminate()
            self.p.wait()
            self.p = None


def scrape(port=NATS_HTTP):
    """{metric{labels}: value} from tapiod's /metrics; {} when it does not answer."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        s.close()
    except OSError:
        return {}
    out = {}
    for line in buf.decode(errors="replace").split("\r\n\r\n", 1)[-1].splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def nats_sink_yaml(tmp, spool, window=None):
    w = f"    window: {window}\n" if window else ""
    return ("sinks:\n  stdout:\n    enabled: false\n  nats:\n    enabled: true\n"
            f"    servers: [nats://127.0.0.1:{NATS_PORT}]\n    format: binary\n"
            f"    stream: TAPIOBENCH\n    reconnect_wait_ms: 100\n{w}"
            f"    spool:\n      dir: {spool}\n      fsync: segment\n"
            f"http:\n  enabled: true\n  port: {NATS_HTTP}\n")


def nats_wait(pred, timeout, step=0.05):
    """Poll /metrics until pred(metrics) holds: (metrics, seconds) or (last metrics, None)."""
    t0 = time.monotonic()
    m = {}
    while time.monotonic() - t0 < timeout:
        m = scrape()
        if m and pred(m):
            return m, time.monotonic() - t0
        time.sleep(step)
    return m, None


K_ACK = 'tapio_sink_acknowledged_events_total{sink="nats"}'
K_TOOK = 'tapio_sink_events_total{sink="nats"}'
K_SPOOL = 'tapio_sink_spool_bytes{sink="nats"}'
K_DROP = 'tapio_sink_dropped_events_total{sink="nats"}'


def nats_run(a, tmp, outage):
    """One run: the bench collector at a_nats_rate for a.nats_secs into the NATS sink. With
    outage, the server is down while the load runs (everything goes to the spool) and starts
    after it: the spool's write rate, then its replay rate. Without, the ack'd rate."""
    srv = NatsServer(tmp)
    spool = tempfile.mkdtemp(prefix="spool-", dir=tmp)
    if not outage:
        srv.start()
    gen = Gen([os.path.join(BBIN, "getppid_gen"), "--rate", str(a.nats_rate), "--seconds",
               str(a.nats_secs), "--wait"])
    t = Tapio(tmp, {"bench": {"pid": gen.pid}}, extra=nats_sink_yaml(tmp, spool),
              stats_interval=1)
    sup = t.p.pid
    if not outage:  # connected and the stream exists before the clock starts
        nats_wait(lambda m: m.get('tapio_sink_up{sink="nats"}') == 1, 10)
    c0 = cpu_s(sup)
    s0 = cpu_s(srv.p.pid) if srv.p else 0.0
    rss_peak = 0
    gen.go()
    samples = []  # (t, acked)
    while gen.p.poll() is None:
        m = scrape()
        samples.append((time.monotonic() - gen.t0, m.get(K_ACK, 0), m.get(K_TOOK, 0)))
        rss_peak = max(rss_peak, status_kib(sup, "VmRSS") or 0)
        time.sleep(0.1)
    r = gen.wait()
    r_el = r["elapsed_ns"] / 1e9
    res = dict(calls=r["calls"], gen_rate=r["calls"] / r_el)
    # tapiod took every call (the pipeline's counters settle within its 1 s stats period)
    m, _ = nats_wait(lambda m: m.get(K_TOOK, 0) >= r["calls"], 15)
    took = m.get(K_TOOK, 0)
    res["took"] = took
    if outage:
        # write: what the spool took while the server was down, over the generator's time
        res["spool_bytes"] = m.get(K_SPOOL, 0)
        res["write_rate"] = took / r_el
        res["write_mbs"] = res["spool_bytes"] / r_el / 1e6
        srv.start()
        s0 = cpu_s(srv.p.pid)
        m, dt = nats_wait(lambda m: m.get(K_ACK, 0) >= took and m.get(K_SPOOL, 1) == 0, 300)
        # replay: from the server's start (reconnect included) to the last ack
        res["replay_s"] = dt
        res["replay_rate"] = took / dt if dt else None
        res["acked"] = m.get(K_ACK, 0)
    else:
        m, dt = nats_wait(lambda m: m.get(K_ACK, 0) >= took, 300)
        total = time.monotonic() - gen.t0
        res["acked"] = m.get(K_ACK, 0)
        res["ack_s"] = total if dt is not None else None
        res["ack_rate"] = took / total if dt is not None else None
        # steady: the ack rate between 20 % and 90 % of the load's time
        lo = [s for s in samples if s[0] >= 0.2 * a.nats_secs]
        hi = [s for s in samples if s[0] <= 0.9 * a.nats_secs]
        if lo and hi and hi[-1][0] > lo[0][0]:
            res["steady_rate"] = (hi[-1][1] - lo[0][1]) / (hi[-1][0] - lo[0][0])
    res["cpu_sup"] = (cpu_s(sup) or 0) - (c0 or 0)
    res["cpu_srv"] = (cpu_s(srv.p.pid) or 0) - (s0 or 0)
    res["dropped"] = m.get(K_DROP, 0)
    for _ in range(20):
        rss_peak = max(rss_peak, status_kib(sup, "VmRSS") or 0)
    res["hwm"] = status_kib(sup, "VmHWM")
    res["rss_peak"] = rss_peak
    t.stop()
    srv.stop()
    st = t.final_stats().get("bench", {})
    res["pipeline_lost"] = sum(st.get(k, 0) for k in ("kernel", "worker_queue", "seq_gaps",
                                                       "sink"))
    shutil.rmtree(srv.dir, ignore_errors=True)
    shutil.rmtree(spool, ignore_errors=True)
    return res


def nats_bench(a, tmp):
    say("## 5. NATS JetStream sink (bench collector, binary format, single-node JetStream)")
    say()
    if not shutil.which("nats-server"):
        say("nats-server is not installed: not measured.")
        say()
        return None
    say(f"nats-server {pkg_version('nats-server')} (`-js`, file storage) and tapiod on the same "
        f"two CPUs; getppid_gen at {a.nats_rate:,} calls/s for {a.nats_secs} s into the bench "
        "collector, the NATS sink in the binary format, a stream created by tapiod, "
        "`spool.fsync: segment`, the default window. **Ack'd**: events tapiod took / time from "
        "the generator's start to the last JetStream ack (read from `/metrics` every 50 ms); "
        "the sink is slower than the input, so the spool absorbs the difference and this is the "
        "sink's ceiling. **Steady**: the ack rate between 20 % and 90 % of the load. "
        "**Spool write**: the server is down while the load runs, so every event goes only to "
        "the spool; **replay**: the server starts after the load, time from its start to the "
        "last ack of the backlog (reconnect included). Medians of "
        f"{a.nats_reps}.")
    say()
    runs = []
    for i in range(a.nats_reps):
        log(f"nats: ack'd throughput {i + 1}/{a.nats_reps}")
        runs.append(nats_run(a, tmp, outage=False))
    outs = []
    for i in range(a.nats_reps):
        log(f"nats: spool write/replay {i + 1}/{a.nats_reps}")
        outs.append(nats_run(a, tmp, outage=True))
    rows = []
    for r in runs:
        rows.append(["ack'd", fmt(r["took"]), fmt(r["acked"]), fmt(r.get("ack_s"), 2, " s"),
                     fmt(r.get("ack_rate")), fmt(r.get("steady_rate")),
                     fmt(1e9 * r["cpu_sup"] / r["took"] if r["took"] else None),
                     fmt(1e9 * r["cpu_srv"] / r["took"] if r["took"] else None),
                     fmt(r["rss_peak"] / 1024, 1, " MiB"), fmt(r["dropped"] + r["pipeline_lost"])])
    table(["run", "events taken", "acked", "until last ack", "ack'd events/s", "steady acks/s",
           "tapiod ns CPU/event", "nats-server ns CPU/event", "tapiod peak RSS", "lost"], rows)
    rows = []
    for r in outs:
        rows.append([fmt(r["took"]), fmt(r["write_rate"]), fmt(r["write_mbs"], 1, " MB/s"),
                     fmt(r["acked"]), fmt(r.get("replay_s"), 2, " s"), fmt(r.get("replay_rate")),
                     fmt(1e9 * r["cpu_sup"] / r["took"] if r["took"] else None),
                     fmt(1e9 * r["cpu_srv"] / r["took"] if r["took"] else None),
                     fmt(r["rss_peak"] / 1024, 1, " MiB"), fmt(r["dropped"] + r["pipeline_lost"])])
    table(["events spooled", "spool write events/s", "spool write", "acked after",
           "replay time", "replay events/s", "tapiod ns CPU/event (load + replay)",
           "nats-server ns CPU/event (replay)", "tapiod peak RSS", "lost"], rows)
    # the spool alone: append, then read back and acknowledge (bench/spool_bench.c)
    sb = []
    for i in range(a.nats_reps):
        d = tempfile.mkdtemp(prefix="spoolbench-", dir="/var/tmp")
        try:
            out = subprocess.run([os.path.join(BBIN, "spool_bench"), d, str(a.spool_n),
                                  "segment"], capture_output=True, text=True, check=True).stdout
        finally:
            shutil.rmtree(d, ignore_errors=True)
        v = dict((k, int(x)) for k, x in re.findall(r"(\w+)=(\d+)", out))
        sb.append(v)
    rows = [[fmt(v["records"]), fmt(v["records"] / v["append_ns"] * 1e9),
             fmt(v["bytes"] / v["append_ns"] * 1e3, 0, " MB/s"),
             fmt(v["records"] / v["replay_ns"] * 1e9),
             fmt(v["bytes"] / v["replay_ns"] * 1e3, 0, " MB/s")] for v in sb]
    say(f"The spool alone (`bench/spool_bench`, /var/tmp, `fsync: segment`): {a.spool_n:,} "
        "records of a bench event's size (110-byte payload, subject, id: 179 bytes with the "
        "header) appended with a flush every 256 (the sink flushes once per loop wakeup), then "
        "read back in order, decoded and acknowledged (segments deleted).")
    say()
    table(["records", "append records/s", "append", "replay records/s", "replay"], rows)
    res = dict(ack=med([r.get("ack_rate") for r in runs]),
               steady=med([r.get("steady_rate") for r in runs]),
               write=med([r["write_rate"] for r in outs]),
               replay=med([r.get("replay_rate") for r in outs]),
               rss=med([r["rss_peak"] for r in runs + outs]),
               srv_ns=med([1e9 * r["cpu_srv"] / r["took"] for r in outs if r["took"]]),
               sup_ns=med([1e9 * r["cpu_sup"] / r["took"] for r in runs if r["took"]]),
               spool_append=med([v["records"] / v["append_ns"] * 1e9 for v in sb]),
               spool_replay=med([v["records"] / v["replay_ns"] * 1e9 for v in sb]))
    say(f"Medians: **{fmt(res['ack'])} ack'd events/s** (steady {fmt(res['steady'])}/s); spool "
        f"write {fmt(res['write'])} events/s (capped by the input rate), replay "
        f"{fmt(res['replay'])} events/s; tapiod peak RSS {fmt(res['rss'] / 1024, 1, ' MiB')}; "
        f"the spool alone appends {fmt(res['spool_append'])} and replays "
        f"{fmt(res['spool_replay'])} records/s. CPU per event: tapiod {fmt(res['sup_ns'])} ns, "
        f"nats-server {fmt(res['srv_ns'])} ns (replay): on two CPUs shared with the generator "
        "and the worker during the load, their sum bounds the ack'd rate.")
    say()
    return res


# ---- main ---------------------------------------------------------------------------------

PEERS_AND_US = ("tapiod", "execsnoop", "bpftrace", "redis-server", "getppid_gen", "execstorm",
                "nats-server")


def stray_tools():
    """Tools of ours or the peers' left running: their hooks would be in every measurement."""
    out = []
    for d in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(d) as f:
                name = f.read().strip()
            with open(d[:-4] + "stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            continue
        if name in PEERS_AND_US and not zombie:
            out.append(f"{name} (pid {d.split('/')[2]})")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny counts, one repetition")
    ap.add_argument("--only", default="storm,pipeline,redis,footprint,nats,profile")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    a = ap.parse_args()
    if a.smoke:
        a.reps, a.execs, a.parallel, a.pipe_secs = 1, 300, 2, 1
        a.rates, a.flat_reps, a.redis_n, a.kills = [50000], 1, 20000, 2
        a.nats_rate, a.nats_secs, a.nats_reps, a.spool_n = 50000, 1, 1, 10000
    else:
        a.reps, a.execs, a.parallel, a.pipe_secs = 7, 4000, 2, 4
        a.rates = [50000, 100000, 150000, 200000, 250000, 300000, 400000, 500000, 700000, 1000000]
        a.flat_reps, a.redis_n, a.kills = 3, 2000000, 20
        a.nats_rate, a.nats_secs, a.nats_reps, a.spool_n = 500000, 4, 3, 2000000
    only = set(a.only.split(","))
    stray = stray_tools()
    if stray:
        sys.exit("bench: already running, and in every figure if left: " + ", ".join(stray) +
                 "; stop them first")
    tmp = tempfile.mkdtemp(prefix="tapio-bench-")
    started = time.monotonic()
    date = datetime.datetime.now().strftime("%Y-%m-%d")
    say(f"# tapio benchmarks, {date}{' (smoke run: figures are not meaningful)' if a.smoke else ''}")
    say()
    table(["machine", ""], machine() + [
        ("tapio", subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                 capture_output=True, text=True).stdout.strip()),
        ("libbpf-tools (execsnoop)", pkg_version("libbpf-tools")),
        ("bpftrace", pkg_version("bpftrace")), ("redis", pkg_version("redis-server"))])
    targets = []
    try:
        if "storm" in only:
            s = exec_storm(a, tmp)
            t, e = s.get("tapio"), s.get("execsnoop")
            if t and e:
                targets.append(("exec storm: zero loss", "0 lost",
                                f"{t['delivered']}/{t['execs']} delivered, {fmt(t['lost'])} drops",
                                t["delivered"] == t["execs"] and not t["lost"]))
                base = s.get("none_rate")
                tr = 100 * t["rate"] / base if base else None
                er = 100 * e["rate"] / base if base else None
                targets.append(("exec storm: exec rate with the tool ≥ with execsnoop",
                                f"≥ {fmt(er, 1, ' %')} of none", f"{fmt(tr, 1, ' %')} of none",
                                tr is not None and er is not None and tr >= er))
                targets.append(("exec storm: CPU per 1000 events ≤ execsnoop",
                                f"≤ {fmt(e['cpu_kev'], 1)} ms",
                                f"{fmt(t['cpu_kev'], 1)} ms ({fmt(t['cpu_kexec'], 1)} ms per "
                                f"1000 execs vs {fmt(e['cpu_kexec'], 1)})",
                                t["cpu_kev"] is not None and t["cpu_kev"] <= e["cpu_kev"]))
        if "pipeline" in only:
            p = pipeline(a, tmp)
            for label, goal in (("binary file sink", 500000), ("JSON lines to /dev/null", 200000)):
                if label not in p:
                    targets.append((f"pipeline {label} ≥ {goal:,}/s", f"{goal:,}",
                                    "not measured (no file sink in this build)", None))
                    continue
                best = p[label]["best"]
                v = best["target"] if best else 0
                targets.append((f"pipeline, {label}, zero loss", f"≥ {goal:,}/s", f"{v:,}/s",
                                v >= goal))
        present = [c for c in KERNEL_COLLECTORS
                   if os.access(os.path.join(BIN, f"tapio-collector-{c}"), os.X_OK)]
        startup = []
        if "redis" in only:
            r = redis_overhead(a, tmp)
            startup = r["startup"]
            for op in ("SET", "GET"):
                v = r["ratios"].get(("tapio", op))
                targets.append((f"redis {op} with tapio", "≥ 95 %", fmt(v * 100 if v else None,
                                                                           1, " %"),
                                v is not None and v >= 0.95))
        if "footprint" in only:
            fp = footprint(a, tmp, present)
            times, restarts, spans = recovery(a, tmp)
            ok_times = [x for x in times if x is not None]
            rows = [["kill -9 process worker → first process.exec of a marker",
                     f"{fmt(med(ok_times) * 1000 if ok_times else None, 0, ' ms')}",
                     f"{fmt(min(ok_times) * 1000 if ok_times else None, 0)}–"
                     f"{fmt(max(ok_times) * 1000 if ok_times else None, 0)} ms",
                     f"{len(ok_times)}/{len(times)}"]]
            # the same without the fd store: the new worker loads, verifies and attaches
            times_ns, _, spans_ns = recovery(a, tmp, fd_store=False)
            for label, xs in (("kill -9 → first process.exec, fd store off", times_ns),
                              ("worker death → successor READY (log), fd store on", spans),
                              ("worker death → successor READY (log), fd store off",
                               spans_ns)):
                ok = [x for x in xs if x is not None]
                rows.append([label, fmt(med(ok) * 1000 if ok else None, 0, " ms"),
                             f"{fmt(min(ok) * 1000 if ok else None, 0)}–"
                             f"{fmt(max(ok) * 1000 if ok else None, 0)} ms",
                             f"{len(ok)}/{len(xs)}"])
            if startup:
                rows.append(["start-up to all READY (spawn → last READY line)",
                             fmt(med([s[0] for s in startup]) * 1000, 0, " ms"),
                             f"{fmt(min(s[0] for s in startup) * 1000, 0)}–"
                             f"{fmt(max(s[0] for s in startup) * 1000, 0)} ms",
                             f"{len(startup)} ({', '.join(present)})"])
            table(["measure", "median", "range", "runs"], rows)
            rs = [x for x in restarts if x is not None]
            say(f"Each kill is on a fresh tapiod (the backoff doubles per death within "
                f"`healthy_after_s`, so later kills of one tapiod measure the backoff, not the "
                f"restart). A marker copy of /bin/true runs every 2 ms after the kill; the time "
                f"is kill() → its first process.exec line read from tapiod's stdout."
                + (f" Restart delay chosen by the policy: median {med(rs)} ms." if rs else ""))
            say()
            sup = fp.get("tapiod (supervisor)", {})
            targets.append(("supervisor RSS", "≤ 8 MiB",
                            fmt((sup.get('rss') or 0) / 1024, 1, " MiB"),
                            sup.get("rss") is not None and sup["rss"] <= 8 * 1024))
            for n, v in fp.items():
                if n.endswith("worker"):
                    targets.append((f"{n} RSS", "≤ 16 MiB", fmt((v.get('rss') or 0) / 1024, 1,
                                                               " MiB"),
                                    v.get("rss") is not None and v["rss"] <= 16 * 1024))
            if ok_times:
                targets.append(("kill -9 → first event (median)", "≤ 300 ms",
                                fmt(med(ok_times) * 1000, 0, " ms"), med(ok_times) <= 0.3))
            if startup:
                targets.append(("start-up to all READY (median)", "≤ 2 s",
                                fmt(med([s[0] for s in startup]) * 1000, 0, " ms"),
                                med([s[0] for s in startup]) <= 2))
        if "nats" in only:
            nr = nats_bench(a, tmp)
            if nr:
                targets.append(("NATS JetStream, binary, ack'd events/s", "≥ 200,000/s",
                                f"{fmt(nr['ack'])}/s", nr["ack"] is not None and
                                nr["ack"] >= 200000))
        if "profile" in only and not a.smoke:
            profiles(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say("## Targets")
    say()
    table(["target", "goal", "measured", "met"],
          [[n, g, m, "n/a" if ok is None else ("yes" if ok else "**no**")]
           for n, g, m, ok in targets])
    say(f"Total bench time: {time.monotonic() - started:.0f} s.")
    os.makedirs(a.results, exist_ok=True)
    name = f"{date}{'-nats' if only == {'nats'} else ''}{'-smoke' if a.smoke else ''}.md"
    with open(os.path.join(a.results, name), "w") as f:
        f.write("\n".join(OUT) + "\n")
    print(f"written: bench/results/{name}")


if __name__ == "__main__":
    main()
