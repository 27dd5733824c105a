// SPDX-License-Identifier: Apache-2.0
// Boot-time → wall-clock conversion. The offset is sampled as realtime bracketed by two
// boottime reads; the tightest bracket of a few tries wins, so a preemption between the reads
// does not skew every event by milliseconds.
#include "timeconv.h"

#include <time.h>

static uint64_t ts_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t timeconv_now_mono_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
}

uint64_t timeconv_now_boot_ns(void)
{
	return ts_ns(CLOCK_BOOTTIME);
}

void timeconv_update(struct timeconv *tc)
{
	uint64_t best_gap = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t b1 = ts_ns(CLOCK_BOOTTIME);
		uint64_t rt = ts_ns(CLOCK_REALTIME);
		uint64_t b2 = ts_ns(CLOCK_BOOTTIME);
		uint64_t gap = b2 - b1;
		if (gap < best_gap) {
			best_gap = gap;
			tc->offset_ns = (int64_t)rt - (int64_t)(b1 + gap / 2);
		}
	}
}

int64_t timeconv_wall_ns(const struct timeconv *tc, uint64_t boot_ns)
{
	return (int64_t)boot_ns + tc->offset_ns;
}
