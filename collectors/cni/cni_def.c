// SPDX-License-Identifier: Apache-2.0
// The CNI collector in the collector table: its capabilities, paths and config keys
// (collectors.cni.*).
#include <linux/capability.h>

#include "cni.h"
#include "cni_config.h"
#include "registry.h"

/* The config dir and IPAM dir are added at setup from the config (worker_add_read_path). */
static const char *const read_paths[] = {"/proc", "/sys/fs/cgroup", NULL};
/* rtnetlink messages (recvmsg, for the namespace id of each); inotify watches on IPAM
 * network directories created after setup. */
static const char *const extra_syscalls[] = {"recvmsg", "recvfrom", "inotify_add_watch", NULL};

#define C struct config_cni
static const struct config_key keys[] = {
	CONFIG_POW2(C, "ring_buffer_kib", ring_buffer_kib, 1024, 64, 1048576, NULL),
	CONFIG_ENUM(C, "hooks", hooks, enum config_hooks, CONFIG_HOOKS_AUTO, config_hooks_names,
		    "auto = the best this kernel has"),
	CONFIG_LIST(C, "plugin_dirs", plugin_dirs, 1, 4095,
		    "plugin binary directories; empty = /opt/cni/bin and /usr/lib/cni"),
	CONFIG_STRING(C, "netns_dir", netns_dir, "/var/run/netns", NULL,
		      "named network namespaces, to name the ones seen"),
	CONFIG_STRING(C, "ipam_dir", ipam_dir, "/var/lib/cni/networks", NULL,
		      "host-local IPAM state (cni.ipam); \"\" = off"),
	CONFIG_STRING(C, "config_dir", config_dir, "/etc/cni/net.d", NULL,
		      "network configurations (cni.config); \"\" = off"),
	CONFIG_BOOL(C, "capture_output", capture_output, true,
		    "plugin results from their write()s (a lookup per write on the node)"),
	CONFIG_U32(C, "result_capture_bytes", result_capture_bytes, 65536, 1024, 1048576,
		   "plugin stdout/stderr kept per call"),
	CONFIG_U32(C, "env_max_bytes", env_max_bytes, 4096, 256, CNI_ENV_MAX,
		   "plugin environment copied in the kernel (its tail)"),
	CONFIG_U32(C, "pending_max", pending_max, 256, 8, 4096, "plugin calls followed at once"),
	CONFIG_BOOL(C, "rtnetlink", rtnetlink, true, "net.link / net.addr from rtnetlink"),
	CONFIG_U32(C, "leak_grace_s", leak_grace_s, 30, 0, 3600,
		   "cni.ipam_leak: a pod netns gone this long, its lease still held; 0 = off"),
};
#undef C

/* CAP_NET_BROADCAST: NETLINK_LISTEN_ALL_NSID on the rtnetlink socket (set once in setup).
 * CAP_DAC_READ_SEARCH: stat of the plugin directories and the netns files of other users. */
const struct registry_entry collector_def_cni = {
	.name = "cni",
	.id_slot = 1,
	.setup_caps = REGISTRY_CAPS_BPF_TRACING | REGISTRY_CAPS_SANDBOX |
		      REGISTRY_CAP(CAP_DAC_READ_SEARCH) | REGISTRY_CAP(CAP_NET_BROADCAST),
	.read_paths = read_paths,
	.extra_syscalls = extra_syscalls,
	.bpf_map_read = 1,
	.enabled = false,
	.config_size = sizeof(struct config_cni),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "CNI plugin calls, network namespaces, links, addresses, IPAM leases\n"
		   "(README: collectors/cni/)",
};
