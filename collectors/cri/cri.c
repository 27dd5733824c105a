// SPDX-License-Identifier: Apache-2.0
// cri collector, worker side: connect to the CRI v1 runtime during setup (the sandbox forbids
// socket/connect later; a lost connection exits 111 and the restart is the reconnect), track pod
// sandboxes and containers by polling the two list RPCs (ContainerStatus only on a change to
// EXITED), and use eBPF (OOM victim, container init exits, cgroup mkdir/rmdir) for the OOM truth
// and to poll at once instead of at the next interval. Without eBPF: CRI alone, DEGRADED.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "kevent.h"
#include "cgroup.h"
#include "cri.h"
#include "cri_config.h"
#include "cri.skel.h"
#include "cri_client.h"
#include "exitcodes.h"
#include "log.h"
#include "worker.h"

#define CGROUP_CACHE_ENTRIES 4096
#define BURST_POLLS	     5 /* fast polls after a kernel hint */
#define BURST_MS	     100
#define MAX_TRACKED	     65536 /* hard limit of sandboxes + containers we track */

struct sandbox {
	char *id, *name, *ns, *uid; /* owned */
	int state;		    /* Runtime__V1__PodSandboxState */
	bool seen;
};

struct container {
	char *id, *sandbox_id, *name, *image; /* owned */
	uint32_t attempt;
	int state; /* Runtime__V1__ContainerState */
	bool seen;
	bool oom_reported;	   /* container.oom_killed already sent */
	bool has_kernel_exit;	   /* the init's exit was seen by eBPF */
	uint32_t kernel_exit_code; /* raw task->exit_code of the init */
	uint32_t init_pid;
};

struct cri_ctx {
	struct worker *w;
	const struct config_cri *cfg;
	struct cri_client *cli;
	struct cri_bpf *skel;	      /* NULL in degraded mode */
	int counters_fd;	      /* the skeleton's or a stored one; -1 without eBPF */
	struct cgroup_cache *cgroups; /* NULL without a cgroup2 mount */
	int timerfd;
	char runtime_name[64], runtime_version[64], api_version[16];

	struct sandbox *sb;
	size_t n_sb, cap_sb;
	struct container *ct;
	size_t n_ct, cap_ct;

	bool inventory_sent;
	unsigned burst; /* fast polls left */
	uint64_t polls, status_calls, rpc_errors, tracked_drops;
};

/* ---- helpers ------------------------------------------------------------------------------ */

static int64_t wall_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static struct sandbox *find_sandbox(struct cri_ctx *cc, const char *id)
{
	for (size_t i = 0; i < cc->n_sb; i++)
		if (strcmp(cc->sb[i].id, id) == 0)
			return &cc->sb[i];
	return NULL;
}

static struct container *find_container(struct cri_ctx *cc, const char *id)
{
	for (size_t i = 0; i < cc->n_ct; i++)
		if (strcmp(cc->ct[i].id, id) == 0)
			return &cc->ct[i];
	return NULL;
}

static void free_sandbox(struct sandbox *s)
{
	free(s->id);
	free(s->name);
	free(s->ns);
	free(s->uid);
}

static void free_container(struct container *c)
{
	free(c->id);
	free(c->sandbox_id);
	free(c->name);
	free(c->image);
}

static const char *container_state_name(int s)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&runtime__v1__container_state__descriptor, s);
	return v ? v->name : "CONTAINER_UNKNOWN";
}

static const char *sandbox_state_name(int s)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&runtime__v1__pod_sandbox_state__descriptor, s);
	return v ? v->name : "SANDBOX_UNKNOWN";
}

