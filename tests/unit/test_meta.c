// SPDX-License-Identifier: Apache-2.0
// tapiod's joins (supervisor/meta.c): the systemd unit of an event's cgroup (cached per cgroup
// id, checked against the path), the pod's top owner learned from k8s.object events (walked
// through the controllers' table, forgotten on DELETED, bounded and counted), values a worker
// forged for them cleared; and through the routing step, the joined fields in the JSON line
// and in the binary record.
#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "pbarena.h"
#include "registry.h"
#include "supervisor/meta.h"
#include "supervisor/route.h"
#include "tapio/v1/event.pb-c.h"

#define CID	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define POD_UID "5f0d9e1c-1d2b-4a57-9d1e-3c7e2b8a9f10"
#define RS_UID	"8a1b2c3d-0000-4000-8000-00000000a001"
#define DEP_UID "8a1b2c3d-0000-4000-8000-00000000d001"

/* An event as a kernel collector sends it: cgroup id and path, maybe a pod uid. */
struct kev {
	Tapio__V1__Event ev;
	Tapio__V1__ProcessContext p;
	Tapio__V1__KubernetesContext k;
};

static Tapio__V1__Event *kernel_event(struct kev *x, uint64_t cgid, const char *path,
				      const char *pod_uid)
{
	x->ev = (Tapio__V1__Event)TAPIO__V1__EVENT__INIT;
	x->p = (Tapio__V1__ProcessContext)TAPIO__V1__PROCESS_CONTEXT__INIT;
	x->k = (Tapio__V1__KubernetesContext)TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	x->ev.type = "process.exec";
	if (cgid) {
		x->p.has_cgroup_id = 1;
		x->p.cgroup_id = cgid;
	}
	x->ev.process = &x->p;
	x->k.cgroup_path = (char *)path;
	x->k.pod_uid = (char *)pod_uid;
	x->ev.k8s = &x->k;
	return &x->ev;
}

/* A k8s.object event as the kubeapi worker sends it. */
struct oev {
	Tapio__V1__Event ev;
	Tapio__V1__K8sObjectEvent o;
	Tapio__V1__OwnerReference top;
};

static Tapio__V1__Event *object_event(struct oev *x, const char *action, const char *kind,
				      const char *uid, const char *top_kind, const char *top_name,
				      const char *top_uid)
{
	x->ev = (Tapio__V1__Event)TAPIO__V1__EVENT__INIT;
	x->o = (Tapio__V1__K8sObjectEvent)TAPIO__V1__K8S_OBJECT_EVENT__INIT;
	x->top = (Tapio__V1__OwnerReference)TAPIO__V1__OWNER_REFERENCE__INIT;
	x->ev.type = "k8s.object";
	x->ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_K8S_OBJECT;
	x->ev.k8s_object = &x->o;
	x->o.action = (char *)action;
	x->o.kind = (char *)kind;
	x->o.uid = (char *)uid;
	x->o.name = "x";
	if (top_kind) {
		x->top.kind = (char *)top_kind;
		x->top.name = (char *)top_name;
		x->top.uid = (char *)top_uid;
		x->o.top_owner = &x->top;
	}
	return &x->ev;
}

static const char *unit(struct meta *m, uint64_t cgid, const char *path)
{
	struct kev x;
	Tapio__V1__Event *ev = kernel_event(&x, cgid, path, NULL);
	meta_enrich(m, ev);
	return ev->k8s->systemd_unit;
}

