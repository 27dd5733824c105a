// SPDX-License-Identifier: Apache-2.0
// The kubeapi store: compact records decoded from API objects, their indexes, change
// detection and the k8s.object events with owner chains and relations (kubeapi_store.h).
#include "kubeapi_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const field_names[KF_COUNT] = {
	[KF_UID] = "metadata.uid",
	[KF_NAME] = "metadata.name",
	[KF_NAMESPACE] = "metadata.namespace",
	[KF_RV] = "metadata.resourceVersion",
	[KF_OWNER] = "metadata.ownerReferences",
	[KF_LABEL] = "metadata.labels",
	[KF_ANNOTATION] = "metadata.annotations",
	[KF_SELECTOR] = "spec.selector",
	[KF_REL] = "references",
	[KF_PHASE] = "status.phase",
	[KF_NODE] = "spec.nodeName",
	[KF_POD_IP] = "status.podIP",
	[KF_SERVICE_ACCOUNT] = "spec.serviceAccountName",
	[KF_CLUSTER_IP] = "spec.clusterIP",
	[KF_SVC_TYPE] = "spec.type",
	[KF_REPLICAS] = "spec.replicas",
	[KF_READY] = "status.ready",
	[KF_INVOLVED] = "involvedObject",
	[KF_REASON] = "reason",
	[KF_MESSAGE] = "message",
	[KF_EVTYPE] = "type",
	[KF_DELETING] = "metadata.deletionTimestamp",
};

const char *kubeapi_field_name(enum kfield f)
{
	return f > KF_END && f < KF_COUNT ? field_names[f] : "?";
}

/* ---- records ----------------------------------------------------------------------------- */

const char *kobj_next(const struct kobj *o, enum kfield f, const char *prev)
{
	const char *p = prev ? prev + strlen(prev) + 1 : o->data;
	const char *end = o->data + o->len;
	while (p < end && (uint8_t)*p != KF_END) {
		uint8_t tag = (uint8_t)*p++;
		if (tag == f)
			return p;
		p += strlen(p) + 1;
	}
	return NULL;
}

const char *kobj_get(const struct kobj *o, enum kfield f)
{
	const char *v = kobj_next(o, f, NULL);
	return v ? v : "";
}

/* A record under construction: fields are added in any order, values deduplicated per tag. */
struct builder {
	char buf[KOBJ_BYTES_MAX];
	size_t len;
	bool truncated;
};

static bool has_value(const struct builder *b, uint8_t tag, const char *v, size_t n)
{
	size_t p = 0;
	while (p < b->len) {
		uint8_t t = (uint8_t)b->buf[p++];
		size_t l = strlen(b->buf + p);
		if (t == tag && l == n && memcmp(b->buf + p, v, n) == 0)
			return true;
		p += l + 1;
	}
	return false;
}

/* Add tag with the concatenation of the parts (NULL-terminated, each may be ""). */
static void addv(struct builder *b, enum kfield tag, const char *const *parts, char sep)
{
	char tmp[1024];
	size_t n = 0;
	for (size_t i = 0; parts[i]; i++) {
		size_t l = strlen(parts[i]);
		if (i && sep) {
			if (n + 1 >= sizeof(tmp))
				goto trunc;
			tmp[n++] = sep;
		}
		if (n + l >= sizeof(tmp))
			goto trunc;
		memcpy(tmp + n, parts[i], l);
		n += l;
	}
	if (has_value(b, (uint8_t)tag, tmp, n))
		return;
	if (b->len + n + 3 > sizeof(b->buf))
		goto trunc;
	b->buf[b->len++] = (char)tag;
	memcpy(b->buf + b->len, tmp, n);
	b->len += n;
	b->buf[b->len++] = '\0';
	return;
trunc:
	b->truncated = true;
}

static void add(struct builder *b, enum kfield tag, const char *v)
{
	if (!v || !*v)
		return;
	const char *parts[] = {v, NULL};
	addv(b, tag, parts, 0);
}

/* ---- JSON access ---- */

static json_object *jget(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static json_object *jarr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);
	return v && json_object_is_type(v, json_type_array) ? v : NULL;
}

