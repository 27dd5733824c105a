#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The README "Kernels" arm64 table from a test-kernels-arm64 run: kernel × BPF object × programs
# loaded (arm64 verifier) / attached / seen running / failed with the reason.
#   scripts/kernels-table-arm64.sh [build/kernels/arm64/results]   (markdown on stdout)
set -uo pipefail
dir=${1:-build/kernels/arm64/results}
ls "$dir"/*.txt >/dev/null 2>&1 || exit 0

echo "| arm64 kernel | BPF object | programs loaded | attached | ran in the smoke | not loaded / not attached |"
echo "|---|---|---|---|---|---|"
for txt in $(ls "$dir"/*.txt | sort -V); do
	k=$(basename "$txt" .txt)
	awk -v k="$k" '
		/^SMOKE-LOG .*: first load failed/ { lastbad = ""; pend = 1; pendwhy = ""; next }
		/^SMOKE / {
			o = $2; p = $3; lastbad = ""
			if (!(o in seen)) { seen[o] = 1; order[++no] = o }
			if ($5 == "absent") { r = $0; sub(/.* absent \(/, "", r); sub(/\)$/, "", r); bad[o] = bad[o] sep(bad[o]) p " absent (" r ")"; next }
			total[o]++
			if ($0 ~ / loaded\+attached with /) { r = $0; sub(/.* with /, "", r); sub(/ \(.*/, "", r); fb[o] = fb[o] sep(fb[o]) p " with " r (pendwhy != "" ? " (first load: " pendwhy ")" : "") }
			pend = 0
			if ($5 ~ /^(LOAD|OPEN)-FAILED/) { r = $0; sub(/.*-FAILED */, "", r); bad[o] = bad[o] sep(bad[o]) p " load failed: " r; lastbad = o SUBSEP p }
			else {
				loaded[o]++
				if ($5 ~ /^loaded\+attached/) attached[o]++
				else if ($5 ~ /^ATTACH-FAILED/) { r = $0; sub(/.*ATTACH-FAILED[^:]*: */, "", r); bad[o] = bad[o] sep(bad[o]) p " attach: " r }
				else { r = $0; sub(/.*no attach: */, "", r); sub(/\)$/, "", r); if (!((o, r) in na)) { nr[o]++; nrs[o, nr[o]] = r }; na[o, r]++; nap[o, r] = p }
			}
		}
		# the verifier'\''s reason: the last line of its log before its statistics
		/^SMOKE-LOG / && !/libbpf:|processed [0-9]+ insns|verification time|stack depth|-- END PROG/ {
			if (lastbad != "") { split(lastbad, lb, SUBSEP); why[lb[1]] = substr($0, 11) }
			else if (pend) pendwhy = substr($0, 11)
		}
		/^SMOKE-RUNS / { if ($4 > 0) ran[$2]++; else if (++nidle[$2] <= 4) idle[$2] = idle[$2] sep(idle[$2]) $3 }
		function sep(s) { return s == "" ? "" : "; " }
		END {
			for (i = 1; i <= no; i++) {
				o = order[i]
				r = (ran[o] + 0) "/" (attached[o] + 0)
				if (idle[o] != "") r = r " (not reached: " idle[o] (nidle[o] > 4 ? " and " nidle[o] - 4 " more" : "") ")"
				# programs left unattached for one reason: counted, not listed one by one
				for (j = 1; j <= nr[o]; j++) {
					x = nrs[o, j]
					bad[o] = bad[o] sep(bad[o]) (na[o, x] > 1 ? na[o, x] " programs" : nap[o, x]) " not attached (" x ")"
				}
				b = bad[o] == "" ? "-" : bad[o]
				if (why[o] != "") b = b " — verifier: " why[o]
				if (fb[o] != "") b = (b == "-" ? "" : b "; ") "loaded on the collector'\''s fallback: " fb[o]
				printf "| %s | %s | %d/%d | %d | %s | %s |\n", k, o, loaded[o], total[o], attached[o], r, b
			}
		}' "$txt"
done