Test(meta, systemd_unit_from_the_cgroup_path_cached_per_cgroup)
{
	struct meta m = {0};
	cr_assert_str_eq(unit(&m, 11, "/system.slice/kubelet.service"), "kubelet.service");
	cr_assert_str_eq(unit(&m, 11, "/system.slice/kubelet.service"), "kubelet.service");
	cr_assert_eq(m.units.misses, 1);
	cr_assert_eq(m.units.hits, 1);
	/* a container below a pod slice: the deepest unit, its scope (the seed's rules) */
	const char *ctr = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
			  "5f0d9e1c_1d2b_4a57_9d1e_3c7e2b8a9f10.slice/cri-containerd-" CID ".scope";
	cr_assert_str_eq(unit(&m, 12, ctr), "cri-containerd-" CID ".scope");
	/* a container inside containerd.service keeps the service */
	cr_assert_str_eq(
		unit(&m, 13, "/system.slice/containerd.service/kubepods-besteffort-pod1/" CID),
		"containerd.service");
	/* the root and a cgroup outside any unit: none */
	cr_assert_null(unit(&m, 1, "/"));
	cr_assert_null(unit(&m, 14, "/tapio-test/inner"));
	cr_assert_null(unit(&m, 14, "/tapio-test/inner"));
	cr_assert_eq(m.units.hits, 2, "a cgroup without a unit is remembered too");
	/* the same id with another path (renamed, or another worker's view): recomputed */
	cr_assert_str_eq(unit(&m, 11, "/system.slice/kubelet-2.service"), "kubelet-2.service");
	cr_assert_eq(m.units.misses, 6);
	/* no cgroup id (the /proc fallback): computed, not cached */
	uint64_t hits = m.units.hits, misses = m.units.misses;
	cr_assert_str_eq(unit(&m, 0, "/user.slice/user-0.slice/session-3.scope"),
			 "session-3.scope");
	cr_assert_eq(m.units.hits + m.units.misses, hits + misses);
	/* ids in the same slot replace each other and stay right */
	for (uint64_t id = 100; id < 100 + 3 * 4096; id += 97) {
		char p[64], want[64];
		snprintf(p, sizeof(p), "/system.slice/u%llu.service", (unsigned long long)id);
		snprintf(want, sizeof(want), "u%llu.service", (unsigned long long)id);
		cr_assert_str_eq(unit(&m, id, p), want);
	}
	/* "..", an over-long path: no unit, no crash */
	cr_assert_null(unit(&m, 15, "/system.slice/../x.service"));
	static char longp[5000];
	memset(longp, 'a', sizeof(longp) - 1);
	memcpy(longp + sizeof(longp) - 10, ".service", 9);
	longp[0] = '/';
	cr_assert_null(unit(&m, 16, longp));
	meta_free(&m);
}

Test(meta, a_worker_cannot_forge_the_joined_fields)
{
	struct meta m = {0};
	struct kev x;
	Tapio__V1__Event *ev = kernel_event(&x, 0, NULL, NULL);
	x.k.systemd_unit = "forged.service";
	x.k.owner_kind = "Deployment";
	x.k.owner_name = "forged";
	x.k.owner_uid = "forged-uid";
	cr_assert(meta_enrich(&m, ev), "clearing is a change of the k8s context");
	cr_assert_null(x.k.systemd_unit);
	cr_assert_null(x.k.owner_kind);
	cr_assert_null(x.k.owner_name);
	cr_assert_null(x.k.owner_uid);
	/* an event with nothing to join is left alone */
	ev = kernel_event(&x, 0, NULL, NULL);
	cr_assert_not(meta_enrich(&m, ev));
	meta_free(&m);
}

static void owner_of(struct meta *m, const char *pod_uid, const char **kind, const char **name,
		     const char **uid)
{
	struct kev x;
	Tapio__V1__Event *ev = kernel_event(&x, 0, NULL, pod_uid);
	meta_enrich(m, ev);
	*kind = x.k.owner_kind;
	*name = x.k.owner_name;
	*uid = x.k.owner_uid;
}