#define JARR_EACH(arr, i, el)                                                                      \
	for (size_t i = 0, n_##i = (arr) ? json_object_array_length(arr) : 0;                      \
	     i < n_##i && ((el) = json_object_array_get_idx((arr), i), 1); i++)

/* Every string-valued "key": "value" of a JSON object as tag "key=value". */
static void add_map(struct builder *b, enum kfield tag, json_object *map)
{
	if (!map || !json_object_is_type(map, json_type_object))
		return;
	json_object_object_foreach(map, k, v)
	{
		if (!json_object_is_type(v, json_type_string))
			continue;
		const char *parts[] = {k, json_object_get_string(v), NULL};
		addv(b, tag, parts, '=');
	}
}

static void add_rel(struct builder *b, const char *what, const char *ns, const char *name)
{
	if (!name || !*name)
		return;
	const char *parts[] = {what, ns, name, NULL};
	const char *parts_cluster[] = {what, name, NULL};
	addv(b, KF_REL, ns ? parts : parts_cluster, '/');
}

static void add_int(struct builder *b, enum kfield tag, json_object *v)
{
	char tmp[24];
	if (!v || !json_object_is_type(v, json_type_int))
		return;
	snprintf(tmp, sizeof(tmp), "%lld", (long long)json_object_get_int64(v));
	add(b, tag, tmp);
}

/* The status of condition `type` in status.conditions ("True", "False", "Unknown"). */
static const char *condition(json_object *obj, const char *type)
{
	json_object *conds = jarr(jget(obj, "status"), "conditions"), *c;
	JARR_EACH(conds, i, c)
	{
		const char *t = jstr(c, "type");
		if (t && strcmp(t, type) == 0)
			return jstr(c, "status");
	}
	return NULL;
}

/* What a pod references: volumes, env sources, pull secrets. */
static void pod_refs(struct builder *b, const char *ns, json_object *spec)
{
	json_object *vols = jarr(spec, "volumes"), *v, *c, *e, *src;
	JARR_EACH(vols, i, v)
	{
		add_rel(b, "configmap", ns, jstr(jget(v, "configMap"), "name"));
		add_rel(b, "secret", ns, jstr(jget(v, "secret"), "secretName"));
		add_rel(b, "pvc", ns, jstr(jget(v, "persistentVolumeClaim"), "claimName"));
		json_object *srcs = jarr(jget(v, "projected"), "sources");
		JARR_EACH(srcs, j, src)
		{
			add_rel(b, "configmap", ns, jstr(jget(src, "configMap"), "name"));
			add_rel(b, "secret", ns, jstr(jget(src, "secret"), "name"));
		}
	}
	static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
	for (size_t l = 0; l < 3; l++) {
		json_object *cs = jarr(spec, lists[l]);
		JARR_EACH(cs, i, c)
		{
			json_object *ef = jarr(c, "envFrom");
			JARR_EACH(ef, j, e)
			{
				add_rel(b, "configmap", ns, jstr(jget(e, "configMapRef"), "name"));
				add_rel(b, "secret", ns, jstr(jget(e, "secretRef"), "name"));
			}
			json_object *env = jarr(c, "env");
			JARR_EACH(env, j, e)
			{
				json_object *vf = jget(e, "valueFrom");
				add_rel(b, "configmap", ns,
					jstr(jget(vf, "configMapKeyRef"), "name"));
				add_rel(b, "secret", ns, jstr(jget(vf, "secretKeyRef"), "name"));
			}
		}
	}
	json_object *ips = jarr(spec, "imagePullSecrets");
	JARR_EACH(ips, i, e)
	add_rel(b, "secret", ns, jstr(e, "name"));
}

int kobj_from_json(enum kres res, json_object *obj, const struct kdecode_opts *opts,
		   struct kobj **ret)
{
	static __thread struct builder b;
	json_object *meta = jget(obj, "metadata");
	const char *uid = jstr(meta, "uid"), *name = jstr(meta, "name");
	if (!uid || !*uid || !name || !*name)
		return -EINVAL;
	const char *ns = jstr(meta, "namespace");
	b.len = 0;
	b.truncated = false;
	/* identity first: these never lose to truncation */
	add(&b, KF_UID, uid);
	add(&b, KF_NAME, name);
	add(&b, KF_NAMESPACE, ns);
	add(&b, KF_RV, jstr(meta, "resourceVersion"));
	if (jget(meta, "deletionTimestamp"))
		add(&b, KF_DELETING, "true");

	json_object *owners = jarr(meta, "ownerReferences"), *ow;
	JARR_EACH(owners, i, ow)
	{
		json_object *ctl = jget(ow, "controller");
		const char *kind = jstr(ow, "kind"), *oname = jstr(ow, "name"),
			   *ouid = jstr(ow, "uid");
		if (!kind || !oname || !ouid)
			continue;
		const char *parts[] = {kind, oname, ouid,
				       ctl && json_object_get_boolean(ctl) ? "1" : "0", NULL};
		addv(&b, KF_OWNER, parts, '\x1f');
	}
	add_map(&b, KF_LABEL, jget(meta, "labels"));
	json_object *ann = jget(meta, "annotations");
	for (size_t i = 0; opts && opts->annotations && opts->annotations[i]; i++) {
		const char *k = opts->annotations[i];
		if (strcmp(k, "kubectl.kubernetes.io/last-applied-configuration") == 0)
			continue; /* a copy of the whole object, a Secret's data included */
		const char *v = jstr(ann, k);
		if (v) {
			const char *parts[] = {k, v, NULL};
			addv(&b, KF_ANNOTATION, parts, '=');
		}
	}

	/* Secrets and ConfigMaps: metadata only, whatever the server sent. */
	json_object *spec = jget(obj, "spec"), *status = jget(obj, "status"), *x;
	switch (res) {
	case KRES_PODS:
		add(&b, KF_NODE, jstr(spec, "nodeName"));
		add_rel(&b, "node", NULL, jstr(spec, "nodeName"));
		add(&b, KF_SERVICE_ACCOUNT, jstr(spec, "serviceAccountName"));
		add_rel(&b, "serviceaccount", ns, jstr(spec, "serviceAccountName"));
		add(&b, KF_PHASE, jstr(status, "phase"));
		add(&b, KF_POD_IP, jstr(status, "podIP"));
		add(&b, KF_READY, condition(obj, "Ready"));
		pod_refs(&b, ns, spec);
		break;
	case KRES_SERVICES:
		add_map(&b, KF_SELECTOR, jget(spec, "selector"));
		add(&b, KF_CLUSTER_IP, jstr(spec, "clusterIP"));
		add(&b, KF_SVC_TYPE, jstr(spec, "type"));
		break;
	case KRES_ENDPOINTSLICES: {
		add_rel(&b, "service", ns,
			jstr(jget(meta, "labels"), "kubernetes.io/service-name"));
		json_object *eps = jarr(obj, "endpoints");
		JARR_EACH(eps, i, x)
		{
			json_object *tr = jget(x, "targetRef");
			const char *kind = jstr(tr, "kind");
			if (kind && strcmp(kind, "Pod") == 0) {
				const char *pns = jstr(tr, "namespace");
				add_rel(&b, "pod", pns ? pns : ns, jstr(tr, "name"));
			}
		}
		break;
	}
	case KRES_DEPLOYMENTS:
	case KRES_REPLICASETS:
	case KRES_STATEFULSETS:
	case KRES_DAEMONSETS:
	case KRES_JOBS:
		add_map(&b, KF_SELECTOR, jget(jget(spec, "selector"), "matchLabels"));
		add_int(&b, KF_REPLICAS, jget(spec, res == KRES_JOBS ? "parallelism" : "replicas"));
		add_int(&b, KF_READY,
			jget(status, res == KRES_DAEMONSETS ? "numberReady"
				     : res == KRES_JOBS	    ? "succeeded"
							    : "readyReplicas"));
		break;
	case KRES_NODES:
		add(&b, KF_READY, condition(obj, "Ready"));
		break;
	case KRES_NAMESPACES:
		add(&b, KF_PHASE, jstr(status, "phase"));
		break;
	case KRES_EVENTS: {
		json_object *io = jget(obj, "involvedObject");
		const char *parts[] = {jstr(io, "kind") ?: "", jstr(io, "namespace") ?: "",
				       jstr(io, "name") ?: "", jstr(io, "uid") ?: "", NULL};
		if (*parts[0] && *parts[2])
			addv(&b, KF_INVOLVED, parts, '\x1f');
		add(&b, KF_REASON, jstr(obj, "reason"));
		add(&b, KF_EVTYPE, jstr(obj, "type"));
		const char *msg = jstr(obj, "message");
		if (msg) {
			char cut[KOBJ_MESSAGE_MAX + 1];
			size_t n = strnlen(msg, KOBJ_MESSAGE_MAX);
			/* do not cut a UTF-8 sequence in half */
			if (msg[n])
				while (n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80)
					n--;
			memcpy(cut, msg, n);
			cut[n] = '\0';
			add(&b, KF_MESSAGE, cut);
		}
		break;
	}
	case KRES_NETWORKPOLICIES:
		add_map(&b, KF_SELECTOR, jget(jget(spec, "podSelector"), "matchLabels"));
		break;
	default: /* CronJobs: owners and labels; ConfigMaps, Secrets: metadata only */
		break;
	}

	struct kobj *o = malloc(sizeof(*o) + b.len + 1);
	if (!o)
		return -ENOMEM;
	memset(o, 0, sizeof(*o));
	o->res = (uint8_t)res;
	o->truncated = b.truncated;
	o->len = (uint16_t)(b.len + 1);
	memcpy(o->data, b.buf, b.len);
	o->data[b.len] = (char)KF_END;
	*ret = o;
	return 0;
}

uint32_t kobj_diff(const struct kobj *a, const struct kobj *b)
{
	uint32_t mask = 0;
	for (int f = KF_UID; f < KF_COUNT; f++) {
		if (f == KF_RV)
			continue;
		const char *x = NULL, *y = NULL;
		for (;;) {
			x = kobj_next(a, f, x);
			y = kobj_next(b, f, y);
			if (!x || !y || strcmp(x, y) != 0)
				break;
		}
		if (x || y)
			mask |= 1u << f;
	}
	return mask;
}

/* ---- store ------------------------------------------------------------------------------- */

static uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h ^ 0xff;
}

