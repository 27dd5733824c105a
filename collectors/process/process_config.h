/* SPDX-License-Identifier: Apache-2.0 */
/* The process collector's config section, collectors.process.
 * Keys, defaults and ranges: process_def.c. */
#pragma once
#include "config.h"

struct config_process {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;
	enum config_hooks hooks;
	uint32_t argv_max_args;
	uint32_t argv_max_bytes;	      /* also a kernel copy bound */
	bool include_threads;		      /* fork events for new threads too */
	bool containers_only;		      /* only events from container cgroups */
	struct config_string_list comm_allow; /* if non-empty, only these comms */
	struct config_string_list comm_deny;  /* never these comms */
	bool force_fallback;		      /* poll /proc instead of eBPF (DEGRADED; tests) */
	uint32_t poll_interval_ms;	      /* /proc polling period */
};
