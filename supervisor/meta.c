// SPDX-License-Identifier: Apache-2.0
// tapiod's joins into every collector's events, in the one process every event passes through,
// so no worker needs the others' knowledge:
// - Pod metadata: the CRI worker's container events carry container id → pod name, namespace,
//   uid and container name; an event whose k8s context has a container id but no pod name
//   (the kernel collectors resolve only the cgroup) gets those fields.
// - systemd unit: computed from the event's cgroup path by common/systemd_unit.c, remembered
//   per cgroup id (a direct-mapped cache checked against the path), so an event costs a slot
//   lookup and a compare of its path.
// - Top owner: the kubeapi worker's k8s.object events carry each Pod's (and ReplicaSet's,
//   Job's...) owner chain up to the top controller; an event whose k8s context has a pod uid
//   gets that controller's kind, name and uid. The Pod's own event may name a ReplicaSet as
//   its top when the ReplicaSet was not known yet; the controllers' table then carries the
//   chain on (at most META_OWNER_HOPS lookups).
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "meta.h"
#include "registry.h"

#define META_MAX  16384
#define FIELD_MAX 253 /* DNS-1123 names; longer values from a worker are refused */

#define META_UNIT_SLOTS	     4096  /* cgroups whose unit is remembered (direct-mapped) */
#define META_PATH_MAX	     4096  /* longer cgroup paths name no unit */
#define META_PODS_MAX	     16384 /* pods whose top owner is kept */
#define META_CONTROLLERS_MAX 32768 /* ReplicaSets, Jobs... whose top owner is kept */
#define META_OWNER_HOPS	     4	   /* controller lookups after the pod's own entry */

/* Ids are hex or uuids, up to a few hundred bytes: 8 bytes per multiply (FNV-1a took a
 * multiply per byte, ~100 ns for a container id), mixed at the end (slots take low bits). */
static uint64_t hash_id(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	for (; n >= 8; n -= 8, s += 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	uint64_t w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 32);
}

static struct meta_entry *find(struct meta *m, const char *id, size_t *ret_slot)
{
	if (!m->slots)
		return NULL;
	size_t mask = m->cap - 1, i = hash_id(id) & mask;
	for (size_t n = 0; n < m->cap; n++, i = (i + 1) & mask) {
		struct meta_entry *e = &m->slots[i];
		if (!e->used) {
			if (ret_slot)
				*ret_slot = i;
			return NULL;
		}
		if (strcmp(e->container_id, id) == 0)
			return e;
	}
	if (ret_slot)
		*ret_slot = SIZE_MAX;
	return NULL;
}

static void entry_free(struct meta_entry *e)
{
	free(e->container_id);
	free(e->pod_name);
	free(e->namespace_);
	free(e->pod_uid);
	free(e->container_name);
	memset(e, 0, sizeof(*e));
}

static bool valid(const char *s)
{
	return s && s[0] && strnlen(s, FIELD_MAX + 1) <= FIELD_MAX;
}

static char *dup_or_null(const char *s)
{
	return valid(s) ? strdup(s) : NULL;
}

/* Remove by backward-shift deletion, which keeps linear probing chains intact. */
static void erase(struct meta *m, struct meta_entry *e)
{
	size_t mask = m->cap - 1, i = (size_t)(e - m->slots);
	entry_free(e);
	m->n--;
	for (size_t j = (i + 1) & mask; m->slots[j].used; j = (j + 1) & mask) {
		size_t home = hash_id(m->slots[j].container_id) & mask;
		bool move = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
		if (move) {
			m->slots[i] = m->slots[j];
			memset(&m->slots[j], 0, sizeof(m->slots[j]));
			i = j;
		}
	}
}

static void learn_owner(struct meta *m, const Tapio__V1__Event *ev);

/* Room for one more container: the table grows by doubling (load at most 1/2) up to
 * 2 * META_MAX slots, so a node's few hundred containers stay in a few cache lines' reach
 * (the full table, 1.5 MiB, made each join a cache miss). */