static size_t uid_slot(const struct kstore *st, const char *uid)
{
	return hash_str(0xcbf29ce484222325ull, uid) & (st->buckets - 1);
}

static size_t name_slot(const struct kstore *st, unsigned res, const char *ns, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull ^ res;
	h = hash_str(hash_str(h, ns), name);
	return h & (st->buckets - 1);
}

int kstore_init(struct kstore *st)
{
	memset(st, 0, sizeof(*st));
	st->buckets = 1024;
	st->by_uid = calloc(st->buckets, sizeof(*st->by_uid));
	st->by_name = calloc(st->buckets, sizeof(*st->by_name));
	if (!st->by_uid || !st->by_name) {
		free(st->by_uid);
		free(st->by_name);
		return -ENOMEM;
	}
	return 0;
}

void kstore_free(struct kstore *st)
{
	for (int r = 0; r < KRES_COUNT; r++) {
		struct kobj *o = st->res_head[r];
		while (o) {
			struct kobj *n = o->next_res;
			free(o);
			o = n;
		}
	}
	free(st->by_uid);
	free(st->by_name);
	memset(st, 0, sizeof(*st));
}

const struct kobj *kstore_by_uid(const struct kstore *st, const char *uid)
{
	for (struct kobj *o = st->by_uid[uid_slot(st, uid)]; o; o = o->next_uid)
		if (strcmp(kobj_get(o, KF_UID), uid) == 0)
			return o;
	return NULL;
}

