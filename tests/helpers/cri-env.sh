#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A private containerd (CRI v1 plugin) for the cri collector's integration tests.
#   cri-env.sh start   generate a config, start containerd on $CRI_ENV_SOCK, import a
#                      busybox-static image (also the sandbox image); prints the socket path
#   cri-env.sh stop    kill containerd and its shims, unmount, remove the state
# CRI_ENV_CNI_CONF_DIR / CRI_ENV_CNI_BIN_DIR, when set: the CRI plugin's CNI conf_dir and
# bin_dir (pods with their own network namespace get their network from the CNI plugins there).
# Needs root and the Debian packages containerd runc umoci skopeo busybox-static.
set -eu

BASE=${CRI_ENV_DIR:-/var/lib/tapio-test/cri}
RUN=${CRI_ENV_RUN:-/run/tapio-test}
SOCK=${CRI_ENV_SOCK:-$RUN/containerd.sock}
IMAGE=docker.io/tapio-test/busybox:1
CACHE=/var/lib/tapio-test/cache

log() { echo "cri-env: $*" >&2; }
die() { log "$*"; exit 1; }

need() {
	for b in containerd ctr runc umoci skopeo; do
		command -v "$b" >/dev/null 2>&1 || die "missing $b (make deps: containerd runc umoci skopeo busybox-static)"
	done
	[ -x /bin/busybox ] || die "missing /bin/busybox (busybox-static)"
}

# The image: busybox-static in an otherwise empty rootfs, built once and cached by the
# checksum of the busybox binary.
build_image() {
	sum=$(sha256sum /bin/busybox | cut -c1-16)
	tar="$CACHE/busybox-$sum.tar"
	if [ -s "$tar" ]; then echo "$tar"; return; fi
	mkdir -p "$CACHE"
	w=$(mktemp -d "$CACHE/build.XXXXXX")
	umoci init --layout "$w/oci" >&2
	umoci new --image "$w/oci:bb" >&2
	umoci unpack --rootless --image "$w/oci:bb" "$w/bundle" >&2
	mkdir -p "$w/bundle/rootfs/bin" "$w/bundle/rootfs/tmp" "$w/bundle/rootfs/proc" \
		"$w/bundle/rootfs/sys" "$w/bundle/rootfs/dev" "$w/bundle/rootfs/etc"
	cp /bin/busybox "$w/bundle/rootfs/bin/busybox"
	for a in sh sleep head tr cat true false dd echo kill ls; do
		ln -sf busybox "$w/bundle/rootfs/bin/$a"
	done
	umoci repack --image "$w/oci:bb" "$w/bundle" >&2
	umoci config --image "$w/oci:bb" --config.cmd /bin/sleep --config.cmd 3600 \
		--config.env PATH=/bin >&2
	skopeo copy "oci:$w/oci:bb" "docker-archive:$w/img.tar:$IMAGE" >&2
	mv "$w/img.tar" "$tar"
	rm -rf "$w"
	echo "$tar"
}

start() {
	need
	[ -S "$SOCK" ] && ctr -a "$SOCK" version >/dev/null 2>&1 && { echo "$SOCK"; return; }
	stop_quiet
	mkdir -p "$BASE/root" "$BASE/state" "$RUN"
	cfg="$BASE/config.toml"
	containerd config default > "$cfg.tmp"
	# Private paths, no TCP endpoints, our sandbox image, and restrict_oom_score_adj: this
	# machine forbids lowering oom_score_adj below 0 (ENVIRONMENT.md).
	sed -e "s|^root = .*|root = \"$BASE/root\"|" \
	    -e "s|^state = .*|state = \"$BASE/state\"|" \
	    -e "/^\[grpc\]/,/^\[/ s|^  address = .*|  address = \"$SOCK\"|" \
	    -e "/^\[ttrpc\]/,/^\[/ s|^  address = .*|  address = \"$SOCK.ttrpc\"|" \
	    -e "/^\[debug\]/,/^\[/ s|^  address = .*|  address = \"\"|" \
	    -e "/^\[metrics\]/,/^\[/ s|^  address = .*|  address = \"\"|" \
	    -e "s|restrict_oom_score_adj = false|restrict_oom_score_adj = true|" \
	    -e "s|sandbox_image = .*|sandbox_image = \"$IMAGE\"|" \
	    "$cfg.tmp" > "$cfg"
	rm -f "$cfg.tmp"
	if [ -n "${CRI_ENV_CNI_CONF_DIR:-}" ]; then
		sed -i -e "/cri\".cni\]/,/^$/ s|^      conf_dir = .*|      conf_dir = \"$CRI_ENV_CNI_CONF_DIR\"|" "$cfg"
		grep -q "conf_dir = \"$CRI_ENV_CNI_CONF_DIR\"" "$cfg" || die "could not set the CNI conf_dir"
	fi
	if [ -n "${CRI_ENV_CNI_BIN_DIR:-}" ]; then
		sed -i -e "/cri\".cni\]/,/^$/ s|^      bin_dir = .*|      bin_dir = \"$CRI_ENV_CNI_BIN_DIR\"|" "$cfg"
		grep -q "bin_dir = \"$CRI_ENV_CNI_BIN_DIR\"" "$cfg" || die "could not set the CNI bin_dir"
	fi
	grep -q "restrict_oom_score_adj = true" "$cfg" || die "could not set restrict_oom_score_adj"
	grep -q "address = \"$SOCK\"" "$cfg" || die "could not set the grpc address"
	# containerd outlives this script (and the test that started it): it must not keep an
	# inherited fd open, such as the one `flock /work/integ.lock ...` holds its lock on.
	containerd --config "$cfg" >"$BASE/containerd.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- \
		7>&- 8>&- 9>&- &
	echo $! > "$BASE/containerd.pid"
	i=0
	until ctr -a "$SOCK" version >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { tail -20 "$BASE/containerd.log" >&2; die "containerd did not start"; }
		sleep 0.1
	done
	tar=$(build_image)
	ctr -a "$SOCK" -n k8s.io images import "$tar" >&2
	echo "$SOCK"
}

# Kill the shims and containers that belong to our containerd, then containerd itself.
stop_quiet() {
	if [ -S "$SOCK" ]; then
		for t in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
		done
	fi
	for p in $(pgrep -f "containerd-shim.*-address $SOCK" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	if [ -f "$BASE/containerd.pid" ]; then
		pid=$(cat "$BASE/containerd.pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$BASE/containerd.pid"
	fi
	# Mounts left behind (rootfs overlays, sandbox shm) under our directories.
	for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($BASE|$RUN)" | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$BASE/root" "$BASE/state" "$SOCK" "$SOCK.ttrpc"
}

# Parallel test processes share one containerd: one start/stop at a time.
mkdir -p "$RUN"
exec 9>"$RUN/cri-env.lock"
flock 9

case "${1:-}" in
start) start ;;
stop) stop_quiet ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
