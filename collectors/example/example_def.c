// SPDX-License-Identifier: Apache-2.0
// The example collector in the collector table: no capability beyond dropping privileges,
// no eBPF, and its config keys (collectors.example.*).
#include <linux/capability.h>

#include "example_config.h"
#include "registry.h"

/* /proc/loadavg is opened during setup and read through that fd; /proc/self is where the
 * worker reads its own privileges for the READY report. */
static const char *const read_paths[] = {"/proc/self", NULL};

#define C struct config_example
static const struct config_key keys[] = {
	CONFIG_U32(C, "tick_ms", tick_ms, 1000, 10, 60000, "one reading of /proc/loadavg per tick"),
};
#undef C

const struct registry_entry collector_def_example = {
	.name = "example",
	.id_slot = 5,
	.setup_caps = REGISTRY_CAPS_SANDBOX,
	.read_paths = read_paths,
	.enabled = false,
	.config_size = sizeof(struct config_example),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "tests only: the load average every tick_ms (how a collector plugs in)",
};
