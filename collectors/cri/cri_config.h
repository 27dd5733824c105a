/* SPDX-License-Identifier: Apache-2.0 */
/* The CRI collector's config section, collectors.cri.
 * Keys, defaults and ranges: cri_def.c. */
#pragma once
#include "config.h"

struct config_cri {
	struct config_collector_common common;
	char *socket_path; /* owned; "" = auto-detect (containerd, CRI-O, k3s) */
	uint32_t poll_interval_ms;
	uint32_t rpc_timeout_ms; /* per-RPC deadline */
	uint32_t ring_buffer_kib;
	bool force_degraded;	 /* CRI polling only, no eBPF (for tests) */
	enum config_hooks hooks; /* mark_victim: tp_btf (victim task) or the classic tracepoint */
	bool inventory;		 /* one inventory event at start */
};
