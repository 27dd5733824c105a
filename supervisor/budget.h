/* SPDX-License-Identifier: Apache-2.0 */
/* Resource budgets per worker (budget.c): a cgroup of its own where the host allows, and the
 * RSS watchdog everywhere. Knows collectors by name and config section, not the child. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

struct budgets {
	char v2[2048];	      /* tapiod's cgroup v2 dir with memory+cpu for children, or "" */
	char v1_memory[2048]; /* tapiod's cgroup in the v1 memory hierarchy, or "" */
	char v1_cpu[2048];    /* ... in the v1 cpu hierarchy, or "" */
};

/* One worker's budget cgroup, as budget_apply left it. */
struct budget_slot {
	bool cgroup;		 /* the worker runs in its own budget cgroup */
	uint64_t oom_kills_seen; /* that cgroup's oom_kill counter */
};

void budget_init(struct budgets *b);
/* Put a just-spawned worker into its budget cgroup (if it has budgets and cgroups exist). */
void budget_apply(struct budgets *b, const char *name, const struct config_collector_common *cc,
		  pid_t pid, struct budget_slot *slot);
uint64_t budget_oom_kills(struct budgets *b, const char *name);
uint64_t budget_rss_kib(pid_t pid);
/* The RSS watchdog: true (and why) when the worker is over its memory budget. */
bool budget_over(const struct config_collector_common *cc, pid_t pid, char *why, size_t len);
/* After a worker died: was it the cgroup's OOM killer? */
bool budget_was_oom_killed(struct budgets *b, const char *name, struct budget_slot *slot);
/* At shutdown: remove the (empty) budget cgroups tapiod created. */
void budget_cleanup(struct budgets *b, const char *name);
