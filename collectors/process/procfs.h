/* SPDX-License-Identifier: Apache-2.0 */
/* /proc polling: the process collector's degraded source when eBPF cannot load. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procfs_proc {
	uint32_t pid, ppid;
	uint32_t uid, gid;	/* the owner of /proc/PID: the effective ids */
	uint64_t start_boot_ns; /* start time since boot (clock-tick resolution) */
	char comm[16];
};

struct procfs_poll;
typedef void (*procfs_cb)(void *arg, const struct procfs_proc *proc);

int procfs_poll_new(struct procfs_poll **ret);
void procfs_poll_free(struct procfs_poll *p);
/* Scan /proc; from the second scan on, on_new for each process not seen before (or whose
 * pid was reused) and on_gone for each that vanished. 0 or -errno. */
int procfs_poll_scan(struct procfs_poll *p, procfs_cb on_new, procfs_cb on_gone, void *arg);
/* The command line (NUL-separated, as in the kernel) and the cgroup v2 path of a live
 * process. The cgroup is "" when unknown. */
int procfs_poll_details(pid_t pid, char *argv_buf, size_t argv_cap, size_t *ret_argv_len,
			char *cgroup, size_t cgroup_cap);
