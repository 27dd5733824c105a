// SPDX-License-Identifier: Apache-2.0
// The kubelet collector's state table: per pod and per container, what the last successful poll
// said, so that each change becomes exactly one event and an unchanged poll none. Only a
// successful poll updates it: an outage leaves it as it was, and the recovery emits only what
// changed meanwhile.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet.h"

struct pod_st {
	char uid[37], name[254], ns[64];
	char phase[16];
	bool seen, not_ready, evicted, eph_over;
	uint64_t eph_limit;
};

struct ctr_st {
	char pod_uid[37], name[64], id[65];
	bool seen;
	enum kl_cstate state;
	char reason[KL_REASON_LEN];
	uint32_t restarts;
	int64_t term_seen_ns; /* finishedAt of the last termination accounted for */
	unsigned crash_level;
	bool in_crash_loop, throttled, mem_near;
	struct kl_cpu_sample prev_cpu;
};

struct kl_state {
	struct kl_thresholds th;
	struct pod_st *pods;
	size_t n_pods, cap_pods;
	struct ctr_st *ctrs;
	size_t n_ctrs, cap_ctrs;
	bool node_known;
	bool pressure[3];
};

static const char *const condition_names[3] = {"MemoryPressure", "DiskPressure", "PIDPressure"};

int kl_state_new(const struct kl_thresholds *th, struct kl_state **ret)
{
	struct kl_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->th = *th;
	*ret = st;
	return 0;
}

void kl_state_free(struct kl_state *st)
{
	if (!st)
		return;
	free(st->pods);
	free(st->ctrs);
	free(st);
}

size_t kl_state_containers(const struct kl_state *st)
{
	return st->n_ctrs;
}

static struct pod_st *find_pod(struct kl_state *st, const char *uid)
{
	for (size_t i = 0; i < st->n_pods; i++)
		if (strcmp(st->pods[i].uid, uid) == 0)
			return &st->pods[i];
	return NULL;
}

static struct ctr_st *find_ctr(struct kl_state *st, const char *uid, const char *name)
{
	for (size_t i = 0; i < st->n_ctrs; i++)
		if (strcmp(st->ctrs[i].name, name) == 0 && strcmp(st->ctrs[i].pod_uid, uid) == 0)
			return &st->ctrs[i];
	return NULL;
}

static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return arr;
	size_t nc = *cap ? *cap * 2 : 64;
	void *p = realloc(arr, nc * size);
	if (!p)
		return NULL;
	*cap = nc;
	return p;
}

static void set_pod(Tapio__V1__KubeletEvent *ev, const struct pod_st *p)
{
	ev->pod_uid = (char *)p->uid;
	ev->pod_name = (char *)p->name;
	ev->namespace_ = (char *)p->ns;
}

static void set_ts(Google__Protobuf__Timestamp *ts, int64_t ns)
{
	ts->seconds = ns / 1000000000LL;
	ts->nanos = (int32_t)(ns % 1000000000LL);
	if (ts->nanos < 0) {
		ts->nanos += 1000000000;
		ts->seconds--;
	}
}

static const char *state_name(enum kl_cstate s)
{
	switch (s) {
	case KL_WAITING:
		return "Waiting";
	case KL_RUNNING:
		return "Running";
	case KL_TERMINATED:
		return "Terminated";
	default:
		return "";
	}
}

static unsigned crash_level(uint32_t restarts, uint32_t first)
{
	if (first == 0 || restarts < first)
		return 0;
	unsigned level = 1;
	for (uint64_t t = (uint64_t)first * 2; t <= restarts; t *= 2)
		level++;
	return level;
}