const struct kobj *kstore_by_name(const struct kstore *st, enum kres res, const char *ns,
				  const char *name)
{
	for (struct kobj *o = st->by_name[name_slot(st, res, ns ? ns : "", name)]; o;
	     o = o->next_name)
		if (o->res == res && strcmp(kobj_get(o, KF_NAME), name) == 0 &&
		    strcmp(kobj_get(o, KF_NAMESPACE), ns ? ns : "") == 0)
			return o;
	return NULL;
}

static void link_obj(struct kstore *st, struct kobj *o)
{
	size_t u = uid_slot(st, kobj_get(o, KF_UID));
	o->next_uid = st->by_uid[u];
	st->by_uid[u] = o;
	size_t n = name_slot(st, o->res, kobj_get(o, KF_NAMESPACE), kobj_get(o, KF_NAME));
	o->next_name = st->by_name[n];
	st->by_name[n] = o;
}

static void unlink_chain(struct kobj **head, struct kobj *o, bool by_uid)
{
	for (struct kobj **pp = head; *pp; pp = by_uid ? &(*pp)->next_uid : &(*pp)->next_name) {
		if (*pp == o) {
			*pp = by_uid ? o->next_uid : o->next_name;
			return;
		}
	}
}

static void unlink_obj(struct kstore *st, struct kobj *o)
{
	unlink_chain(&st->by_uid[uid_slot(st, kobj_get(o, KF_UID))], o, true);
	unlink_chain(&st->by_name[name_slot(st, o->res, kobj_get(o, KF_NAMESPACE),
					    kobj_get(o, KF_NAME))],
		     o, false);
	if (o->prev_res)
		o->prev_res->next_res = o->next_res;
	else
		st->res_head[o->res] = o->next_res;
	if (o->next_res)
		o->next_res->prev_res = o->prev_res;
	st->count[o->res]--;
	st->total--;
	st->bytes -= sizeof(*o) + o->len;
}