static bool container_room(struct meta *m)
{
	if (m->n >= META_MAX)
		return false;
	if (m->slots && (m->n + 1) * 2 <= m->cap)
		return true;
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct meta_entry *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return false;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].used)
			continue;
		size_t j = hash_id(m->slots[i].container_id) & (cap - 1);
		while (slots[j].used)
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return true;
}

static void learn_container(struct meta *m, const Tapio__V1__Event *ev)
{
	if (ev->payload_case != TAPIO__V1__EVENT__PAYLOAD_CONTAINER || !ev->container)
		return;
	const Tapio__V1__ContainerEvent *x = ev->container;
	if (!valid(x->container_id))
		return;
	struct meta_entry *e = find(m, x->container_id, NULL);
	if (strcmp(ev->type, "container.removed") == 0) {
		if (e)
			erase(m, e);
		return;
	}
	if (!valid(x->pod_name) || !valid(x->namespace_))
		return;
	if (!e) {
		size_t slot;
		if (!container_room(m) || (find(m, x->container_id, &slot), slot == SIZE_MAX)) {
			m->dropped++;
			return;
		}
		e = &m->slots[slot];
		e->used = true;
		e->container_id = strdup(x->container_id);
		m->n++;
	} else {
		free(e->pod_name);
		free(e->namespace_);
		free(e->pod_uid);
		free(e->container_name);
	}
	e->pod_name = dup_or_null(x->pod_name);
	e->namespace_ = dup_or_null(x->namespace_);
	e->pod_uid = dup_or_null(x->pod_uid);
	e->container_name = dup_or_null(x->container_name);
}

/* ---- pod uid → top owner ------------------------------------------------------------- */

static struct meta_owner *owner_find(const struct meta_owners *t, const char *uid, size_t *ret_slot)
{
	if (ret_slot)
		*ret_slot = SIZE_MAX;
	if (!t->slots)
		return NULL;
	size_t mask = t->cap - 1, i = hash_id(uid) & mask;
	for (size_t n = 0; n < t->cap; n++, i = (i + 1) & mask) {
		struct meta_owner *o = &t->slots[i];
		if (!o->uid) {
			if (ret_slot)
				*ret_slot = i;
			return NULL;
		}
		if (strcmp(o->uid, uid) == 0)
			return o;
	}
	return NULL;
}

/* Backward-shift deletion, as erase() above. */
static void owner_erase(struct meta_owners *t, struct meta_owner *o)
{
	size_t mask = t->cap - 1, i = (size_t)(o - t->slots);
	free(o->uid);
	memset(o, 0, sizeof(*o));
	t->n--;
	for (size_t j = (i + 1) & mask; t->slots[j].uid; j = (j + 1) & mask) {
		size_t home = hash_id(t->slots[j].uid) & mask;
		bool move = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
		if (move) {
			t->slots[i] = t->slots[j];
			memset(&t->slots[j], 0, sizeof(t->slots[j]));
			i = j;
		}
	}
}

/* Room for one more entry: the table grows by doubling (load at most 1/2) up to 2 * max
 * slots. False when it cannot (full, or no memory). */
static bool owner_room(struct meta_owners *t)
{
	if (t->n >= t->max)
		return false;
	if (t->slots && (t->n + 1) * 2 <= t->cap)
		return true;
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct meta_owner *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return false;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slots[i].uid)
			continue;
		size_t j = hash_id(t->slots[i].uid) & (cap - 1);
		while (slots[j].uid)
			j = (j + 1) & (cap - 1);
		slots[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return true;
}

