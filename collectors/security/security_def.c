// SPDX-License-Identifier: Apache-2.0
// The security collector in the collector table: its capabilities, paths, config keys
// (collectors.security.*) and their checks.
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>

#include "registry.h"
#include "security.h"
#include "security_config.h"
#include "security_names.h"

static const char *const read_paths[] = {"/proc", "/sys/fs/cgroup", NULL};

#define C struct config_security
static const struct config_key keys[] = {
	CONFIG_POW2(C, "ring_buffer_kib", ring_buffer_kib, 4096, 4, 1048576, NULL),
	CONFIG_ENUM(C, "hooks", hooks, enum config_hooks, CONFIG_HOOKS_AUTO, config_hooks_names,
		    "auto = the best this kernel has"),
	CONFIG_LIST(C, "namespace_exclude_comms", namespace_exclude_comms, 1, SECURITY_COMM_LEN - 1,
		    "runtimes whose unshare/setns are expected (runc, ...)"),
	CONFIG_LIST(C, "capabilities", capabilities, 1, 32,
		    "names (CAP_SYS_ADMIN, ...) reported; [] = the built-in set"),
	CONFIG_U32(C, "capability_rate_per_s", capability_rate_per_s, 10, 0, 100000,
		   "per process; 0 = off"),
	CONFIG_BOOL(C, "containers_only", containers_only, false, "only events of containers"),
};
#undef C

/* Every name in `capabilities` must be one the kernel side can report. */
static int check(const struct config *all, const void *section, const char **ret_key, char *msg,
		 size_t size)
{
	(void)all;
	const struct config_security *cfg = section;

	for (size_t i = 0; i < cfg->capabilities.n; i++) {
		if (security_cap_parse(cfg->capabilities.items[i]) >= 0)
			continue;
		*ret_key = "capabilities";
		snprintf(msg, size, "item %zu: unknown capability \"%s\"", i + 1,
			 cfg->capabilities.items[i]);
		return -EINVAL;
	}
	return 0;
}

/* CAP_SYSLOG: real addresses from /proc/kallsyms for the in-kernel filter that drops the
 * kernel's own CAP_SYS_ADMIN checks (memory accounting). */
const struct registry_entry collector_def_security = {
	.name = "security",
	.id_slot = 10,
	.setup_caps = REGISTRY_CAPS_BPF_TRACING | REGISTRY_CAPS_SANDBOX |
		      REGISTRY_CAP(CAP_DAC_READ_SEARCH) | REGISTRY_CAP(CAP_SYSLOG),
	.read_paths = read_paths,
	.bpf_map_read = 1,
	.enabled = false,
	.config_size = sizeof(struct config_security),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "privilege changes, namespaces, ptrace, bpf, capabilities, modules\n"
		   "(README: collectors/security/)",
	.check = check,
};
