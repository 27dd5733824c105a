#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The NATS JetStream sink under faults (issue 20), as root, by hand with parameters (CI runs the
# same scenario as the nats_cluster integration test; make bench measures the throughput):
# a three-node JetStream cluster on loopback, a stream of three replicas for tapio.>, and
# tapiod publishing the bench collector's getppid() events (binary format) at RATE events/s.
# After WARM s the stream leader is killed with SIGKILL (and restarted 10 s later); then all
# three servers stop for OUTAGE s and come back. Afterwards the spool must drain, and the
# stream must hold every event tapiod took exactly once, counted by Nats-Msg-Id
# (bench/nats_tool.c). tapiod's RSS is sampled every second.
#   bench/nats.sh                       RATE=20000 OUTAGE=60 (about 3 minutes)
#   RATE=5000 OUTAGE=10 bench/nats.sh   a short run
set -euo pipefail
RATE=${RATE:-20000}
OUTAGE=${OUTAGE:-60}
WARM=${WARM:-10}
AFTER=${AFTER:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
HTTP_PORT=19470
[ "$(id -u)" -eq 0 ] || { echo "bench/nats.sh: run as root" >&2; exit 1; }
command -v nats-server >/dev/null || { echo "bench/nats.sh: apt-get install nats-server" >&2; exit 1; }
make -C "$ROOT" -s all
mkdir -p "$B/bench"
cc -O2 -o "$B/bench/nats_tool" "$ROOT/bench/nats_tool.c" -lnats
cc -O2 -o "$B/bench/getppid_gen" "$ROOT/bench/getppid_gen.c"
T=$(mktemp -d /tmp/tapio-nats-bench-XXXXXX)
declare -a SPID
URLS="nats://127.0.0.1:14231,nats://127.0.0.1:14232,nats://127.0.0.1:14233"

MAIN=$BASHPID
cleanup() {
	# Only the script itself cleans up, never a subshell that inherited the trap.
	[ "$BASHPID" = "$MAIN" ] || return 0
	for p in "${SPID[@]:-}" ${TAPIOD:-} ${GEN:-} ${RSSLOOP:-}; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

start_server() { # index 1..3
	local i=$1
	nats-server -js -a 127.0.0.1 -p $((14230 + i)) -sd "$T/n$i" --server_name "n$i" \
		--cluster_name tapio --cluster "nats://127.0.0.1:$((16230 + i))" \
		--routes nats://127.0.0.1:16231,nats://127.0.0.1:16232,nats://127.0.0.1:16233 \
		>>"$T/n$i.log" 2>&1 &
	SPID[$i]=$!
}
stop_server() { # index, signal
	kill -"$2" "${SPID[$1]}" 2>/dev/null || true
	wait "${SPID[$1]}" 2>/dev/null || true
}

for i in 1 2 3; do start_server "$i"; done
for _ in $(seq 1 60); do
	"$B/bench/nats_tool" "$URLS" create TAPIO 'tapio.>' 3 2>/dev/null && break
	sleep 0.5
done
echo "cluster up, stream TAPIO (3 replicas)"

TOTAL=$((WARM + 10 + OUTAGE + AFTER))
mkfifo "$T/go"
exec 3<>"$T/go" # read-write: opening it does not wait for the other end
"$B/bench/getppid_gen" --rate "$RATE" --seconds "$TOTAL" --wait <&3 >"$T/gen.out" &
GEN=$!
sleep 0.2
GEN_PID=$(sed -n 's/^pid=//p' "$T/gen.out" | head -1)
cat >"$T/tapio.yaml" <<EOF
collector_dir: $B/bin
supervisor:
  stats_log_interval_s: 5
sinks:
  stdout:
    enabled: false
  nats:
    enabled: true
    servers: [nats://127.0.0.1:14231, nats://127.0.0.1:14232, nats://127.0.0.1:14233]
    format: binary
    reconnect_wait_ms: 250
    spool:
      dir: $T/spool
      fsync: never
http:
  port: $HTTP_PORT
control:
  socket_path: $T/ctl.sock
collectors:
  process:
    enabled: false
  bench:
    enabled: true
    pid: ${GEN_PID:-0}
EOF
"$B/bin/tapiod" --config "$T/tapio.yaml" >/dev/null 2>"$T/tapiod.log" &
TAPIOD=$!
(
	while kill -0 "$TAPIOD" 2>/dev/null; do
		awk '/VmRSS/ {print $2}' "/proc/$TAPIOD/status" 2>/dev/null
		sleep 1
	done
) >"$T/rss" &
RSSLOOP=$!
sleep 2
echo go >&3
echo "load: $RATE events/s for $TOTAL s"

sleep "$WARM"
LEADER=$("$B/bench/nats_tool" "$URLS" leader TAPIO || true)
IDX=${LEADER#n}
if [ -n "$LEADER" ] && [ "$IDX" -ge 1 ] 2>/dev/null; then
	echo "killing the stream leader $LEADER (SIGKILL)"
	stop_server "$IDX" KILL
	sleep 10
	start_server "$IDX"
else
	echo "no stream leader reported; skipping the leader kill"
	sleep 10
fi
echo "full outage: all three servers down for $OUTAGE s"
for i in 1 2 3; do stop_server "$i" TERM; done
sleep "$OUTAGE"
for i in 1 2 3; do start_server "$i"; done
wait "$GEN" || true
GEN=
echo "load done: $(tail -1 "$T/gen.out")"

# Drained: the spool holds nothing unacknowledged (tapio_sink_spool_bytes).
START=$(date +%s)
for _ in $(seq 1 240); do
	SB=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
		sed -n 's/^tapio_sink_spool_bytes{sink="nats"} //p')
	[ "${SB:-1}" = 0 ] && break
	sleep 0.5
done
echo "spool drained $(($(date +%s) - START)) s after the load ended (bytes left: ${SB:-?})"
kill -TERM "$TAPIOD"
wait "$TAPIOD" || true
TAPIOD=
W=$(sed -n 's/.*nats sink: \([0-9]*\) events written, \([0-9]*\) dropped.*/\1 \2/p' "$T/tapiod.log" | tail -1)
WRITTEN=${W% *}
DROPPED=${W#* }
COUNT=$("$B/bench/nats_tool" "$URLS" count TAPIO)
MAXRSS=$(sort -n "$T/rss" | tail -1)
echo "tapiod: written=$WRITTEN dropped=$DROPPED max_rss_kib=$MAXRSS"
echo "stream: $COUNT"
DISTINCT=$(echo "$COUNT" | sed -n 's/.*distinct=\([0-9]*\).*/\1/p')
DUPS=$(echo "$COUNT" | sed -n 's/.*duplicates=\([0-9]*\).*/\1/p')
if [ "$DISTINCT" = "$WRITTEN" ] && [ "$DROPPED" = 0 ]; then
	echo "PASS: every event exactly once by id (the stream stored $DUPS duplicates beyond JetStream's window)"
else
	echo "FAIL: $DISTINCT distinct in the stream of $WRITTEN written, $DROPPED dropped"
	exit 1
fi
