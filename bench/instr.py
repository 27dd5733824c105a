#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Instructions per event through the pipeline, counted by callgrind: the bench collector's
# worker and tapiod, one or more built trees side by side. Wall-clock figures of the pipeline
# swing by 15-20 % between runs on a shared machine; instruction counts repeat to within 0.1 %
# whatever else the machine does, so two trees can be compared on a loaded machine.
#
#   bench/instr.py                         # this tree, both sinks
#   bench/instr.py --tree /path/to/old --tree .   # old against new, same run
#
# Method: getppid_gen at a fixed rate for a short and a long run; tapiod runs under
# `valgrind --tool=callgrind --trace-children=yes`, so the worker it starts is counted too.
# Per event = (instructions of the long run - of the short run) / (events long - events short):
# start-up, configuration and shutdown cancel out. Both runs must deliver every call with no
# drop counter set, or the row says so. The worker runs with `sandbox: false`: valgrind cannot
# run under the worker's seccomp filter. The sandbox costs system calls in the kernel, which
# callgrind does not count anyway; what is counted is user-space instructions. Needs root.
import argparse
import collections
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "build", "bench", "getppid_gen")
STATS_RE = re.compile(r"stats bench: .*?events=(\d+) .*?drops: kernel=(\d+) worker_queue=(\d+) "
                      r"seq_gaps=(\d+) sink=(\d+)")


def build_gen():
    src = os.path.join(ROOT, "bench", "getppid_gen.c")
    if os.path.exists(GEN) and os.path.getmtime(GEN) >= os.path.getmtime(src):
        return
    os.makedirs(os.path.dirname(GEN), exist_ok=True)
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-std=gnu11", "-D_GNU_SOURCE", "-o", GEN,
                    src], check=True)


def config(tmp, bindir, sink, pid):
    body = ["log_level: info", f"collector_dir: {bindir}", "supervisor:",
            "  stats_log_interval_s: 1", "control:", "  enabled: false"]
    if sink == "binary":
        body += ["sinks:", "  stdout:", "    enabled: false", "  file:", "    enabled: true",
                 f"    path: {tmp}/events.bin", "    format: binary", "    max_mib: 60000"]
    body += ["collectors:", "  process:", "    enabled: false", "  bench:", "    enabled: true",
             f"    pid: {pid}", "    sandbox: false"]
    path = os.path.join(tmp, "tapio.yaml")
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")
    return path


def totals(path):
    """(command, instructions) of one callgrind output file."""
    cmd, ir = None, None
    with open(path) as f:
        for line in f:
            if line.startswith("cmd:"):
                cmd = os.path.basename(line.split()[1])
            elif line.startswith("summary:"):
                ir = int(line.split()[1])
    return cmd, ir


def functions(path):
    """Self instructions per function of one callgrind output file (callgrind_annotate)."""
    out = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=no", "--threshold=100",
                          path], capture_output=True, text=True).stdout
    fn = collections.Counter()
    started = False
    for line in out.splitlines():
        if "PROGRAM TOTALS" in line:
            started = True
            continue
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+)", line)
        if started and m:
            name = re.sub(r"'\d+$", "", m.group(2).rsplit(":", 1)[-1])
            fn[name] += int(m.group(1).replace(",", ""))
    return fn


