// SPDX-License-Identifier: Apache-2.0
// kubelet collector, worker side: poll the kubelet's /healthz, /pods and /stats/summary over
// HTTPS (common/httpc.c on the worker's loop, bearer token, CA), turn each snapshot into
// change-only events through the state table, and read each known container's cgroup for CPU
// throttling and memory against its limit. A failing kubelet: one warning, retries with
// exponential backoff, the state table untouched until a poll succeeds again.
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpc.h"
#include "kubelet.h"
#include "kubelet_config.h"
#include "log.h"
#include "worker.h"

enum { REQ_HEALTHZ, REQ_PODS, REQ_SUMMARY, REQ_N };
static const char *const req_paths[REQ_N] = {"/healthz", "/pods", "/stats/summary"};

struct kl_ctx {
	struct worker *w;
	const struct config_kubelet *cfg;
	struct httpc *http;
	struct kl_state *st;
	struct kl_cgroup_roots roots;
	struct kl_cgroup_index *ix; /* NULL without a usable cpu hierarchy */
	struct worker_timer *poll_timer, *cg_timer;

	/* the poll in flight: one answer per request */
	unsigned pending;
	struct {
		long status;
		int err;
		char error[256];
		char *body; /* owned */
		size_t len;
	} ans[REQ_N];