static void container_events(struct kl_state *st, const struct pod_st *ps,
			     const struct kl_container *c, struct ctr_st *cs, bool fresh,
			     kl_emit_fn emit, void *ctx)
{
	Tapio__V1__KubeletEvent ev;
#define EV_INIT()                                                                                  \
	do {                                                                                       \
		ev = (Tapio__V1__KubeletEvent)TAPIO__V1__KUBELET_EVENT__INIT;                      \
		set_pod(&ev, ps);                                                                  \
		ev.container_name = (char *)c->name;                                               \
		ev.container_id = (char *)c->id;                                                   \
		ev.runtime = (char *)c->runtime;                                                   \
		ev.has_restart_count = 1;                                                          \
		ev.restart_count = c->restarts;                                                    \
	} while (0)

	/* the newest termination: the current state, or the one before a restart */
	const struct kl_termination *t = c->state == KL_TERMINATED ? &c->term
					 : c->last.set		   ? &c->last
								   : NULL;
	bool report = false;
	if (t && t->finished_ns) {
		if (t->finished_ns != cs->term_seen_ns) {
			/* on first sight only a current termination is news, not history */
			report = !fresh || t == &c->term;
			cs->term_seen_ns = t->finished_ns;
		}
	} else if (t == &c->term) {
		report = cs->state != KL_TERMINATED || fresh;
	}
	if (report &&
	    (t->exit_code != 0 || t->signal != 0 || strcmp(t->reason, "OOMKilled") == 0)) {
		Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
					    finished = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		EV_INIT();
		ev.has_exit_code = 1;
		ev.exit_code = t->exit_code;
		if (t->signal) {
			ev.has_signal = 1;
			ev.signal = t->signal;
		}
		ev.reason = (char *)t->reason;
		ev.message = (char *)t->message;
		if (t->started_ns) {
			set_ts(&started, t->started_ns);
			ev.started_at = &started;
		}
		if (t->finished_ns) {
			set_ts(&finished, t->finished_ns);
			ev.finished_at = &finished;
		}
		emit(ctx, "kubelet.container_terminated", &ev);
	}

	if (c->state == KL_WAITING &&
	    (cs->state != KL_WAITING || strcmp(cs->reason, c->reason) != 0 || fresh)) {
		EV_INIT();
		ev.reason = (char *)c->reason;
		ev.message = (char *)c->message;
		ev.previous = fresh			? ""
			      : cs->state == KL_WAITING ? cs->reason
							: (char *)state_name(cs->state);
		emit(ctx, "kubelet.container_waiting", &ev);
	}

	bool clbo = c->state == KL_WAITING && strcmp(c->reason, "CrashLoopBackOff") == 0;
	unsigned level = crash_level(c->restarts, st->th.crash_loop_restarts);
	bool enter = clbo && !cs->in_crash_loop;
	bool rise = !fresh && level > cs->crash_level;
	if (enter || rise) {
		EV_INIT();
		ev.reason = clbo ? "CrashLoopBackOff" : "RestartCount";
		ev.message = clbo ? (char *)c->message : "";
		if (c->last.set) {
			ev.has_exit_code = 1;
			ev.exit_code = c->last.exit_code;
			ev.previous = (char *)c->last.reason; /* why it last died */
		}
		ev.has_value = ev.has_limit = 1;
		ev.value = c->restarts;
		ev.limit = level ? (double)st->th.crash_loop_restarts * (1u << (level - 1)) : 0;
		emit(ctx, "kubelet.crash_loop", &ev);
	}
	cs->in_crash_loop = clbo;
	cs->crash_level = level;
	cs->state = c->state;
	snprintf(cs->reason, sizeof(cs->reason), "%s", c->state == KL_WAITING ? c->reason : "");
	cs->restarts = c->restarts;
	if (strcmp(cs->id, c->id) != 0) {
		snprintf(cs->id, sizeof(cs->id), "%s", c->id);
		cs->prev_cpu.ok = false; /* a new container: a new cgroup */
		cs->throttled = cs->mem_near = false;
	}
#undef EV_INIT
}

