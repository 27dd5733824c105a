// SPDX-License-Identifier: Apache-2.0
// The CRI collector in the collector table: its capabilities, paths and config keys
// (collectors.cri.*).
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>

#include "cri_config.h"
#include "registry.h"

static const char *const read_paths[] = {"/proc", "/sys/fs/cgroup", NULL};

#define C struct config_cri
static const struct config_key keys[] = {
	CONFIG_STRING(C, "socket_path", socket_path, "", NULL,
		      "\"\" = auto-detect (containerd, CRI-O, k3s)"),
	CONFIG_U32(C, "poll_interval_ms", poll_interval_ms, 2000, 100, 600000, NULL),
	CONFIG_U32(C, "rpc_timeout_ms", rpc_timeout_ms, 2000, 100, 60000,
		   "per-RPC deadline; plus heartbeat_interval_ms, below the heartbeat timeout"),
	CONFIG_POW2(C, "ring_buffer_kib", ring_buffer_kib, 1024, 4, 1048576, NULL),
	CONFIG_BOOL(C, "force_degraded", force_degraded, false,
		    "CRI polling only, no eBPF (for tests)"),
	CONFIG_BOOL(C, "inventory", inventory, true, "one inventory event at start"),
	CONFIG_ENUM(C, "hooks", hooks, enum config_hooks, CONFIG_HOOKS_AUTO, config_hooks_names,
		    "OOM victims: auto = tp_btf, else the classic tracepoint"),
};
#undef C

/* A call blocks the worker's loop up to rpc_timeout_ms, heartbeats included: a stalled runtime
 * must time the call out before tapiod's watchdog kills the worker for silence. */
static int check(const struct config *all, const void *section, const char **ret_key, char *msg,
		 size_t size)
{
	const struct config_cri *cfg = section;
	uint32_t timeout = all->supervisor.heartbeat_timeout_ms;

	if (!cfg->common.enabled ||
	    (uint64_t)cfg->rpc_timeout_ms + cfg->common.heartbeat_interval_ms < timeout)
		return 0;
	*ret_key = "rpc_timeout_ms";
	snprintf(msg, size,
		 "%u plus heartbeat_interval_ms (%u) is not shorter than "
		 "supervisor.heartbeat_timeout_ms (%u): a stalled runtime would get the worker "
		 "killed instead of its call timed out",
		 cfg->rpc_timeout_ms, cfg->common.heartbeat_interval_ms, timeout);
	return -EINVAL;
}

/* The CRI socket is root's: the worker connects during setup, before the sandbox; a lost
 * connection ends the worker (exit 111) and tapiod's restart is the reconnect. */
const struct registry_entry collector_def_cri = {
	.name = "cri",
	.id_slot = 2,
	.setup_caps = REGISTRY_CAPS_BPF_TRACING | REGISTRY_CAPS_SANDBOX |
		      REGISTRY_CAP(CAP_DAC_READ_SEARCH) | REGISTRY_CAP(CAP_DAC_OVERRIDE),
	.read_paths = read_paths,
	.bpf_map_read = 1,
	.pod_metadata = REGISTRY_POD_METADATA_CONTAINERS,
	.enabled = false,
	.config_size = sizeof(struct config_cri),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.check = check,
	.comment = "containers and pods from the CRI runtime; teaches tapiod pod names\n"
		   "(README: collectors/cri/)",
};
