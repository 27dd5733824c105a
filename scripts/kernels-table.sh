#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The README "Kernels" table from a test-kernels run: kernel × collector × hook set × result.
#   scripts/kernels-table.sh [build/kernels/results]   (markdown on stdout)
# Hook set: what each collector's worker logged when tapiod ran it in the VM before the tests
# (TAPIO-PROBE lines); result: the collector's test suite in that VM (<kernel>.txt).
set -uo pipefail
dir=${1:-build/kernels/results}

# collector → its integration suite, and its minimum kernel (collectors/*/README.md)
declare -A suite=([process]=process_e2e [network]=network [security]=security [dns]=dns)
declare -A minimum=(
	[process]="5.5 + BTF (tp_btf); raw_tp / procfs fallbacks"
	[network]="5.5 + BTF (tp_btf); raw_tp fallback"
	[security]="5.8 + BTF (ring buffer, syscall tracepoints); fentry/fexit set: 5.8 + trampolines"
	[dns]="5.8 (cgroup_skb); pid attribution 6.4; AF_PACKET fallback"
)

echo "| kernel | collector | hook set | result |"
echo "|---|---|---|---|"
for log in $(ls "$dir"/*.log 2>/dev/null | grep -v -E -- '-(ci|nobtf|run)(-nobtf)?\.log$' | sort -V); do
	k=$(basename "$log" .log)
	txt="$dir/$k.txt"
	[ -e "$txt" ] || continue
	clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | tr -d '\r')
	for c in process network security dns; do
		hooks=$(echo "$clean" | grep -a "^TAPIO-PROBE .*tapio-$c\[[0-9]*\] info: attached" | head -1 |
			sed -E 's/.* info: attached //; s/; ring buffer.*//; s/ hooks$//; s/^([0-9]+) security hooks \(exec via ([^)]*)\); syscalls via (.*)/syscalls via \3 (\1 hooks), exec via \2/; s/^([0-9]+) security hooks \(exec via ([^)]*)\)$/syscall tracepoints (\1 hooks), exec via \2/')
		if [ -z "$hooks" ]; then
			hooks=$(echo "$clean" | grep -a "^TAPIO-STATUS $c " | sed -E 's/^TAPIO-STATUS [a-z]+ +([A-Z]+) .* ([0-9]+\/[0-9]+|-) +/\1: /')
			[ -n "$hooks" ] || hooks="not run"
		fi
		s=${suite[$c]}
		p=$(grep -c "^$s::[^	]*	passed" "$txt")
		f=$(grep "^$s::[^	]*	FAILED" "$txt" | cut -f1 | sed "s/^$s:://" | paste -sd, -)
		n=$(grep -c "^$s::" "$txt")
		sk=$(grep -c "^$s::[^	]*	skipped" "$txt")
		if [ "$n" -eq 0 ]; then
			res="not run"
		elif [ -z "$f" ]; then
			res="$p/$n passed$([ "$sk" -gt 0 ] && echo ", $sk skipped")"
		else
			res="$p/$n passed; failed: $f"
		fi
		echo "| $k | $c | $hooks | $res |"
	done
	# the suites that are not one collector's: supervision, sandbox, audit, sinks
	o=$(grep -v -E "^($(IFS='|'; echo "${suite[*]}"))::" "$txt")
	on=$(echo "$o" | grep -c .)
	op=$(echo "$o" | grep -c "	passed")
	of=$(echo "$o" | grep "	FAILED" | cut -f1 | paste -sd, -)
	os=$(echo "$o" | grep -c "	skipped")
	[ "$on" -gt 0 ] && echo "| $k | tapiod (supervision, sandbox, audit, sinks) | - | $op/$on passed$([ "$os" -gt 0 ] && echo ", $os skipped")${of:+; failed: $of} |"
done
echo
echo "| collector | minimum kernel |"
echo "|---|---|"
for c in process network security dns; do
	echo "| $c | ${minimum[$c]} |"
done
# arm64: the BPF objects on Debian's arm64 kernels (make test-kernels-arm64), when it ran
if [ -x "$(dirname "$0")/kernels-table-arm64.sh" ] && ls "$(dirname "$dir")/arm64/results/"*.txt >/dev/null 2>&1; then
	echo
	"$(dirname "$0")/kernels-table-arm64.sh" "$(dirname "$dir")/arm64/results"
fi