void kl_state_pods(struct kl_state *st, const struct kl_pods *pods, kl_emit_fn emit, void *ctx)
{
	for (size_t i = 0; i < st->n_pods; i++)
		st->pods[i].seen = false;
	for (size_t i = 0; i < st->n_ctrs; i++)
		st->ctrs[i].seen = false;

	for (size_t i = 0; i < pods->n; i++) {
		const struct kl_pod *p = &pods->pods[i];
		struct pod_st *ps = find_pod(st, p->uid);
		bool fresh = !ps;
		if (!ps) {
			struct pod_st *np = grow(st->pods, &st->cap_pods, st->n_pods, sizeof(*np));
			if (!np)
				continue;
			st->pods = np;
			ps = &st->pods[st->n_pods++];
			*ps = (struct pod_st){0};
			snprintf(ps->uid, sizeof(ps->uid), "%s", p->uid);
			snprintf(ps->phase, sizeof(ps->phase), "%s", p->phase);
		}
		if (ps->seen)
			continue; /* a uid listed twice: the first one counts */
		ps->seen = true;
		snprintf(ps->name, sizeof(ps->name), "%s", p->name);
		snprintf(ps->ns, sizeof(ps->ns), "%s", p->ns);
		ps->eph_limit = p->ephemeral_limit;
		Tapio__V1__KubeletEvent ev;

		if (!fresh && strcmp(ps->phase, p->phase) != 0) {
			ev = (Tapio__V1__KubeletEvent)TAPIO__V1__KUBELET_EVENT__INIT;
			set_pod(&ev, ps);
			ev.phase = (char *)p->phase;
			ev.previous = ps->phase;
			ev.reason = (char *)p->reason;
			ev.message = (char *)p->message;
			emit(ctx, "kubelet.pod_phase", &ev);
		}
		bool evicted = strcmp(p->reason, "Evicted") == 0;
		if (evicted && !ps->evicted) {
			ev = (Tapio__V1__KubeletEvent)TAPIO__V1__KUBELET_EVENT__INIT;
			set_pod(&ev, ps);
			ev.phase = (char *)p->phase;
			ev.reason = (char *)p->reason;
			ev.message = (char *)p->message;
			emit(ctx, "kubelet.eviction", &ev);
		}
		ps->evicted = evicted;
		bool not_ready = p->has_ready && !p->ready && strcmp(p->phase, "Running") == 0;
		if (not_ready && !ps->not_ready) {
			ev = (Tapio__V1__KubeletEvent)TAPIO__V1__KUBELET_EVENT__INIT;
			set_pod(&ev, ps);
			ev.condition = "Ready";
			ev.status = "False";
			ev.previous = fresh ? "" : "True";
			ev.phase = (char *)p->phase;
			ev.reason = (char *)p->ready_reason;
			ev.message = (char *)p->ready_message;
			emit(ctx, "kubelet.pod_not_ready", &ev);
		}
		ps->not_ready = not_ready;
		snprintf(ps->phase, sizeof(ps->phase), "%s", p->phase);

		for (size_t j = 0; j < p->n_ctr; j++) {
			const struct kl_container *c = &p->ctr[j];
			if (!c->name[0])
				continue;
			struct ctr_st *cs = find_ctr(st, p->uid, c->name);
			bool cfresh = !cs;
			if (!cs) {
				struct ctr_st *nc =
					grow(st->ctrs, &st->cap_ctrs, st->n_ctrs, sizeof(*nc));
				if (!nc)
					continue;
				st->ctrs = nc;
				cs = &st->ctrs[st->n_ctrs++];
				*cs = (struct ctr_st){0};
				snprintf(cs->pod_uid, sizeof(cs->pod_uid), "%s", p->uid);
				snprintf(cs->name, sizeof(cs->name), "%s", c->name);
			}
			if (cs->seen)
				continue;
			cs->seen = true;
			container_events(st, ps, c, cs, cfresh, emit, ctx);
		}
	}
	/* forget what the kubelet no longer lists */
	size_t k = 0;
	for (size_t i = 0; i < st->n_pods; i++)
		if (st->pods[i].seen)
			st->pods[k++] = st->pods[i];
	st->n_pods = k;
	k = 0;
	for (size_t i = 0; i < st->n_ctrs; i++)
		if (st->ctrs[i].seen)
			st->ctrs[k++] = st->ctrs[i];
	st->n_ctrs = k;
}

void kl_node_stats_fill(Tapio__V1__KubeletNodeStats *n, const struct kl_node_summary *s)
{
	n->node_name = (char *)s->node_name;
#define SET(f, v)                                                                                  \
	do {                                                                                       \
		n->has_##f = 1;                                                                    \
		n->f = (v);                                                                        \
	} while (0)
	if (s->has_cpu)
		SET(cpu_usage_core_ns, s->cpu_usage_core_ns);
	if (s->has_mem) {
		SET(memory_working_set_bytes, s->mem_working_set);
		SET(memory_available_bytes, s->mem_available);
	}
	if (s->has_fs) {
		SET(fs_used_bytes, s->fs_used);
		SET(fs_capacity_bytes, s->fs_capacity);
		SET(fs_available_bytes, s->fs_available);
	}
	if (s->has_imagefs) {
		SET(imagefs_used_bytes, s->imagefs_used);
		SET(imagefs_capacity_bytes, s->imagefs_capacity);
		SET(imagefs_available_bytes, s->imagefs_available);
	}
	if (s->has_rlimit) {
		SET(pids_running, s->rlimit_curproc);
		SET(pids_max, s->rlimit_maxpid);
	}
#undef SET
}