Test(meta, top_owner_learned_walked_and_forgotten)
{
	struct meta m = {0};
	struct oev o;
	const char *kind, *name, *uid;
	const unsigned OWN = REGISTRY_POD_METADATA_OWNERS;

	/* only a collector allowed to teach owners does */
	meta_learn(&m, object_event(&o, "ADDED", "Pod", POD_UID, "ReplicaSet", "web-5d4", RS_UID),
		   REGISTRY_POD_METADATA_CONTAINERS);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_null(kind);

	/* the pod came before its ReplicaSet: its top is the ReplicaSet for now */
	meta_learn(&m, object_event(&o, "ADDED", "Pod", POD_UID, "ReplicaSet", "web-5d4", RS_UID),
		   OWN);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_str_eq(kind, "ReplicaSet");
	cr_assert_str_eq(name, "web-5d4");
	cr_assert_str_eq(uid, RS_UID);
	/* the ReplicaSet's event carries the chain on to the Deployment */
	meta_learn(&m,
		   object_event(&o, "ADDED", "ReplicaSet", RS_UID, "Deployment", "web", DEP_UID),
		   OWN);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_str_eq(kind, "Deployment");
	cr_assert_str_eq(name, "web");
	cr_assert_str_eq(uid, DEP_UID);
	/* kinds that own no pods (an EndpointSlice's Service) are not learned */
	meta_learn(&m, object_event(&o, "ADDED", "EndpointSlice", "es-1", "Service", "web", "s-1"),
		   OWN);
	cr_assert_eq(m.controllers.n, 1);
	cr_assert_eq(m.pods.n, 1);
	/* a pod uid nobody taught: nothing */
	owner_of(&m, "00000000-0000-4000-8000-000000000000", &kind, &name, &uid);
	cr_assert_null(kind);

	/* the ReplicaSet deleted: the pod's own entry remains */
	meta_learn(&m,
		   object_event(&o, "DELETED", "ReplicaSet", RS_UID, "Deployment", "web", DEP_UID),
		   OWN);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_str_eq(kind, "ReplicaSet");
	/* the pod orphaned (no controller any more), then deleted */
	meta_learn(&m, object_event(&o, "MODIFIED", "Pod", POD_UID, NULL, NULL, NULL), OWN);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_null(kind);
	meta_learn(&m, object_event(&o, "ADDED", "Pod", POD_UID, "Job", "backup", NULL), OWN);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_str_eq(kind, "Job");
	cr_assert_null(uid, "an owner without uid has none");
	meta_learn(&m, object_event(&o, "DELETED", "Pod", POD_UID, "Job", "backup", NULL), OWN);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_null(kind);
	cr_assert_eq(m.pods.n, 0);

	/* a cycle of controllers (hostile input) ends after a bounded walk */
	meta_learn(&m, object_event(&o, "ADDED", "Pod", POD_UID, "ReplicaSet", "a", "cyc-a"), OWN);
	meta_learn(&m, object_event(&o, "ADDED", "ReplicaSet", "cyc-a", "ReplicaSet", "b", "cyc-b"),
		   OWN);
	meta_learn(&m, object_event(&o, "ADDED", "ReplicaSet", "cyc-b", "ReplicaSet", "a", "cyc-a"),
		   OWN);
	owner_of(&m, POD_UID, &kind, &name, &uid);
	cr_assert_not_null(kind);
	meta_free(&m);
}

Test(meta, owner_tables_are_bounded_and_counted)
{
	struct meta m = {0};
	m.pods.max = 100;
	struct oev o;
	char uids[150][40];
	for (int i = 0; i < 150; i++) {
		snprintf(uids[i], sizeof(uids[i]), "00000000-0000-4000-8000-%012d", i);
		meta_learn(&m,
			   object_event(&o, "ADDED", "Pod", uids[i], "DaemonSet", "agent", "ds"),
			   REGISTRY_POD_METADATA_OWNERS);
	}
	cr_assert_eq(m.pods.n, 100);
	cr_assert_eq(m.pods.dropped, 50);
	struct meta_stats st;
	meta_get_stats(&m, &st);
	cr_assert_eq(st.owners_dropped, 50);
	cr_assert_eq(st.pods, 100);
	/* every kept pod answers; deletes make room again */
	const char *kind, *name, *uid;
	for (int i = 0; i < 100; i++) {
		owner_of(&m, uids[i], &kind, &name, &uid);
		cr_assert_str_eq(kind, "DaemonSet", "pod %d", i);
	}
	for (int i = 0; i < 100; i += 2)
		meta_learn(&m, object_event(&o, "DELETED", "Pod", uids[i], NULL, NULL, NULL),
			   REGISTRY_POD_METADATA_OWNERS);
	cr_assert_eq(m.pods.n, 50);
	for (int i = 1; i < 100; i += 2) {
		owner_of(&m, uids[i], &kind, &name, &uid);
		cr_assert_str_eq(kind, "DaemonSet", "pod %d after the deletes", i);
	}
	meta_learn(&m, object_event(&o, "ADDED", "Pod", uids[120], "DaemonSet", "agent", "ds"),
		   REGISTRY_POD_METADATA_OWNERS);
	owner_of(&m, uids[120], &kind, &name, &uid);
	cr_assert_str_eq(kind, "DaemonSet");
	meta_free(&m);
}

/* ---- through the routing step: JSON names and the binary record ------------------------- */

struct keep_sink {
	struct sink base;
	char json[2048];
	uint8_t record[2048];
	size_t record_len;
};

static int keep_event(struct sink *base, const struct sink_event *e)
{
	struct keep_sink *k = (struct keep_sink *)base;
	cr_assert_lt(e->json_len, sizeof(k->json));
	memcpy(k->json, e->json, e->json_len);
	k->json[e->json_len] = '\0';
	cr_assert_leq(e->record_len, sizeof(k->record));
	memcpy(k->record, e->record, e->record_len);
	k->record_len = e->record_len;
	return 0;
}

