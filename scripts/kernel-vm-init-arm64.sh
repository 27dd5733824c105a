#!/bb/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the arm64 smoke initramfs (scripts/test-kernels-arm64.sh): mount what BPF loading and
# attaching needs, run bpf-smoke on every arm64 BPF object, print its report, power off.
export PATH=/bin:/bb
/bb/mount -t proc proc /proc
/bb/mount -t sysfs sysfs /sys
/bb/mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bb/mount -t tmpfs -o mode=1777 tmpfs /tmp
/bb/mount -t tracefs tracefs /sys/kernel/tracing
/bb/mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
/bb/mount -t bpf bpf /sys/fs/bpf
/bb/mount -t cgroup2 cgroup2 /sys/fs/cgroup
/bb/mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
/bb/ip link set lo up

feat="kernel=$(/bb/uname -r) arch=$(/bb/uname -m)"
[ -r /sys/kernel/btf/vmlinux ] && feat="$feat btf" || feat="$feat no-btf"
feat="$feat lsm=$(/bb/cat /sys/kernel/security/lsm 2>/dev/null)"
[ -e /sys/kernel/tracing/kprobe_events ] && feat="$feat kprobes"
[ -e /proc/modules ] && feat="$feat modules"
echo "TAPIO-FEATURES $feat"

echo "TAPIO-SMOKE-BEGIN"
# shellcheck disable=SC2046
/bin/bpf-smoke $(/bb/cat /smoke.args) $([ -e /mod/dummy.ko ] && echo --module /mod/dummy.ko) /obj/*.bpf.o 2>&1
echo "TAPIO-SMOKE-RC $?"
echo "TAPIO-SMOKE-END"
/bb/sync
/bb/poweroff -f