void kl_state_summary(struct kl_state *st, const struct kl_summary *sum, kl_emit_fn emit, void *ctx)
{
	const struct kl_node_summary *n = &sum->node;
	const struct kl_thresholds *th = &st->th;
	bool now[3] = {false, false, false};
	double value[3] = {0, 0, 0}, limit[3] = {0, 0, 0};
	const char *why[3] = {"", "", ""};
	if (n->has_mem) {
		now[0] = n->mem_available < th->memory_available_bytes;
		value[0] = (double)n->mem_available;
		limit[0] = (double)th->memory_available_bytes;
		why[0] = "memory.available";
	}
	if (n->has_fs && n->fs_capacity) {
		value[1] = (double)n->fs_available / (double)n->fs_capacity;
		limit[1] = th->nodefs_available_ratio;
		why[1] = "nodefs.available";
		now[1] = value[1] < limit[1];
		if (!now[1] && n->fs_inodes && n->fs_inodes_free < n->fs_inodes / 20) {
			now[1] = true;
			value[1] = (double)n->fs_inodes_free / (double)n->fs_inodes;
			limit[1] = 0.05;
			why[1] = "nodefs.inodesFree";
		}
	}
	if (!now[1] && n->has_imagefs && n->imagefs_capacity) {
		double v = (double)n->imagefs_available / (double)n->imagefs_capacity;
		if (v < th->imagefs_available_ratio) {
			now[1] = true;
			value[1] = v;
			limit[1] = th->imagefs_available_ratio;
			why[1] = "imagefs.available";
		}
	}
	if (n->has_rlimit && n->rlimit_maxpid) {
		uint64_t used =
			n->rlimit_curproc < n->rlimit_maxpid ? n->rlimit_curproc : n->rlimit_maxpid;
		value[2] = (double)(n->rlimit_maxpid - used) / (double)n->rlimit_maxpid;
		limit[2] = th->pid_available_ratio;
		now[2] = value[2] < limit[2];
		why[2] = "pid.available";
	}
	for (int i = 0; i < 3; i++) {
		bool known = st->node_known;
		if (known ? now[i] == st->pressure[i] : !now[i])
			continue;
		Tapio__V1__KubeletNodeStats node = TAPIO__V1__KUBELET_NODE_STATS__INIT;
		kl_node_stats_fill(&node, n);
		Tapio__V1__KubeletEvent ev = TAPIO__V1__KUBELET_EVENT__INIT;
		ev.condition = (char *)condition_names[i];
		ev.status = now[i] ? "True" : "False";
		ev.previous = known ? (st->pressure[i] ? "True" : "False") : "";
		ev.reason = (char *)why[i];
		ev.has_value = ev.has_limit = 1;
		ev.value = value[i];
		ev.limit = limit[i];
		ev.node = &node;
		emit(ctx, "kubelet.node_condition", &ev);
	}
	for (int i = 0; i < 3; i++)
		st->pressure[i] = now[i];
	st->node_known = true;

	for (size_t i = 0; i < sum->n; i++) {
		const struct kl_pod_stats *ps = &sum->pods[i];
		struct pod_st *p = ps->has_ephemeral ? find_pod(st, ps->uid) : NULL;
		if (!p)
			continue;
		double lim = p->eph_limit ? (double)p->eph_limit * th->ephemeral_ratio
					  : (double)th->ephemeral_bytes;
		if (lim <= 0)
			continue;
		double used = (double)ps->ephemeral_used;
		if (!p->eph_over && used >= lim) {
			Tapio__V1__KubeletNodeStats node = TAPIO__V1__KUBELET_NODE_STATS__INIT;
			node.node_name = (char *)n->node_name;
			node.has_ephemeral_used_bytes = 1;
			node.ephemeral_used_bytes = ps->ephemeral_used;
			Tapio__V1__KubeletEvent ev = TAPIO__V1__KUBELET_EVENT__INIT;
			set_pod(&ev, p);
			ev.reason = p->eph_limit ? "OverLimitShare" : "OverThreshold";
			ev.has_value = ev.has_limit = 1;
			ev.value = used;
			ev.limit = lim;
			ev.node = &node;
			emit(ctx, "kubelet.ephemeral_storage", &ev);
			p->eph_over = true;
		} else if (p->eph_over && used < lim * 0.9) {
			p->eph_over = false; /* re-armed below 90 % of the threshold */
		}
	}
}

