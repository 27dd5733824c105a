/* SPDX-License-Identifier: Apache-2.0 */
/* Pod metadata join (meta.c): container id → pod, learned from CRI events. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapio/v1/event.pb-c.h"

struct meta_entry {
	bool used;
	char *container_id, *pod_name, *namespace_, *pod_uid, *container_name; /* owned */
};

struct meta {
	struct meta_entry *slots; /* owned; open addressing, cap a power of two */
	size_t cap, n;
	uint64_t dropped; /* containers not learned: table full */
};

/* Learn from a CRI container event (container id → pod metadata; removed → forget). */
void meta_learn(struct meta *m, const Tapio__V1__Event *ev);
/* Fill pod name, namespace, container name (and pod uid if missing) into an event whose k8s
 * context has a container id but no pod name. The strings are borrowed from the table (the
 * event must not be freed field by field: tapiod's events live in its decode arena). True
 * when something was filled in. */
bool meta_enrich(struct meta *m, Tapio__V1__Event *ev);
void meta_free(struct meta *m);
