/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel timestamps (bpf_ktime_get_boot_ns: CLOCK_BOOTTIME) to wall-clock time. */
#pragma once
#include <stdint.h>

struct timeconv {
	int64_t offset_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, best of a few samples */
};

/* Measure the offset now; call again periodically to follow clock steps (NTP, settimeofday). */
void timeconv_update(struct timeconv *tc);
/* Wall-clock ns since the epoch for a boot-time ns stamp. */
int64_t timeconv_wall_ns(const struct timeconv *tc, uint64_t boot_ns);
/* Monotonic / boot clocks in ns. */
uint64_t timeconv_now_mono_ns(void);
uint64_t timeconv_now_boot_ns(void);
