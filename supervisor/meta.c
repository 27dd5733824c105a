// SPDX-License-Identifier: Apache-2.0
// Pod metadata for every collector's events. The CRI worker's container events carry
// container id → pod name, namespace, uid and container name; tapiod keeps that table and,
// when it stamps an event whose k8s context has a container id but no pod name (the kernel
// collectors resolve only the cgroup), fills those fields in. The join happens in the one
// process every event passes through, so no worker needs the CRI metadata itself.
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "meta.h"

#define META_MAX  16384
#define FIELD_MAX 253 /* DNS-1123 names; longer values from a worker are refused */

static uint64_t hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
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

void meta_learn(struct meta *m, const Tapio__V1__Event *ev)
{
	if (ev->payload_case != TAPIO__V1__EVENT__PAYLOAD_CONTAINER || !ev->container)
		return;
	const Tapio__V1__ContainerEvent *x = ev->container;
	if (!valid(x->container_id))
		return;
	if (!m->slots) {
		m->cap = META_MAX * 2;
		m->slots = calloc(m->cap, sizeof(*m->slots));
		if (!m->slots)
			return;
	}
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
		if (m->n >= META_MAX || (find(m, x->container_id, &slot), slot == SIZE_MAX)) {
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

bool meta_enrich(struct meta *m, Tapio__V1__Event *ev)
{
	Tapio__V1__KubernetesContext *k = ev->k8s;
	if (!k || !k->container_id || k->pod_name)
		return false;
	struct meta_entry *e = find(m, k->container_id, NULL);
	if (!e)
		return false;
	k->pod_name = e->pod_name;
	k->namespace_ = e->namespace_;
	k->container_name = e->container_name;
	if (!k->pod_uid)
		k->pod_uid = e->pod_uid;
	return true;
}

void meta_free(struct meta *m)
{
	if (!m->slots)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].used)
			entry_free(&m->slots[i]);
	free(m->slots);
	m->slots = NULL;
	m->n = 0;
}
