// SPDX-License-Identifier: Apache-2.0
// Resource budgets per worker. Where the host gives tapiod a cgroup with the memory (and cpu)
// controller — cgroup v2 with the controllers enabled below tapiod's cgroup, or the v1
// memory/cpu hierarchies — each worker gets its own child cgroup with memory and CPU limits,
// and an OOM kill inside it is counted as "over memory budget". Everywhere (also in addition to
// a cgroup), an RSS watchdog checks each worker once a tick and kills one that is over budget.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"
#include "budget.h"

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	int r = n < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int read_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* tapiod's own cgroup path in hierarchy `match` of /proc/self/cgroup ("0::" for v2, or a v1
 * line whose controller list contains `match`). */
static int own_cgroup(const char *match, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	char line[1024];
	int r = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1;
		bool hit;
		if (strcmp(match, "") == 0) {
			hit = strncmp(line, "0", 1) == 0 && ctrls[0] == '\0';
		} else {
			hit = false;
			char tmp[256];
			snprintf(tmp, sizeof(tmp), "%s", ctrls);
			for (char *save, *t = strtok_r(tmp, ",", &save); t;
			     t = strtok_r(NULL, ",", &save))
				if (strcmp(t, match) == 0)
					hit = true;
		}
		if (hit) {
			snprintf(buf, len, "%s", c2 + 1);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void budget_init(struct budgets *b)
{
	memset(b, 0, sizeof(*b));
	char own[1024];
	/* v1: the memory and cpu hierarchies, each under tapiod's own cgroup there. */
	if (own_cgroup("memory", own, sizeof(own)) == 0) {
		snprintf(b->v1_memory, sizeof(b->v1_memory), "/sys/fs/cgroup/memory%s", own);
		if (!is_dir(b->v1_memory))
			b->v1_memory[0] = '\0';
	}
	if (own_cgroup("cpu", own, sizeof(own)) == 0) {
		snprintf(b->v1_cpu, sizeof(b->v1_cpu), "/sys/fs/cgroup/cpu%s", own);
		if (!is_dir(b->v1_cpu))
			b->v1_cpu[0] = '\0';
	}
	/* v2: only where the memory controller can be enabled for children of tapiod's cgroup
	 * (a delegated subtree; the "no internal processes" rule makes it fail elsewhere). */
	char root[512];
	if (!b->v1_memory[0] && cgroup2_find_mount(root, sizeof(root)) == 0 &&
	    own_cgroup("", own, sizeof(own)) == 0) {
		char dir[sizeof(b->v2)];
		snprintf(dir, sizeof(dir), "%.500s%.1000s", root, strcmp(own, "/") ? own : "");
		char ctl[256];
		if (read_file(dir, "cgroup.controllers", ctl, sizeof(ctl)) == 0 &&
		    strstr(ctl, "memory") &&
		    write_file(dir, "cgroup.subtree_control", "+memory +cpu") == 0)
			snprintf(b->v2, sizeof(b->v2), "%s", dir);
	}
	if (b->v2[0])
		log_info("budgets: cgroup v2 below %s", b->v2);
	else if (b->v1_memory[0])
		log_info("budgets: cgroup v1 below %s%s%s", b->v1_memory,
			 b->v1_cpu[0] ? " and " : "", b->v1_cpu);
	else
		log_info("budgets: no usable cgroup; memory budgets by RSS watchdog only, no CPU "
			 "budgets");
}

/* tapio-<tapiod pid>-<collector>: two tapiods in one cgroup (tests) never share a budget. */
static void child_dir(const char *base, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tapio-%d-%s", base, (int)getpid(), name);
}

void budget_apply(struct budgets *b, const char *name, const struct config_collector_common *cc,
		  pid_t worker, struct budget_slot *slot)
{
	slot->cgroup = false;
	if (!cc->memory_max_mib && !cc->cpu_max_percent)
		return;
	char pid[24], dir[PATH_MAX], val[64];
	snprintf(pid, sizeof(pid), "%d", (int)worker);
	if (b->v2[0]) {
		child_dir(b->v2, name, dir, sizeof(dir));
		mkdir(dir, 0755);
		int r = 0;
		if (cc->memory_max_mib) {
			snprintf(val, sizeof(val), "%llu",
				 (unsigned long long)cc->memory_max_mib << 20);
			r = write_file(dir, "memory.max", val);
		}
		if (r == 0 && cc->cpu_max_percent) {
			snprintf(val, sizeof(val), "%u 100000", cc->cpu_max_percent * 1000);
			r = write_file(dir, "cpu.max", val);
		}
		if (r == 0)
			r = write_file(dir, "cgroup.procs", pid);
		if (r == 0) {
			slot->cgroup = true;
			slot->oom_kills_seen = budget_oom_kills(b, name);
		} else {
			log_warn("%s: cgroup v2 budget: %s; RSS watchdog only", name, strerror(-r));
		}
		return;
	}
	if (cc->memory_max_mib && b->v1_memory[0]) {
		child_dir(b->v1_memory, name, dir, sizeof(dir));
		mkdir(dir, 0755);
		snprintf(val, sizeof(val), "%llu", (unsigned long long)cc->memory_max_mib << 20);
		int r = write_file(dir, "memory.limit_in_bytes", val);
		if (r == 0)
			r = write_file(dir, "cgroup.procs", pid);
		if (r == 0) {
			slot->cgroup = true;
			slot->oom_kills_seen = budget_oom_kills(b, name);
		} else {
			log_warn("%s: cgroup v1 memory budget: %s; RSS watchdog only", name,
				 strerror(-r));
		}
	}
	if (cc->cpu_max_percent && b->v1_cpu[0]) {
		child_dir(b->v1_cpu, name, dir, sizeof(dir));
		mkdir(dir, 0755);
		snprintf(val, sizeof(val), "%u", cc->cpu_max_percent * 1000);
		int r = write_file(dir, "cpu.cfs_period_us", "100000");
		if (r == 0)
			r = write_file(dir, "cpu.cfs_quota_us", val);
		if (r == 0)
			r = write_file(dir, "cgroup.procs", pid);
		if (r < 0)
			log_warn("%s: cgroup v1 cpu budget: %s", name, strerror(-r));
	}
}

uint64_t budget_oom_kills(struct budgets *b, const char *name)
{
	char dir[PATH_MAX], buf[1024];
	const char *file;
	if (b->v2[0]) {
		child_dir(b->v2, name, dir, sizeof(dir));
		file = "memory.events";
	} else if (b->v1_memory[0]) {
		child_dir(b->v1_memory, name, dir, sizeof(dir));
		file = "memory.oom_control";
	} else {
		return 0;
	}
	if (read_file(dir, file, buf, sizeof(buf)) < 0)
		return 0;
	const char *p = strstr(buf, "oom_kill ");
	return p ? strtoull(p + strlen("oom_kill "), NULL, 10) : 0;
}

uint64_t budget_rss_kib(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long size = 0, resident = 0;
	int n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? (uint64_t)resident * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024) : 0;
}

bool budget_over(const struct config_collector_common *cc, pid_t pid, char *why, size_t len)
{
	if (!cc->memory_max_mib || pid <= 0)
		return false;
	uint64_t rss = budget_rss_kib(pid);
	if (rss > (uint64_t)cc->memory_max_mib << 10) {
		snprintf(why, len, "over memory budget: RSS %llu KiB > %u MiB",
			 (unsigned long long)rss, cc->memory_max_mib);
		return true;
	}
	return false;
}

/* After a worker died: was it the cgroup's OOM killer? */
bool budget_was_oom_killed(struct budgets *b, const char *name, struct budget_slot *slot)
{
	if (!slot->cgroup)
		return false;
	uint64_t now = budget_oom_kills(b, name);
	bool killed = now > slot->oom_kills_seen;
	slot->oom_kills_seen = now;
	return killed;
}

/* At shutdown: remove the (empty) budget cgroups tapiod created. */
void budget_cleanup(struct budgets *b, const char *name)
{
	char dir[PATH_MAX];
	const char *bases[] = {b->v2, b->v1_memory, b->v1_cpu};
	for (size_t i = 0; i < 3; i++) {
		if (!bases[i][0])
			continue;
		child_dir(bases[i], name, dir, sizeof(dir));
		if (rmdir(dir) < 0 && errno != ENOENT)
			log_debug("%s: rmdir %s: %s", name, dir, strerror(errno));
	}
}
