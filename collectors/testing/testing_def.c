// SPDX-License-Identifier: Apache-2.0
// The test-only collector in the collector table: its paths and config keys
// (collectors.testing.*). It misbehaves on request, for the supervisor's tests.
#include <linux/capability.h>

#include "registry.h"
#include "testing_config.h"

static const char *const read_paths[] = {"/proc/self", NULL};
static const char *const mode_names[] = {
	"normal",
	"exit",
	"hang",
	"oversized",
	"garbage",
	"early_events",
	"flood",
	"alloc",
	"forbidden_syscall",
	"forbidden_path",
	"degraded",
	"forge",
	"mixed_frame",
	"bad_event",
	"seq_gap",
	"seq_backwards",
	"fd_store_forged",
	"fd_store_unnamed",
	"flap",
	"status_early",
	"status_flood",
	"status_long",
	"status_bytes",
	NULL,
};

#define C struct config_testing
static const struct config_key keys[] = {
	CONFIG_ENUM(C, "mode", mode, enum config_testing_mode, CONFIG_TESTING_NORMAL, mode_names,
		    NULL),
	CONFIG_U32(C, "tick_ms", tick_ms, 100, 1, 60000, NULL),
	CONFIG_U32(C, "exit_code", exit_code, 111, 0, 255, NULL),
	CONFIG_U32(C, "after_ms", after_ms, 0, 0, 600000, NULL),
	CONFIG_U32(C, "alloc_mib", alloc_mib, 64, 1, 4096, NULL),
};
#undef C

const struct registry_entry collector_def_testing = {
	.name = "testing",
	.id_slot = 12,
	.setup_caps = REGISTRY_CAPS_SANDBOX,
	.read_paths = read_paths,
	.bpf_map_read = 0,
	.enabled = false,
	.config_size = sizeof(struct config_testing),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "tests only: a worker that misbehaves on request",
};
