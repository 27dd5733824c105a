// SPDX-License-Identifier: Apache-2.0
// The collector table (see registry.h).
#include "registry.h"

#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CAPBIT(c) (1ull << (c))
/* Dropping privileges itself needs these; every collector that starts with any capability
 * keeps them until sandbox_apply() throws them away with the rest. */
#define CAPS_SANDBOX (CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETPCAP))
/* Loading and attaching tracing programs. CAP_SYS_ADMIN is what kernels before 5.8 (no
 * CAP_BPF/CAP_PERFMON) demand instead: registry_setup_caps() removes it where the kernel
 * knows CAP_BPF. The worker drops whatever it holds after setup. */
#define CAPS_BPF_TRACING                                                                      \
	(CAPBIT(CAP_BPF) | CAPBIT(CAP_PERFMON) | CAPBIT(CAP_SYS_ADMIN) | CAPBIT(CAP_SYS_RESOURCE))

static const char *const process_read_paths[] = { "/proc", "/sys/fs/cgroup", NULL };
static const char *const no_syscalls[] = { NULL };
static const char *const testing_read_paths[] = { "/proc/self", NULL };
static const char *const kernel_read_paths[] = { "/proc", "/sys/fs/cgroup", NULL };

const struct registry_entry registry_entries[] = {
	{
		.name = "process",
		.binary = "tapio-collector-process",
		.setup_caps = CAPS_BPF_TRACING | CAPS_SANDBOX | CAPBIT(CAP_DAC_READ_SEARCH),
		.read_paths = process_read_paths,
		.extra_syscalls = no_syscalls,
		.bpf_map_read = 1,
	},
	{
		.name = "network",
		.binary = "tapio-collector-network",
		.setup_caps = CAPS_BPF_TRACING | CAPS_SANDBOX | CAPBIT(CAP_DAC_READ_SEARCH),
		.read_paths = kernel_read_paths,
		.extra_syscalls = no_syscalls,
		.bpf_map_read = 1,
	},
	{
		/* CAP_SYSLOG: real addresses from /proc/kallsyms for the in-kernel filter that
		 * drops the kernel's own CAP_SYS_ADMIN checks (memory accounting). */
		.name = "security",
		.binary = "tapio-collector-security",
		.setup_caps = CAPS_BPF_TRACING | CAPS_SANDBOX | CAPBIT(CAP_DAC_READ_SEARCH) |
			      CAPBIT(CAP_SYSLOG),
		.read_paths = kernel_read_paths,
		.extra_syscalls = no_syscalls,
		.bpf_map_read = 1,
	},
	{
		/* Packet programs (cgroup_skb) need CAP_NET_ADMIN; the AF_PACKET fallback
		 * needs CAP_NET_RAW to open its socket (before the sandbox). */
		.name = "dns",
		.binary = "tapio-collector-dns",
		.setup_caps = CAPS_BPF_TRACING | CAPS_SANDBOX | CAPBIT(CAP_DAC_READ_SEARCH) |
			      CAPBIT(CAP_NET_ADMIN) | CAPBIT(CAP_NET_RAW),
		.read_paths = kernel_read_paths,
		.extra_syscalls = no_syscalls,
		.bpf_map_read = 1,
	},
	{
		/* The CRI socket is root's: the worker connects during setup, before the
		 * sandbox; a lost connection ends the worker (exit 111) and tapiod's restart
		 * is the reconnect. */
		.name = "cri",
		.binary = "tapio-collector-cri",
		.pod_metadata = 1,
		.setup_caps = CAPS_BPF_TRACING | CAPS_SANDBOX | CAPBIT(CAP_DAC_READ_SEARCH) |
			      CAPBIT(CAP_DAC_OVERRIDE),
		.read_paths = kernel_read_paths,
		.extra_syscalls = no_syscalls,
		.bpf_map_read = 1,
	},
	{
		/* bench/ only: the pipeline ceiling (one event per getppid() of one pid). */
		.name = "bench",
		.binary = "tapio-collector-bench",
		.setup_caps = CAPS_BPF_TRACING | CAPS_SANDBOX,
		.read_paths = kernel_read_paths,
		.extra_syscalls = no_syscalls,
		.bpf_map_read = 1,
	},
	{
		/* For the supervisor's tests only (misbehaves on request); disabled by default. */
		.name = "testing",
		.binary = "tapio-collector-testing",
		.setup_caps = CAPS_SANDBOX,
		.read_paths = testing_read_paths,
		.extra_syscalls = no_syscalls,
		.bpf_map_read = 0,
	},
};

const size_t registry_count = sizeof(registry_entries) / sizeof(registry_entries[0]);

const struct registry_entry *registry_find(const char *name)
{
	for (size_t i = 0; i < registry_count; i++)
		if (strcmp(registry_entries[i].name, name) == 0)
			return &registry_entries[i];
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

uint64_t registry_setup_caps(const struct registry_entry *e)
{
	uint64_t caps = e->setup_caps;
	if ((caps & CAPBIT(CAP_BPF)) && kernel_has_cap_bpf())
		caps &= ~CAPBIT(CAP_SYS_ADMIN);
	return caps;
}
