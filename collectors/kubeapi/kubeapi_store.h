/* SPDX-License-Identifier: Apache-2.0 */
/* The kubeapi collector's store: one compact record per object, holding only what relations
 * and change detection need (uid, name, namespace, resourceVersion, owners, labels, selectors,
 * the references a pod makes, an EndpointSlice's pods, an Event's object), never a whole
 * object and never a Secret's or ConfigMap's data. A record is one allocation of a few hundred
 * bytes: a header and packed (tag, NUL-terminated value) fields. Indexed by uid and by
 * (resource, namespace, name). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "tapio/v1/event.pb-c.h"

#include "kubeapi_res.h"

/* Field tags of a record (the order is the order of changed_fields). */
enum kfield {
	KF_END = 0,
	KF_UID,
	KF_NAME,
	KF_NAMESPACE,
	KF_RV,
	KF_OWNER,      /* "Kind\x1fname\x1fuid\x1f1|0" (controller) */
	KF_LABEL,      /* "key=value" */
	KF_ANNOTATION, /* "key=value", only the configured keys */
	KF_SELECTOR,   /* "key=value": a Service's selector, a workload's matchLabels */
	KF_REL,	       /* "node/NAME", "configmap/NS/NAME", ... (from the object itself) */
	KF_PHASE,      /* Pod/Namespace status.phase */
	KF_NODE,       /* Pod spec.nodeName */
	KF_POD_IP,     /* Pod status.podIP */
	KF_SERVICE_ACCOUNT,
	KF_CLUSTER_IP,
	KF_SVC_TYPE,
	KF_REPLICAS, /* spec.replicas */
	KF_READY,    /* status.readyReplicas, or a Pod's Ready condition */
	KF_INVOLVED, /* Event: "Kind\x1fnamespace\x1fname\x1fuid" */
	KF_REASON,   /* Event reason */
	KF_MESSAGE,  /* Event message (bounded) */
	KF_EVTYPE,   /* Event type (Normal, Warning) */
	KF_DELETING, /* metadata.deletionTimestamp is set */
	KF_COUNT,
};
/* The name of a field in changed_fields ("labels", "spec.nodeName", ...). */
const char *kubeapi_field_name(enum kfield f);

#define KOBJ_MESSAGE_MAX 256  /* Event messages are cut here */
#define KOBJ_BYTES_MAX	 8192 /* a record larger than this keeps its first fields only */

struct kobj {
	struct kobj *next_uid;		  /* chain in the uid index */
	struct kobj *next_name;		  /* chain in the name index */
	struct kobj *next_res, *prev_res; /* every record of its resource */
	uint32_t gen;			  /* the list generation that last saw it */
	uint8_t res;			  /* enum kres */
	bool truncated;			  /* fields were left out (KOBJ_BYTES_MAX) */
	uint16_t len;			  /* bytes in data */
	char data[];			  /* (tag byte, value, NUL)*, tag KF_END */
};

/* Iterate the values of one tag: `for (const char *v = NULL; (v = kobj_next(o, KF_LABEL, v));)` */
const char *kobj_next(const struct kobj *o, enum kfield f, const char *prev);
/* The first value of a tag, or "" */
const char *kobj_get(const struct kobj *o, enum kfield f);

/* What the decoder keeps, besides the fixed fields: the annotation keys to copy. */
struct kdecode_opts {
	const char *const *annotations; /* NULL-terminated, or NULL */
};

/* Build a record from a decoded object of resource `res`. -EINVAL when it has no
 * metadata.uid/name (not an object of the API), -ENOMEM. */
int kobj_from_json(enum kres res, json_object *obj, const struct kdecode_opts *opts,
		   struct kobj **ret);

struct kstore {
	struct kobj **by_uid;
	struct kobj **by_name;
	struct kobj *res_head[KRES_COUNT];
	size_t buckets; /* power of two */
	size_t count[KRES_COUNT];
	size_t total;
	size_t bytes; /* record bytes held */
};

int kstore_init(struct kstore *st);
void kstore_free(struct kstore *st);
const struct kobj *kstore_by_uid(const struct kstore *st, const char *uid);
const struct kobj *kstore_by_name(const struct kstore *st, enum kres res, const char *ns,
				  const char *name);
/* Insert or replace (same uid); the store owns o from here on. *ret_old: the record it
 * replaced (the caller frees it), or NULL. */
void kstore_put(struct kstore *st, struct kobj *o, struct kobj **ret_old);
/* Remove by uid; the removed record (caller frees) or NULL. */
struct kobj *kstore_del(struct kstore *st, const char *uid);
/* Call fn for every record of a resource (fn must not change the store). */
void kstore_each(const struct kstore *st, enum kres res, void (*fn)(const struct kobj *, void *),
		 void *arg);
/* Remove and hand to fn (which takes ownership) every record of `res` (in namespace ns, NULL =
 * any) whose gen != gen: what a re-list no longer contains. */
void kstore_sweep(struct kstore *st, enum kres res, const char *ns, uint32_t gen,
		  void (*fn)(struct kobj *, void *), void *arg);

/* The fields whose values differ between two records of one object (KF_RV excluded): a
 * bitmask of 1u << enum kfield. */
uint32_t kobj_diff(const struct kobj *a, const struct kobj *b);

/* ---- events ----
 * Fill a K8sObjectEvent for o (action "ADDED", "MODIFIED", "DELETED") with its owners, the
 * owner chain up to the top controller (through the store), labels, annotations, relations
 * (its own and the computed ones: Service → selected pods and EndpointSlices, Pod → Services
 * selecting it) and `changed` (a kobj_diff mask). Strings point into o and the store; what is
 * allocated is recorded in `arena` (karena_free). The event is valid until the store, o or the
 * arena changes. 0 or -ENOMEM. */
struct karena {
	void **ptrs;
	size_t n, cap;
};
#define KOBJ_RELATIONS_MAX 128 /* computed relations per event; more set relations_truncated */
int kobj_event(const struct kstore *st, const struct kobj *o, const char *action, uint32_t changed,
	       struct karena *arena, Tapio__V1__K8sObjectEvent *ret);
void karena_free(struct karena *a);