	bool failing;		  /* the last poll failed */
	char fail_why[400];	  /* ... why */
	const char *static_why;	  /* degraded from the start (no cgroup cpu controller) */
	uint32_t backoff_ms;	  /* next retry delay while failing */
	uint64_t next_node_stats; /* mono ms */
	uint64_t last_rescan;	  /* mono ms of the last cgroup index rescan */
	struct kl_summary last_summary;
	bool have_summary;
	uint64_t polls, poll_failures, events;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void emit(void *data, const char *type, Tapio__V1__KubeletEvent *kev)
{
	struct kl_ctx *k = data;
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int64_t now = wall_ns();
	ts.seconds = now / 1000000000LL;
	ts.nanos = (int32_t)(now % 1000000000LL);
	ev.time = &ts;
	ev.type = (char *)type;
	ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_KUBELET;
	ev.kubelet = kev;
	/* the pod context other collectors' events carry */
	Tapio__V1__KubernetesContext k8s = TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	if (kev->pod_name && kev->pod_name[0]) {
		k8s.pod_name = kev->pod_name;
		k8s.namespace_ = kev->namespace_;
		k8s.pod_uid = kev->pod_uid;
		k8s.container_id =
			kev->container_id && kev->container_id[0] ? kev->container_id : NULL;
		k8s.container_name = kev->container_name;
		ev.k8s = &k8s;
	}
	if (worker_emit(k->w, &ev) == 0)
		k->events++;
}

/* ---- the cgroup pass ---------------------------------------------------------------------- */

struct cg_walk {
	struct kl_ctx *k;
	bool rescanned;
};

static void cg_one(void *data, const char *pod_uid, const char *name, const char *id)
{
	struct cg_walk *cw = data;
	struct kl_ctx *k = cw->k;
	const char *rel = kl_cgroup_index_find(k->ix, id);
	if (!rel && !cw->rescanned && now_ms() - k->last_rescan >= 1000) {
		/* a container the index has not seen yet: one walk per pass at most */
		kl_cgroup_index_rescan(k->ix);
		k->last_rescan = now_ms();
		cw->rescanned = true;
		rel = kl_cgroup_index_find(k->ix, id);
	}
	if (!rel) {
		worker_counters(k->w)->enrich_misses++;
		return;
	}
	struct kl_cpu_sample cpu = {0};
	struct kl_mem_sample mem = {0};
	int rc = kl_cgroup_read_cpu(&k->roots, rel, &cpu);
	int rm = kl_cgroup_read_mem(&k->roots, rel, &mem);
	if (rc < 0 && rm < 0) {
		/* gone (the container exited) or moved: look again next time */
		worker_counters(k->w)->enrich_misses++;
		return;
	}
	kl_state_cgroup(k->st, pod_uid, name, rel, k->roots.version, rc == 0 ? &cpu : NULL,
			rm == 0 ? &mem : NULL, emit, k);
}

static int on_cgroup_timer(struct worker *w, void *data)
{
	struct kl_ctx *k = data;
	struct cg_walk cw = {k, false};
	kl_state_each_container(k->st, cg_one, &cw);
	worker_timer_arm(k->cg_timer, k->cfg->cgroup_interval_ms);
	return 0;
}

/* ---- polling ------------------------------------------------------------------------------ */

static void node_stats(struct kl_ctx *k)
{
	Tapio__V1__KubeletNodeStats n = TAPIO__V1__KUBELET_NODE_STATS__INIT;
	kl_node_stats_fill(&n, &k->last_summary.node);
	n.has_pods = 1;
	n.pods = (uint32_t)k->last_summary.n;
	Tapio__V1__KubeletEvent ev = TAPIO__V1__KUBELET_EVENT__INIT;
	ev.node = &n;
	emit(k, "kubelet.node_stats", &ev);
}

static void schedule(struct kl_ctx *k, bool ok)
{
	uint32_t delay = k->cfg->poll_interval_ms;
	if (!ok) {
		/* 1 s, 2 s, 4 s ... up to backoff_max_ms, never slower than a healthy poll needs */
		k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : 1000;
		if (k->backoff_ms > k->cfg->backoff_max_ms)
			k->backoff_ms = k->cfg->backoff_max_ms;
		/* ±20 % jitter so that a fleet does not retry in step */
		uint32_t j = k->backoff_ms / 5;
		delay = k->backoff_ms - j + (j ? (uint32_t)(rand() % (2 * j + 1)) : 0);
	} else {
		k->backoff_ms = 0;
	}
	worker_timer_arm(k->poll_timer, delay);
}

/* Every answer of the poll is in: decide, then apply or keep the table as it is. */
/* tapiod sees the kubelet's reachability: DEGRADED while polls fail (down, HTTP errors,
 * garbage, a stall), READY once one succeeds again. The worker library sends only changes, at
 * most one a second, so calling this after every poll costs nothing. */
static void update_status(struct kl_ctx *k)
{
	char why[600];
	if (k->failing)
		snprintf(why, sizeof(why), "kubelet at %s: %s; retrying with backoff%s%s",
			 k->cfg->url, k->fail_why, k->static_why ? "; " : "",
			 k->static_why ? k->static_why : "");
	else if (k->static_why)
		snprintf(why, sizeof(why), "%s", k->static_why);
	else
		why[0] = '\0';
	if (why[0])
		worker_set_degraded(k->w, why);
	else
		worker_set_ready(k->w);
}

static void poll_complete(struct kl_ctx *k)
{
	char why[400] = "";
	struct kl_pods pods = {0};
	struct kl_summary sum = {0};
	bool pods_ok = false, sum_ok = false;
	for (int i = 0; i < REQ_N; i++)
		if (k->ans[i].err == -EMSGSIZE)
			worker_counters(k->w)->decode_errors++; /* over max_response_kib */
	for (int i = 0; i < REQ_N && !why[0]; i++) {
		if (k->ans[i].err)
			snprintf(why, sizeof(why), "%s: %s", req_paths[i], k->ans[i].error);
		else if (k->ans[i].status != 200)
			snprintf(why, sizeof(why), "%s: HTTP %ld%s", req_paths[i], k->ans[i].status,
				 k->ans[i].status == 401 || k->ans[i].status == 403
					 ? " (the token needs get on nodes/healthz, nodes/pods, "
					   "nodes/stats)"
					 : "");
	}
	if (!why[0]) {
		int r = kl_parse_pods(k->ans[REQ_PODS].body, k->ans[REQ_PODS].len, &pods);
		if (r < 0) {
			worker_counters(k->w)->decode_errors++;
			snprintf(why, sizeof(why), "/pods: not a PodList: %s", strerror(-r));
		} else {
			pods_ok = true;
			worker_counters(k->w)->records_read++;
		}
	}
	if (!why[0]) {
		int r = kl_parse_summary(k->ans[REQ_SUMMARY].body, k->ans[REQ_SUMMARY].len, &sum);
		if (r < 0) {
			worker_counters(k->w)->decode_errors++;
			snprintf(why, sizeof(why), "/stats/summary: not a Summary: %s",
				 strerror(-r));
		} else {
			sum_ok = true;
			worker_counters(k->w)->records_read++;
		}
	}
	for (int i = 0; i < REQ_N; i++) {
		free(k->ans[i].body);
		k->ans[i].body = NULL;
	}
	k->polls++;
	if (why[0]) {
		k->poll_failures++;
		kl_pods_free(&pods);
		kl_summary_free(&sum);
		if (!k->failing)
			log_warn("kubelet at %s: %s; retrying with backoff (state kept)",
				 k->cfg->url, why);
		else
			log_debug("kubelet: still failing: %s", why);
		k->failing = true;
		snprintf(k->fail_why, sizeof(k->fail_why), "%s", why);
		update_status(k);
		schedule(k, false);
		return;
	}
	if (k->failing)
		log_info("kubelet at %s answers again", k->cfg->url);
	k->failing = false;
	update_status(k);
	if (pods.cut || sum.cut)
		worker_counters(k->w)->filtered += pods.cut + sum.cut;
	if (pods_ok)
		kl_state_pods(k->st, &pods, emit, k);
	if (sum_ok) {
		kl_state_summary(k->st, &sum, emit, k);
		kl_summary_free(&k->last_summary);
		k->last_summary = sum;
		k->have_summary = true;
		sum = (struct kl_summary){0};
	}
	kl_pods_free(&pods);
	if (k->have_summary && now_ms() >= k->next_node_stats) {
		node_stats(k);
		k->next_node_stats = now_ms() + k->cfg->node_stats_interval_ms;
	}
	schedule(k, true);
}

struct req_slot {
	struct kl_ctx *k;
	int i;
};
static struct req_slot slots[REQ_N];

static void on_answer(void *data, const struct httpc_response *resp)
{
	struct req_slot *s = data;
	struct kl_ctx *k = s->k;
	k->ans[s->i].status = resp->status;
	k->ans[s->i].err = resp->err;
	snprintf(k->ans[s->i].error, sizeof(k->ans[s->i].error), "%s",
		 resp->error ? resp->error : "");
	free(k->ans[s->i].body);
	k->ans[s->i].body = NULL;
	k->ans[s->i].len = 0;
	if (!resp->err && resp->status == 200) {
		k->ans[s->i].body = malloc(resp->len + 1);
		if (k->ans[s->i].body) {
			memcpy(k->ans[s->i].body, resp->body, resp->len + 1);
			k->ans[s->i].len = resp->len;
		} else {
			k->ans[s->i].err = -ENOMEM;
			snprintf(k->ans[s->i].error, sizeof(k->ans[s->i].error), "out of memory");
		}
	}
	if (--k->pending == 0)
		poll_complete(k);
}

static int on_poll_timer(struct worker *w, void *data)
{
	struct kl_ctx *k = data;
	if (k->pending)
		return 0; /* cannot happen: the timer is armed when a poll completes */
	char url[1200];
	for (int i = 0; i < REQ_N; i++) {
		free(k->ans[i].body);
		k->ans[i] = (typeof(k->ans[i])){0};
	}
	for (int i = 0; i < REQ_N; i++) {
		snprintf(url, sizeof(url), "%s%s", k->cfg->url, req_paths[i]);
		struct httpc_request q = {
			.url = url,
			.accept = "application/json",
			.timeout_ms = k->cfg->request_timeout_ms,
			.max_body = (size_t)k->cfg->max_response_kib << 10,
			.on_done = on_answer,
			.data = &slots[i],
		};
		slots[i] = (struct req_slot){k, i};
		int r = httpc_get(k->http, &q, NULL);
		if (r < 0) {
			/* the token file is unreadable: the same path as a failed answer */
			k->ans[i] = (typeof(k->ans[i])){.err = r};
			snprintf(k->ans[i].error, sizeof(k->ans[i].error), "%s",
				 httpc_last_error(k->http)[0] ? httpc_last_error(k->http)
							      : strerror(-r));
			continue;
		}
		k->pending++;
	}
	if (k->pending == 0)
		poll_complete(k); /* nothing went out: fails now, retried with backoff */
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static int add_dir_of(struct worker *w, const char *file)
{
	if (!file[0])
		return 0;
	char buf[600];
	snprintf(buf, sizeof(buf), "%s", file);
	return worker_add_read_path(w, dirname(buf));
}

static int kl_setup(struct worker *w, void *ctx)
{
	struct kl_ctx *k = ctx;
	k->w = w;
	k->cfg = (const struct config_kubelet *)config_collector(worker_config(w), "kubelet");
	if (!k->cfg)
		return -EINVAL;
	const struct config_kubelet *c = k->cfg;
	srand((unsigned)wall_ns());

	worker_set_step(w, "sandbox rules");
	uint16_t port;
	if (httpc_url_port(c->url, &port) < 0) {
		log_error("collectors.kubelet.url: bad port in %s", c->url);
		return -EINVAL;
	}
	int r = worker_allow_connect(w, port);
	if (r == 0)
		r = add_dir_of(w, c->token_file);
	if (r == 0)
		r = add_dir_of(w, c->ca_file);
	if (r == 0)
		r = add_dir_of(w, c->cert_file);
	if (r == 0)
		r = add_dir_of(w, c->key_file);
	if (r == 0 && strcmp(c->cgroup_root, "/sys/fs/cgroup") != 0)
		r = worker_add_read_path(w, c->cgroup_root);
	if (r < 0)
		return r;

	worker_set_step(w, "cgroups");
	if (kl_cgroup_find_roots(c->cgroup_root, &k->roots) == 0) {
		r = kl_cgroup_index_new(&k->roots, &k->ix);
		if (r < 0)
			return r;
		kl_cgroup_index_rescan(k->ix);
		k->last_rescan = now_ms();
		worker_add_hook(w, k->roots.version == 2 ? "cgroup v2 cpu.stat, memory"
							 : "cgroup v1 cpu.stat, cpuacct, memory");
	} else {
		worker_add_missing(w,
				   "cgroup cpu controller (no cpu_throttled, memory_near_limit)");
		k->static_why = "no cgroup cpu controller under cgroup_root";
		worker_set_degraded(w, k->static_why);
	}

	worker_set_step(w, "HTTPS client");
	char pin[400];
	r = httpc_pin_host(c->url, port, pin, sizeof(pin)); /* curl's resolver thread: no */
	if (r < 0) {
		log_error("collectors.kubelet.url: cannot resolve %s", pin);
		return r;
	}
	if (pin[0])
		log_info("kubelet: %s pinned at setup (a new address needs a restart)", pin);
	const char *const resolve[] = {pin, NULL};
	struct httpc_opts o = {
		.resolve = pin[0] ? resolve : NULL,
		.ca_file = c->ca_file[0] ? c->ca_file : NULL,
		.token_file = c->token_file[0] ? c->token_file : NULL,
		.cert_file = c->cert_file[0] ? c->cert_file : NULL,
		.key_file = c->key_file[0] ? c->key_file : NULL,
		.allow_http = c->allow_http,
	};
	r = httpc_new(w, &o, &k->http);
	if (r < 0)
		return r;
	worker_add_hook(w, "kubelet /healthz /pods /stats/summary");

	struct kl_thresholds th = {
		.crash_loop_restarts = c->crash_loop_restarts,
		.throttle_ratio = c->throttle_ratio_pct / 100.0,
		.throttle_usage = c->throttle_usage_pct / 100.0,
		.memory_ratio = c->memory_limit_pct / 100.0,
		.ephemeral_bytes = (uint64_t)c->ephemeral_storage_mib << 20,
		.ephemeral_ratio = c->ephemeral_storage_pct / 100.0,
		.memory_available_bytes = (uint64_t)c->memory_available_mib << 20,
		.nodefs_available_ratio = c->nodefs_available_pct / 100.0,
		.imagefs_available_ratio = c->imagefs_available_pct / 100.0,
		.pid_available_ratio = c->pid_available_pct / 100.0,
	};
	r = kl_state_new(&th, &k->st);
	if (r == 0)
		r = worker_timer_new(w, on_poll_timer, k, &k->poll_timer);
	if (r == 0 && k->ix)
		r = worker_timer_new(w, on_cgroup_timer, k, &k->cg_timer);
	if (r < 0)
		return r;
	/* first poll at once; the cgroup pass once containers are known */
	worker_timer_arm(k->poll_timer, 0);
	if (k->cg_timer)
		worker_timer_arm(k->cg_timer, c->cgroup_interval_ms);
	return 0;
}

static void kl_teardown(struct worker *w, void *ctx)
{
	struct kl_ctx *k = ctx;
	httpc_free(k->http);
	worker_timer_free(k->poll_timer);
	worker_timer_free(k->cg_timer);
	kl_cgroup_index_free(k->ix);
	kl_state_free(k->st);
	kl_summary_free(&k->last_summary);
	for (int i = 0; i < REQ_N; i++)
		free(k->ans[i].body);
}

static const struct worker_collector kubelet_collector = {
	.name = "kubelet",
	.setup = kl_setup,
	.teardown = kl_teardown,
};

int main(int argc, char **argv)
{
	static struct kl_ctx ctx;
	return worker_main(argc, argv, &kubelet_collector, &ctx);
}
