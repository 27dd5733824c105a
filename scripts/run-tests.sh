#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run every test: unit tests (no root), then the root-only eBPF/integration tests, then a
# bounded run of each fuzz target. With CI=true, a test that would be skipped fails instead.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
fail=0
# What failed, gathered from each stage's output and printed again last: CI shows only the
# tail of a run, and a [FAIL] line from the first stage is thousands of lines above it.
SUMMARY="$BUILD/test-failures.txt"
mkdir -p "$BUILD"
: >"$SUMMARY"
failures() { # stage log: each failed test, with the first line of its assertion message
	awk -v stage="$1" '
		/^\[----\] [^ ]+:[0-9]+: / { where = substr($0, 8, 160); sub(/\r$/, "", where); msg = ""; n = 0; next }
		/^\[----\]   / && where != "" && n < 2 { t = substr($0, 10); sub(/\r$/, "", t); if (t ~ /[^ ]/) { msg = msg "\n      " substr(t, 1, 1500); n++ } next }
		/^\[(FAIL|CRASH)\]/ { l = $0; sub(/\r$/, "", l); print stage ": " l; if (where != "") printf "    %s%s\n", where, msg; where = ""; msg = ""; n = 0 }
	' "$2" >>"$SUMMARY"
}

echo "== unit tests"
"$BUILD/tests/unit-tests" --jobs 2 2>&1 | tee "$BUILD/unit.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
failures unit "$BUILD/unit.log"

echo "== integration tests (real kernel, real processes)"
if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = "true" ]; then
		echo "integration tests need root; CI=true: a skip is a failure" >&2
		echo "integration: not run (needs root)" >>"$SUMMARY"
		fail=1
	else
		echo "SKIPPED: integration tests need root (run make test as root)"
	fi
else
	./scripts/prepare-host.sh
	"$BUILD/tests/integration-tests" --jobs 1 2>&1 | tee "$BUILD/integration.log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
	failures integration "$BUILD/integration.log"
fi

echo "== eBPF/integration tests on Debian's 6.1 kernel under qemu (make test-kernels: 6.1 + 6.12)"
# The CI subset (scripts/test-kernels.sh: process, network, security, DNS, the sandbox as the
# kernel applies it) on a second kernel; exit 2 = no qemu, kernel or root: a skip.
if [ "$(id -u)" -ne 0 ]; then
	kernels_rc=2
else
	./scripts/test-kernels.sh --ci 6.1 2>&1 | tee "$BUILD/kernels.log"
	kernels_rc=${PIPESTATUS[0]}
	failures "kernel 6.1" "$BUILD/kernels.log"
fi
if [ "$kernels_rc" -eq 2 ]; then
	if [ "${CI:-}" = "true" ]; then
		echo "6.1 kernel run could not run; CI=true: a skip is a failure" >&2
		echo "kernel 6.1: could not run" >>"$SUMMARY"
		fail=1
	else
		echo "SKIPPED: 6.1 kernel run (needs root, qemu-system-x86 and Debian's archive)"
	fi
elif [ "$kernels_rc" -ne 0 ]; then
	fail=1
fi

echo "== unit and integration tests again under ASan+UBSan (build/san)"
if make --no-print-directory -s SANITIZE=address,undefined BUILD="$BUILD/san" tests; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} LSAN_OPTIONS=${LSAN_OPTIONS:-verbosity=0}
	# A leak in a forked Criterion test is printed but does not fail that test: look for it.
	"$BUILD/san/tests/unit-tests" --jobs 2 >"$BUILD/san/unit.log" 2>&1
	rc=$?
	cat "$BUILD/san/unit.log"
	[ "$rc" -eq 0 ] || fail=1
	failures "unit (ASan)" "$BUILD/san/unit.log"
	if grep -q 'LeakSanitizer: detected memory leaks' "$BUILD/san/unit.log"; then
		echo "unit tests under ASan: memory leaks (above)" >&2
		echo "unit (ASan): LeakSanitizer reported leaks ($BUILD/san/unit.log)" >>"$SUMMARY"
		fail=1
	fi
	if [ "$(id -u)" -eq 0 ]; then
		# ASan+UBSan runs tapiod and the workers 2-3x slower: the deadlines (only the deadlines,
		# tests/integration/harness.h) get the factor 2 that TAPIO_TEST_SLOW gives.
		TAPIO_TEST_SLOW=${TAPIO_TEST_SLOW:-2} \
			"$BUILD/san/tests/integration-tests" --jobs 1 >"$BUILD/san/integration.log" 2>&1
		rc=$?
		# LSan's note about Criterion's own runner thread in forked tests is noise.
		grep -v 'was not suspended. False leaks are possible' "$BUILD/san/integration.log"
		[ "$rc" -eq 0 ] || fail=1
		failures "integration (ASan)" "$BUILD/san/integration.log"
		if grep -q 'LeakSanitizer: detected memory leaks' "$BUILD/san/integration.log"; then
			echo "integration tests under ASan: memory leaks (above)" >&2
			echo "integration (ASan): LeakSanitizer reported leaks ($BUILD/san/integration.log)" >>"$SUMMARY"
			fail=1
		fi
	fi
else
	echo "sanitizer build failed" >&2
	echo "ASan: the sanitizer build failed" >>"$SUMMARY"
	fail=1
fi

echo "== fuzz targets (${FUZZ_SECONDS}s each)"
if command -v clang >/dev/null && make --no-print-directory -s fuzz >/dev/null; then
	for f in "$BUILD"/fuzz/*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		corpus="tests/fuzz/corpus/$name"
		mkdir -p "$BUILD/fuzz-work/$name"
		if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
			"$BUILD/fuzz-work/$name" $( [ -d "$corpus" ] && echo "$corpus" ) \
			>"$BUILD/fuzz-work/$name.log" 2>&1; then
			echo "fuzz $name: $(grep -Eo 'Done [0-9]+ runs' "$BUILD/fuzz-work/$name.log" | tail -1)"
		else
			echo "fuzz $name: FAILED"; tail -40 "$BUILD/fuzz-work/$name.log"; fail=1
			echo "fuzz: $name failed ($BUILD/fuzz-work/$name.log)" >>"$SUMMARY"
		fi
	done
else
	echo "fuzz targets did not build" >&2
	echo "fuzz: the targets did not build" >>"$SUMMARY"
	fail=1
fi

if [ "$fail" -ne 0 ]; then
	echo "== what failed (each stage's [FAIL] lines, from $SUMMARY)"
	if [ -s "$SUMMARY" ]; then cat "$SUMMARY"; else echo "    no [FAIL] line: see the stage messages above"; fi
	echo "== FAILED"
	exit 1
fi
echo "== all tests passed"
