#!/bb/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the test-kernels initramfs (scripts/test-kernels.sh): mount what the collectors need,
# run the integration tests named on the kernel command line, print the TAP report between
# markers on the console, power off.
export PATH=/bin:/usr/bin:/sbin:/usr/sbin:/bb
/bb/mount -t proc proc /proc
/bb/mount -t sysfs sysfs /sys
/bb/mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bb/mkdir -p /dev/pts /dev/shm
/bb/mount -t devpts devpts /dev/pts
/bb/mount -t tmpfs tmpfs /dev/shm
/bb/mount -t tmpfs -o mode=1777 tmpfs /tmp
/bb/mount -t tmpfs -o mode=755 tmpfs /run && /bb/mkdir -p /run/netns && /bb/ln -s /run /var/run
/bb/mount -t tracefs tracefs /sys/kernel/tracing
/bb/mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
/bb/mount -t bpf bpf /sys/fs/bpf
/bb/mount -t cgroup2 cgroup2 /sys/fs/cgroup
/bb/hostname tapio-vm
/bb/ip link set lo up

arg()
{
	for w in $(/bb/cat /proc/cmdline); do
		case "$w" in "$1"=*) echo "${w#*=}" ;; esac
	done
}
suites=$(arg tapio.suites)
src=$(arg tapio.src)
build=$(arg tapio.build)
ci=$(arg tapio.ci)
nobtf=$(arg tapio.nobtf)

for m in veth sch_ingress cls_bpf; do /bb/modprobe "$m" 2>/dev/null; done
if [ "$nobtf" = 1 ]; then
	# hide the kernel's BTF: libbpf finds no vmlinux BTF, CO-RE programs cannot load
	/bb/mount -t tmpfs -o ro tmpfs /sys/kernel/btf
fi

feat="kernel=$(/bb/uname -r)"
[ -r /sys/kernel/btf/vmlinux ] && feat="$feat btf" || feat="$feat no-btf"
feat="$feat lsm=$(/bb/cat /sys/kernel/security/lsm 2>/dev/null || { /bb/mount -t securityfs securityfs /sys/kernel/security 2>/dev/null; /bb/cat /sys/kernel/security/lsm; })"
/bb/grep -q ' bpf_lsm_' /proc/kallsyms 2>/dev/null && feat="$feat bpf_lsm_syms"
[ -e /sys/kernel/tracing/kprobe_events ] && feat="$feat kprobes"
[ -e /proc/modules ] && feat="$feat modules"
echo "TAPIO-FEATURES $feat"

cd "$src" || echo "no $src"
export TAPIO_BUILD="$src/$build" HOME=/root

# tapio.run=SCRIPT (test-kernels.sh VM_RUN): run it instead of the probe and the tests
run=$(arg tapio.run)
if [ -n "$run" ]; then
	/bin/sh "$src/$run" "$src/$build" 2>&1
	echo "TAPIO-RUN-END $?"
	/bb/sync
	/bb/poweroff -f
fi

# Probe: tapiod with every eBPF collector that needs no container runtime; which hook set each
# attached (its "attached ..." log line) or why it did not start (exit code and reason).
probe()
{
	d=/tmp/probe
	/bb/mkdir -p $d
	printf '%s\n' "node_name: vm" "log_level: ${probe_level:-info}" "collector_dir: $src/$build/bin" \
		"control:" "  socket_path: $d/ctl.sock" "collectors:" >$d/tapio.yaml
	for c in ${probe_collectors:-process network security dns}; do
		printf '  %s:\n    enabled: true\n' "$c" >>$d/tapio.yaml
	done
	"$src/$build/bin/tapiod" --config $d/tapio.yaml >/dev/null 2>$d/log &
	tpid=$!
	i=0
	st=
	while [ $i -lt 90 ]; do
		/bb/sleep 1
		i=$((i + 1))
		st=$("$src/$build/bin/tapioctl" --socket $d/ctl.sock status 2>/dev/null) || continue
		echo "$st" | /bb/grep -qE '^(process|network|security|dns) +(STARTING|STOPPED)' && continue
		[ $i -ge 5 ] && break
	done
	echo "$st" | /bb/sed 's/^/TAPIO-STATUS /'
	/bb/kill -TERM $tpid 2>/dev/null
	wait $tpid
	/bb/grep -v ' info: stats ' $d/log | /bb/head -3000 | /bb/sed 's/^/TAPIO-PROBE /'
}
# tapio.loadall=OBJ: load build/bpf/x86/OBJ.bpf.o's programs with bpftool, printing libbpf's
# log with the verifier's (a worker's own log keeps only the start of it).
lobj=$(arg tapio.loadall)
if [ -n "$lobj" ]; then
	/bb/mkdir -p /sys/fs/bpf/root
	echo "TAPIO-LOADALL root"
	bpftool -d prog loadall "$src/$build/bpf/x86/$lobj.bpf.o" /sys/fs/bpf/root >/tmp/loadall 2>&1
	echo "TAPIO-LOADALL rc $?"
	/bb/tail -60 /tmp/loadall
fi
probe_level=$(arg tapio.probelevel)
probe_collectors=$(arg tapio.probe | /bb/tr , ' ')
probe

[ "$ci" = 1 ] && export CI=true
# TCG runs the tests several times slower: their deadlines scale by this (harness_slow)
slow=$(arg tapio.slow)
export TAPIO_TEST_SLOW=${slow:-1}
"$src/$build/tests/integration-tests" --jobs 1 --verbose --color=never --ascii --filter "@($suites)/*" --tap=/tmp/report.tap 2>&1
rc=$?
echo "TAPIO-TAP-BEGIN"
/bb/cat /tmp/report.tap
echo "TAPIO-TAP-END"
echo "TAPIO-RC $rc"
/bb/sync
/bb/poweroff -f