/* Read one number from a cgroup file; "max" → 0 (no limit). 0 on success. */
static int read_u64(const char *path, uint64_t *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	if (strncmp(buf, "max", 3) == 0) {
		*ret = 0;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Memory limit and usage of the cgroup at `rel` (path relative to the hierarchy roots): the
 * cgroup2 files when the memory controller is there, else the v1 memory hierarchy. Usage is
 * the peak (what it was at the kill) where the kernel keeps one. */
static void read_memory(struct cri_ctx *cc, const char *rel, uint64_t *limit, uint64_t *usage)
{
	char p[4400];
	*limit = *usage = 0;
	if (!rel)
		return;
	if (cc->cgroups) {
		const char *root = cgroup_cache_root(cc->cgroups);
		snprintf(p, sizeof(p), "%s%s/memory.max", root, rel);
		if (read_u64(p, limit) == 0) {
			snprintf(p, sizeof(p), "%s%s/memory.peak", root, rel);
			if (read_u64(p, usage) < 0) {
				snprintf(p, sizeof(p), "%s%s/memory.current", root, rel);
				read_u64(p, usage);
			}
			return;
		}
	}
	snprintf(p, sizeof(p), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", rel);
	if (read_u64(p, limit) == 0 && *limit >= (1ULL << 62))
		*limit = 0; /* v1 "unlimited" is PAGE_COUNTER_MAX */
	snprintf(p, sizeof(p), "/sys/fs/cgroup/memory%s/memory.max_usage_in_bytes", rel);
	if (read_u64(p, usage) < 0) {
		snprintf(p, sizeof(p), "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", rel);
		read_u64(p, usage);
	}
}

/* ---- events ------------------------------------------------------------------------------- */

struct event_parts {
	struct kevent k; /* envelope; k8s from the CRI records, not from the cgroup */
	Tapio__V1__ContainerEvent x;
};

/* Fill the envelope and the payload from what we know of the container and its sandbox. */
static void init_event(struct cri_ctx *cc, struct event_parts *p, const char *type, int64_t wall_ns,
		       const struct container *c, const struct sandbox *s)
{
	kevent_init_wall(&p->k, type, wall_ns);
	p->x = (Tapio__V1__ContainerEvent)TAPIO__V1__CONTAINER_EVENT__INIT;
	p->k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_CONTAINER;
	p->k.ev.container = &p->x;
	p->k.ev.k8s = &p->k.k8s;

	p->x.runtime = p->k.k8s.runtime = cc->runtime_name;
	p->x.source = "cri";
	if (c) {
		p->x.container_id = p->k.k8s.container_id = c->id;
		p->x.container_name = p->k.k8s.container_name = c->name;
		p->x.image = c->image;
		p->x.sandbox_id = c->sandbox_id;
		p->x.has_attempt = 1;
		p->x.attempt = c->attempt;
		p->x.state = (char *)container_state_name(c->state);
		if (!s)
			s = find_sandbox(cc, c->sandbox_id);
	}
	if (s) {
		p->x.pod_name = p->k.k8s.pod_name = s->name;
		p->x.namespace_ = p->k.k8s.namespace_ = s->ns;
		p->x.pod_uid = p->k.k8s.pod_uid = s->uid;
		if (!c) {
			p->x.sandbox_id = s->id;
			p->x.state = (char *)sandbox_state_name(s->state);
		}
	}
}

static void emit(struct cri_ctx *cc, struct event_parts *p)
{
	worker_emit(cc->w, &p->k.ev);
}

static void emit_simple(struct cri_ctx *cc, const char *type, const struct container *c,
			const struct sandbox *s)
{
	struct event_parts p;
	init_event(cc, &p, type, wall_now_ns(), c, s);
	emit(cc, &p);
}

static void set_signal_from_raw(Tapio__V1__ContainerEvent *x, uint32_t raw)
{
	uint32_t sig = raw & 0x7f;
	if (sig) {
		x->has_signal = 1;
		x->signal = (int32_t)sig;
	}
}

/* container.oom_killed from CRI (degraded mode, or an OOM the kernel half did not see). */
static void emit_oom_from_status(struct cri_ctx *cc, struct container *c,
				 const Runtime__V1__ContainerStatus *st)
{
	struct event_parts p;
	init_event(cc, &p, "container.oom_killed", wall_now_ns(), c, NULL);
	p.x.reason = st->reason;
	p.x.has_exit_code = 1;
	p.x.exit_code = st->exit_code;
	if (st->finished_at) {
		p.x.has_finished_at_unix_ns = 1;
		p.x.finished_at_unix_ns = st->finished_at;
	}
	if (st->resources && st->resources->linux_resources &&
	    st->resources->linux_resources->memory_limit_in_bytes > 0) {
		p.x.has_memory_limit = 1;
		p.x.memory_limit = (uint64_t)st->resources->linux_resources->memory_limit_in_bytes;
	}
	if (c->init_pid) {
		p.x.has_victim_pid = 1;
		p.x.victim_pid = c->init_pid;
	}
	c->oom_reported = true;
	emit(cc, &p);
}

/* The container reached EXITED: one ContainerStatus call for exit code, reason, finish time. */
static int report_exit(struct cri_ctx *cc, struct container *c)
{
	Runtime__V1__ContainerStatusResponse *resp = NULL;
	cc->status_calls++;
	int r = cri_container_status(cc->cli, c->id, &resp);
	struct event_parts p;
	init_event(cc, &p, "container.exited", wall_now_ns(), c, NULL);
	if (r < 0) {
		cc->rpc_errors++;
		log_warn("%s", cri_client_last_error(cc->cli));
		if (r != -EREMOTEIO && r != -ETIMEDOUT)
			return r;
		emit(cc, &p); /* removed meanwhile: the exit without details */
		return 0;
	}
	const Runtime__V1__ContainerStatus *st = resp->status;
	if (st) {
		bool oom = st->reason && strcmp(st->reason, "OOMKilled") == 0;
		if (oom && !c->oom_reported)
			emit_oom_from_status(cc, c, st);
		p.x.has_exit_code = 1;
		p.x.exit_code = st->exit_code;
		if (st->reason && st->reason[0])
			p.x.reason = st->reason;
		if (st->finished_at) {
			p.x.has_finished_at_unix_ns = 1;
			p.x.finished_at_unix_ns = st->finished_at;
		}
	}
	if (c->has_kernel_exit) {
		/* The kernel's word on how the init ended: the signal CRI folds into 128+n. */
		p.x.source = "cri+ebpf";
		set_signal_from_raw(&p.x, c->kernel_exit_code);
	} else if (st && st->exit_code > 128 && st->exit_code < 128 + 65) {
		p.x.has_signal = 1;
		p.x.signal = st->exit_code - 128;
	}
	emit(cc, &p);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/* ---- polling ------------------------------------------------------------------------------ */

/* The runtime may come back: its failures end as EXIT_TRANSIENT (a restart reconnects)
 * whatever errno they carry. */
static int transient(int r)
{
	return worker_exit_code(r) == EXIT_TRANSIENT ? r : -EAGAIN;
}

static int rpc_failed(struct cri_ctx *cc, int r)
{
	cc->rpc_errors++;
	if (r == -ETIMEDOUT || r == -EREMOTEIO) {
		log_warn("%s", cri_client_last_error(cc->cli));
		return 0; /* try again at the next poll */
	}
	log_error("CRI runtime at %s: %s; exiting for a restart (reconnect)",
		  cri_client_path(cc->cli), cri_client_last_error(cc->cli));
	return transient(r);
}

/* The two list RPCs of a poll, in this order. 0 with both responses (owned by the caller), or
 * the -errno of the failed call with neither. */
static int list_runtime(struct cri_ctx *cc, Runtime__V1__ListPodSandboxResponse **ret_ls,
			Runtime__V1__ListContainersResponse **ret_lc)
{
	Runtime__V1__ListPodSandboxResponse *ls = NULL;
	Runtime__V1__ListContainersResponse *lc = NULL;
	int r = cri_list_sandboxes(cc->cli, &ls);
	if (r < 0)
		return r;
	r = cri_list_containers(cc->cli, &lc);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&ls->base, NULL);
		return r;
	}
	*ret_ls = ls;
	*ret_lc = lc;
	return 0;
}

/* Start tracking a sandbox first seen in a list. NULL when the table is at MAX_TRACKED (counted)
 * or out of memory: the sandbox is tried again at the next poll. */
static struct sandbox *track_sandbox(struct cri_ctx *cc, const Runtime__V1__PodSandbox *it)
{
	if (cc->n_sb + cc->n_ct >= MAX_TRACKED) {
		cc->tracked_drops++;
		return NULL;
	}
	if (cc->n_sb == cc->cap_sb) {
		size_t cap = cc->cap_sb ? cc->cap_sb * 2 : 32;
		struct sandbox *n = realloc(cc->sb, cap * sizeof(*n));
		if (!n)
			return NULL;
		cc->sb = n;
		cc->cap_sb = cap;
	}
	struct sandbox *s = &cc->sb[cc->n_sb++];
	const Runtime__V1__PodSandboxMetadata *md = it->metadata;
	*s = (struct sandbox){
		.id = strdup(it->id),
		.name = dup_or_empty(md ? md->name : NULL),
		.ns = dup_or_empty(md ? md->namespace_ : NULL),
		.uid = dup_or_empty(md ? md->uid : NULL),
		.state = it->state,
	};
	return s;
}

/* Start tracking a container first seen in a list, in the state the list gives. NULL as for
 * track_sandbox. */
static struct container *track_container(struct cri_ctx *cc, const Runtime__V1__Container *it)
{
	if (cc->n_sb + cc->n_ct >= MAX_TRACKED) {
		cc->tracked_drops++;
		return NULL;
	}
	if (cc->n_ct == cc->cap_ct) {
		size_t cap = cc->cap_ct ? cc->cap_ct * 2 : 64;
		struct container *n = realloc(cc->ct, cap * sizeof(*n));
		if (!n)
			return NULL;
		cc->ct = n;
		cc->cap_ct = cap;
	}
	struct container *c = &cc->ct[cc->n_ct++];
	*c = (struct container){
		.id = strdup(it->id),
		.sandbox_id = dup_or_empty(it->pod_sandbox_id),
		.name = dup_or_empty(it->metadata ? it->metadata->name : NULL),
		.image = dup_or_empty(it->image && it->image->image && it->image->image[0]
					      ? it->image->image
					      : it->image_ref),
		.attempt = it->metadata ? it->metadata->attempt : 0,
		.state = it->state,
	};
	return c;
}

/* Diff the sandbox list against the table: new ones are tracked and announced, state changes
 * emitted, every listed one marked seen. Sandboxes go before containers: container events
 * need their pod. */
static void sync_sandboxes(struct cri_ctx *cc, const Runtime__V1__ListPodSandboxResponse *ls,
			   bool quiet)
{
	for (size_t i = 0; i < cc->n_sb; i++)
		cc->sb[i].seen = false;
	for (size_t i = 0; i < ls->n_items; i++) {
		const Runtime__V1__PodSandbox *it = ls->items[i];
		if (!it->id || !it->id[0])
			continue;
		struct sandbox *s = find_sandbox(cc, it->id);
		if (!s) {
			s = track_sandbox(cc, it);
			if (!s)
				continue;
			if (!quiet) {
				emit_simple(cc, "pod.sandbox_ready", NULL, s);
				if (it->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
					emit_simple(cc, "pod.sandbox_stopped", NULL, s);
			}
		} else if (s->state != (int)it->state) {
			s->state = it->state;
			if (!quiet)
				emit_simple(
					cc,
					it->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
						? "pod.sandbox_ready"
						: "pod.sandbox_stopped",
					NULL, s);
		}
		s->seen = true;
	}
}

/* A container moved from state `old` to `now`: container.started, and on EXITED the one
 * ContainerStatus call of report_exit. 0, or the -errno of that call that ends the poll. */
static int container_changed(struct cri_ctx *cc, struct container *c, int old, int now)
{
	c->state = now;
	if (now == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
	    (now == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED &&
	     old == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED))
		emit_simple(cc, "container.started", c, NULL);
	if (now == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED)
		return report_exit(cc, c);
	return 0;
}

/* Diff the container list against the table: new ones are tracked (container.created unless
 * quiet), changed ones reported by container_changed, every listed one marked seen. Stops at
 * the first failed status call and returns its -errno; else 0. */
static int sync_containers(struct cri_ctx *cc, const Runtime__V1__ListContainersResponse *lc,
			   bool quiet)
{
	int r = 0;
	for (size_t i = 0; i < cc->n_ct; i++)
		cc->ct[i].seen = false;
	for (size_t i = 0; i < lc->n_containers && r == 0; i++) {
		const Runtime__V1__Container *it = lc->containers[i];
		if (!it->id || !it->id[0])
			continue;
		struct container *c = find_container(cc, it->id);
		int old = -1;
		if (!c) {
			c = track_container(cc, it);
			if (!c)
				continue;
			if (quiet) {
				c->seen = true;
				continue;
			}
			c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
			emit_simple(cc, "container.created", c, NULL);
			old = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
		} else {
			old = c->state;
		}
		c->seen = true;
		int now = it->state;
		if (now == old || quiet) {
			c->state = now;
			continue;
		}
		r = container_changed(cc, c, old, now);
	}
	return r;
}

/* Forget what the lists no longer hold: container.removed for each container, then
 * pod.sandbox_stopped for each sandbox that was still ready (nothing when quiet). */
static void remove_unseen(struct cri_ctx *cc, bool quiet)
{
	for (size_t i = 0; i < cc->n_ct;) {
		if (cc->ct[i].seen) {
			i++;
			continue;
		}
		if (!quiet)
			emit_simple(cc, "container.removed", &cc->ct[i], NULL);
		free_container(&cc->ct[i]);
		cc->ct[i] = cc->ct[--cc->n_ct];
	}
	for (size_t i = 0; i < cc->n_sb;) {
		if (cc->sb[i].seen) {
			i++;
			continue;
		}
		if (!quiet && cc->sb[i].state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
			emit_simple(cc, "pod.sandbox_stopped", NULL, &cc->sb[i]);
		free_sandbox(&cc->sb[i]);
		cc->sb[i] = cc->sb[--cc->n_sb];
	}
}

/* One poll: ListPodSandbox + ListContainers (and ContainerStatus only for containers that
 * reached EXITED), diffed against what we know. With `quiet` (the start-up snapshot) nothing is
 * emitted. Returns 0 or an exit code. */
static int poll_runtime(struct cri_ctx *cc, bool quiet)
{
	Runtime__V1__ListPodSandboxResponse *ls;
	Runtime__V1__ListContainersResponse *lc;
	int r = list_runtime(cc, &ls, &lc);
	if (r < 0)
		return rpc_failed(cc, r);
	cc->polls++;
	sync_sandboxes(cc, ls, quiet);
	r = sync_containers(cc, lc, quiet);
	if (r < 0)
		r = rpc_failed(cc, r); /* removals wait for a complete poll */
	else
		remove_unseen(cc, quiet);
	protobuf_c_message_free_unpacked(&ls->base, NULL);
	protobuf_c_message_free_unpacked(&lc->base, NULL);
	return r;
}

static void emit_inventory(struct cri_ctx *cc)
{
	struct event_parts p;
	init_event(cc, &p, "cri.inventory", wall_now_ns(), NULL, NULL);
	p.k.ev.k8s = NULL;
	uint32_t running = 0;
	for (size_t i = 0; i < cc->n_ct; i++)
		running += cc->ct[i].state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	p.x.has_sandboxes = p.x.has_containers = p.x.has_running = 1;
	p.x.sandboxes = (uint32_t)cc->n_sb;
	p.x.containers = (uint32_t)cc->n_ct;
	p.x.running = running;
	p.x.runtime_version = cc->runtime_version;
	p.x.runtime_api_version = cc->api_version;
	emit(cc, &p);
	/* Then one container.present per existing container: consumers — and tapiod, which
	 * joins container ids with pod metadata for every collector's events — learn what was
	 * already running. */
	for (size_t i = 0; i < cc->n_ct; i++) {
		struct event_parts q;
		init_event(cc, &q, "container.present", wall_now_ns(), &cc->ct[i], NULL);
		emit(cc, &q);
	}
}

static void arm_timer(struct cri_ctx *cc, uint32_t ms)
{
	struct itimerspec its = {.it_value = {ms / 1000, (long)(ms % 1000) * 1000000L}};
	if (ms == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(cc->timerfd, 0, &its, NULL);
}

static int on_timer(struct cri_ctx *cc)
{
	uint64_t n;
	if (read(cc->timerfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	if (!cc->inventory_sent) {
		cc->inventory_sent = true;
		if (cc->cfg->inventory)
			emit_inventory(cc);
	}
	int r = poll_runtime(cc, false);
	if (r)
		return r;
	if (cc->burst > 0) {
		cc->burst--;
		arm_timer(cc, BURST_MS);
	} else {
		arm_timer(cc, cc->cfg->poll_interval_ms);
	}
	return 0;
}

/* ---- kernel records ----------------------------------------------------------------------- */

/* The container a cgroup id (and pid) belongs to: its CRI record (polling once if it is not
 * known yet) and the cgroup path. Returns the container id ("" when not a container). */
static const char *resolve(struct cri_ctx *cc, uint64_t cgid, uint32_t pid, const char **ret_path,
			   struct container **ret_c)
{
	*ret_c = NULL;
	*ret_path = NULL;
	const struct cgroup_entry *e = NULL;
	if (!cc->cgroups || cgroup_cache_lookup(cc->cgroups, cgid, (pid_t)pid, &e) < 0) {
		worker_counters(cc->w)->enrich_misses++;
		return "";
	}
	*ret_path = e->path;
	if (!e->info.container_id[0])
		return "";
	*ret_c = find_container(cc, e->info.container_id);
	return e->info.container_id;
}

/* Poll now (the timer fires once the worker has drained the ring), then BURST_POLLS more. */
static void schedule_poll(struct cri_ctx *cc)
{
	cc->burst = BURST_POLLS;
	arm_timer(cc, 0);
}

static int on_oom(struct cri_ctx *cc, const struct cri_oom_rec *r)
{
	const char *path;
	struct container *c;
	char id[CGROUP_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", resolve(cc, r->cgroup_id, r->victim_pid, &path, &c));
	char pathbuf[4097] = "";
	if (path)
		snprintf(pathbuf, sizeof(pathbuf), "%s", path);
	if (!id[0]) {
		worker_counters(cc->w)->filtered++; /* an OOM kill outside containers */
		return 0;
	}
	if (!c) {
		int e = poll_runtime(cc, false);
		if (e)
			return e;
		c = find_container(cc, id);
	}
	struct event_parts p;
	init_event(cc, &p, "container.oom_killed",
		   timeconv_wall_ns(worker_timeconv(cc->w), r->boot_ns), c, NULL);
	if (!c)
		p.x.container_id = p.k.k8s.container_id = id;
	p.x.source = "ebpf";
	p.x.reason = "OOMKilled";
	p.x.has_victim_pid = 1;
	p.x.victim_pid = r->victim_pid;
	p.k.proc.has_pid = 1;
	p.k.proc.pid = r->victim_pid;
	p.k.proc.has_cgroup_id = 1;
	p.k.proc.cgroup_id = r->cgroup_id;
	p.k.ev.process = &p.k.proc;
	p.k.ev.has_boot_ns = 1;
	p.k.ev.boot_ns = r->boot_ns;
	p.k.k8s.cgroup_path = pathbuf[0] ? pathbuf : NULL;
	uint64_t limit, usage;
	read_memory(cc, pathbuf[0] ? pathbuf : NULL, &limit, &usage);
	if (limit) {
		p.x.has_memory_limit = 1;
		p.x.memory_limit = limit;
	}
	if (usage) {
		p.x.has_memory_usage = 1;
		p.x.memory_usage = usage;
	}
	if (c)
		c->oom_reported = true;
	emit(cc, &p);
	schedule_poll(cc);
	return 0;
}

static int on_exit_rec(struct cri_ctx *cc, const struct cri_exit_rec *r)
{
	const char *path;
	struct container *c;
	const char *id = resolve(cc, r->cgroup_id, r->pid, &path, &c);
	if (!id[0]) {
		worker_counters(cc->w)->filtered++;
		return 0;
	}
	if (c && (r->flags & (CRI_EXIT_NS_INIT | CRI_EXIT_SHIM_CHILD))) {
		c->has_kernel_exit = true;
		c->kernel_exit_code = r->exit_code;
		c->init_pid = r->pid;
	}
	schedule_poll(cc);
	return 0;
}

static int on_cgroup(struct cri_ctx *cc, const struct cri_cgroup_rec *r)
{
	if (r->path_len >= CRI_CGROUP_PATH_MAX)
		return -EBADMSG;
	char path[CRI_CGROUP_PATH_MAX];
	memcpy(path, r->path, r->path_len);
	path[r->path_len] = '\0';
	struct cgroup_info info;
	if (cgroup_parse_path(path, &info) > 0 && info.container_id[0])
		schedule_poll(cc);
	else
		worker_counters(cc->w)->filtered++;
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct cri_ctx *cc = ctx;
	int r = -EBADMSG;
	switch (kevent_rec_type(cc->w, data, size, CRI_REC_VERSION)) {
	case CRI_REC_OOM:
		if (size == sizeof(struct cri_oom_rec))
			r = on_oom(cc, data);
		break;
	case CRI_REC_EXIT:
		if (size == sizeof(struct cri_exit_rec))
			r = on_exit_rec(cc, data);
		break;
	case CRI_REC_CGROUP:
		if (size == sizeof(struct cri_cgroup_rec))
			r = on_cgroup(cc, data);
		break;
	}
	/* < 0: an RPC failed; consuming stops and the worker exits */
	return kevent_rec_done(cc->w, data, size, r);
}

/* ---- setup -------------------------------------------------------------------------------- */

/* Load and attach; the OOM hook prefers tp_btf (victim task) over the classic tracepoint, unless
 * `hooks` names one of them. */
static int load_bpf(struct cri_ctx *cc, char *reason, size_t cap)
{
	int r = -ENOENT;
	int first = cc->cfg->hooks == CONFIG_HOOKS_TRACEPOINT ? 0 : 1;
	int last = cc->cfg->hooks == CONFIG_HOOKS_TP_BTF ? 1 : 0;
	for (int btf = first; btf >= last; btf--) {
		struct cri_bpf *s = cri_bpf__open();
		if (!s) {
			r = -errno;
			continue;
		}
		bpf_program__set_autoload(s->progs.handle_oom_btf, btf);
		bpf_program__set_autoload(s->progs.handle_oom_tp, !btf);
		r = bpf_map__set_max_entries(s->maps.events, cc->cfg->ring_buffer_kib * 1024u);
		if (r == 0)
			r = cri_bpf__load(s);
		if (r == 0)
			r = cri_bpf__attach(s);
		if (r == 0) {
			cc->skel = s;
			worker_add_hook(cc->w, btf ? "tp_btf/mark_victim" : "tp/oom/mark_victim");
			if (!btf)
				worker_add_missing(cc->w, "tp_btf/mark_victim (victim cgroup)");
			worker_add_hook(cc->w, "tp/sched/sched_process_exit");
			worker_add_hook(cc->w, "tp/cgroup/cgroup_mkdir");
			worker_add_hook(cc->w, "tp/cgroup/cgroup_rmdir");
			return 0;
		}
		log_info("cri eBPF (%s mark_victim) unavailable: %s", btf ? "tp_btf" : "tp",
			 strerror(-r));
		cri_bpf__destroy(s);
	}
	snprintf(reason, cap, "eBPF could not be loaded (%s): CRI polling only", strerror(-r));
	return r;
}

static int connect_runtime(struct cri_ctx *cc)
{
	const char *want = cc->cfg->socket_path;
	int r;
	if (want && want[0]) {
		r = cri_client_connect(want, cc->cfg->rpc_timeout_ms, &cc->cli);
		if (r < 0) {
			log_error("CRI socket %s: %s%s", want, strerror(-r),
				  r == -ENOENT ? " (is the runtime running?)" : "");
			return transient(r);
		}
	} else {
		for (size_t i = 0; cri_default_sockets[i]; i++) {
			r = cri_client_connect(cri_default_sockets[i], cc->cfg->rpc_timeout_ms,
					       &cc->cli);
			if (r == 0)
				break;
			log_debug("CRI socket %s: %s", cri_default_sockets[i], strerror(-r));
		}
		if (!cc->cli) {
			log_error("no CRI runtime socket found (tried "
				  "/run/containerd/containerd.sock, "
				  "/run/crio/crio.sock, /run/k3s/containerd/containerd.sock); set "
				  "collectors.cri.socket_path");
			return -ENOENT;
		}
	}

	Runtime__V1__VersionResponse *v = NULL;
	r = cri_version(cc->cli, &v);
	if (r == -EREMOTEIO && cri_client_last_status(cc->cli) == CRI_GRPC_UNIMPLEMENTED) {
		log_error("the runtime at %s does not serve CRI v1 (runtime.v1.RuntimeService is "
			  "unimplemented: an older API such as v1alpha2 only); tapio needs CRI v1 "
			  "(containerd >= 1.6, CRI-O >= 1.23)",
			  cri_client_path(cc->cli));
		return -EINVAL; /* EXIT_CONFIG: a restart will not change the runtime */
	}
	if (r < 0) {
		log_error("CRI Version at %s: %s", cri_client_path(cc->cli),
			  cri_client_last_error(cc->cli));
		return transient(r);
	}
	snprintf(cc->runtime_name, sizeof(cc->runtime_name), "%s", v->runtime_name);
	snprintf(cc->runtime_version, sizeof(cc->runtime_version), "%s", v->runtime_version);
	snprintf(cc->api_version, sizeof(cc->api_version), "%s", v->runtime_api_version);
	protobuf_c_message_free_unpacked(&v->base, NULL);
	if (strcmp(cc->api_version, "v1") != 0) {
		log_error("the runtime at %s speaks CRI %s; tapio needs runtime_api_version v1",
			  cri_client_path(cc->cli), cc->api_version);
		return -EINVAL; /* EXIT_CONFIG, as above */
	}
	log_info("CRI runtime %s %s (API %s) at %s", cc->runtime_name, cc->runtime_version,
		 cc->api_version, cri_client_path(cc->cli));
	return 0;
}

static int cri_setup(struct worker *w, void *ctx)
{
	struct cri_ctx *cc = ctx;
	cc->w = w;
	cc->cfg = config_section(worker_config(w), "cri");
	cc->timerfd = -1;

	worker_set_step(w, "connect to the CRI runtime");
	int r = connect_runtime(cc);
	if (r < 0)
		return r;

	worker_set_step(w, "load eBPF");
	char reason[160];
	cc->counters_fd = -1;
	if (cc->cfg->force_degraded) {
		worker_set_degraded(w, "force_degraded: CRI polling only, no eBPF");
	} else if (worker_stored(w)) {
		/* the programs of a predecessor are still attached (the fd store) */
		worker_set_step(w, "resume the stored ring buffer");
		r = kevent_setup();
		if (r == 0)
			r = kevent_resume_ring(w, "events", handle_record, cc);
		if (r < 0)
			return r;
		cc->counters_fd = kevent_stored_map(w, "counters");
	} else {
		int cpus = kevent_setup();
		if (cpus < 0 || load_bpf(cc, reason, sizeof(reason)) < 0) {
			if (cpus < 0)
				snprintf(reason, sizeof(reason), "no CPU count: CRI polling only");
			worker_set_degraded(w, reason);
			worker_add_missing(w, "eBPF (OOM victim pid, exit signals, immediacy)");
		}
	}
	if (cc->skel) {
		worker_set_step(w, "ring buffer");
		r = kevent_add_ring(w, cc->skel->obj, cc->skel->maps.events, handle_record, cc);
		if (r < 0)
			return transient(r);
		cc->counters_fd = bpf_map__fd(cc->skel->maps.counters);
		/* kept by tapiod; also, the worker's exit then never detaches a perf-event link
		 * (an ioctl the sandbox refuses) */
		worker_set_step(w, "fd store");
		r = kevent_store_skeleton(w, cc->skel->skeleton);
		if (r < 0)
			return r;
	}
	if (cgroup_cache_new(NULL, CGROUP_CACHE_ENTRIES, &cc->cgroups) < 0) {
		cc->cgroups = NULL;
		worker_add_missing(w, "cgroup2 mount (container attribution of kernel records)");
	}

	/* The start-up snapshot: what exists now is inventory, not news. */
	worker_set_step(w, "first poll");
	r = poll_runtime(cc, true);
	if (r < 0)
		return r;

	worker_set_step(w, "poll timer");
	cc->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (cc->timerfd < 0)
		return -errno;
	r = worker_watch(w, cc->timerfd);
	if (r == 0)
		r = worker_watch(w, cri_client_fd(cc->cli));
	if (r < 0)
		return r;
	arm_timer(cc, 0); /* the first tick sends the inventory and polls */
	worker_add_hook(w, "cri/runtime.v1.RuntimeService");
	return 0;
}

static void cri_teardown(struct worker *w, void *ctx)
{
	struct cri_ctx *cc = ctx;
	cri_bpf__destroy(cc->skel);
	cgroup_cache_free(cc->cgroups);
	cri_client_free(cc->cli);
	if (cc->timerfd >= 0)
		close(cc->timerfd);
	for (size_t i = 0; i < cc->n_sb; i++)
		free_sandbox(&cc->sb[i]);
	for (size_t i = 0; i < cc->n_ct; i++)
		free_container(&cc->ct[i]);
	free(cc->sb);
	free(cc->ct);
}

static int cri_on_readable(struct worker *w, void *ctx, int fd)
{
	struct cri_ctx *cc = ctx;
	if (fd == cc->timerfd)
		return on_timer(cc);
	if (cc->cli && fd == cri_client_fd(cc->cli)) {
		int r = cri_client_pump(cc->cli);
		if (r < 0) {
			log_error("connection to the CRI runtime at %s lost (%s); exiting for a "
				  "restart (reconnect)",
				  cri_client_path(cc->cli), cri_client_last_error(cc->cli));
			return transient(r);
		}
	}
	return 0;
}

static void cri_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct cri_ctx *cc = ctx;
	worker_set_counter(w, "cri_polls", cc->polls);
	worker_set_counter(w, "cri_status_calls", cc->status_calls);
	worker_set_counter(w, "cri_rpc_errors", cc->rpc_errors);
	worker_set_counter(w, "cri_untracked", cc->tracked_drops);
	if (cc->counters_fd < 0)
		return;
	uint64_t sums[TAPIO_CNT_MAX];
	if (kevent_counters_sum(cc->counters_fd, sums) < 0)
		return;
	st->has_kernel_drops = 1;
	st->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP];
}

static const struct worker_collector cri_collector = {
	.name = "cri",
	.setup = cri_setup,
	.on_readable = cri_on_readable,
	.fill_stats = cri_fill_stats,
	.teardown = cri_teardown,
};

int main(int argc, char **argv)
{
	static struct cri_ctx ctx;
	return worker_main(argc, argv, &cri_collector, &ctx);
}
