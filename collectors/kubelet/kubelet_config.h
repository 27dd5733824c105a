/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet collector's config section, collectors.kubelet.
 * Keys, defaults, ranges and checks: kubelet_def.c. */
#pragma once
#include "config.h"

struct config_kubelet {
	struct config_collector_common common;
	char *url;	  /* owned; the kubelet's API, https://host:10250 */
	char *token_file; /* owned; bearer token ("" = none) */
	char *ca_file;	  /* owned; CA bundle the kubelet's serving certificate is checked with */
	char *cert_file;  /* owned; client certificate ("" = none) */
	char *key_file;	  /* owned */
	bool allow_http;  /* http:// URLs allowed (never implied) */
	uint32_t poll_interval_ms;
	uint32_t request_timeout_ms;
	uint32_t backoff_max_ms;
	uint32_t node_stats_interval_ms;
	uint32_t cgroup_interval_ms;
	uint32_t max_response_kib;
	char *cgroup_root; /* owned; where the cgroup hierarchies are mounted */
	uint32_t crash_loop_restarts;
	uint32_t throttle_ratio_pct;
	uint32_t throttle_usage_pct;
	uint32_t memory_limit_pct;
	uint32_t ephemeral_storage_mib;
	uint32_t ephemeral_storage_pct;
	uint32_t memory_available_mib;
	uint32_t nodefs_available_pct;
	uint32_t imagefs_available_pct;
	uint32_t pid_available_pct;
};
