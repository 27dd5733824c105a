#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The cost of the cni collector's plugin-exec filter (issue 19) on execs that are not CNI
# plugins: an exec storm (build/bench/execstorm: fork + exec /bin/true, 2 in flight) with
# nothing attached, with tapiod running only the cni collector (and the same without its
# write() hook), and with libbpf-tools' execsnoop, the peer that traces every exec.
# Two measures:
#   - wall clock per exec of the storm, median of REPS interleaved runs per tool;
#   - the kernel's own accounting of the BPF programs (kernel.bpf_stats_enabled=1, one more
#     storm per tool): ns per run of each program the tool attached, and their sum per exec.
# Run by bench/cni_exec.sh (make bench, make bench-cni); writes bench/results/<date>-cni.md.
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (the shared helpers: Tool, Gen, med, table, machine)


def cni_config(tmp, capture_output=True):
    path = os.path.join(tmp, "tapio-cni.yaml")
    body = ["log_level: info", f"collector_dir: {B.BIN}", "supervisor:",
            "  stats_log_interval_s: 0", "control:", "  enabled: false", "collectors:",
            "  process:", "    enabled: false", "  cni:", "    enabled: true",
            # only the exec filter: the config and IPAM directories are not watched
            "    plugin_dirs: [/usr/lib/cni]", "    config_dir: \"\"", "    ipam_dir: \"\"",
            f"    capture_output: {'true' if capture_output else 'false'}"]
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")
    return path


class CniTapio(B.Tapio):
    def __init__(self, tmp, capture_output):
        self.collectors = {"cni": {}}
        cfg = cni_config(tmp, capture_output)
        B.Tool.__init__(self, "tapiod", [os.path.join(B.BIN, "tapiod"), "--config", cfg],
                        "/dev/null", tmp, ready=self.wait_ready, stop_sig=B.signal.SIGTERM)


def progs():
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                       check=True)
    return {p["id"]: p for p in json.loads(r.stdout or "[]")}


def start(kind, tmp):
    if kind == "cni":
        return CniTapio(tmp, True)
    if kind == "cni-nowrite":
        return CniTapio(tmp, False)
    if kind == "execsnoop":
        return B.Tool("execsnoop", ["execsnoop"], "/dev/null", tmp)
    return None


def storm(a, tmp, kind, stats=False):
    before = progs()
    tool = start(kind, tmp)
    time.sleep(1.0)  # the tool's start-up work (and none's wait alike) out of the storm
    mine = {i: p for i, p in progs().items() if i not in before}
    s0 = progs() if stats else {}
    gen = B.Gen([os.path.join(B.BBIN, "execstorm"), "--count", str(a.execs), "--parallel",
                 str(a.parallel), "--wait"])
    c0 = tool.cpu() if tool else {}
    gen.go()
    r = gen.wait(timeout=600)
    s1 = progs() if stats else {}
    time.sleep(0.5)
    res = {"execs": r["execs"], "ns_per_exec": r["elapsed_ns"] / r["execs"]}
    if tool:
        c1 = tool.cpu()
        res["cpu_ms"] = (sum(c1.values()) - sum(c0.get(p, 0) for p in c1)) * 1000
        tool.stop()
    if stats:
        per = {}
        for i, p in mine.items():
            a0, a1 = s0.get(i, {}), s1.get(i, {})
            runs = a1.get("run_cnt", 0) - a0.get("run_cnt", 0)
            ns = a1.get("run_time_ns", 0) - a0.get("run_time_ns", 0)
            name = p.get("name", str(i))
            per[name if name not in per else f"{name} (id {i})"] = (runs, ns)
        res["progs"] = per
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=10000)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny counts: does it run?")
    a = ap.parse_args()
    if a.smoke:
        a.execs, a.reps = 300, 1
    tmp = "/tmp/tapio-bench-cni"
    os.makedirs(tmp, exist_ok=True)
    kinds = ["none", "cni", "cni-nowrite", "execsnoop"]

    B.say(f"# cni collector: the plugin-exec filter on non-plugin execs ({datetime.date.today()})")
    B.say()
    B.table(["machine", ""], B.machine() + [
        ("libbpf-tools (execsnoop)", B.pkg_version("libbpf-tools")),
        ("containernetworking-plugins", B.pkg_version("containernetworking-plugins"))])
    B.say(f"`build/bench/execstorm --count {a.execs} --parallel {a.parallel}` (fork + exec "
          "/bin/true: no exec is a plugin). tapio: tapiod with only the cni collector "
          "(`plugin_dirs: [/usr/lib/cni]`, config and IPAM watches off), `cni-nowrite` the "
          "same with `capture_output: false` (no sys_enter_write program); execsnoop "
          "(libbpf-tools) traces every exec. "
          f"{a.reps} interleaved repetitions per tool; medians, min–max.")
    B.say()

    res = {k: [] for k in kinds}
    for rep in range(a.reps):
        for kind in kinds:
            B.log(f"cni exec storm rep {rep + 1}/{a.reps}: {kind}")
            res[kind].append(storm(a, tmp, kind))
    base = B.med([r["ns_per_exec"] for r in res["none"]])
    rows = []
    for kind in kinds:
        xs = [r["ns_per_exec"] for r in res[kind]]
        m = B.med(xs)
        rows.append([kind, B.fmt(m / 1000, 1), f"{min(xs) / 1000:.1f}–{max(xs) / 1000:.1f}",
                     B.fmt((m - base) / 1000, 1) if kind != "none" else "",
                     B.fmt(1e9 / m, 0),
                     B.fmt(B.med([r.get("cpu_ms") for r in res[kind]]), 0)])
    B.say("### Wall clock")
    B.say()
    B.table(["tool", "µs per exec (median)", "min–max", "vs none, µs", "execs/s",
             "tool CPU, ms"], rows)

    # The kernel's accounting of each program (adds its own ~tens of ns per run).
    old = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    stats = {}
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        for kind in ["cni", "cni-nowrite", "execsnoop"]:
            B.log(f"cni exec storm with bpf_stats: {kind}")
            stats[kind] = storm(a, tmp, kind, stats=True)
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(old)
    B.say("### BPF program time (kernel.bpf_stats_enabled=1, one storm per tool)")
    B.say()
    rows = []
    for kind, r in stats.items():
        total = 0
        for name, (runs, ns) in sorted(r["progs"].items()):
            if runs == 0:
                continue
            total += ns
            rows.append([kind, f"`{name}`", B.fmt(runs), B.fmt(ns / runs, 0),
                         B.fmt(ns / r["execs"], 0)])
        rows.append([kind, "**all, per exec**", "", "", f"**{total / r['execs']:,.0f}**"])
    B.table(["tool", "program", "runs", "ns/run", "ns per exec"], rows)
    B.say("Programs that did not run during the storm are left out (e.g. the unshare/setns "
          "hooks). A syscall tracepoint program (cni's write, unshare and setns hooks; "
          "execsnoop's execve pair) also puts every task on the kernel's traced-syscall path, "
          "a cost the program time does not contain: it is in the wall clock above.")
    B.say()

    out = os.path.join(B.ROOT, "bench", "results", f"{datetime.date.today()}-cni.md")
    if not a.smoke:
        with open(out, "w") as f:
            f.write("\n".join(B.OUT) + "\n")
        print(f"written: {out}")


if __name__ == "__main__":
    main()
