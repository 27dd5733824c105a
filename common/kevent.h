/* SPDX-License-Identifier: Apache-2.0 */
/* Shared user-space pieces of the eBPF collectors: the envelope of an event from a kernel
 * record (time, ProcessContext), its container context from the cgroup id, the per-CPU
 * counters map, and draining a ring buffer. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "tapio/v1/event.pb-c.h"
#include "tapio_rec.h"
#include "timeconv.h"
#include "worker.h"

struct bpf_object;
struct ring_buffer;

/* One event's envelope, on the caller's stack: no allocation per event. */
struct kevent {
	Tapio__V1__Event ev;
	Google__Protobuf__Timestamp ts;
	Tapio__V1__ProcessContext proc;
	Tapio__V1__KubernetesContext k8s;
	char comm[TAPIO_COMM_LEN + 1];
};

/* Initialise the envelope: type, wall-clock time from boot_ns, and, when t is not NULL, the
 * ProcessContext from the task fields. */
void kevent_init(struct kevent *k, const struct timeconv *tc, const char *type, uint64_t boot_ns,
		 const struct tapio_task *t);

/* Container context from the cgroup id into *k8s, linked from ev when the cgroup resolves
 * (pid: a hint for the lookup). Counts a failed lookup
 * as an enrich miss. Returns false when containers_only is set and the cgroup is no
 * container's: the caller drops the event and counts it as filtered. cache may be NULL. */
bool kevent_attach_k8s(Tapio__V1__Event *ev, Tapio__V1__KubernetesContext *k8s,
		       struct cgroup_cache *cache, uint64_t cgroup_id, pid_t pid, bool containers_only,
		       struct worker_counters *cnt);

/* Call first in setup (before the sandbox): routes libbpf's messages to our log (debug) and
 * learns the number of possible CPUs, which libbpf reads from /sys once. 0 or -errno. */
int kevent_setup(void);

/* Sum the per-CPU `counters` map (bpf/tapio_bpf.h) into sums. 0 or -errno. */
int kevent_counters_sum(int map_fd, uint64_t sums[TAPIO_CNT_MAX]);

/* Watch the collector's ring buffer (the only one in rb) with adaptive wakeups: maps the
 * object's `ring_consumer` map (bpf/tapio_bpf.h) and hands both to worker_watch_ring. obj:
 * the loaded skeleton's object. Call in setup, before the sandbox. 0 or -errno. */
int kevent_watch_ring(struct worker *w, struct ring_buffer *rb, struct bpf_object *obj);

/* Drain a ring buffer: 0, or EXIT_TRANSIENT after logging a consume error. */
int kevent_consume(struct ring_buffer *rb);