/* uid → kind/name/owner_uid, replacing what was there. */
static void owner_put(struct meta_owners *t, const char *uid, const char *kind, const char *name,
		      const char *owner_uid)
{
	struct meta_owner *o = owner_find(t, uid, NULL);
	if (o && strcmp(o->kind, kind) == 0 && strcmp(o->name, name) == 0 &&
	    strcmp(o->owner_uid, owner_uid) == 0)
		return; /* a MODIFIED of something else: the common case */
	size_t lu = strlen(uid) + 1, lk = strlen(kind) + 1, ln = strlen(name) + 1,
	       lo = strlen(owner_uid) + 1;
	char *buf = malloc(lu + lk + ln + lo);
	if (!buf) {
		t->dropped++;
		return;
	}
	if (!o) {
		size_t slot;
		if (!owner_room(t) || (owner_find(t, uid, &slot), slot == SIZE_MAX)) {
			t->dropped++;
			free(buf);
			return;
		}
		o = &t->slots[slot];
		t->n++;
	} else {
		free(o->uid);
	}
	memcpy(buf, uid, lu);
	memcpy(buf + lu, kind, lk);
	memcpy(buf + lu + lk, name, ln);
	memcpy(buf + lu + lk + ln, owner_uid, lo);
	o->uid = buf;
	o->kind = buf + lu;
	o->name = buf + lu + lk;
	o->owner_uid = buf + lu + lk + ln;
}

static void owners_free(struct meta_owners *t)
{
	for (size_t i = 0; t->slots && i < t->cap; i++)
		free(t->slots[i].uid);
	free(t->slots);
	t->slots = NULL;
	t->cap = t->n = 0;
}

