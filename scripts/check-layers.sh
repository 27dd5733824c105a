#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tapiod's modules depend one way (the order is written at the top of supervisor/policy.h): a
# header or source file of one module includes only the headers of modules before it in ORDER
# (and its own). Part of `make check`.
set -eu
cd "$(dirname "$0")/.."
ORDER="policy budget meta spool sink route child link audit identity sup control http main"
rank() {
	i=0
	for m in $ORDER; do
		[ "$m" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo -1
}
module_of() {
	b=$(basename "$1"); b=${b%.[ch]}
	case $b in sinks|sink_*) b=sink ;; esac
	echo "$b"
}
bad=0
for f in supervisor/*.[ch]; do
	m=$(module_of "$f"); r=$(rank "$m")
	if [ "$r" -lt 0 ]; then echo "$f: module '$m' is not in the order of check-layers.sh"; bad=1; continue; fi
	for inc in $(sed -n 's/^#include "\([a-z_]*\)\.h"$/\1/p' "$f"); do
		[ -e "supervisor/$inc.h" ] || continue # common/ or generated
		ri=$(rank "$(module_of "$inc.h")")
		if [ "$ri" -gt "$r" ]; then
			echo "$f includes $inc.h: $m may use only modules before it ($ORDER)"; bad=1
		fi
	done
done
exit $bad
