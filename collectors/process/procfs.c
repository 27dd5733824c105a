// SPDX-License-Identifier: Apache-2.0
// The process collector's fallback when no eBPF hook set can be loaded: poll /proc, compare
// with the previous scan, report new processes (as exec) and vanished ones (as exit). Degraded
// by nature: short-lived processes between two scans are missed, forks are not seen, exit
// codes are unknown. (pid, start time) identifies a process, so a reused pid is a new one.
#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

struct procfs_poll {
	struct procfs_proc *known; /* owned, sorted by pid */
	size_t n_known, cap_known;
	bool scanned;
	long ticks; /* sysconf(_SC_CLK_TCK), read before the sandbox */
	uint64_t scans, unreadable;
};

int procfs_poll_new(struct procfs_poll **ret)
{
	struct procfs_poll *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ticks = sysconf(_SC_CLK_TCK);
	if (p->ticks <= 0)
		p->ticks = 100;
	*ret = p;
	return 0;
}

void procfs_poll_free(struct procfs_poll *p)
{
	if (!p)
		return;
	free(p->known);
	free(p);
}

static ssize_t read_file_at(int dirfd, const char *name, char *buf, size_t len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

/* /proc/PID/stat: "pid (comm) state ppid ... starttime(22) ...". comm may hold ')' and
 * spaces: the last ')' ends it. */
static int parse_stat(const char *s, struct procfs_proc *ret, long ticks)
{
	const char *open = strchr(s, '('), *close = strrchr(s, ')');
	if (!open || !close || close < open)
		return -EINVAL;
	size_t n = (size_t)(close - open - 1);
	if (n >= sizeof(ret->comm))
		n = sizeof(ret->comm) - 1;
	memcpy(ret->comm, open + 1, n);
	ret->comm[n] = '\0';
	const char *p = close + 1;
	unsigned long long start = 0;
	int ppid = 0;
	/* fields 3.. after the comm: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime */
	if (sscanf(p,
		   " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d "
		   "%llu",
		   &ppid, &start) != 2)
		return -EINVAL;
	ret->ppid = (uint32_t)ppid;
	ret->start_boot_ns = start * (1000000000ull / (unsigned long long)ticks);
	return 0;
}

static int read_proc(int procfd, pid_t pid, long ticks, struct procfs_proc *ret)
{
	char name[24], buf[1024];
	snprintf(name, sizeof(name), "%d", (int)pid);
	_cleanup_close_ int dfd = openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	memset(ret, 0, sizeof(*ret));
	ret->pid = (uint32_t)pid;
	struct stat st;
	if (fstat(dfd, &st) < 0) /* the dir is owned by the process's euid */
		return -errno;
	ret->uid = st.st_uid;
	ret->gid = st.st_gid;
	ssize_t n = read_file_at(dfd, "stat", buf, sizeof(buf));
	return n < 0 ? (int)n : parse_stat(buf, ret, ticks);
}

static int cmp_pid(const void *a, const void *b)
{
	const struct procfs_proc *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

int procfs_poll_details(pid_t pid, char *argv_buf, size_t argv_cap, size_t *ret_argv_len,
			char *cgroup, size_t cgroup_cap)
{
	char path[64], buf[4096];
	*ret_argv_len = 0;
	cgroup[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, argv_buf, argv_cap);
		if (n > 0)
			*ret_argv_len = (size_t)n;
		close(fd);
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	for (char *save, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "0::", 3) == 0) {
			snprintf(cgroup, cgroup_cap, "%s", l + 3);
			return 0;
		}
	}
	return -ENOENT;
}

/* Every readable process of /proc, sorted by pid, into a new array (*ret_procs, owned). */
static int read_all(struct procfs_poll *p, struct procfs_proc **ret_procs, size_t *ret_n,
		    size_t *ret_cap)
{
	/* one fd for both readdir and openat: dup(2) is not in the sandbox's allow-list */
	_cleanup_closedir_ DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	int procfd = dirfd(d);
	_cleanup_free_ struct procfs_proc *now = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 512;
			struct procfs_proc *q = realloc(now, cap * sizeof(*now));
			if (!q)
				return -ENOMEM;
			now = q;
		}
		if (read_proc(procfd, (pid_t)pid, p->ticks, &now[n]) == 0)
			n++;
		else
			p->unreadable++; /* exited meanwhile, or hidden */
	}
	qsort(now, n, sizeof(*now), cmp_pid);
	*ret_procs = TAKE_PTR(now);
	*ret_n = n;
	*ret_cap = cap;
	return 0;
}

int procfs_poll_scan(struct procfs_poll *p, procfs_cb on_new, procfs_cb on_gone, void *arg)
{
	struct procfs_proc *now = NULL;
	size_t n = 0, cap = 0;
	int r = read_all(p, &now, &n, &cap);
	if (r < 0)
		return r;

	if (p->scanned) {
		/* merge: in the new scan only → new; in the old only (or restarted) → gone */
		size_t i = 0, j = 0;
		while (i < p->n_known || j < n) {
			if (j == n || (i < p->n_known && p->known[i].pid < now[j].pid)) {
				on_gone(arg, &p->known[i++]);
			} else if (i == p->n_known || now[j].pid < p->known[i].pid) {
				on_new(arg, &now[j++]);
			} else {
				if (p->known[i].start_boot_ns != now[j].start_boot_ns) {
					on_gone(arg, &p->known[i]);
					on_new(arg, &now[j]);
				}
				i++;
				j++;
			}
		}
	}
	free(p->known);
	p->known = now;
	p->n_known = n;
	p->cap_known = cap;
	p->scanned = true;
	p->scans++;
	return 0;
}
