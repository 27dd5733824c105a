#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run every test: unit tests (no root), then the root-only eBPF/integration tests, then a
# bounded run of each fuzz target. With CI=true, a test that would be skipped fails instead.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
fail=0

echo "== unit tests"
"$BUILD/tests/unit-tests" --jobs 2 || fail=1

echo "== integration tests (real kernel, real processes)"
if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = "true" ]; then
		echo "integration tests need root; CI=true: a skip is a failure" >&2
		fail=1
	else
		echo "SKIPPED: integration tests need root (run make test as root)"
	fi
else
	./scripts/prepare-host.sh
	"$BUILD/tests/integration-tests" --jobs 1 || fail=1
fi

echo "== eBPF/integration tests on Debian's 6.1 kernel under qemu (make test-kernels: 6.1 + 6.12)"
# The CI subset (scripts/test-kernels.sh: process, network, security, DNS, the sandbox as the
# kernel applies it) on a second kernel; exit 2 = no qemu, kernel or root: a skip.
if [ "$(id -u)" -ne 0 ]; then
	kernels_rc=2
else
	./scripts/test-kernels.sh --ci 6.1
	kernels_rc=$?
fi
if [ "$kernels_rc" -eq 2 ]; then
	if [ "${CI:-}" = "true" ]; then
		echo "6.1 kernel run could not run; CI=true: a skip is a failure" >&2
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
	if grep -q 'LeakSanitizer: detected memory leaks' "$BUILD/san/unit.log"; then
		echo "unit tests under ASan: memory leaks (above)" >&2
		fail=1
	fi
	if [ "$(id -u)" -eq 0 ]; then
		"$BUILD/san/tests/integration-tests" --jobs 1 >"$BUILD/san/integration.log" 2>&1
		rc=$?
		# LSan's note about Criterion's own runner thread in forked tests is noise.
		grep -v 'was not suspended. False leaks are possible' "$BUILD/san/integration.log"
		[ "$rc" -eq 0 ] || fail=1
		if grep -q 'LeakSanitizer: detected memory leaks' "$BUILD/san/integration.log"; then
			echo "integration tests under ASan: memory leaks (above)" >&2
			fail=1
		fi
	fi
else
	echo "sanitizer build failed" >&2
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
		fi
	done
else
	echo "fuzz targets did not build" >&2
	fail=1
fi

if [ "$fail" -ne 0 ]; then
	echo "== FAILED"
	exit 1
fi
echo "== all tests passed"
