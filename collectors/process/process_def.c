// SPDX-License-Identifier: Apache-2.0
// The process collector in the collector table: its capabilities, paths and config keys
// (collectors.process.*).
#include <linux/capability.h>

#include "process.h"
#include "process_config.h"
#include "registry.h"

static const char *const read_paths[] = {"/proc", "/sys/fs/cgroup", NULL};

#define C struct config_process
static const struct config_key keys[] = {
	CONFIG_POW2(C, "ring_buffer_kib", ring_buffer_kib, 4096, 4, 1048576, NULL),
	CONFIG_ENUM(C, "hooks", hooks, enum config_hooks, CONFIG_HOOKS_AUTO, config_hooks_names,
		    "auto = the best this kernel has"),
	CONFIG_U32(C, "argv_max_args", argv_max_args, 32, 1, 128, NULL),
	CONFIG_U32(C, "argv_max_bytes", argv_max_bytes, 2048, 64, 8192,
		   "also what the kernel side copies"),
	CONFIG_BOOL(C, "include_threads", include_threads, false, "also report new threads"),
	CONFIG_BOOL(C, "containers_only", containers_only, false, "only processes in containers"),
	CONFIG_LIST(C, "comm_allow", comm_allow, 1, PROCESS_COMM_LEN - 1,
		    "if not empty, only these commands"),
	CONFIG_LIST(C, "comm_deny", comm_deny, 1, PROCESS_COMM_LEN - 1, "never these commands"),
	CONFIG_BOOL(C, "force_fallback", force_fallback, false,
		    "poll /proc instead of eBPF (DEGRADED)"),
	CONFIG_U32(C, "poll_interval_ms", poll_interval_ms, 250, 50, 60000,
		   "/proc polling period when eBPF cannot load"),
};
#undef C

const struct registry_entry collector_def_process = {
	.name = "process",
	.id_slot = 9,
	.setup_caps = REGISTRY_CAPS_BPF_TRACING | REGISTRY_CAPS_SANDBOX |
		      REGISTRY_CAP(CAP_DAC_READ_SEARCH),
	.read_paths = read_paths,
	.bpf_map_read = 1,
	.enabled = true,
	.config_size = sizeof(struct config_process),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "exec, exit and fork of every process (README: collectors/process/)",
};
