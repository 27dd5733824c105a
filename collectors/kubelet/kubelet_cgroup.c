// SPDX-License-Identifier: Apache-2.0
// A container's CPU throttling and memory counters from its own cgroup, v1 (cpu, cpuacct and
// memory controllers, each mounted on its own) or v2 (one tree), and the index that maps a
// container id to its cgroup (walking the cpu hierarchy, names parsed by common/cgroup.c).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "kubelet.h"

#define INDEX_MAX_DIRS	65536
#define INDEX_MAX_DEPTH 12
#define V1_NO_LIMIT	(1ull << 62) /* memory.limit_in_bytes of an unlimited v1 cgroup is ~2^63 */

static int read_text(const char *dir, const char *rel, const char *file, char *buf, size_t len)
{
	char path[1024];
	if ((size_t)snprintf(path, sizeof(path), "%s%s/%s", dir, rel, file) >= sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return (int)n;
}

/* "key value" lines: the value of key, or false. */
static bool kv(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(p + kl + 1, &end, 10);
			if (errno || end == p + kl + 1)
				return false;
			*ret = v;
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static bool one_number(const char *text, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n'))
		return false;
	*ret = v;
	return true;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool has_file(const char *dir, const char *file)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, R_OK) == 0;
}

int kl_cgroup_find_roots(const char *sysfs, struct kl_cgroup_roots *ret)
{
	struct kl_cgroup_roots r = {0};
	static const char *const cpu_dirs[] = {"cpu,cpuacct", "cpu", "cpuacct,cpu"};
	for (size_t i = 0; i < 3 && !r.cpu[0]; i++) {
		char d[256];
		snprintf(d, sizeof(d), "%s/%s", sysfs, cpu_dirs[i]);
		if (has_file(d, "cpu.cfs_quota_us") && has_file(d, "cpu.stat"))
			snprintf(r.cpu, sizeof(r.cpu), "%s", d);
	}
	if (r.cpu[0]) {
		static const char *const acct_dirs[] = {"cpu,cpuacct", "cpuacct", "cpuacct,cpu"};
		for (size_t i = 0; i < 3 && !r.cpuacct[0]; i++) {
			char d[256];
			snprintf(d, sizeof(d), "%s/%s", sysfs, acct_dirs[i]);
			if (has_file(d, "cpuacct.usage"))
				snprintf(r.cpuacct, sizeof(r.cpuacct), "%s", d);
		}
		snprintf(r.memory, sizeof(r.memory), "%s/memory", sysfs);
		if (!has_file(r.memory, "memory.limit_in_bytes"))
			r.memory[0] = '\0';
		r.version = 1;
		*ret = r;
		return 0;
	}
	/* v2: the whole tree at sysfs itself (pure v2) or at the cgroup2 mount */
	char v2[256];
	if (has_file(sysfs, "cgroup.controllers"))
		snprintf(v2, sizeof(v2), "%s", sysfs);
	else if (cgroup2_find_mount(v2, sizeof(v2)) < 0)
		return -ENOENT;
	char ctl[256];
	if (read_text(v2, "", "cgroup.controllers", ctl, sizeof(ctl)) < 0 || !strstr(ctl, "cpu"))
		return -ENOENT; /* a cgroup2 without the cpu controller (hybrid hosts) */
	snprintf(r.cpu, sizeof(r.cpu), "%s", v2);
	snprintf(r.cpuacct, sizeof(r.cpuacct), "%s", v2);
	snprintf(r.memory, sizeof(r.memory), "%s", v2);
	r.version = 2;
	*ret = r;
	return 0;
}

int kl_cgroup_read_cpu(const struct kl_cgroup_roots *r, const char *rel, struct kl_cpu_sample *ret)
{
	struct kl_cpu_sample s = {0};
	char buf[1024];
	int n = read_text(r->cpu, rel, "cpu.stat", buf, sizeof(buf));
	if (n < 0)
		return n;
	if (!kv(buf, "nr_periods", &s.nr_periods) || !kv(buf, "nr_throttled", &s.nr_throttled))
		return -EBADMSG;
	if (r->version == 2) {
		uint64_t us;
		if (!kv(buf, "throttled_usec", &us) || !kv(buf, "usage_usec", &s.usage_ns))
			return -EBADMSG;
		s.throttled_ns = us * 1000;
		s.usage_ns *= 1000;
		/* cpu.max: "max 100000" or "<quota> <period>" */
		n = read_text(r->cpu, rel, "cpu.max", buf, sizeof(buf));
		if (n < 0)
			return n;
		char q[32];
		unsigned long long period;
		if (sscanf(buf, "%31s %llu", q, &period) != 2 || period == 0)
			return -EBADMSG;
		s.period_us = period;
		s.quota_us = strcmp(q, "max") == 0 ? -1 : strtoll(q, NULL, 10);
	} else {
		if (!kv(buf, "throttled_time", &s.throttled_ns))
			return -EBADMSG;
		n = read_text(r->cpuacct[0] ? r->cpuacct : r->cpu, rel, "cpuacct.usage", buf,
			      sizeof(buf));
		if (n < 0 || !one_number(buf, &s.usage_ns))
			return n < 0 ? n : -EBADMSG;
		n = read_text(r->cpu, rel, "cpu.cfs_quota_us", buf, sizeof(buf));
		if (n < 0)
			return n;
		s.quota_us = strtoll(buf, NULL, 10);
		n = read_text(r->cpu, rel, "cpu.cfs_period_us", buf, sizeof(buf));
		if (n < 0 || !one_number(buf, &s.period_us))
			return n < 0 ? n : -EBADMSG;
	}
	s.mono_ns = mono_ns();
	s.ok = true;
	*ret = s;
	return 0;
}

int kl_cgroup_read_mem(const struct kl_cgroup_roots *r, const char *rel, struct kl_mem_sample *ret)
{
	if (!r->memory[0])
		return -ENOENT;
	struct kl_mem_sample s = {0};
	char buf[4096];
	uint64_t inactive = 0;
	if (r->version == 2) {
		int n = read_text(r->memory, rel, "memory.current", buf, sizeof(buf));
		if (n < 0 || !one_number(buf, &s.usage))
			return n < 0 ? n : -EBADMSG;
		n = read_text(r->memory, rel, "memory.max", buf, sizeof(buf));
		if (n < 0)
			return n;
		if (strncmp(buf, "max", 3) != 0 && !one_number(buf, &s.limit))
			return -EBADMSG;
		n = read_text(r->memory, rel, "memory.stat", buf, sizeof(buf));
		if (n >= 0)
			kv(buf, "inactive_file", &inactive);
	} else {
		int n = read_text(r->memory, rel, "memory.usage_in_bytes", buf, sizeof(buf));
		if (n < 0 || !one_number(buf, &s.usage))
			return n < 0 ? n : -EBADMSG;
		n = read_text(r->memory, rel, "memory.limit_in_bytes", buf, sizeof(buf));
		if (n < 0 || !one_number(buf, &s.limit))
			return n < 0 ? n : -EBADMSG;
		if (s.limit >= V1_NO_LIMIT)
			s.limit = 0;
		n = read_text(r->memory, rel, "memory.stat", buf, sizeof(buf));
		if (n >= 0)
			kv(buf, "total_inactive_file", &inactive);
	}
	/* the kubelet's working set: usage minus inactive file pages */
	s.working_set = s.usage > inactive ? s.usage - inactive : 0;
	s.ok = true;
	*ret = s;
	return 0;
}

/* ---- the index ---------------------------------------------------------------------------- */

struct ix_entry {
	char id[CGROUP_ID_LEN + 1];
	char *rel; /* owned */
};

struct kl_cgroup_index {
	struct kl_cgroup_roots roots;
	struct ix_entry *e;
	size_t n, cap;
	size_t dirs;
};

static void ix_clear(struct kl_cgroup_index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		free(ix->e[i].rel);
	ix->n = 0;
}

int kl_cgroup_index_new(const struct kl_cgroup_roots *r, struct kl_cgroup_index **ret)
{
	struct kl_cgroup_index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	ix->roots = *r;
	*ret = ix;
	return 0;
}

void kl_cgroup_index_free(struct kl_cgroup_index *ix)
{
	if (!ix)
		return;
	ix_clear(ix);
	free(ix->e);
	free(ix);
}

static void walk(struct kl_cgroup_index *ix, char *rel, size_t len, size_t cap, int depth)
{
	if (depth > INDEX_MAX_DEPTH || ix->dirs >= INDEX_MAX_DIRS)
		return;
	char path[1024];
	snprintf(path, sizeof(path), "%s%s", ix->roots.cpu, rel);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) && ix->dirs < INDEX_MAX_DIRS) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		size_t nl = strlen(de->d_name);
		if (len + 1 + nl + 1 > cap)
			continue;
		ix->dirs++;
		rel[len] = '/';
		memcpy(rel + len + 1, de->d_name, nl + 1);
		struct cgroup_info info;
		if (cgroup_parse_path(rel, &info) == 1 && info.container_id[0]) {
			if (ix->n == ix->cap) {
				size_t nc = ix->cap ? ix->cap * 2 : 64;
				struct ix_entry *ne = realloc(ix->e, nc * sizeof(*ne));
				if (ne) {
					ix->e = ne;
					ix->cap = nc;
				}
			}
			if (ix->n < ix->cap) {
				char *dup = strdup(rel);
				if (dup) {
					snprintf(ix->e[ix->n].id, sizeof(ix->e[ix->n].id), "%s",
						 info.container_id);
					ix->e[ix->n++].rel = dup;
				}
			}
		}
		walk(ix, rel, len + 1 + nl, cap, depth + 1);
		rel[len] = '\0';
	}
	closedir(d);
}

int kl_cgroup_index_rescan(struct kl_cgroup_index *ix)
{
	ix_clear(ix);
	ix->dirs = 0;
	char rel[4096] = "";
	walk(ix, rel, 0, sizeof(rel), 0);
	return (int)ix->n;
}

const char *kl_cgroup_index_find(const struct kl_cgroup_index *ix, const char *container_id)
{
	/* a container's processes may sit in a child (e.g. systemd's nested scopes): the
	 * shortest path naming the id is the container's own cgroup */
	const char *best = NULL;
	for (size_t i = 0; i < ix->n; i++)
		if (strcmp(ix->e[i].id, container_id) == 0 &&
		    (!best || strlen(ix->e[i].rel) < strlen(best)))
			best = ix->e[i].rel;
	return best;
}
