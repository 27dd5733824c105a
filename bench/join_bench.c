// SPDX-License-Identifier: Apache-2.0
// What tapiod's joins (supervisor/meta.c) cost per event, in process: a process.exec from a
// container as the process collector sends it (cgroup id and path, container id, pod uid),
// with the CRI table, the unit cache and the owner tables filled as on a node (110 pods,
// their ReplicaSets). Prints the median ns/event of 7 runs (min–max) of:
//   nothing to join   the loop and meta_enrich() on a k8s context with no key (the floor)
//   containers only   the join tapiod did before (container id → pod name...)
//   + systemd unit    the unit of the cgroup path, cached per cgroup id (the hit path)
//   + top owner       pod uid → top owner (the pods' table, one controllers' lookup)
//   unit uncached     the unit recomputed from the path every time (no cgroup id), for scale
//   whole route       route_event(): stamp, all joins, the JSON encoding, a sink that discards
// Build: make build/bench/join_bench
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"
#include "supervisor/meta.h"
#include "supervisor/route.h"
#include "tapio/v1/event.pb-c.h"

#define PODS 110
#define RUNS 7

static char cids[PODS][65], uids[PODS][37], rss[PODS][37], paths[PODS][512];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void teach(struct meta *m)
{
	for (int i = 0; i < PODS; i++) {
		snprintf(cids[i], sizeof(cids[i]), "%064x", i * 7919 + 1);
		snprintf(uids[i], sizeof(uids[i]), "5f0d9e1c-1d2b-4a57-9d1e-%012x", i);
		snprintf(rss[i], sizeof(rss[i]), "8a1b2c3d-0000-4000-8000-%012x", i);
		char u[37];
		memcpy(u, uids[i], sizeof(u));
		for (char *p = u; *p; p++)
			if (*p == '-')
				*p = '_';
		snprintf(paths[i], sizeof(paths[i]),
			 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/"
			 "cri-containerd-%.64s.scope",
			 u, cids[i]);
		char name[32];
		snprintf(name, sizeof(name), "web-%d", i);
		Tapio__V1__ContainerEvent ce = TAPIO__V1__CONTAINER_EVENT__INIT;
		Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
		ev.type = "container.started";
		ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_CONTAINER;
		ev.container = &ce;
		ce.container_id = cids[i];
		ce.pod_name = name;
		ce.namespace_ = "shop";
		ce.pod_uid = uids[i];
		ce.container_name = "app";
		meta_learn(m, &ev, REGISTRY_POD_METADATA_CONTAINERS);
		/* the pod (top: its ReplicaSet, not known yet) and then its ReplicaSet */
		Tapio__V1__K8sObjectEvent ko = TAPIO__V1__K8S_OBJECT_EVENT__INIT;
		Tapio__V1__OwnerReference top = TAPIO__V1__OWNER_REFERENCE__INIT;
		ev = (Tapio__V1__Event)TAPIO__V1__EVENT__INIT;
		ev.type = "k8s.object";
		ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_K8S_OBJECT;
		ev.k8s_object = &ko;
		ko.action = "ADDED";
		ko.kind = "Pod";
		ko.uid = uids[i];
		ko.top_owner = &top;
		top.kind = "ReplicaSet";
		top.name = name;
		top.uid = rss[i];
		meta_learn(m, &ev, REGISTRY_POD_METADATA_OWNERS);
		ko.kind = "ReplicaSet";
		ko.uid = rss[i];
		top.kind = "Deployment";
		top.name = "web";
		top.uid = "8a1b2c3d-0000-4000-8000-00000000d001";
		meta_learn(m, &ev, REGISTRY_POD_METADATA_OWNERS);
	}
}

enum variant { NOTHING, CONTAINERS, UNIT, OWNER, UNCACHED, ROUTE, NVARIANTS };
static const char *const names[] = {"nothing to join", "containers only", "+ systemd unit",
				    "+ top owner",     "unit uncached",	  "whole route"};

struct ev {
	Tapio__V1__Event e;
	Tapio__V1__ProcessContext p;
	Tapio__V1__KubernetesContext k;
	Tapio__V1__ProcessExec x;
	Google__Protobuf__Timestamp ts;
};

