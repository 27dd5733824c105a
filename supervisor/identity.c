// SPDX-License-Identifier: Apache-2.0
// The workers' identities and the trust in what tapiod executes: a scan of /proc for processes
// that hold a worker's uid or gid (a process of that uid could signal the worker), and the
// StrictModes check of collector_dir and the worker binaries (whoever can replace a binary runs
// code with the collector's capabilities).
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "registry.h"

#define SCAN_EVERY_TICKS 5  /* the tick's /proc scan: every 5 s */
#define REPORTED_MAX	 64 /* foreign pids remembered, so each is logged once */

int identity_collector_dir(const struct config *cfg, char *buf, size_t size)
{
	if (cfg->collector_dir && cfg->collector_dir[0]) {
		snprintf(buf, size, "%s", cfg->collector_dir);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -errno;
	exe[n] = '\0';
	snprintf(buf, size, "%s", dirname(exe));
	return 0;
}

/* ---- StrictModes ---------------------------------------------------------------------------- */

static int check_owner(const char *path, const struct stat *st, const char *what, char *msg,
		       size_t size)
{
	if (st->st_uid != 0) {
		snprintf(msg, size,
			 "%s %s is owned by uid %u, not root: whoever owns it can run "
			 "code with a collector's capabilities",
			 what, path, (unsigned)st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(msg, size,
			 "%s %s is writable by %s (mode %04o): whoever can write it can "
			 "run code with a collector's capabilities",
			 what, path, (st->st_mode & S_IWOTH) ? "others" : "its group",
			 (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* `path` and every directory above it, each with lstat: a symbolic link is followed only by
 * the resolved pass (the caller checks realpath too); its own directory is checked here. */
static int check_chain(const char *path, char *msg, size_t size)
{
	char buf[PATH_MAX];
	if (path[0] != '/') {
		snprintf(msg, size, "collector_dir %s is not an absolute path", path);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", path);
	for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
	for (;;) {
		struct stat st;
		const char *p = buf[0] ? buf : "/";
		if (lstat(p, &st) < 0) {
			int r = -errno;
			snprintf(msg, size, "collector_dir: %s: %s", p, strerror(errno));
			return r;
		}
		if (!S_ISLNK(st.st_mode)) {
			int r = check_owner(p, &st, "directory", msg, size);
			if (r < 0)
				return r;
		}
		char *slash = strrchr(buf, '/');
		if (!slash || !buf[0])
			return 0;
		*slash = '\0';
	}
}

int identity_check_binaries(const struct config *cfg, const char *dir, char *msg, size_t size)
{
	int r = check_chain(dir, msg, size);
	if (r < 0)
		return r;
	char real[PATH_MAX];
	if (!realpath(dir, real)) {
		r = -errno;
		snprintf(msg, size, "collector_dir %s: %s", dir, strerror(errno));
		return r;
	}
	if (strcmp(real, dir) != 0 && (r = check_chain(real, msg, size)) < 0)
		return r;
	for (size_t i = 0; i < registry_count; i++) {
		const struct config_collector_common *cc =
			config_collector(cfg, registry_entries[i]->name);
		if (!cc || !cc->enabled)
			continue;
		char path[PATH_MAX + 64];
		struct stat st;
		snprintf(path, sizeof(path), "%s/" REGISTRY_BINARY_PREFIX "%s", real,
			 registry_entries[i]->name);
		if (stat(path, &st) < 0) {
			if (errno == ENOENT)
				continue; /* found missing at spawn, reported there */
			r = -errno;
			snprintf(msg, size, "collector binary %s: %s", path, strerror(errno));
			return r;
		}
		struct stat lst;
		if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
			snprintf(msg, size, "collector binary %s is a symbolic link", path);
			return -EPERM;
		}
		if ((r = check_owner(path, &st, "collector binary", msg, size)) < 0)
			return r;
	}
	return 0;
}

/* ---- the workers' ids ----------------------------------------------------------------------- */

/* The id slot of id `v` in the block starting at `first`, or -1. The whole block is the
 * workers', slots no collector uses yet included. */
static int in_range(uint32_t v, uint32_t first)
{
	return v >= first && v - first < REGISTRY_ID_SLOTS ? (int)(v - first) : -1;
}

/* The name of the collector of id slot `slot`, for messages. */
static const char *slot_name(int slot)
{
	const struct registry_entry *e = registry_find_slot((unsigned)slot);
	return e ? e->name : "(reserved, unused)";
}

/* Parse "Uid:\t1\t2\t3\t4" style lines; the id slot of the first id in range. */
static int match_line(const char *line, const char *key, uint32_t first, uint32_t *ret_id)
{
	size_t k = strlen(key);
	if (strncmp(line, key, k) != 0)
		return -1;
	const char *p = line + k;
	for (int i = 0; i < 4; i++) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			break;
		int idx = v <= UINT32_MAX ? in_range((uint32_t)v, first) : -1;
		if (idx >= 0) {
			*ret_id = (uint32_t)v;
			return idx;
		}
		p = end;
	}
	return -1;
}

static bool is_ours(pid_t pid, const pid_t *ours, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ours[i] == pid)
			return true;
	return false;
}

typedef bool (*foreign_fn)(pid_t pid, uint32_t id, int idx, void *arg); /* false: stop */

static int scan(const struct config *cfg, const pid_t *ours, size_t n, foreign_fn fn, void *arg)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	struct dirent *de;
	pid_t self = getpid();
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self || is_ours((pid_t)pid, ours, n))
			continue;
		char path[64], line[256];
		snprintf(path, sizeof(path), "/proc/%ld/status", pid);
		FILE *f = fopen(path, "re");
		if (!f)
			continue; /* gone */
		int idx = -1;
		uint32_t id = 0;
		while (idx < 0 && fgets(line, sizeof(line), f)) {
			idx = match_line(line, "Uid:", cfg->run_as_uid, &id);
			if (idx < 0)
				idx = match_line(line, "Gid:", cfg->run_as_gid, &id);
		}
		fclose(f);
		if (idx >= 0 && !fn((pid_t)pid, id, idx, arg))
			break;
	}
	closedir(d);
	return 0;
}

struct first_found {
	pid_t pid;
	uint32_t id;
	int idx;
};

static bool take_first(pid_t pid, uint32_t id, int idx, void *arg)
{
	struct first_found *ff = arg;
	*ff = (struct first_found){pid, id, idx};
	return false;
}

int identity_find_foreign(const struct config *cfg, const pid_t *ours, size_t n, pid_t *ret_pid,
			  uint32_t *ret_id, const char **ret_collector)
{
	struct first_found ff = {0, 0, -1};
	int r = scan(cfg, ours, n, take_first, &ff);
	if (r < 0)
		return r;
	if (ff.idx < 0)
		return 0;
	*ret_pid = ff.pid;
	*ret_id = ff.id;
	*ret_collector = slot_name(ff.idx);
	return 1;
}

struct tick_scan {
	struct child *children;
	size_t n;
	pid_t *reported; /* REPORTED_MAX, a ring */
	unsigned *next;
};

static bool on_foreign(pid_t pid, uint32_t id, int idx, void *arg)
{
	struct tick_scan *t = arg;
	for (unsigned i = 0; i < REPORTED_MAX; i++)
		if (t->reported[i] == pid)
			return true; /* logged and counted already */
	t->reported[*t->next % REPORTED_MAX] = pid;
	(*t->next)++;
	const char *name = slot_name(idx);
	for (size_t i = 0; i < t->n; i++)
		if (t->children[i].reg && t->children[i].reg->id_slot == (unsigned)idx)
			t->children[i].cnt.foreign_processes++;
	char comm[64] = "?", path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	log_warn("%s: pid %d (%s) runs under id %u, which belongs to this collector's worker: it "
		 "could signal the worker; give it another id (or move run_as_uid/run_as_gid)",
		 name, (int)pid, comm, id);
	return true;
}

void identity_check_children(struct child *children, size_t n, const struct config *cfg)
{
	static unsigned ticks, next;
	static pid_t reported[REPORTED_MAX];
	if (ticks++ % SCAN_EVERY_TICKS != 0)
		return;
	pid_t ours[64];
	size_t k = 0;
	for (size_t i = 0; i < n && k < 64; i++)
		if (children[i].pid > 0)
			ours[k++] = children[i].pid;
	struct tick_scan t = {children, n, reported, &next};
	scan(cfg, ours, k, on_foreign, &t);
}