/* The kinds whose owner chain leads from a pod to its top controller. */
static bool controller_kind(const char *kind)
{
	static const char *const kinds[] = {
		"ReplicaSet", "Deployment", "StatefulSet",	    "DaemonSet",
		"Job",	      "CronJob",    "ReplicationController"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

static void learn_owner(struct meta *m, const Tapio__V1__Event *ev)
{
	if (ev->payload_case != TAPIO__V1__EVENT__PAYLOAD_K8S_OBJECT || !ev->k8s_object)
		return;
	const Tapio__V1__K8sObjectEvent *x = ev->k8s_object;
	if (!valid(x->uid) || !x->kind || !x->action)
		return;
	struct meta_owners *t;
	if (strcmp(x->kind, "Pod") == 0) {
		t = &m->pods;
		if (!t->max)
			t->max = META_PODS_MAX;
	} else if (controller_kind(x->kind)) {
		t = &m->controllers;
		if (!t->max)
			t->max = META_CONTROLLERS_MAX;
	} else {
		return;
	}
	const Tapio__V1__OwnerReference *top = x->top_owner;
	if (strcmp(x->action, "DELETED") == 0 || !top || !valid(top->kind) || !valid(top->name)) {
		/* gone, or no controller (any more): nothing to join */
		struct meta_owner *o = owner_find(t, x->uid, NULL);
		if (o)
			owner_erase(t, o);
		return;
	}
	owner_put(t, x->uid, top->kind, top->name, valid(top->uid) ? top->uid : "");
}

void meta_learn(struct meta *m, const Tapio__V1__Event *ev, unsigned what)
{
	if (what & REGISTRY_POD_METADATA_CONTAINERS)
		learn_container(m, ev);
	if (what & REGISTRY_POD_METADATA_OWNERS)
		learn_owner(m, ev);
}

/* ---- cgroup → systemd unit ----------------------------------------------------------- */

static inline size_t unit_slot(uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 52); /* 4096 = 2^12 slots */
}
_Static_assert(META_UNIT_SLOTS == 4096, "unit_slot() takes the top 12 bits");

/* The unit of `path` (len bytes, NUL-terminated), NULL when it names none. */
static const char *unit_of(struct meta_units *u, uint64_t cgroup_id, const char *path, size_t len)
{
	if (cgroup_id && !u->slots)
		u->slots = calloc(META_UNIT_SLOTS, sizeof(*u->slots));
	if (!cgroup_id || !u->slots) {
		/* no key to remember it by (the process collector's /proc fallback) */
		return systemd_unit_name(path, len, u->scratch, sizeof(u->scratch)) > 0 ? u->scratch
											: NULL;
	}
	struct meta_unit_slot *s = &u->slots[unit_slot(cgroup_id)];
	if (s->path && s->cgroup_id == cgroup_id && s->path_len == len &&
	    memcmp(s->path, path, len) == 0) {
		u->hits++;
		return s->unit;
	}
	u->misses++;
	char name[SYSTEMD_UNIT_NAME_MAX + 1];
	int n = systemd_unit_name(path, len, name, sizeof(name));
	if (n < 0)
		n = 0;
	char *buf = malloc(len + 1 + (size_t)n + 1);
	if (!buf) /* answered, not remembered */
		return n > 0 ? memcpy(u->scratch, name, (size_t)n + 1) : NULL;
	free(s->path);
	memcpy(buf, path, len + 1);
	memcpy(buf + len + 1, name, (size_t)n + 1);
	s->cgroup_id = cgroup_id;
	s->path_len = len;
	s->path = buf;
	s->unit = n > 0 ? buf + len + 1 : NULL;
	return s->unit;
}

static void units_free(struct meta_units *u)
{
	for (size_t i = 0; u->slots && i < META_UNIT_SLOTS; i++)
		free(u->slots[i].path);
	free(u->slots);
	u->slots = NULL;
}

/* ---- the join ------------------------------------------------------------------------- */

bool meta_enrich(struct meta *m, Tapio__V1__Event *ev)
{
	Tapio__V1__KubernetesContext *k = ev->k8s;
	if (!k)
		return false;
	bool changed = false;
	/* what only tapiod may say */
	if (k->systemd_unit || k->owner_kind || k->owner_name || k->owner_uid) {
		k->systemd_unit = k->owner_kind = k->owner_name = k->owner_uid = NULL;
		changed = true;
	}

	if (k->container_id && !k->pod_name) {
		struct meta_entry *e = find(m, k->container_id, NULL);
		if (e) {
			k->pod_name = e->pod_name;
			k->namespace_ = e->namespace_;
			k->container_name = e->container_name;
			if (!k->pod_uid)
				k->pod_uid = e->pod_uid;
			changed = true;
		}
	}

	if (k->cgroup_path && k->cgroup_path[0]) {
		size_t len = strnlen(k->cgroup_path, META_PATH_MAX);
		uint64_t id =
			ev->process && ev->process->has_cgroup_id ? ev->process->cgroup_id : 0;
		const char *unit =
			len < META_PATH_MAX ? unit_of(&m->units, id, k->cgroup_path, len) : NULL;
		if (unit) {
			k->systemd_unit = (char *)unit;
			changed = true;
		}
	}

	if (k->pod_uid && m->pods.n) {
		const struct meta_owner *o = owner_find(&m->pods, k->pod_uid, NULL);
		if (o) {
			const char *kind = o->kind, *name = o->name, *uid = o->owner_uid;
			for (int hop = 0; hop < META_OWNER_HOPS && uid[0] && m->controllers.n;
			     hop++) {
				const struct meta_owner *c = owner_find(&m->controllers, uid, NULL);
				if (!c)
					break;
				kind = c->kind, name = c->name, uid = c->owner_uid;
			}
			k->owner_kind = (char *)kind;
			k->owner_name = (char *)name;
			k->owner_uid = uid[0] ? (char *)uid : NULL;
			changed = true;
		}
	}
	return changed;
}

void meta_get_stats(const struct meta *m, struct meta_stats *ret)
{
	*ret = (struct meta_stats){
		.containers = m->n,
		.pods = m->pods.n,
		.controllers = m->controllers.n,
		.containers_dropped = m->dropped,
		.owners_dropped = m->pods.dropped + m->controllers.dropped,
		.unit_hits = m->units.hits,
		.unit_misses = m->units.misses,
	};
}

void meta_free(struct meta *m)
{
	units_free(&m->units);
	owners_free(&m->pods);
	owners_free(&m->controllers);
	if (!m->slots)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].used)
			entry_free(&m->slots[i]);
	free(m->slots);
	m->slots = NULL;
	m->n = 0;
}
