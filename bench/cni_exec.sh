#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The cni collector's exec-filter cost (bench/cni_exec.py), as root: installs the peer
# (libbpf-tools' execsnoop) if missing, builds tapiod, the cni collector and execstorm, mounts
# tracefs, runs the storm and writes bench/results/<date>-cni.md. Part of `make bench`;
# alone: `make bench-cni` (about 2 minutes), `bench/cni_exec.sh --smoke` (a few seconds).
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench/cni_exec.sh: needs root (eBPF)" >&2; exit 1; }
missing=""
for p in libbpf-tools containernetworking-plugins python3; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "bench: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
make --no-print-directory build/bin/tapiod build/bin/tapio-collector-cni
./scripts/prepare-host.sh
mkdir -p build/bench
if [ ! -x build/bench/execstorm ] || [ bench/execstorm.c -nt build/bench/execstorm ]; then
	echo "  CC       bench/execstorm.c"
	${CC:-cc} -O2 -g -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -o build/bench/execstorm bench/execstorm.c
fi
ulimit -l unlimited 2>/dev/null || true
exec /usr/bin/python3 bench/cni_exec.py "$@"
