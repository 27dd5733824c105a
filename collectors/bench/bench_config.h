/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark collector's config section, collectors.bench (bench/ only).
 * Keys, defaults and ranges: bench_def.c. */
#pragma once
#include "config.h"

/* One event per getppid() of one pid. */
struct config_bench {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;
	uint32_t pid; /* the generator's pid (tgid); 0 = none */
};
