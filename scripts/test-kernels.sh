#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run the eBPF/integration tests that need no container runtime on Debian's own kernels, under
# qemu-system-x86_64 with TCG (no KVM: /dev/kvm hangs on some hosts, and TCG runs anywhere).
#
#   scripts/test-kernels.sh [--ci] [--no-btf] [SERIES...]     SERIES: 6.1 6.12 (default: both)
#
# Per kernel: the newest linux-image-<series>*-cloud-amd64-unsigned of the configured Debian
# archive is fetched with `apt-get download` and unpacked under build/kernels/ (cached); an
# initramfs is built from busybox-static, our binaries and test runner, the real programs the
# tests run (dash, coreutils, dnsmasq, dig), every shared library they need (ldd) and the few
# kernel modules the tests use. Inside, /init mounts proc, sys, devtmpfs, tracefs, bpffs,
# cgroup2, runs build/tests/integration-tests on the suites below and prints the TAP report;
# this script parses it into per-kernel passed / failed / skipped (with the reason), writes
# build/kernels/results/<kernel>.txt and the README "Kernels" table (build/kernels/kernels.md).
#
# --ci     the smaller CI subset (CI_SUITES), CI=true inside the VM (a skip is a failure)
# --no-btf /sys/kernel/btf is hidden inside the VM: collectors that need BTF must exit 125
#          naming it, the others must still run (reported, not part of the pass/fail count)
# VM_RUN=<script> (with VM_STAGE=<files>): the VM runs that script instead of the probe and the
#          tests, console in results/<kernel>-run.log (bench/kernel-hooks.sh)
# TEST_SLOW=<n> (default 4): TAPIO_TEST_SLOW inside the VM, the factor the integration tests
#          scale their deadlines by (tests/integration/harness.h harness_slow); TCG on shared
#          cores runs them several times slower than the host
# A guest kernel that hangs (a CPU reported by the soft-lockup watchdog as stuck for
# HUNG_S=120 s or more of guest time) is stopped at once rather than at VM_TIMEOUT, its console
# kept as <kernel>-hung.log, and booted once more; the summary line says so. Seen under TCG:
# both vCPUs stuck in the kernel with RCU stalls, once in about twenty boots of 6.1.
# Exit: 0 every kernel passed, 1 a test failed, 2 a kernel could not be had or booted.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${BUILD:-build}
KDIR="$SRC/$BUILD/kernels"
QEMU=${QEMU:-qemu-system-x86_64}
MEM=${MEM:-2048}
SMP=${SMP:-2}
# Per-kernel wall-clock budget for the whole VM run (seconds).
VM_TIMEOUT=${VM_TIMEOUT:-1500}
TEST_SLOW=${TEST_SLOW:-4}
HUNG_S=${HUNG_S:-120}

# The subset that needs no container runtime: process, network, security, DNS, sandbox and
# audit (hardening), supervision (+ tapioctl, the file sink and the example collector).
FULL_SUITES='process_e2e|network|security|dns|sandbox|sandbox_e2e|hardening|supervision|tapioctl|file_sink|example'
# CI: every eBPF collector once, plus the sandbox as the kernel applies it (a few minutes).
CI_SUITES='process_e2e|network|security|dns|sandbox_e2e'

ci=0 nobtf=0 series=()
for a in "$@"; do
	case "$a" in
	--ci) ci=1 ;;
	--no-btf) nobtf=1 ;;
	-h | --help) sed -n '3,25p' "$0"; exit 0 ;;
	*) series+=("$a") ;;
	esac
