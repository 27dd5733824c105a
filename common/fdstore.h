/* SPDX-License-Identifier: Apache-2.0 */
/* The fd store (DESIGN.md, worker lifecycle step 3): the kernel objects of an eBPF worker
 * (its BPF links, ring buffers and stateful maps) kept by tapiod across worker restarts, so
 * that the programs stay attached and keep recording while no worker runs. Each fd has a name:
 * "map:<bpf map name>" or "link:<program name>[#n]". Used on both sides: the worker hands its
 * fds over (SCM_RIGHTS) and finds them again by name; tapiod keeps them per collector and
 * checks each one it receives (a worker is not trusted to send what it says). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define FDSTORE_MAX	 96 /* security: ~46 tracepoint links, plus maps */
#define FDSTORE_NAME_MAX 48 /* with the NUL */

struct fdstore {
	unsigned n;
	bool owned; /* close the fds in fdstore_clear (false: the skeleton owns them) */
	int fds[FDSTORE_MAX];
	char names[FDSTORE_MAX][FDSTORE_NAME_MAX];
};

/* A store name: "map:" or "link:" then 1..42 of [A-Za-z0-9_.#-]. */
bool fdstore_name_valid(const char *name);
/* Does fd hold the kind of object its name says (a BPF map for "map:", a BPF link or a perf
 * event carrying a BPF program for "link:")? Asks /proc/self/fd, no capability needed.
 * 0, -EBADF (not an open fd) or -EINVAL (another kind). */
int fdstore_check(int fd, const char *name);
/* Add fd under name (not owned unless s->owned). 0, -EINVAL (bad or duplicate name) or
 * -ENOSPC. */
int fdstore_add(struct fdstore *s, const char *name, int fd);
/* The fd stored as name, or -ENOENT. */
int fdstore_find(const struct fdstore *s, const char *name);
/* Forget every fd, closing them when owned; s is empty and keeps its `owned`. */
void fdstore_clear(struct fdstore *s);
/* fdstore_clear for n stores at once, closing the fds from parallel threads: the last close of
 * a tracepoint link waits for RCU grace periods (~70 ms each), which then overlap instead of
 * adding up (46 links of the security collector: 3.3 s one by one). */
void fdstore_clear_all(struct fdstore *const *stores, size_t n);
