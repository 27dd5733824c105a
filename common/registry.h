/* SPDX-License-Identifier: Apache-2.0 */
/* The one table of collectors: name → worker binary, the capabilities its setup needs, the
 * paths it keeps reading after setup and the syscalls it needs beyond the worker base set.
 * Adding a collector touches this table and its own folder, nothing in the supervisor. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct registry_entry {
	const char *name;                     /* collector name = config section name */
	const char *binary;                   /* file name of the worker in collector_dir */
	uint64_t setup_caps;                  /* bitmask of 1ull << CAP_*, needed until sandboxed;
					       * read it through registry_setup_caps() */
	const char *const *read_paths;        /* read-only after setup (Landlock) */
	const char *const *extra_syscalls;    /* beyond sandbox_base_syscalls */
	int bpf_map_read;                     /* needs bpf(2) map lookups after setup */
	int pod_metadata;                     /* its container events teach tapiod container id
					       * → pod name/namespace for every collector */
};

extern const struct registry_entry registry_entries[];
extern const size_t registry_count;

const struct registry_entry *registry_find(const char *name);

/* The capabilities the entry's setup needs on this kernel: CAP_SYS_ADMIN only where the
 * kernel predates CAP_BPF/CAP_PERFMON (5.8), decided by probing cap_last_cap, not by
 * version. */
uint64_t registry_setup_caps(const struct registry_entry *e);