done
[ ${#series[@]} -gt 0 ] || series=(6.1 6.12)
SUITES=${SUITES:-$([ $ci -eq 1 ] && echo "$CI_SUITES" || echo "$FULL_SUITES")}

log() { printf 'test-kernels: %s\n' "$*" >&2; }
# results of the CI subset and of a run without BTF are kept apart from the full run's
suffix() { [ $ci -eq 1 ] && printf -- -ci; [ $nobtf -eq 1 ] && printf -- -nobtf; [ -n "${VM_RUN:-}" ] && printf -- -run; true; }

need_tools()
{
	local missing=()
	command -v "$QEMU" >/dev/null || missing+=(qemu-system-x86)
	[ -x /bin/busybox ] || missing+=(busybox-static)
	command -v cpio >/dev/null || missing+=(cpio)
	command -v depmod >/dev/null || missing+=(kmod)
	command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
	command -v dig >/dev/null || missing+=(bind9-dnsutils)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		log "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${missing[@]}" >/dev/null || { apt-get update -q >/dev/null &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends "${missing[@]}" >/dev/null; }
	fi
	command -v "$QEMU" >/dev/null && [ -x /bin/busybox ] && command -v cpio >/dev/null
}

# The newest cloud kernel package of a series in the archive apt knows (6.1 → 6.1.0-N-cloud…,
# 6.12 → 6.12.N+debX-cloud…). The cloud flavour is small and has BTF, kprobes, fentry, BPF LSM
# (in CONFIG_LSM, so active without lsm=) and modules.
kernel_package()
{
	local s=$1 re
	re="^linux-image-${s//./\\.}[.-][0-9].*-cloud-amd64-unsigned\$"
	apt-cache pkgnames linux-image- 2>/dev/null | grep -E "$re" | sort -V | tail -1
}

# Fetch and unpack a kernel: prints its directory (build/kernels/<package>).
fetch_kernel()
{
	local s=$1 pkg dir
	pkg=$(kernel_package "$s")
	if [ -z "$pkg" ]; then
		[ "$(id -u)" -eq 0 ] && apt-get update -q >/dev/null 2>&1
		pkg=$(kernel_package "$s")
	fi
	if [ -z "$pkg" ]; then
		# offline: use what an earlier run cached
		dir=$(ls -d "$KDIR"/linux-image-"$s"[.-][0-9]*-cloud-amd64-unsigned 2>/dev/null | sort -V | tail -1)
		[ -n "$dir" ] && { echo "$dir"; return 0; }
		log "no linux-image-$s*-cloud-amd64-unsigned in the archive apt knows"
		return 1
	fi
	dir="$KDIR/$pkg"
	if [ ! -e "$dir/.unpacked" ]; then
		mkdir -p "$KDIR/debs" && rm -rf "$dir"
		(cd "$KDIR/debs" && ls "$pkg"_*.deb >/dev/null 2>&1 || apt-get download -q "$pkg" >/dev/null 2>&1) ||
			{ log "apt-get download $pkg failed"; return 1; }
		dpkg -x "$(ls "$KDIR/debs/$pkg"_*.deb | sort -V | tail -1)" "$dir" &&
			touch "$dir/.unpacked" || return 1
	fi
	echo "$dir"
}

# Copy a file (following symlinks) to the same path under the staging root, with its libraries.
stage_bin()
{
	local root=$1 f
	shift
	for f in "$@"; do
		[ -e "$f" ] || { log "missing $f"; continue; }
		mkdir -p "$root$(dirname "$f")"
		cp -L --preserve=mode "$f" "$root$f"
		ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
}

# The kernel-independent part of the initramfs: build/kernels/common.cpio.
build_common()
{
	local root="$KDIR/rootfs" out="$KDIR/common.cpio"
	rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,var/tmp,bb}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	cp /bin/busybox "$root/bb/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bb/$a"; done
	# The real programs the tests run by path (exec events name them), and their libraries.
	stage_bin "$root" /bin/sh /bin/dash /bin/echo /bin/true /bin/false /bin/sleep /bin/cat /bin/ip /sbin/tc \
		/usr/bin/env /usr/sbin/dnsmasq /usr/bin/dig /usr/sbin/bpftool
	# Our binaries and the test runner, at the same path as here (tapiod checks that every
	# directory up to collector_dir is root's; the harness finds tests/helpers above build/).
	local f
	for f in "$SRC/$BUILD"/bin/* "$SRC/$BUILD"/tests/integration-tests "$SRC/$BUILD"/tests/security_actions \
		"$SRC/$BUILD"/bpf/x86/*.bpf.o; do
		stage_bin "$root" "$f"
	done
	mkdir -p "$root$SRC/tests" && cp -r "$SRC/tests/helpers" "$root$SRC/tests/"
	# VM_RUN=<script under the source tree>: run it instead of the tests (bench/kernel-hooks.sh)
	if [ -n "${VM_RUN:-}" ]; then
		mkdir -p "$root$SRC/$(dirname "$VM_RUN")" && cp "$SRC/$VM_RUN" "$root$SRC/$VM_RUN"
		for f in ${VM_STAGE:-}; do stage_bin "$root" "$f"; done
	fi
	cp "$SRC/Makefile" "$root$SRC/"
	[ -d "$SRC/deploy" ] && cp -r "$SRC/deploy" "$root$SRC/"
	# name service: root and nobody, as the sandbox and hardening tests use
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
	: >"$root/etc/resolv.conf"
	echo tapio-vm >"$root/etc/hostname"
	cp /etc/ld.so.cache "$root/etc/" 2>/dev/null
	cp scripts/kernel-vm-init.sh "$root/init" && chmod 755 "$root/init"
	(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out.tmp" && mv "$out.tmp" "$out"
}

# Modules the tests may load (network: veth, tc ingress; security: a module to load), with their
# dependencies, decompressed, and depmod'ed: build/kernels/<kernel>/modules.cpio.
MODULES='veth sch_ingress cls_bpf overlay nlmon' # nlmon: security::module_load (loaded by the test)
build_modules()
{
	local kdir=$1 kver=$2 out="$1/modules.cpio" root="$1/modroot" m p
	rm -rf "$root" && mkdir -p "$root/lib/modules/$kver"
	local mdir="$kdir/lib/modules/$kver"
	# the package leaves modules.dep to the installer's depmod
	[ -e "$mdir/modules.dep" ] || depmod -b "$kdir" "$kver" || return 1
	cp "$mdir"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null
	for m in $MODULES; do
		for p in $(modprobe -d "$kdir" -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" {print $2}'); do
			p=${p#"$kdir"}
			mkdir -p "$root$(dirname "$p")"
			case "$p" in
			*.xz) xz -dc "$kdir$p" >"$root${p%.xz}" ;;
			*.zst) zstd -qdc "$kdir$p" >"$root${p%.zst}" ;;
			*) cp "$kdir$p" "$root$p" ;;
			esac
		done
	done
	depmod -b "$root" "$kver" 2>/dev/null
	(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out" &&
		echo "$MODULES" >"$kdir/modules.list"
}

# Boot one kernel; the console goes to build/kernels/results/<kernel>.log.
run_kernel()
{
	local kdir=$1 kver vmlinuz initrd logf cmdline
	kver=$(basename "$(ls -d "$kdir"/lib/modules/*)")
	vmlinuz="$kdir/boot/vmlinuz-$kver"
	[ -e "$kdir/modules.cpio" ] && [ "$(cat "$kdir/modules.list" 2>/dev/null)" = "$MODULES" ] ||
		build_modules "$kdir" "$kver"
	initrd="$KDIR/initrd-$kver.cpio"
	cat "$KDIR/common.cpio" "$kdir/modules.cpio" >"$initrd"
	logf="$KDIR/results/$kver$(suffix).log"
	mkdir -p "$KDIR/results"
	cmdline="console=ttyS0 panic=-1 quiet loglevel=4 ${KERNEL_APPEND:-} tapio.suites=$SUITES tapio.ci=$ci tapio.nobtf=$nobtf tapio.slow=$TEST_SLOW tapio.src=$SRC tapio.build=$BUILD${VM_RUN:+ tapio.run=$VM_RUN}"
	log "booting $kver under TCG ($SMP cpus, ${MEM} MiB); console: $logf"
	local t0=$SECONDS hung=ok
	timeout --foreground -k 10 "$VM_TIMEOUT" nice -n 10 "$QEMU" -accel tcg -cpu max -smp "$SMP" -m "$MEM" \
		-no-reboot -nographic -monitor none -serial stdio -nic none \
		-kernel "$vmlinuz" -initrd "$initrd" -append "$cmdline" </dev/null >"$logf" 2>&1 &
	VM_PID=$!
	# in the background it ignores ^C (no job control): stop it with this subshell
	trap '[ -z "${VM_PID:-}" ] || kill "$VM_PID" 2>/dev/null' EXIT
	while kill -0 "$VM_PID" 2>/dev/null; do
		sleep 2
		# the longest stall the guest's soft-lockup watchdog has reported so far
		local stuck
		stuck=$(tr -d '\r' <"$logf" | sed -n 's/.*soft lockup - CPU#[0-9]* stuck for \([0-9]*\)s!.*/\1/p' |
			sort -n | tail -1)
		if [ "${stuck:-0}" -ge "$HUNG_S" ]; then
			log "$kver: the guest kernel hangs (a CPU stuck for ${stuck} s): stopping the VM"
			hung=hung
			pkill -P "$VM_PID" 2>/dev/null
			kill "$VM_PID" 2>/dev/null
			break
		fi
	done
	wait "$VM_PID"
	local qrc=$?
	VM_PID=
	rm -f "$initrd"
	log "$kver: VM ran $((SECONDS - t0)) s (qemu exit $qrc)"
	echo "$kver" "$logf" "$hung"
}