static void make(struct ev *v, int i, enum variant var)
{
	v->e = (Tapio__V1__Event)TAPIO__V1__EVENT__INIT;
	v->p = (Tapio__V1__ProcessContext)TAPIO__V1__PROCESS_CONTEXT__INIT;
	v->k = (Tapio__V1__KubernetesContext)TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	v->x = (Tapio__V1__ProcessExec)TAPIO__V1__PROCESS_EXEC__INIT;
	v->ts = (Google__Protobuf__Timestamp)GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	v->ts.seconds = 1764650000;
	v->e.time = &v->ts;
	v->e.type = "process.exec";
	v->e.has_seq = 1;
	v->e.seq = 1;
	v->p.has_pid = v->p.has_cgroup_id = 1;
	v->p.pid = 1000 + (uint32_t)i;
	v->p.cgroup_id = var == UNCACHED ? 0 : 4000 + (uint64_t)i;
	v->p.comm = "sh";
	v->e.process = &v->p;
	if (var != NOTHING)
		v->k.container_id = cids[i];
	v->k.runtime = "containerd";
	v->k.qos_class = "burstable";
	if (var != CONTAINERS && var != NOTHING)
		v->k.cgroup_path = paths[i];
	if (var == OWNER || var == ROUTE)
		v->k.pod_uid = uids[i];
	v->e.k8s = &v->k;
	static char *argv[] = {"sh", "-c", "true"};
	v->x.filename = "/bin/sh";
	v->x.argv = argv;
	v->x.n_argv = 3;
	v->e.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXEC;
	v->e.process_exec = &v->x;
}

static int discard(struct sink *s, const struct sink_event *e)
{
	return e->json_len ? 0 : -1;
}
static void nothing(struct sink *s)
{
}
static void drain(struct sink *s, unsigned ms)
{
}
static void stats(const struct sink *s, struct sink_stats *r)
{
	memset(r, 0, sizeof(*r));
}
static const struct sink_ops ops = {
	.event = discard, .flush = nothing, .drain = drain, .close = nothing, .stats = stats};

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	struct sink s = {&ops, "discard", SINK_JSON};
	struct sinks table = {.v = {&s}, .n = 1};
	struct route rt;
	route_init(&rt, &table, "00000000000000ab", "node-1");
	teach(&rt.meta);
	static struct ev evs[PODS];
	printf("tapiod joins, ns per event (median of %d runs of %ld events, min-max), %d pods\n",
	       RUNS, iters, PODS);
	for (int var = 0; var < NVARIANTS; var++) {
		double ns[RUNS];
		for (int r = 0; r < RUNS; r++) {
			for (int i = 0; i < PODS; i++)
				make(&evs[i], i, (enum variant)var);
			uint64_t t0 = now_ns();
			for (long n = 0; n < iters; n++) {
				struct ev *v = &evs[n % PODS];
				/* what a fresh decode would hold: nothing joined yet */
				v->k.pod_name = v->k.namespace_ = v->k.container_name = NULL;
				v->k.systemd_unit = v->k.owner_kind = v->k.owner_name = NULL;
				v->k.owner_uid = NULL;
				if (var == ROUTE)
					route_event(&rt, "process", 0, NULL, 0, &v->e);
				else
					meta_enrich(&rt.meta, &v->e);
			}
			ns[r] = (double)(now_ns() - t0) / (double)iters;
		}
		struct ev *v = &evs[0];
		if (var == OWNER && !(v->k.owner_kind && v->k.systemd_unit && v->k.pod_name)) {
			fprintf(stderr, "the joins did not happen\n");
			return 1;
		}
		qsort(ns, RUNS, sizeof(ns[0]), cmp);
		printf("  %-16s %7.1f ns  (%.1f-%.1f)\n", names[var], ns[RUNS / 2], ns[0],
		       ns[RUNS - 1]);
	}
	struct meta_stats st;
	meta_get_stats(&rt.meta, &st);
	printf("unit cache: %llu hits, %llu misses; owners: %zu pods, %zu controllers\n",
	       (unsigned long long)st.unit_hits, (unsigned long long)st.unit_misses, st.pods,
	       st.controllers);
	route_release(&rt);
	return 0;
}