static void keep_nothing(struct sink *base)
{
}

static void keep_drain(struct sink *base, unsigned timeout_ms)
{
}

static void keep_stats(const struct sink *base, struct sink_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
}

static const struct sink_ops keep_ops = {
	.event = keep_event,
	.flush = keep_nothing,
	.drain = keep_drain,
	.close = keep_nothing,
	.stats = keep_stats,
};

/* Pack ev as a worker would, decode it into the arena as link.c does, route it. */
static void route_packed_event(struct route *rt, struct pbarena *a, const char *collector,
			       unsigned teach, const Tapio__V1__Event *ev, uint64_t seq)
{
	Tapio__V1__Event copy = *ev;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = 1764650000;
	copy.time = &ts;
	copy.has_seq = 1;
	copy.seq = seq;
	uint8_t buf[2048];
	size_t n = tapio__v1__event__get_packed_size(&copy);
	cr_assert_leq(n, sizeof(buf));
	tapio__v1__event__pack(&copy, buf);
	pbarena_reset(a);
	Tapio__V1__Event *d = tapio__v1__event__unpack(&a->alloc, n, buf);
	cr_assert_not_null(d);
	route_event(rt, collector, teach, buf, n, d);
}

static const char *j2(json_object *o, const char *a, const char *b)
{
	json_object *v;
	if (!json_object_object_get_ex(o, a, &v) || !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

Test(meta, joined_fields_in_the_json_line_and_the_record)
{
	struct keep_sink ks = {.base = {&keep_ops, "keep", SINK_JSON | SINK_RECORD}};
	struct sinks t = {.v = {&ks.base}, .n = 1};
	struct route rt;
	route_init(&rt, &t, "00000000000000ab", "node-1");
	struct pbarena a;
	cr_assert_eq(pbarena_init(&a, 4096, 1 << 20), 0);

	struct oev o;
	route_packed_event(&rt, &a, "kubeapi", REGISTRY_POD_METADATA_OWNERS,
			   object_event(&o, "ADDED", "Pod", POD_UID, "Deployment", "web", DEP_UID),
			   1);
	struct kev x;
	const char *path = "/kubepods.slice/kubepods-pod5f0d9e1c_1d2b_4a57_9d1e_3c7e2b8a9f10.slice/"
			   "cri-containerd-" CID ".scope";
	Tapio__V1__Event *ev = kernel_event(&x, 4242, path, POD_UID);
	x.k.container_id = CID;
	route_packed_event(&rt, &a, "process", 0, ev, 1);

	json_object *j = json_tokener_parse(ks.json);
	cr_assert_not_null(j, "%s", ks.json);
	cr_assert_str_eq(j2(j, "k8s", "systemdUnit"), "cri-containerd-" CID ".scope", "%s",
			 ks.json);
	cr_assert_str_eq(j2(j, "k8s", "ownerKind"), "Deployment", "%s", ks.json);
	cr_assert_str_eq(j2(j, "k8s", "ownerName"), "web");
	cr_assert_str_eq(j2(j, "k8s", "ownerUid"), DEP_UID);
	cr_assert_str_eq(j2(j, "k8s", "cgroupPath"), path);
	json_object_put(j);

	Tapio__V1__Event *r = tapio__v1__event__unpack(NULL, ks.record_len, ks.record);
	cr_assert_not_null(r);
	cr_assert_not_null(r->k8s);
	cr_assert_str_eq(r->k8s->systemd_unit, "cri-containerd-" CID ".scope");
	cr_assert_str_eq(r->k8s->owner_kind, "Deployment");
	cr_assert_str_eq(r->k8s->owner_name, "web");
	cr_assert_str_eq(r->k8s->owner_uid, DEP_UID);
	cr_assert_str_eq(r->k8s->container_id, CID);
	cr_assert_eq(r->base.n_unknown_fields, 0);
	tapio__v1__event__free_unpacked(r, NULL);

	/* a worker's forged unit does not reach the record either */
	ev = kernel_event(&x, 0, "/", NULL);
	x.k.systemd_unit = "forged.service";
	route_packed_event(&rt, &a, "process", 0, ev, 2);
	r = tapio__v1__event__unpack(NULL, ks.record_len, ks.record);
	cr_assert_not_null(r);
	cr_assert_null(r->k8s->systemd_unit);
	tapio__v1__event__free_unpacked(r, NULL);
	cr_assert_null(strstr(ks.json, "forged"), "%s", ks.json);

	pbarena_release(&a);
	route_release(&rt);
}
