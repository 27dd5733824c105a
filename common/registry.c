// SPDX-License-Identifier: Apache-2.0
// Looking up the generated collector table (see registry.h).
#include "registry.h"

#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const struct registry_entry *registry_find(const char *name)
{
	for (size_t i = 0; i < registry_count; i++)
		if (strcmp(registry_entries[i]->name, name) == 0)
			return registry_entries[i];
	return NULL;
}

const struct registry_entry *registry_find_slot(unsigned slot)
{
	for (size_t i = 0; i < registry_count; i++)
		if (registry_entries[i]->id_slot == slot)
			return registry_entries[i];
	return NULL;
}

/* Does the running kernel know CAP_BPF (5.8+)? /proc/sys/kernel/cap_last_cap says. */
static bool kernel_has_cap_bpf(void)
{
	static int known = -1;
	if (known >= 0)
		return known;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = 0;
	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = 0;
		fclose(f);
	}
	known = last >= CAP_BPF;
	return known;
}

/* Does perf_event_open() demand CAP_SYS_ADMIN? Debian's and Ubuntu's kernels carry a patch that
 * adds kernel.perf_event_paranoid = 3 (their default): no perf event at all without
 * CAP_SYS_ADMIN, CAP_PERFMON is not enough. Classic tracepoints are attached through a perf
 * event, so there a worker that attaches them needs CAP_SYS_ADMIN as well (seen on Debian's
 * 6.1 and 6.12: every syscalls/ tracepoint of the security collector failed with EACCES). */
static bool perf_needs_sys_admin(void)
{
	static int known = -1;
	if (known >= 0)
		return known;
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int level = 2;
	if (f) {
		if (fscanf(f, "%d", &level) != 1)
			level = 2;
		fclose(f);
	}
	known = level > 2;
	return known;
}

uint64_t registry_setup_caps(const struct registry_entry *e)
{
	uint64_t caps = e->setup_caps;
	if ((caps & REGISTRY_CAP(CAP_BPF)) && kernel_has_cap_bpf() && !perf_needs_sys_admin())
		caps &= ~REGISTRY_CAP(CAP_SYS_ADMIN);
	return caps;
}