# Parse one console log into the per-test results and a summary line.
report()
{
	local kver=$1 logf=$2 out="$KDIR/results/$1$(suffix).txt"
	tr -d '\r' <"$logf" | awk -v kver="$kver" -v out="$out" -v suites="^($SUITES)::" '
		/^TAPIO-FEATURES / { sub(/^TAPIO-FEATURES /, ""); features = $0 }
		/^TAPIO-TAP-BEGIN/ { intap = 1; next }
		/^TAPIO-TAP-END/ { intap = 0; next }
		/^TAPIO-RC / { rc = $2 }
		intap && /^(not )?ok / {
			name = $0; sub(/^(not )?ok( [0-9]+)? - /, "", name); sub(/ .*/, "", name)
			if (name !~ suites)
				next	# left out by the filter (criterion lists it as skipped)
			if ($0 ~ /# SKIP/) {
				why = $0; sub(/.*# SKIP */, "", why)
				skipped++; res[name] = "skipped: " why
			} else if ($0 ~ /^ok/) { passed++; res[name] = "passed" }
			else { failed++; res[name] = "FAILED" }
		}
		END {
			printf "" > out
			for (n in res) print n "\t" res[n] > out
			if (rc == "") { print kver ": NO RESULT (the VM did not finish: see the log)"; exit 3 }
			printf "%s: %d passed, %d failed, %d skipped (runner exit %s)\n", kver, passed, failed, skipped, rc
			if (features != "") printf "%s: %s\n", kver, features
			exit (failed > 0 || rc != 0) ? 1 : 0
		}'
}

need_tools || { log "qemu-system-x86_64, busybox-static and cpio are needed"; exit 2; }
for b in "$BUILD"/bin/tapiod "$BUILD"/tests/integration-tests; do
	[ -x "$b" ] || { log "$b missing: run make tests first"; exit 2; }
done
mkdir -p "$KDIR"
build_common || { log "could not build the initramfs"; exit 2; }

status=0
summary=()
for s in "${series[@]}"; do
	kdir=$(fetch_kernel "$s") || { summary+=("$s: NOT AVAILABLE in the Debian archive here"); status=2; continue; }
	read -r kver logf hung < <(run_kernel "$kdir")
	again=""
	if [ "$hung" = hung ]; then
		mv "$logf" "${logf%.log}-hung.log"
		log "$kver: booting it once more (the hung console: ${logf%.log}-hung.log)"
		read -r kver logf hung < <(run_kernel "$kdir")
		again=" -- second boot: the first hung in the guest kernel (${logf%.log}-hung.log)"
	fi
	line=$(report "$kver" "$logf")
	rc=$?
	summary+=("$line$again")
	[ $rc -eq 0 ] || { [ $rc -eq 3 ] && status=2 || { [ $status -eq 0 ] && status=1; }; }
	sed -n '/^TAPIO-RC/q;/\[FAIL\]\|Assertion\|\[SKIP\]\|\[----\]/p' "$logf" | grep -v 'Test is disabled\|^\s*$' | head -60 >&2
done
echo "== kernels ($( [ $ci -eq 1 ] && echo CI subset || echo full subset): $SUITES)"
printf '%s\n' "${summary[@]}"
[ -x scripts/kernels-table.sh ] && scripts/kernels-table.sh "$KDIR/results" >"$KDIR/kernels.md" 2>/dev/null
exit $status
