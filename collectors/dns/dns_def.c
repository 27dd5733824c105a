// SPDX-License-Identifier: Apache-2.0
// The DNS collector in the collector table: its capabilities, paths and config keys
// (collectors.dns.*).
#include <linux/capability.h>

#include "dns_config.h"
#include "registry.h"

static const char *const read_paths[] = {"/proc", "/sys/fs/cgroup", NULL};

#define C struct config_dns
static const struct config_key keys[] = {
	CONFIG_POW2(C, "ring_buffer_kib", ring_buffer_kib, 4096, 4, 1048576, NULL),
	CONFIG_PORTS(C, "ports", ports, 53, "server ports of DNS traffic"),
	CONFIG_U32(C, "payload_max_bytes", payload_max_bytes, 512, 64, 4096, "copied per packet"),
	CONFIG_U32(C, "timeout_ms", timeout_ms, 5000, 100, 600000, "dns.timeout after this"),
	CONFIG_U32(C, "table_max", table_max, 65536, 16, 1048576, "pending queries kept"),
	CONFIG_BOOL(C, "force_fallback", force_fallback, false,
		    "AF_PACKET instead of eBPF (for tests)"),
	CONFIG_BOOL(C, "containers_only", containers_only, false, "only queries of containers"),
};
#undef C

/* Packet programs (cgroup_skb) need CAP_NET_ADMIN; the AF_PACKET fallback needs CAP_NET_RAW
 * to open its socket (before the sandbox). */
const struct registry_entry collector_def_dns = {
	.name = "dns",
	.id_slot = 3,
	.setup_caps = REGISTRY_CAPS_BPF_TRACING | REGISTRY_CAPS_SANDBOX |
		      REGISTRY_CAP(CAP_DAC_READ_SEARCH) | REGISTRY_CAP(CAP_NET_ADMIN) |
		      REGISTRY_CAP(CAP_NET_RAW),
	.read_paths = read_paths,
	.bpf_map_read = 1,
	.enabled = false,
	.config_size = sizeof(struct config_dns),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "DNS queries and answers with their latency (README: collectors/dns/)",
};
