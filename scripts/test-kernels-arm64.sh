#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# arm64 smoke: every arm64 BPF object (build/bpf/arm64/*.bpf.o) loaded through the arm64 verifier
# and attached on Debian's own arm64 kernels, under qemu-system-aarch64 (-M virt -cpu max, TCG).
#
#   scripts/test-kernels-arm64.sh [SERIES...]      SERIES: 6.1 6.12 (default: both)
#   scripts/test-kernels-arm64.sh --vmlinux-h [SERIES]   regenerate bpf/vmlinux/arm64/vmlinux.h
#                                                  from that kernel's BTF (default 6.1)
#
# The arm64 packages come from the Debian archive the host's apt uses, through a private apt
# state for arm64 under build/kernels/arm64/apt (the host's dpkg architectures stay as they are):
# the newest linux-image-<series>*-cloud-arm64-unsigned, busybox-static, and the static libbpf,
# libelf, zlib and zstd that tests/kernels/bpf_smoke.c is linked with (aarch64-linux-gnu-gcc
# -static). The initramfs holds busybox, bpf-smoke, the objects and /init
# (scripts/kernel-vm-init-arm64.sh). bpf-smoke loads each program alone (the verifier's verdict
# and log per program; a program whose hook the kernel lacks is reported absent, as the
# collector leaves it out), attaches it where its hook exists, drives exec/fork/TCP/UDP/fsync/
# setuid/namespace/cgroup activity, an OOM kill in a small cgroup and a module load (the kernel's
# dummy.ko), and reports how often each attached program ran. Results:
# build/kernels/arm64/results/<kernel>.{log,txt}; the table: scripts/kernels-table-arm64.sh.
# Exit: 0 every program loaded on every kernel, 1 one did not, 2 a kernel could not be had or
# booted.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${BUILD:-build}
ADIR="$SRC/$BUILD/kernels/arm64"
APTR="$ADIR/apt"
QEMU=${QEMU:-qemu-system-aarch64}
MEM=${MEM:-1024}
SMP=${SMP:-2}
VM_TIMEOUT=${VM_TIMEOUT:-900}
# the arm64 packages bpf-smoke and the initramfs are made of
SYSROOT_PKGS='libbpf-dev libelf-dev zlib1g-dev libzstd-dev busybox-static'

log() { printf 'test-kernels-arm64: %s\n' "$*" >&2; }

vmlinux_h=0 series=()
for a in "$@"; do
	case "$a" in
	--vmlinux-h) vmlinux_h=1 ;;
	-h | --help) sed -n '3,20p' "$0"; exit 0 ;;
	*) series+=("$a") ;;
	esac
