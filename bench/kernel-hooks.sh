#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `make bench-kernels`: the per-syscall cost of the security collector's hook sets, side by side
# in the same Debian kernel under qemu (scripts/test-kernels.sh with VM_RUN): ns per getppid()
# call without tapiod, with the syscall tracepoints (hooks: tracepoint) and with the best set
# (hooks: auto: fentry/fexit on the syscall functions where the kernel allows it). TCG makes the
# absolute figures meaningless; the ratios to "none" are what counts. Run it alone (CPU heavy):
#   flock /work/integ.lock bench/kernel-hooks.sh [SERIES...]      (default 6.12 6.1)
# Writes the table to stdout and, with OUT=file, to that file.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
series=("$@")
[ ${#series[@]} -gt 0 ] || series=(6.12 6.1)
mkdir -p "$BUILD/bench"
cc -O2 -o "$BUILD/bench/getppid_gen" bench/getppid_gen.c || exit 1
make --no-print-directory -s "$BUILD/bin/tapiod" "$BUILD/bin/tapioctl" \
	"$BUILD/bin/tapio-collector-security" "$BUILD/tests/integration-tests" || exit 1

out=$(mktemp)
{
	echo "| kernel | hook set attached (hooks: auto) | round | none ns/call | tracepoint ns/call | auto ns/call |"
	echo "|---|---|---|---|---|---|"
} >"$out.rows"
summary=()
for s in "${series[@]}"; do
	VM_RUN=bench/kernel-hooks-vm.sh VM_STAGE="$(pwd)/$BUILD/bench/getppid_gen" \
		VM_TIMEOUT=${VM_TIMEOUT:-1200} scripts/test-kernels.sh "$s" >/dev/null
	log=$(ls -t "$BUILD"/kernels/results/*-run.log 2>/dev/null | head -1)
	[ -n "$log" ] || { echo "no VM log for $s" >&2; continue; }
	clean=$(tr -d '\r' <"$log")
	kver=$(echo "$clean" | awk '/^BENCH-KERNEL/ {print $2; exit}')
	if ! echo "$clean" | grep -q '^BENCH-DONE'; then
		echo "$s: the bench did not finish; log $log" >&2
		echo "$clean" | grep -a 'BENCH' >&2
		continue
	fi
	set_auto=$(echo "$clean" | grep -a '^BENCH-LOG auto ' | head -1 | sed -E 's/.*info: attached //; s/; ring buffer.*//')
	set_tp=$(echo "$clean" | grep -a '^BENCH-LOG tracepoint ' | head -1 | sed -E 's/.*info: attached //; s/; ring buffer.*//')
	echo "$clean" | grep -a '^BENCH-STATUS' | sort -u >&2
	echo "$clean" | awk -v k="$kver" -v set="$set_auto" '
		$1 == "BENCH" && ($2 == "none" || $2 == "tracepoint" || $2 == "auto") { v[$2, $3] = $4; if ($3 > n) n = $3 }
		END { for (r = 1; r <= n; r++) printf "| %s | %s | %d | %s | %s | %s |\n", k, set, r, v["none", r], v["tracepoint", r], v["auto", r] }' >>"$out.rows"
	med=$(echo "$clean" | awk '
		function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
		$1 == "BENCH" && $2 == "none" { no[++nn] = $4 } $1 == "BENCH" && $2 == "tracepoint" { tp[++nt] = $4 }
		$1 == "BENCH" && $2 == "auto" { au[++na] = $4 }
		END { m0 = median(no, nn); m1 = median(tp, nt); m2 = median(au, na)
			printf "%.1f %.1f %.1f %.2f %.2f %+.1f %+.1f", m0, m1, m2, m1 / m0, m2 / m0, m1 - m0, m2 - m0 }')
	read -r m0 m1 m2 r1 r2 d1 d2 <<<"$med"
	summary+=("| $kver | $m0 | $m1 (×$r1, $d1) | $m2 (×$r2, $d2) | $set_tp | $set_auto |")
done
{
	echo "| kernel | none: ns/getppid (median) | tracepoint set (ratio, +ns) | hooks: auto (ratio, +ns) | tracepoint run attached | auto run attached |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${summary[@]}"
	echo
	echo "Every round:"
	echo
	cat "$out.rows"
} >"$out"
cat "$out"
[ -n "${OUT:-}" ] && cp "$out" "$OUT"
rm -f "$out" "$out.rows"