void kl_state_cgroup(struct kl_state *st, const char *pod_uid, const char *container,
		     const char *cgroup, int version, const struct kl_cpu_sample *cpu,
		     const struct kl_mem_sample *mem, kl_emit_fn emit, void *ctx)
{
	struct ctr_st *cs = find_ctr(st, pod_uid, container);
	struct pod_st *ps = find_pod(st, pod_uid);
	if (!cs || !ps)
		return;
	const struct kl_thresholds *th = &st->th;
	const struct kl_cpu_sample *prev = &cs->prev_cpu;
	if (cpu && cpu->ok && prev->ok && cpu->nr_periods >= prev->nr_periods &&
	    cpu->nr_throttled >= prev->nr_throttled && cpu->usage_ns >= prev->usage_ns &&
	    cpu->mono_ns > prev->mono_ns) {
		uint64_t dp = cpu->nr_periods - prev->nr_periods;
		uint64_t dt = cpu->nr_throttled - prev->nr_throttled;
		uint64_t dthr = cpu->throttled_ns >= prev->throttled_ns
					? cpu->throttled_ns - prev->throttled_ns
					: 0;
		uint64_t du = cpu->usage_ns - prev->usage_ns;
		uint64_t dint = cpu->mono_ns - prev->mono_ns;
		bool throttled = false;
		double ratio = 0, use = 0;
		if (cpu->quota_us > 0 && cpu->period_us > 0 && dp > 0) {
			ratio = (double)dt / (double)dp;
			double cap = (double)dint * (double)cpu->quota_us / (double)cpu->period_us;
			use = cap > 0 ? (double)du / cap : 0;
			throttled = ratio >= th->throttle_ratio && use >= th->throttle_usage;
		}
		if (throttled && !cs->throttled) {
			Tapio__V1__KubeletCpuThrottle t = TAPIO__V1__KUBELET_CPU_THROTTLE__INIT;
			t.has_periods = t.has_throttled_periods = t.has_throttled_ns = 1;
			t.has_usage_ns = t.has_interval_ns = t.has_quota_us = t.has_period_us = 1;
			t.has_throttled_ratio = t.has_usage_of_limit = t.has_cgroup_version = 1;
			t.periods = dp;
			t.throttled_periods = dt;
			t.throttled_ns = dthr;
			t.usage_ns = du;
			t.interval_ns = dint;
			t.quota_us = cpu->quota_us;
			t.period_us = cpu->period_us;
			t.throttled_ratio = ratio;
			t.usage_of_limit = use;
			t.cgroup_version = (uint32_t)version;
			t.cgroup = (char *)cgroup;
			Tapio__V1__KubeletEvent ev = TAPIO__V1__KUBELET_EVENT__INIT;
			set_pod(&ev, ps);
			ev.container_name = cs->name;
			ev.container_id = cs->id;
			ev.has_value = ev.has_limit = 1;
			ev.value = ratio;
			ev.limit = th->throttle_ratio;
			ev.cpu = &t;
			emit(ctx, "kubelet.cpu_throttled", &ev);
		}
		cs->throttled = throttled;
	}
	if (cpu && cpu->ok)
		cs->prev_cpu = *cpu;

	if (mem && mem->ok && mem->limit) {
		double ratio = (double)mem->working_set / (double)mem->limit;
		if (!cs->mem_near && ratio >= th->memory_ratio) {
			Tapio__V1__KubeletMemory m = TAPIO__V1__KUBELET_MEMORY__INIT;
			m.has_working_set_bytes = m.has_usage_bytes = m.has_limit_bytes = 1;
			m.has_ratio = m.has_cgroup_version = 1;
			m.working_set_bytes = mem->working_set;
			m.usage_bytes = mem->usage;
			m.limit_bytes = mem->limit;
			m.ratio = ratio;
			m.cgroup_version = (uint32_t)version;
			m.cgroup = (char *)cgroup;
			Tapio__V1__KubeletEvent ev = TAPIO__V1__KUBELET_EVENT__INIT;
			set_pod(&ev, ps);
			ev.container_name = cs->name;
			ev.container_id = cs->id;
			ev.has_value = ev.has_limit = 1;
			ev.value = ratio;
			ev.limit = th->memory_ratio;
			ev.memory = &m;
			emit(ctx, "kubelet.memory_near_limit", &ev);
			cs->mem_near = true;
		} else if (cs->mem_near && ratio < th->memory_ratio - 0.05) {
			cs->mem_near = false;
		}
	}
}

void kl_state_each_container(struct kl_state *st, kl_each_fn fn, void *ctx)
{
	for (size_t i = 0; i < st->n_ctrs; i++)
		if (st->ctrs[i].id[0])
			fn(ctx, st->ctrs[i].pod_uid, st->ctrs[i].name, st->ctrs[i].id);
}
