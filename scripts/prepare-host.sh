#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Make the host ready for eBPF collectors: tracefs (tracepoint attach) and bpffs mounted.
# Idempotent; does nothing without root (the collectors then report what is missing).
set -u
[ "$(id -u)" -eq 0 ] || exit 0
if ! grep -qs ' /sys/kernel/tracing tracefs ' /proc/mounts; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
		echo "prepare-host: could not mount tracefs on /sys/kernel/tracing" >&2
fi
if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
		echo "prepare-host: could not mount bpffs on /sys/fs/bpf" >&2
fi
exit 0
