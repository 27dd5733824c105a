#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A real systemd as PID 1 of a container (systemd-nspawn over the host's /usr, root on a
# tmpfs) for the systemd collector's integration tests. Its system bus socket and its
# journal are bind mounts of host directories, so a worker on the host reaches both by path:
#   DIR/dbus/system_bus_socket   DIR/journal/<machine id>/system.journal
# DIR/share is /run/tapio-it inside: files a test hands to its units (a gate a unit waits on).
#   systemd-env.sh start DIR     boot, wait until `systemctl is-system-running` says running
#                                or degraded; prints the container's PID 1 (host pid)
#   systemd-env.sh exec DIR CMD  run CMD inside (all its namespaces)
#   systemd-env.sh stop DIR      power off (SIGTERM to systemd-nspawn), wait, remove DIR
# Needs root and the Debian package systemd-container.
set -eu

log() { echo "systemd-env: $*" >&2; }
die() { log "$*"; exit 1; }

[ $# -ge 2 ] || die "usage: $0 start|exec|stop DIR [CMD...]"
cmd=$1
DIR=$2
shift 2

leader() { cat "$DIR/leader"; }

start() {
	command -v systemd-nspawn >/dev/null 2>&1 || die "missing systemd-nspawn (systemd-container)"
	mkdir -p "$DIR/dbus" "$DIR/journal" "$DIR/share"
	# The journal stays in /run/log/journal (the bind mount): with the container's /var a
	# tmpfs holding /var/log/journal, journald would move to it at a rotation.
	printf '[Journal]\nStorage=volatile\n' >"$DIR/journald.conf"
	name="tapio-sd-$$"
	# Units of the host that would start inside and only cost time.
	setsid systemd-nspawn -D / --volatile=yes --register=no --keep-unit -M "$name" -b \
		--console=pipe --bind="$DIR/dbus:/run/dbus" --bind="$DIR/journal:/run/log/journal" \
		--bind="$DIR/share:/run/tapio-it" \
		--bind-ro="$DIR/journald.conf:/etc/systemd/journald.conf.d/tapio-test.conf" \
		-- systemd.mask=containerd.service systemd.mask=dnsmasq.service \
		systemd.mask=cron.service systemd.mask=ssh.service systemd.mask=etcd.service \
		systemd.mask=docker-registry.service \
		>"$DIR/nspawn.log" 2>&1 </dev/null &
	echo $! >"$DIR/nspawn.pid"
	pid=$!
	i=0
	while :; do
		i=$((i + 1))
		[ $i -le 300 ] || die "no container PID 1 after 30 s (see $DIR/nspawn.log)"
		kill -0 "$pid" 2>/dev/null || die "systemd-nspawn exited: $(tail -5 "$DIR/nspawn.log")"
		for c in $(pgrep -P "$pid" 2>/dev/null || true); do
			if [ "$(cat /proc/"$c"/comm 2>/dev/null)" = systemd ]; then
				echo "$c" >"$DIR/leader"
				break 2
			fi
		done
		sleep 0.1
	done
	l=$(leader)
	i=0
	while :; do
		i=$((i + 1))
		[ $i -le 600 ] || die "systemd inside did not finish booting in 60 s"
		st=$(nsenter -t "$l" -a systemctl is-system-running 2>/dev/null || true)
		case "$st" in
		running | degraded) break ;;
		esac
		sleep 0.1
	done
	[ -S "$DIR/dbus/system_bus_socket" ] || die "no bus socket in $DIR/dbus"
	echo "$l"
}

stop() {
	[ -f "$DIR/nspawn.pid" ] || { rm -rf "$DIR"; return 0; }
	pid=$(cat "$DIR/nspawn.pid")
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 200 ]; then
			log "systemd-nspawn $pid did not stop in 20 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -rf "$DIR"
}

case "$cmd" in
start) start ;;
exec) exec nsenter -t "$(leader)" -a "$@" ;;
stop) stop ;;
*) die "unknown command $cmd" ;;
esac
