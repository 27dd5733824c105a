/* SPDX-License-Identifier: Apache-2.0 */
/* tapiod's joins into every collector's k8s context (meta.c): container id → pod (learned from
 * CRI events), cgroup path → systemd unit (computed, cached per cgroup), pod uid → top
 * controller owner (learned from the kubeapi collector's k8s.object events). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "systemd_unit.h"
#include "tapio/v1/event.pb-c.h"

struct meta_entry {
	bool used;
	char *container_id, *pod_name, *namespace_, *pod_uid, *container_name; /* owned */
};

/* The unit of one cgroup, remembered in a direct-mapped slot keyed by the cgroup id and
 * checked against the path (a renamed cgroup, or another worker's different path for the same
 * id, recomputes). */
struct meta_unit_slot {
	uint64_t cgroup_id;
	size_t path_len;
	char *path;	  /* owned: path, NUL, unit name, NUL; NULL = empty slot */
	const char *unit; /* in path's allocation; NULL when the path names no unit */
};

struct meta_units {
	struct meta_unit_slot *slots;		 /* META_UNIT_SLOTS, allocated on first use */
	uint64_t hits, misses;			 /* per event with a cgroup path */
	char scratch[SYSTEMD_UNIT_NAME_MAX + 1]; /* events without a cgroup id: not cached */
};

/* uid of a Pod (or of a controller: ReplicaSet, Job...) → the top owner its k8s.object event
 * named. One allocation per entry holds every string. */
struct meta_owner {
	char *uid; /* owned; NULL = empty slot */
	const char *kind, *name, *owner_uid;
};

struct meta_owners {
	struct meta_owner *slots; /* open addressing, cap a power of two, grows to 2 * max */
	size_t cap, n, max;	  /* max: entries kept; 0 = the default for the table */
	uint64_t dropped;	  /* objects not learned: table full */
};

struct meta {
	struct meta_entry *slots; /* owned; open addressing, cap a power of two */
	size_t cap, n;
	uint64_t dropped; /* containers not learned: table full */
	struct meta_units units;
	struct meta_owners pods, controllers;
};

/* Learn from one event of a collector allowed to teach `what` (its registry entry's
 * pod_metadata, REGISTRY_POD_METADATA_* bits of registry.h): container
 * id → pod metadata (container.removed forgets), object uid → top owner (DELETED, or an object
 * without a controller any more, forgets). */
void meta_learn(struct meta *m, const Tapio__V1__Event *ev, unsigned what);
/* Join into the event's k8s context: pod name, namespace, container name (and pod uid if
 * missing) for a container id; the systemd unit of cgroup_path; the top owner of pod_uid.
 * What only tapiod may say (systemd_unit, owner_*) is cleared first when a worker sent it.
 * The strings are borrowed from the tables (valid until the next meta_ call; the event must
 * not be freed field by field: tapiod's events live in its decode arena). True when the k8s
 * context changed. */
bool meta_enrich(struct meta *m, Tapio__V1__Event *ev);

struct meta_stats {
	size_t containers, pods, controllers;
	uint64_t containers_dropped, owners_dropped, unit_hits, unit_misses;
};
void meta_get_stats(const struct meta *m, struct meta_stats *ret);
void meta_free(struct meta *m);
