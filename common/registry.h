/* SPDX-License-Identifier: Apache-2.0 */
/* The table of collectors. Each collectors/<name>/<name>_def.c defines one entry,
 * `const struct registry_entry collector_def_<name>`: the capabilities its setup needs, the
 * paths it keeps reading after setup, the syscalls it needs beyond the worker base set, and
 * its config keys with their defaults, ranges and checks. The build collects every entry into
 * the generated table (build/gen/collector_table.c), sorted by name; nothing in common/ or
 * the supervisor names a collector. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The worker of collector <name> is the file REGISTRY_BINARY_PREFIX "<name>" in
 * collector_dir. */
#define REGISTRY_BINARY_PREFIX "tapio-collector-"

/* Capability bits of setup_caps. */
#define REGISTRY_CAP(c) (1ull << (c))
/* Dropping privileges itself needs these; every collector that starts with any capability
 * keeps them until sandbox_apply() throws them away with the rest. */
#define REGISTRY_CAPS_SANDBOX                                                                      \
	(REGISTRY_CAP(CAP_SETUID) | REGISTRY_CAP(CAP_SETGID) | REGISTRY_CAP(CAP_SETPCAP))
/* Loading and attaching tracing programs. CAP_SYS_ADMIN is what kernels before 5.8 (no
 * CAP_BPF/CAP_PERFMON) demand instead: registry_setup_caps() removes it where the kernel
 * knows CAP_BPF, unless perf_event_paranoid > 2 (Debian's and Ubuntu's perf_event_open() then
 * wants CAP_SYS_ADMIN). The worker drops whatever it holds after setup. */
#define REGISTRY_CAPS_BPF_TRACING                                                                  \
	(REGISTRY_CAP(CAP_BPF) | REGISTRY_CAP(CAP_PERFMON) | REGISTRY_CAP(CAP_SYS_ADMIN) |         \
	 REGISTRY_CAP(CAP_SYS_RESOURCE))

/* registry_entry.pod_metadata: container events (container id → pod name, namespace,
 * container name: cri); k8s.object events (pod uid → top controller owner: kubeapi). */
#define REGISTRY_POD_METADATA_CONTAINERS 1
#define REGISTRY_POD_METADATA_OWNERS	 2

struct registry_entry {
	const char *name;		   /* collector name = config section name */
	uint64_t setup_caps;		   /* bitmask of 1ull << CAP_*, needed until sandboxed;
					    * read it through registry_setup_caps() */
	const char *const *read_paths;	   /* read-only after setup (Landlock) */
	const char *const *extra_syscalls; /* beyond sandbox_base_syscalls; NULL = none */
	int bpf_map_read;		   /* needs bpf(2) map lookups after setup */
	int pod_metadata;		   /* what its events teach tapiod's joins (meta.c):
					    * REGISTRY_POD_METADATA_* bits */
	/* The worker's uid and gid are run_as_uid/run_as_gid + id_slot. Fixed per collector
	 * and never reused, so adding a collector moves nobody else's ids (a unit test checks
	 * that each slot is below REGISTRY_ID_SLOTS and used once). */
	unsigned id_slot;

	/* collectors.<name>: a struct of config_size bytes that begins with struct
	 * config_collector_common (whose keys config.c adds), followed by these keys. */
	bool enabled; /* the default of collectors.<name>.enabled */
	size_t config_size;
	const struct config_key *keys;
	size_t n_keys;
	const char *comment; /* above the section in the default config */
	/* Semantic checks of a loaded section beyond types and ranges, or NULL; `cfg` is the
	 * whole loaded configuration, for checks against other sections. Returns 0, or
	 * -EINVAL with *ret_key the offending key (relative to collectors.<name>) and `msg`
	 * saying what is wrong; the loader adds file, line and key. */
	int (*check)(const struct config *cfg, const void *section, const char **ret_key, char *msg,
		     size_t size);
};

/* The generated table: every collector, sorted by name. */
extern const struct registry_entry *const registry_entries[];
extern const size_t registry_count;

/* The ids run_as_uid .. run_as_uid + REGISTRY_ID_SLOTS - 1 (and the same for gids) are the
 * workers'; tapiod refuses to start while another process holds one of them. */
#define REGISTRY_ID_SLOTS 64

const struct registry_entry *registry_find(const char *name);
/* The collector whose id_slot is `slot`, or NULL for a slot no collector uses. */
const struct registry_entry *registry_find_slot(unsigned slot);

/* The capabilities the entry's setup needs on this kernel: CAP_SYS_ADMIN only where the
 * kernel predates CAP_BPF/CAP_PERFMON (5.8), decided by probing cap_last_cap, not by
 * version, or where kernel.perf_event_paranoid is above 2 (Debian's patch: perf events need
 * CAP_SYS_ADMIN). */
uint64_t registry_setup_caps(const struct registry_entry *e);
