// SPDX-License-Identifier: Apache-2.0
// The benchmark collector in the collector table: its capabilities, paths and config keys
// (collectors.bench.*). bench/ only: the pipeline ceiling (one event per getppid() of a pid).
#include <linux/capability.h>

#include "bench_config.h"
#include "registry.h"

static const char *const read_paths[] = {"/proc", "/sys/fs/cgroup", NULL};

#define C struct config_bench
static const struct config_key keys[] = {
	CONFIG_POW2(C, "ring_buffer_kib", ring_buffer_kib, 16384, 4, 1048576, NULL),
	CONFIG_U32(C, "pid", pid, 0, 0, 4194304, "the generator's pid (tgid); 0 = none"),
};
#undef C

const struct registry_entry collector_def_bench = {
	.name = "bench",
	.id_slot = 0,
	.setup_caps = REGISTRY_CAPS_BPF_TRACING | REGISTRY_CAPS_SANDBOX,
	.read_paths = read_paths,
	.bpf_map_read = 1,
	.enabled = false,
	.config_size = sizeof(struct config_bench),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "bench/ only: one event per getppid() of one pid",
};
