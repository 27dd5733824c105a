/* SPDX-License-Identifier: Apache-2.0 */
/* Shared user-space pieces of the eBPF collectors: the envelope of an event (time, and from a
 * kernel record the ProcessContext), its container context from the cgroup id, the per-CPU
 * counters map, and handing a ring buffer with its record handler to the worker. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "tapio/v1/event.pb-c.h"
#include "tapio_rec.h"
#include "timeconv.h"
#include "worker.h"

struct bpf_link;
struct bpf_map;
struct bpf_object;
struct bpf_object_skeleton;

/* One event's envelope, on the caller's stack: no allocation per event. */
struct kevent {
	Tapio__V1__Event ev;
	Google__Protobuf__Timestamp ts;
	Tapio__V1__ProcessContext proc;
	Tapio__V1__KubernetesContext k8s;
	char comm[TAPIO_COMM_LEN + 1];
};

/* Initialise the envelope: type, wall-clock time and boot_ns from boot_ns, and, when t is not
 * NULL, the ProcessContext from the task fields. */
void kevent_init(struct kevent *k, const struct timeconv *tc, const char *type, uint64_t boot_ns,
		 const struct tapio_task *t);
/* The same for an event known by its wall-clock time only (no boot_ns, no process): one seen
 * by polling rather than by a kernel hook. */
void kevent_init_wall(struct kevent *k, const char *type, int64_t wall_ns);

/* Container context from the cgroup id into *k8s, linked from ev when the cgroup resolves
 * (pid: a hint for the lookup). Counts a failed lookup
 * as an enrich miss. Returns false when containers_only is set and the cgroup is no
 * container's: the caller drops the event and counts it as filtered. cache may be NULL. */
bool kevent_attach_k8s(Tapio__V1__Event *ev, Tapio__V1__KubernetesContext *k8s,
		       struct cgroup_cache *cache, uint64_t cgroup_id, pid_t pid,
		       bool containers_only, struct worker_counters *cnt);

/* Call first in setup (before the sandbox): routes libbpf's messages to our log (debug) and
 * learns the number of possible CPUs, which libbpf reads from /sys once. 0, or -EIO when the
 * possible-CPU list cannot be read. */
int kevent_setup(void);

/* Sum the per-CPU `counters` map (bpf/tapio_bpf.h) into sums. 0 or -errno. */
int kevent_counters_sum(int map_fd, uint64_t sums[TAPIO_CNT_MAX]);

/* A ring-buffer record handler (libbpf's ring_buffer_sample_fn): returns 0 (a bad record is
 * counted, not fatal). */
typedef int (*kevent_record_fn)(void *ctx, void *data, size_t size);

/* For a record handler, which switches on the result: counts the record as read and returns
 * its type when the header is whole, states size and carries version; -EBADMSG otherwise
 * (which matches no type). */
int kevent_rec_type(struct worker *w, const void *data, size_t size, uint16_t version);
/* The handler's last step, with r what decoding the record gave: -EBADMSG (the record is
 * malformed, or of no type the handler knows) is counted as a decode error, logged at debug
 * with the header, and gives 0; any other r is returned as it is. */
int kevent_rec_done(struct worker *w, const void *data, size_t size, int r);

/* Hand the ring buffer map `events` of the loaded object obj to the worker, which drains it
 * with adaptive wakeups (worker_watch_ring) and calls fn(ctx, record, size) for each record.
 * Maps the object's `ring_consumer` map (bpf/tapio_bpf.h). Call in setup, before the sandbox;
 * the worker owns the ring from here on. 0 or -errno. */
int kevent_add_ring(struct worker *w, struct bpf_object *obj, struct bpf_map *events,
		    kevent_record_fn fn, void *ctx);

/* The fd store (worker.h), for an eBPF collector in a few lines. In setup:
 *
 *	if (worker_stored(w))          // a predecessor's objects: no load, no attach
 *		return kevent_resume_ring(w, "events", handle_record, ctx);
 *	... load, attach, kevent_add_ring ...
 *	return kevent_store_skeleton(w, skel->skeleton);
 *
 * and read any other map by kevent_stored_map (counters, state). */

/* Name every map (but .rodata/.bss) and every attached link of the skeleton for tapiod to keep:
 * "map:<name>", "link:<program>". The links are disconnected: this worker's exit no longer
 * detaches them (tapiod's copies keep them attached until the store is dropped). 0 or -errno. */
int kevent_store_skeleton(struct worker *w, const struct bpf_object_skeleton *s);
/* The same for a link outside the skeleton's slots, under "link:<name>" (unique). NULL: 0. */
int kevent_store_link(struct worker *w, struct bpf_link *link, const char *name);
/* A stored map's fd (owned by the worker) by its BPF name, or -ENOENT. */
int kevent_stored_map(struct worker *w, const char *map);
/* Read the stored ring buffer map `ring` with the stored ring_consumer, after what the
 * predecessor left in it; notes the stored kernel drop counter. -ESTALE when the stored
 * objects are not what an eBPF collector stores (the worker then exits, tapiod drops them
 * and the next worker loads afresh). 0 or -errno. */
int kevent_resume_ring(struct worker *w, const char *ring, kevent_record_fn fn, void *ctx);

/* The cgroup-id → container cache for kevent_attach_k8s, on the host's cgroup2 mount, holding
 * at most max_entries cgroups. When the
 * host has none, *ret_cache is NULL and "cgroup2 mount (container attribution)" is reported
 * missing: events then go without container context. */
void kevent_cgroup_cache(struct worker *w, size_t max_entries, struct cgroup_cache **ret_cache);