/* Double the tables when they hold more records than buckets (a failed grow keeps the old). */
static void maybe_grow(struct kstore *st)
{
	if (st->total < st->buckets)
		return;
	size_t nb = st->buckets * 2;
	struct kobj **u = calloc(nb, sizeof(*u)), **n = calloc(nb, sizeof(*n));
	if (!u || !n) {
		free(u);
		free(n);
		return;
	}
	free(st->by_uid);
	free(st->by_name);
	st->by_uid = u;
	st->by_name = n;
	st->buckets = nb;
	for (int r = 0; r < KRES_COUNT; r++)
		for (struct kobj *o = st->res_head[r]; o; o = o->next_res)
			link_obj(st, o);
}

void kstore_put(struct kstore *st, struct kobj *o, struct kobj **ret_old)
{
	struct kobj *old = (struct kobj *)kstore_by_uid(st, kobj_get(o, KF_UID));
	if (old)
		unlink_obj(st, old);
	*ret_old = old;
	maybe_grow(st);
	link_obj(st, o);
	o->prev_res = NULL;
	o->next_res = st->res_head[o->res];
	if (o->next_res)
		o->next_res->prev_res = o;
	st->res_head[o->res] = o;
	st->count[o->res]++;
	st->total++;
	st->bytes += sizeof(*o) + o->len;
}

struct kobj *kstore_del(struct kstore *st, const char *uid)
{
	struct kobj *o = (struct kobj *)kstore_by_uid(st, uid);
	if (o)
		unlink_obj(st, o);
	return o;
}

void kstore_each(const struct kstore *st, enum kres res, void (*fn)(const struct kobj *, void *),
		 void *arg)
{
	for (const struct kobj *o = st->res_head[res]; o; o = o->next_res)
		fn(o, arg);
}

void kstore_sweep(struct kstore *st, enum kres res, const char *ns, uint32_t gen,
		  void (*fn)(struct kobj *, void *), void *arg)
{
	struct kobj *o = st->res_head[res];
	while (o) {
		struct kobj *n = o->next_res;
		if (o->gen != gen && (!ns || strcmp(kobj_get(o, KF_NAMESPACE), ns) == 0)) {
			unlink_obj(st, o);
			fn(o, arg);
		}
		o = n;
	}
}

/* ---- events ------------------------------------------------------------------------------ */

static void *aalloc(struct karena *a, size_t size)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 32;
		void **p = realloc(a->ptrs, nc * sizeof(*p));
		if (!p)
			return NULL;
		a->ptrs = p;
		a->cap = nc;
	}
	void *m = calloc(1, size);
	if (m)
		a->ptrs[a->n++] = m;
	return m;
}

void karena_free(struct karena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->ptrs[i]);
	free(a->ptrs);
	memset(a, 0, sizeof(*a));
}

