// SPDX-License-Identifier: Apache-2.0
// The fd store's bookkeeping and checks (see fdstore.h).
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool fdstore_name_valid(const char *name)
{
	const char *rest;
	if (strncmp(name, "map:", 4) == 0)
		rest = name + 4;
	else if (strncmp(name, "link:", 5) == 0)
		rest = name + 5;
	else
		return false;
	size_t n = strnlen(name, FDSTORE_NAME_MAX);
	if (n >= FDSTORE_NAME_MAX || !rest[0])
		return false;
	for (const char *p = rest; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '#' || ch == '-'))
			return false;
	}
	return true;
}

int fdstore_check(int fd, const char *name)
{
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (strncmp(name, "map:", 4) == 0)
		return strcmp(target, "anon_inode:bpf-map") == 0 ? 0 : -EINVAL;
	if (strncmp(name, "link:", 5) == 0)
		/* a BPF link; before kernel 5.15 a tracepoint program is held by its perf event */
		return strcmp(target, "anon_inode:bpf_link") == 0 ||
				       strcmp(target, "anon_inode:[perf_event]") == 0
			       ? 0
			       : -EINVAL;
	return -EINVAL;
}

int fdstore_add(struct fdstore *s, const char *name, int fd)
{
	if (!fdstore_name_valid(name) || fdstore_find(s, name) >= 0)
		return -EINVAL;
	if (s->n >= FDSTORE_MAX)
		return -ENOSPC;
	s->fds[s->n] = fd;
	snprintf(s->names[s->n], FDSTORE_NAME_MAX, "%s", name);
	s->n++;
	return 0;
}

int fdstore_find(const struct fdstore *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return s->fds[i];
	return -ENOENT;
}

void fdstore_clear(struct fdstore *s)
{
	if (s->owned)
		for (unsigned i = 0; i < s->n; i++)
			if (s->fds[i] >= 0)
				close(s->fds[i]);
	s->n = 0;
}

static void *close_one(void *arg)
{
	close((int)(intptr_t)arg);
	return NULL;
}

void fdstore_clear_all(struct fdstore *const *stores, size_t n)
{
	pthread_t th[FDSTORE_MAX];
	for (size_t k = 0; k < n; k++) {
		struct fdstore *s = stores[k];
		unsigned started = 0;
		for (unsigned i = 0; s->owned && i < s->n; i++) {
			if (s->fds[i] < 0)
				continue;
			if (pthread_create(&th[started], NULL, close_one,
					   (void *)(intptr_t)s->fds[i]) == 0)
				started++;
			else
				close(s->fds[i]); /* no thread: one by one */
		}
		/* per store: a bounded number of threads at a time */
		for (unsigned i = 0; i < started; i++)
			pthread_join(th[i], NULL);
		s->n = 0;
	}
}