def one_run(bindir, sink, rate, seconds, outdir, tag):
    """Run tapiod under callgrind for `seconds` of calls; return {process: (Ir, file)} and the
    final counters."""
    tmp = tempfile.mkdtemp(prefix="tapio-instr-")
    try:
        gen = subprocess.Popen([GEN, "--rate", str(rate), "--seconds", str(seconds), "--wait"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        pid = int(gen.stdout.readline().split("=")[1])
        cfg = config(tmp, bindir, sink, pid)
        prefix = os.path.join(outdir, tag)
        errpath = os.path.join(tmp, "err")
        with open(errpath, "w") as err:
            t = subprocess.Popen(["valgrind", "--tool=callgrind", "--trace-children=yes",
                                  f"--callgrind-out-file={prefix}.%p.cg",
                                  os.path.join(bindir, "tapiod"), "--config", cfg],
                                 stdout=subprocess.DEVNULL, stderr=err)

        def log():
            with open(errpath) as f:
                return f.read()
        deadline = time.monotonic() + 120
        while "bench: READY" not in log():
            if time.monotonic() > deadline or t.poll() is not None:
                gen.kill()
                t.kill()
                sys.exit(f"instr: tapiod did not get the bench collector READY:\n{log()[-3000:]}")
            time.sleep(0.1)
        gen.stdin.write("go\n")
        gen.stdin.flush()
        out, _ = gen.communicate()
        calls = int(re.search(r"calls=(\d+)", out).group(1))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # until the stats line shows every call
            st = STATS_RE.findall(log())
            if st and int(st[-1][0]) >= calls:
                break
            time.sleep(0.5)
        t.send_signal(signal.SIGTERM)
        t.wait(timeout=120)
        st = STATS_RE.findall(log())
        if not st:
            sys.exit(f"instr: no stats line from tapiod:\n{log()[-3000:]}")
        events, *drops = map(int, st[-1])
        procs = {}
        for path in glob.glob(f"{prefix}.*.cg"):
            cmd, ir = totals(path)
            procs["worker" if cmd.startswith("tapio-collector") else cmd] = (ir, path)
        return dict(calls=calls, events=events, drops=sum(drops), procs=procs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tree", action="append", help="a built tapio tree (default: this one)")
    ap.add_argument("--sink", choices=["json", "binary", "both"], default="both")
    ap.add_argument("--rate", type=int, default=20000, help="calls/s (default 20000)")
    ap.add_argument("--short", type=int, default=3, help="seconds of the short run")
    ap.add_argument("--long", type=int, default=9, help="seconds of the long run")
    ap.add_argument("--top", type=int, default=6, help="functions listed per process")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("instr: needs root (eBPF)")
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        sys.exit("instr: needs valgrind (apt-get install valgrind)")
    build_gen()
    trees = [os.path.abspath(t) for t in (a.tree or [ROOT])]
    sinks = ["json", "binary"] if a.sink == "both" else [a.sink]
    outdir = tempfile.mkdtemp(prefix="tapio-instr-cg-")
    print(f"callgrind, tapiod and the bench worker; getppid_gen at {a.rate:,} calls/s, "
          f"{a.short} s and {a.long} s runs; per event = difference of the two")
    print()
    print("| tree | sink | tapiod instr/event | worker instr/event | events (short, long) | ok |")
    print("|---|---|---|---|---|---|")
    per_fn = {}
    for sink in sinks:
        for n, tree in enumerate(trees):
            bindir = os.path.join(tree, "build", "bin")
            runs = [one_run(bindir, sink, a.rate, s, outdir, f"t{n}-{sink}-{s}")
                    for s in (a.short, a.long)]
            de = runs[1]["events"] - runs[0]["events"]
            ok = all(r["drops"] == 0 and r["events"] == r["calls"] for r in runs) and de > 0
            cols = []
            for p in ("tapiod", "worker"):
                if de > 0 and all(p in r["procs"] for r in runs):
                    cols.append(f"{(runs[1]['procs'][p][0] - runs[0]['procs'][p][0]) / de:,.0f}")
                    f0, f1 = (functions(r["procs"][p][1]) for r in runs)
                    per_fn[(tree, sink, p)] = {k: (f1[k] - f0[k]) / de for k in f0 | f1}
                else:
                    cols.append("n/a")
            ev = f"{runs[0]['events']:,}, {runs[1]['events']:,}"
            print(f"| {tree} | {sink} | {cols[0]} | {cols[1]} | {ev} | "
                  f"{'yes' if ok else 'NO: loss or drops'} |", flush=True)
    print()
    for (tree, sink, p), fn in per_fn.items():
        top = sorted(fn.items(), key=lambda kv: -kv[1])[:a.top]
        print(f"{p}, {sink}, {tree}: " + ", ".join(f"{k} {v:,.0f}" for k, v in top))
    shutil.rmtree(outdir, ignore_errors=True)


if __name__ == "__main__":
    main()
