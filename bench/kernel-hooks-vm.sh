#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Inside the test-kernels VM (bench/kernel-hooks.sh): ns per getppid() call without tapiod,
# with the security collector on its syscall tracepoints (hooks: tracepoint) and on its best
# set (hooks: auto: fentry/fexit where the kernel allows it), alternating, REPS rounds.
# Prints "BENCH <config> <round> <ns per call>" and the hook set each run attached.
B=${1:?build dir}
REPS=${REPS:-5}
SECS=${SECS:-3}
d=/tmp/khb
mkdir -p $d

gen() { # one timed getppid loop: prints ns per call
	"$B/bench/getppid_gen" --seconds "$SECS" | awk -F'[= ]' '/^calls=/ { printf "%.1f\n", $4 / $2 }'
}

start_tapiod() { # $1: hooks value
	printf '%s\n' "node_name: vm" "log_level: info" "collector_dir: $B/bin" "control:" \
		"  socket_path: $d/ctl.sock" "collectors:" "  process:" "    enabled: false" \
		"  security:" "    enabled: true" "    hooks: $1" >$d/tapio.yaml
	"$B/bin/tapiod" --config $d/tapio.yaml >/dev/null 2>"$d/log.$1" &
	tpid=$!
	i=0
	while [ $i -lt 120 ]; do
		sleep 1
		i=$((i + 1))
		"$B/bin/tapioctl" --socket $d/ctl.sock status 2>/dev/null >$d/status &&
			grep -qE '^security +READY' $d/status && break
	done
	grep -E '^security |security hooks:' $d/status | sed "s/^/BENCH-STATUS $1 /"
	grep -E 'info: attached' $d/log.$1 | sed "s/^/BENCH-LOG $1 /"
}

stop_tapiod() {
	kill -TERM $tpid 2>/dev/null
	wait $tpid
}

echo "BENCH-KERNEL $(uname -r) reps=$REPS secs=$SECS"
r=1
while [ $r -le "$REPS" ]; do
	echo "BENCH none $r $(gen)"
	start_tapiod tracepoint
	echo "BENCH tracepoint $r $(gen)"
	stop_tapiod
	start_tapiod auto
	echo "BENCH auto $r $(gen)"
	stop_tapiod
	r=$((r + 1))
done
echo "BENCH-DONE"
