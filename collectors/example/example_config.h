/* SPDX-License-Identifier: Apache-2.0 */
/* The example collector's config section, collectors.example.
 * Keys, defaults and ranges: example_def.c. */
#pragma once
#include "config.h"

struct config_example {
	struct config_collector_common common;
	uint32_t tick_ms; /* one reading of /proc/loadavg per tick */
};
