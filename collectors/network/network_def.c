// SPDX-License-Identifier: Apache-2.0
// The network collector in the collector table: its capabilities, paths and config keys
// (collectors.network.*).
#include <linux/capability.h>

#include "network_config.h"
#include "registry.h"

static const char *const read_paths[] = {"/proc", "/sys/fs/cgroup", NULL};
static const char *const direction_names[] = {"both", "outbound", "inbound", NULL};

#define C struct config_network
static const struct config_key keys[] = {
	CONFIG_POW2(C, "ring_buffer_kib", ring_buffer_kib, 4096, 4, 1048576, NULL),
	CONFIG_ENUM(C, "hooks", hooks, enum config_hooks, CONFIG_HOOKS_AUTO, config_hooks_names,
		    "auto = the best this kernel has"),
	CONFIG_PORTS(C, "ports", ports, 0, "only flows with one of these ports; [] = all"),
	CONFIG_ENUM(C, "direction", direction, enum config_direction, CONFIG_DIRECTION_BOTH,
		    direction_names, NULL),
	CONFIG_BOOL(C, "containers_only", containers_only, false, "only flows of containers"),
	CONFIG_BOOL(C, "state_events", state_events, false, "tcp.state for every transition"),
	CONFIG_U32(C, "retransmit_interval_ms", retransmit_interval_ms, 1000, 0, 3600000,
		   "at most one tcp.retransmit per flow per interval; 0 = every one"),
};
#undef C

const struct registry_entry collector_def_network = {
	.name = "network",
	.id_slot = 8,
	.setup_caps = REGISTRY_CAPS_BPF_TRACING | REGISTRY_CAPS_SANDBOX |
		      REGISTRY_CAP(CAP_DAC_READ_SEARCH),
	.read_paths = read_paths,
	.bpf_map_read = 1,
	.enabled = false,
	.config_size = sizeof(struct config_network),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "TCP connections, state changes and retransmits (README: collectors/network/)",
};