static char *adup(struct karena *a, const char *s, size_t n)
{
	char *d = aalloc(a, n + 1);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* "Kind\x1fname\x1fuid\x1f1" → OwnerReference (copies in the arena). */
static Tapio__V1__OwnerReference *owner_ref(struct karena *a, const char *v)
{
	Tapio__V1__OwnerReference *r = aalloc(a, sizeof(*r));
	if (!r)
		return NULL;
	tapio__v1__owner_reference__init(r);
	char *parts[4] = {0};
	const char *p = v;
	for (int i = 0; i < 4; i++) {
		const char *e = strchr(p, '\x1f');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		parts[i] = adup(a, p, n);
		if (!parts[i])
			return NULL;
		if (!e) {
			for (int j = i + 1; j < 4; j++)
				parts[j] = "";
			break;
		}
		p = e + 1;
	}
	r->kind = parts[0];
	r->name = parts[1];
	r->uid = parts[2];
	r->has_controller = 1;
	r->controller = parts[3][0] == '1';
	return r;
}

/* The owner the chain follows: the controller, else the first one. */
static const char *controller_of(const struct kobj *o)
{
	const char *first = NULL;
	for (const char *v = NULL; (v = kobj_next(o, KF_OWNER, v));) {
		size_t l = strlen(v);
		if (l >= 2 && v[l - 1] == '1' && v[l - 2] == '\x1f')
			return v;
		if (!first)
			first = v;
	}
	return first;
}

static Tapio__V1__Label *label(struct karena *a, const char *kv)
{
	Tapio__V1__Label *l = aalloc(a, sizeof(*l));
	if (!l)
		return NULL;
	tapio__v1__label__init(l);
	const char *eq = strchr(kv, '=');
	size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
	l->key = adup(a, kv, kl);
	l->value = (char *)(eq ? eq + 1 : "");
	return l->key ? l : NULL;
}

static size_t count(const struct kobj *o, enum kfield f)
{
	size_t n = 0;
	for (const char *v = NULL; (v = kobj_next(o, f, v));)
		n++;
	return n;
}

/* Every selector entry (there is at least one) is among the labels. */
static bool selects(const struct kobj *sel, const struct kobj *target)
{
	bool any = false;
	for (const char *s = NULL; (s = kobj_next(sel, KF_SELECTOR, s));) {
		any = true;
		bool found = false;
		for (const char *l = NULL; !found && (l = kobj_next(target, KF_LABEL, l));)
			found = strcmp(s, l) == 0;
		if (!found)
			return false;
	}
	return any;
}

struct rels {
	struct karena *a;
	char **v;
	size_t n, cap;
	bool truncated, nomem;
};

static void rel_add(struct rels *r, const char *what, const char *ns, const char *name)
{
	if (r->n >= r->cap) {
		r->truncated = true;
		return;
	}
	size_t l = strlen(what) + strlen(ns) + strlen(name) + 3;
	char *s = aalloc(r->a, l);
	if (!s) {
		r->nomem = true;
		return;
	}
	snprintf(s, l, "%s/%s/%s", what, ns, name);
	r->v[r->n++] = s;
}

int kobj_event(const struct kstore *st, const struct kobj *o, const char *action, uint32_t changed,
	       struct karena *a, Tapio__V1__K8sObjectEvent *ev)
{
	const struct kres_def *def = &kubeapi_resources[o->res];
	tapio__v1__k8s_object_event__init(ev);
	ev->action = (char *)action;
	ev->kind = (char *)def->kind;
	ev->resource = (char *)def->name;
	ev->name = (char *)kobj_get(o, KF_NAME);
	ev->uid = (char *)kobj_get(o, KF_UID);
	if (*kobj_get(o, KF_NAMESPACE))
		ev->namespace_ = (char *)kobj_get(o, KF_NAMESPACE);
	if (*kobj_get(o, KF_RV))
		ev->resource_version = (char *)kobj_get(o, KF_RV);
	if (*kobj_get(o, KF_PHASE))
		ev->phase = (char *)kobj_get(o, KF_PHASE);
	if (*kobj_get(o, KF_REASON))
		ev->reason = (char *)kobj_get(o, KF_REASON);
	if (*kobj_get(o, KF_MESSAGE))
		ev->message = (char *)kobj_get(o, KF_MESSAGE);
	if (*kobj_get(o, KF_EVTYPE))
		ev->event_type = (char *)kobj_get(o, KF_EVTYPE);

	size_t n = count(o, KF_OWNER);
	if (n) {
		ev->owners = aalloc(a, n * sizeof(*ev->owners));
		if (!ev->owners)
			return -ENOMEM;
		for (const char *v = NULL; (v = kobj_next(o, KF_OWNER, v));)
			if (!(ev->owners[ev->n_owners++] = owner_ref(a, v)))
				return -ENOMEM;
	}
	/* the owner chain, through the store as far as it knows the owners */
	enum { CHAIN_MAX = 8 };
	ev->owner_chain = aalloc(a, CHAIN_MAX * sizeof(*ev->owner_chain));
	if (!ev->owner_chain)
		return -ENOMEM;
	const struct kobj *cur = o;
	while (cur && ev->n_owner_chain < CHAIN_MAX) {
		const char *v = controller_of(cur);
		if (!v)
			break;
		Tapio__V1__OwnerReference *r = owner_ref(a, v);
		if (!r)
			return -ENOMEM;
		ev->owner_chain[ev->n_owner_chain++] = r;
		cur = kstore_by_uid(st, r->uid);
	}
	if (ev->n_owner_chain)
		ev->top_owner = ev->owner_chain[ev->n_owner_chain - 1];

	n = count(o, KF_LABEL);
	if (n) {
		ev->labels = aalloc(a, n * sizeof(*ev->labels));
		if (!ev->labels)
			return -ENOMEM;
		for (const char *v = NULL; (v = kobj_next(o, KF_LABEL, v));)
			if (!(ev->labels[ev->n_labels++] = label(a, v)))
				return -ENOMEM;
	}
	n = count(o, KF_ANNOTATION);
	if (n) {
		ev->annotations = aalloc(a, n * sizeof(*ev->annotations));
		if (!ev->annotations)
			return -ENOMEM;
		for (const char *v = NULL; (v = kobj_next(o, KF_ANNOTATION, v));)
			if (!(ev->annotations[ev->n_annotations++] = label(a, v)))
				return -ENOMEM;
	}

	size_t own = count(o, KF_REL) + (*kobj_get(o, KF_INVOLVED) ? 1 : 0);
	struct rels r = {.a = a, .cap = own + KOBJ_RELATIONS_MAX};
	r.v = aalloc(a, r.cap * sizeof(*r.v));
	if (!r.v)
		return -ENOMEM;
	for (const char *v = NULL; (v = kobj_next(o, KF_REL, v));)
		r.v[r.n++] = (char *)v;
	const char *inv = kobj_get(o, KF_INVOLVED);
	if (*inv) {
		/* "involved/Kind/namespace/name" (namespace empty for cluster objects) */
		size_t l = strlen(inv) + 10;
		char *s = aalloc(a, l);
		if (!s)
			return -ENOMEM;
		snprintf(s, l, "involved/%s", inv);
		char *uidsep = NULL;
		for (char *p = s; *p; p++)
			if (*p == '\x1f') {
				*p = '/';
				uidsep = p;
			}
		if (uidsep)
			*uidsep = '\0'; /* the uid is not part of the path */
		r.v[r.n++] = s;
	}
	r.cap = r.n + KOBJ_RELATIONS_MAX;
	const char *ns = kobj_get(o, KF_NAMESPACE);
	if (o->res == KRES_SERVICES && count(o, KF_SELECTOR)) {
		for (const struct kobj *p = st->res_head[KRES_PODS]; p; p = p->next_res)
			if (strcmp(kobj_get(p, KF_NAMESPACE), ns) == 0 && selects(o, p))
				rel_add(&r, "pod", ns, kobj_get(p, KF_NAME));
	}
	if (o->res == KRES_SERVICES) {
		char want[512];
		snprintf(want, sizeof(want), "service/%s/%s", ns, kobj_get(o, KF_NAME));
		for (const struct kobj *p = st->res_head[KRES_ENDPOINTSLICES]; p; p = p->next_res)
			if (strcmp(kobj_get(p, KF_NAMESPACE), ns) == 0)
				for (const char *v = NULL; (v = kobj_next(p, KF_REL, v));)
					if (strcmp(v, want) == 0)
						rel_add(&r, "endpointslice", ns,
							kobj_get(p, KF_NAME));
	}
	if (o->res == KRES_PODS) {
		for (const struct kobj *s = st->res_head[KRES_SERVICES]; s; s = s->next_res)
			if (strcmp(kobj_get(s, KF_NAMESPACE), ns) == 0 && selects(s, o))
				rel_add(&r, "service", ns, kobj_get(s, KF_NAME));
	}
	if (r.nomem)
		return -ENOMEM;
	ev->relations = r.v;
	ev->n_relations = r.n;
	if (r.truncated) {
		ev->has_relations_truncated = 1;
		ev->relations_truncated = 1;
	}

	if (changed) {
		ev->changed = aalloc(a, KF_COUNT * sizeof(*ev->changed));
		if (!ev->changed)
			return -ENOMEM;
		for (int f = KF_UID; f < KF_COUNT; f++)
			if (changed & (1u << f))
				ev->changed[ev->n_changed++] = (char *)kubeapi_field_name(f);
	}
	return 0;
}