done
[ ${#series[@]} -gt 0 ] || { [ $vmlinux_h -eq 1 ] && series=(6.1) || series=(6.1 6.12); }

need_tools()
{
	local missing=()
	command -v "$QEMU" >/dev/null || missing+=(qemu-system-arm)
	command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
	[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-arm64-cross)
	[ -e /usr/aarch64-linux-gnu/include/linux/bpf.h ] || missing+=(linux-libc-dev-arm64-cross)
	command -v cpio >/dev/null || missing+=(cpio)
	command -v python3 >/dev/null || missing+=(python3)
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || { log "missing ${missing[*]} (scripts/install-deps.sh --arm64)"; return 1; }
	log "installing ${missing[*]}"
	TAPIO_DEPS_ARM64=1 ./scripts/install-deps.sh
}

# apt with a private state for arm64: the host's sources, its keyrings, nothing else of its state
aptx()
{
	APT_CONFIG="$APTR/apt.conf" "$@"
}
apt_setup()
{
	[ -e "$APTR/apt.conf" ] && return 0
	# no directory named *.d: the Makefile includes every *.d under build/
	mkdir -p "$APTR"/etc/{sources,parts,preferences} "$APTR"/var/lib/apt/lists/partial \
		"$APTR"/var/cache/apt/archives/partial "$APTR"/var/lib/dpkg
	: >"$APTR/var/lib/dpkg/status"
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		# only the Debian archive (its keyring): arm64 for every entry
		grep -q 'debian' "$f" || continue
		sed '/^Architectures:/d; s/^Types: deb$/Types: deb\nArchitectures: arm64/' "$f" >"$APTR/etc/sources/$(basename "$f")"
	done
	[ -e /etc/apt/sources.list ] && grep -E '^deb .*debian' /etc/apt/sources.list |
		sed 's/^deb \(\[[^]]*\] \)\?/deb [arch=arm64] /' >"$APTR/etc/sources/host.list"
	cat >"$APTR/apt.conf" <<-EOF
		Dir "$APTR/";
		Dir::State::status "$APTR/var/lib/dpkg/status";
		Dir::Etc::main "/dev/null";
		Dir::Etc::Parts "$APTR/etc/parts";
		Dir::Etc::PreferencesParts "$APTR/etc/preferences";
		Dir::Etc::sourcelist "/dev/null";
		Dir::Etc::sourceparts "$APTR/etc/sources";
		Dir::Etc::trusted "/etc/apt/trusted.gpg";
		Dir::Etc::trustedparts "/etc/apt/trusted.gpg.d";
		APT::Architecture "arm64";
		APT::Architectures { "arm64"; };
		APT::Sandbox::User "root";
	EOF
}
apt_update()
{
	aptx apt-get update -q >/dev/null 2>&1 || log "apt-get update (arm64) failed"
}

kernel_package()
{
	local s=$1 re
	re="^linux-image-${s//./\\.}[.-][0-9].*-cloud-arm64-unsigned\$"
	aptx apt-cache pkgnames linux-image- 2>/dev/null | grep -E "$re" | sort -V | tail -1
}

# apt-get download into build/kernels/arm64/debs unless there already (prints the .deb)
download()
{
	local pkg=$1 deb
	mkdir -p "$ADIR/debs"
	deb=$(ls "$ADIR/debs/${pkg}_"*_arm64.deb 2>/dev/null | sort -V | tail -1)
	if [ -z "$deb" ]; then
		(cd "$ADIR/debs" && aptx apt-get download -q "$pkg" >/dev/null 2>&1) || { log "apt-get download $pkg (arm64) failed"; return 1; }
		deb=$(ls "$ADIR/debs/${pkg}_"*_arm64.deb | sort -V | tail -1)
	fi
	echo "$deb"
}

# Fetch and unpack a kernel: prints its directory (build/kernels/arm64/<package>).
fetch_kernel()
{
	local s=$1 pkg dir deb
	pkg=$(kernel_package "$s")
	[ -n "$pkg" ] || { apt_update; pkg=$(kernel_package "$s"); }
	if [ -z "$pkg" ]; then
		dir=$(ls -d "$ADIR"/linux-image-"$s"[.-][0-9]*-cloud-arm64-unsigned 2>/dev/null | sort -V | tail -1)
		[ -n "$dir" ] && { echo "$dir"; return 0; }
		log "no linux-image-$s*-cloud-arm64-unsigned in the archive apt knows"
		return 1
	fi
	dir="$ADIR/$pkg"
	if [ ! -e "$dir/.unpacked" ]; then
		deb=$(download "$pkg") || return 1
		rm -rf "$dir" && dpkg -x "$deb" "$dir" && touch "$dir/.unpacked" || return 1
	fi
	echo "$dir"
}

# The kernel's BTF, cut out of its Image (arm64 boots an uncompressed Image; the .BTF section is
# in it as one blob: magic 0xeB9F, version 1, a 24-byte header, types then strings).
extract_btf()
{
	python3 - "$1" "$2" <<-'EOF'
		import struct, sys
		data = open(sys.argv[1], 'rb').read()
		if data[:2] == b'\x1f\x8b':
		    import gzip
		    data = gzip.decompress(data)
		best = None
		i = data.find(b'\x9f\xeb\x01\x00')
		while i >= 0:
		    hl, toff, tlen, soff, slen = struct.unpack_from('<IIIII', data, i + 4)
		    if hl == 24 and toff == 0 and soff == tlen and tlen > 1 << 20:
		        n = hl + soff + slen
		        if best is None or n > best[1]:
		            best = (i, n)
		    i = data.find(b'\x9f\xeb\x01\x00', i + 1)
		if best is None:
		    sys.exit('no BTF blob in ' + sys.argv[1])
		open(sys.argv[2], 'wb').write(data[best[0]:best[0] + best[1]])
	EOF
}

gen_vmlinux_h()
{
	local kdir=$1 kver out=bpf/vmlinux/arm64/vmlinux.h
	kver=$(basename "$(ls -d "$kdir"/lib/modules/*)")
	extract_btf "$kdir/boot/vmlinuz-$kver" "$ADIR/btf-$kver" || return 1
	mkdir -p "$(dirname "$out")"
	{
		printf '/* arm64 vmlinux.h: the BTF of Debian'\''s %s (%s),\n' "$(basename "$kdir")" "$kver"
		printf '   cut from its Image by scripts/test-kernels-arm64.sh --vmlinux-h, bpftool btf dump format c. */\n'
		bpftool btf dump file "$ADIR/btf-$kver" format c
	} >"$out.tmp" && mv "$out.tmp" "$out" && log "wrote $out from $kver"
}

# bpf-smoke for arm64, static (the initramfs has no libc): build/kernels/arm64/bpf-smoke
build_smoke()
{
	local sys="$ADIR/sysroot" p deb out="$ADIR/bpf-smoke"
	if [ ! -e "$sys/.unpacked" ]; then
		rm -rf "$sys"
		for p in $SYSROOT_PKGS; do
			deb=$(download "$p") || { apt_update; deb=$(download "$p"); } || return 1
			dpkg -x "$deb" "$sys" || return 1
		done
		touch "$sys/.unpacked"
	fi
	aarch64-linux-gnu-gcc -O2 -Wall -static -I"$sys/usr/include" -o "$out" tests/kernels/bpf_smoke.c \
		-L"$sys/usr/lib/aarch64-linux-gnu" -lbpf -lelf -lz -lzstd 2>"$ADIR/bpf-smoke.build.log" ||
		{ cat "$ADIR/bpf-smoke.build.log" >&2; return 1; }
}

# What the collectors decide at run time, told to bpf-smoke: the security collector attaches
# its two SEC("tp") programs to its syscall list (collectors/security/security.c, read from
# there); the dns collector, when its first load fails, loads again without
# bpf_get_current_comm, then without bpf_get_current_pid_tgid (try_bpf in collectors/dns/dns.c).
smoke_args()
{
	local s en='' ex=''
	for s in $(sed -n 's/^\t{"\([a-z_0-9]*\)", SYS_.*/\1/p' collectors/security/security.c); do
		en="$en,syscalls/sys_enter_$s"
		ex="$ex,syscalls/sys_exit_$s"
	done
	echo "--exec /bb/true --oom --tp security/handle_enter=${en#,} --tp security/handle_exit=${ex#,}" \
		"--retry dns:cfg_with_comm=0 --retry dns:cfg_with_pid=0,cfg_with_comm=0"
}

build_initrd()
{
	local root="$ADIR/rootfs" out="$ADIR/initrd.cpio" a
	rm -rf "$root" && mkdir -p "$root"/{bin,bb,obj,proc,sys,dev,tmp,etc}
	cp "$ADIR/sysroot/bin/busybox" "$root/bb/busybox"
	# the applet names: busybox-static of the same release on the host lists them; else a few
	for a in $( (/bin/busybox --list 2>/dev/null) || echo sh mount mkdir cat uname ip sync poweroff true sleep); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bb/$a"
	done
	ln -sf /bb/sh "$root/bin/sh"
	cp "$ADIR/bpf-smoke" "$root/bin/bpf-smoke"
	cp "$SRC/$BUILD"/bpf/arm64/*.bpf.o "$root/obj/"
	smoke_args >"$root/smoke.args"
	cp scripts/kernel-vm-init-arm64.sh "$root/init" && chmod 755 "$root/init"
	(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out"
}

# The kernel's own dummy.ko (no dependencies), decompressed, for the module_load tracepoint:
# <kernel dir>/module.cpio with /mod/dummy.ko.
build_module()
{
	local kdir=$1 kver=$2 root="$1/modroot" m
	rm -rf "$root" && mkdir -p "$root/mod"
	m=$(find "$kdir/lib/modules/$kver" -name 'dummy.ko*' | head -1)
	case "$m" in
	*.xz) xz -dc "$m" >"$root/mod/dummy.ko" ;;
	*.zst) zstd -qdc "$m" >"$root/mod/dummy.ko" ;;
	?*) cp "$m" "$root/mod/dummy.ko" ;;
	esac
	(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$kdir/module.cpio"
}

run_kernel()
{
	local kdir=$1 kver logf cmdline initrd
	kver=$(basename "$(ls -d "$kdir"/lib/modules/*)")
	[ -e "$kdir/module.cpio" ] || build_module "$kdir" "$kver"
	initrd="$ADIR/initrd-$kver.cpio"
	cat "$ADIR/initrd.cpio" "$kdir/module.cpio" >"$initrd"
	logf="$ADIR/results/$kver.log"
	mkdir -p "$ADIR/results"
	cmdline="console=ttyAMA0 panic=-1 quiet loglevel=4"
	log "booting $kver under qemu-system-aarch64 TCG ($SMP cpus, $MEM MiB); console: $logf"
	local t0=$SECONDS
	timeout --foreground -k 10 "$VM_TIMEOUT" nice -n 10 "$QEMU" -M virt -cpu max -accel tcg -smp "$SMP" \
		-m "$MEM" -no-reboot -nographic -monitor none -serial stdio -nic none \
		-kernel "$kdir/boot/vmlinuz-$kver" -initrd "$initrd" -append "$cmdline" </dev/null >"$logf" 2>&1
	local qrc=$?
	rm -f "$initrd"
	log "$kver: VM ran $((SECONDS - t0)) s (qemu exit $qrc)"
	echo "$kver" "$logf"
}

# One console log → <kernel>.txt (the SMOKE lines) and a summary line.
report()
{
	local kver=$1 logf=$2 out="$ADIR/results/$1.txt"
	tr -d '\r' <"$logf" | sed -n '/^TAPIO-FEATURES /p; /^TAPIO-SMOKE-BEGIN/,/^TAPIO-SMOKE-END/p' >"$out"
	awk -v kver="$kver" '
		/^TAPIO-FEATURES / { sub(/^TAPIO-FEATURES /, ""); features = $0 }
		/^SMOKE / { n++; if ($5 ~ /^LOAD-FAILED|^OPEN-FAILED/) lf++; else if ($5 ~ /^ATTACH-FAILED/) af++; else if ($5 ~ /^loaded\+attached/) at++; else if ($5 == "absent") ab++; else lo++ }
		/^SMOKE-RUNS / { if ($4 > 0) ran++ }
		/^TAPIO-SMOKE-RC / { rc = $2 }
		END {
			if (rc == "") { print kver ": NO RESULT (the VM did not finish: see the log)"; exit 3 }
			printf "%s: %d programs: %d loaded+attached (%d ran), %d loaded only, %d attach failed, %d load failed, %d hook absent\n", kver, n, at, ran, lo, af, lf, ab
			if (features != "") printf "%s: %s\n", kver, features
			exit (lf > 0 || rc != 0) ? 1 : 0
		}' "$out"
}

mkdir -p "$ADIR"
need_tools || { log "qemu-system-aarch64, the aarch64 cross compiler and cpio are needed"; exit 2; }
apt_setup
if [ $vmlinux_h -eq 1 ]; then
	kdir=$(fetch_kernel "${series[0]}") || exit 2
	gen_vmlinux_h "$kdir" || exit 2
	exit 0
fi
ls "$BUILD"/bpf/arm64/*.bpf.o >/dev/null 2>&1 || { log "$BUILD/bpf/arm64 empty: run make bpf-arm64 first"; exit 2; }
build_smoke || { log "could not build bpf-smoke for arm64"; exit 2; }
build_initrd || { log "could not build the initramfs"; exit 2; }

status=0
summary=()
for s in "${series[@]}"; do
	kdir=$(fetch_kernel "$s") || { summary+=("$s: NOT AVAILABLE in the Debian archive here"); status=2; continue; }
	read -r kver logf < <(run_kernel "$kdir")
	line=$(report "$kver" "$logf")
	rc=$?
	summary+=("$line")
	[ $rc -eq 0 ] || { [ $rc -eq 3 ] && status=2 || { [ $status -eq 0 ] && status=1; }; }
	grep -a -E '^SMOKE (.* (LOAD|ATTACH|OPEN)-FAILED)|^SMOKE-LOG' "$ADIR/results/$kver.txt" | head -60 >&2
done
echo "== arm64 smoke: $(ls "$BUILD"/bpf/arm64/*.bpf.o | wc -l) BPF objects (bpf-smoke: load each program, attach, run)"
printf '%s\n' "${summary[@]}"
scripts/kernels-table-arm64.sh "$ADIR/results" >"$ADIR/kernels.md" 2>/dev/null
exit $status
