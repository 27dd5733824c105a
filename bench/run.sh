#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make bench`: install the peers if missing, build tapio and the bench programs, run every
# workload and write bench/results/<date>.md. Needs root (eBPF). `bench/run.sh --smoke` is a
# short run of each workload (figures not meaningful) for CI; `--only storm,pipeline,...`
# runs a subset (storm, pipeline, redis, footprint, profile).
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (eBPF programs, perf, /proc of sandboxed workers)" >&2
	exit 1
fi

# Peers and tools: libbpf-tools (execsnoop), bpftrace, redis-server + redis-tools
# (redis-benchmark, redis-cli), linux-perf (profiles), python3 (the driver), nats-server (the
# NATS sink's JetStream), valgrind (bench/instr.py's instruction counts, `make bench`'s last step).
PKGS="libbpf-tools bpftrace redis-server redis-tools linux-perf python3 nats-server valgrind"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "bench: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

./scripts/install-deps.sh
# What the bench needs; the other kernel collectors are built when their sources exist, and a
# collector that does not build is left out of workload 3 (reported there), not fatal.
make --no-print-directory build/bin/tapiod build/bin/tapio-collector-process \
	build/bin/tapio-collector-bench
for c in network security dns; do
	[ -d "collectors/$c" ] || continue
	make --no-print-directory "build/bin/tapio-collector-$c" ||
		echo "bench: collector $c does not build; it is left out" >&2
done
./scripts/prepare-host.sh

mkdir -p build/bench
BENCH_CFLAGS="-O2 -g -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -D_GNU_SOURCE"
[ "${CI:-}" = true ] && BENCH_CFLAGS="$BENCH_CFLAGS -Werror"
for prog in execstorm getppid_gen; do
	if [ ! -x "build/bench/$prog" ] || [ "bench/$prog.c" -nt "build/bench/$prog" ]; then
		echo "  CC       bench/$prog.c"
		# shellcheck disable=SC2086
		${CC:-cc} $BENCH_CFLAGS -o "build/bench/$prog" "bench/$prog.c"
	fi
done
# The NATS sink's spool on its own (workload 5).
if [ ! -x build/bench/spool_bench ] || [ bench/spool_bench.c -nt build/bench/spool_bench ] ||
	[ supervisor/spool.c -nt build/bench/spool_bench ]; then
	echo "  CC       bench/spool_bench.c"
	# shellcheck disable=SC2086
	${CC:-cc} $BENCH_CFLAGS -Isupervisor -o build/bench/spool_bench bench/spool_bench.c \
		supervisor/spool.c -lz
fi

# bpftrace raises RLIMIT_MEMLOCK itself and warns when it cannot; give every tool the same room.
ulimit -l unlimited 2>/dev/null || true
exec /usr/bin/python3 bench/bench.py "$@"
