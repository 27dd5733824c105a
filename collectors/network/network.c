// SPDX-License-Identifier: Apache-2.0
// network collector, worker side: probe the best hook set (tp_btf, else raw_tp), load and
// attach, then decode ring-buffer records into tcp.connect / accept / close / reset /
// retransmit / state events.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "hookset.h"
#include "kevent.h"
#include "log.h"
#include "network.h"
#include "network_config.h"
#include "network.skel.h"
#include "network_decode.h"
#include "worker.h"

#define CGROUP_CACHE_ENTRIES 8192

struct network_ctx {
	struct network_bpf *skel;
	int counters_fd;	      /* the skeleton's or a stored one */
	struct cgroup_cache *cgroups; /* NULL when the host has no cgroup2 mount */
	const struct config_network *cfg;
	struct worker *w;
	uint64_t user_filtered; /* dropped by user-space filters (containers_only) */
	const char *hookset;	/* the set that loaded */
};

/* ---- setup ------------------------------------------------------------------------------- */

static void set_hookset(struct network_bpf *s, bool btf)
{
	bpf_program__set_autoload(s->progs.handle_state_btf, btf);
	bpf_program__set_autoload(s->progs.handle_retr_btf, btf);
	bpf_program__set_autoload(s->progs.handle_rst_tx_btf, btf);
	bpf_program__set_autoload(s->progs.handle_rst_rx_btf, btf);
	bpf_program__set_autoload(s->progs.handle_state_raw, !btf);
	bpf_program__set_autoload(s->progs.handle_retr_raw, !btf);
	bpf_program__set_autoload(s->progs.handle_rst_tx_raw, !btf);
	bpf_program__set_autoload(s->progs.handle_rst_rx_raw, !btf);
}

static int fill_port_filter(struct network_ctx *nc)
{
	int fd = bpf_map__fd(nc->skel->maps.port_filter);
	for (size_t i = 0; i < nc->cfg->ports.n; i++) {
		__u16 port = nc->cfg->ports.items[i];
		__u8 v = 1;
		if (bpf_map_update_elem(fd, &port, &v, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

/* Candidate hook sets, best first (hookset.h). */
static const struct hookset hooksets[] = {
	{"tp_btf", true,
	 "tp_btf/{inet_sock_set_state,tcp_retransmit_skb,tcp_send_reset,tcp_receive_reset}"},
	{"raw_tp", false, NULL},
};
static const char *const hook_names[] = {"inet_sock_set_state", "tcp_retransmit_skb",
					 "tcp_send_reset", "tcp_receive_reset"};

/* Open, configure, load and attach one hook set. 0 or -errno (skeleton destroyed). */
static int try_hookset(void *ctx, const struct hookset *set)
{
	struct network_ctx *nc = ctx;
	const struct config_network *cfg = nc->cfg;
	bool btf = set->btf;
	struct network_bpf *s = network_bpf__open();
	if (!s)
		return errno ? -errno : -ENOMEM;
	set_hookset(s, btf);
	s->rodata->cfg_port_filter = cfg->ports.n > 0;
	s->rodata->cfg_direction =
		cfg->direction == CONFIG_DIRECTION_OUTBOUND  ? NETWORK_DIR_OUTBOUND
		: cfg->direction == CONFIG_DIRECTION_INBOUND ? NETWORK_DIR_INBOUND
							     : 0;
	s->rodata->cfg_state_events = cfg->state_events;
	s->rodata->cfg_retrans_interval_ns = (__u64)cfg->retransmit_interval_ms * 1000000ull;
	int r = bpf_map__set_max_entries(s->maps.events, cfg->ring_buffer_kib * 1024u);
	if (r == 0)
		r = network_bpf__load(s);
	if (r == 0) {
		nc->skel = s;
		r = fill_port_filter(nc);
	}
	if (r == 0)
		r = network_bpf__attach(s);
	if (r < 0) {
		network_bpf__destroy(s);
		nc->skel = NULL;
		return r;
	}
	nc->hookset = set->name;
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size);

static int network_setup(struct worker *w, void *ctx)
{
	struct network_ctx *nc = ctx;
	nc->w = w;
	nc->cfg = config_section(worker_config(w), "network");
	worker_set_step(w, "libbpf setup");
	int r = kevent_setup();
	if (r < 0)
		return r;

	if (worker_stored(w)) {
		worker_set_step(w, "resume the stored ring buffer");
		nc->counters_fd = kevent_stored_map(w, "counters");
		r = kevent_resume_ring(w, "events", handle_record, nc);
		if (r < 0)
			return r;
		kevent_cgroup_cache(w, CGROUP_CACHE_ENTRIES, &nc->cgroups);
		log_info("resumed on the kernel objects kept by tapiod");
		return 0;
	}
	worker_set_step(w, "load and attach hooks");
	r = hookset_select(w, nc->cfg->hooks, hooksets, sizeof(hooksets) / sizeof(hooksets[0]),
			   hook_names, sizeof(hook_names) / sizeof(hook_names[0]), try_hookset, nc);
	if (r < 0) {
		log_error("no hook set could be loaded and attached (last error: %s); the kernel "
			  "needs BTF (/sys/kernel/btf/vmlinux) and tp_btf or raw tracepoints on "
			  "sock/inet_sock_set_state and tcp/tcp_{retransmit_skb,send_reset,"
			  "receive_reset}",
			  strerror(-r));
		return r == -EPERM || r == -EACCES ? r : -EOPNOTSUPP;
	}

	worker_set_step(w, "ring buffer");
	r = kevent_add_ring(w, nc->skel->obj, nc->skel->maps.events, handle_record, nc);
	if (r < 0)
		return r;
	nc->counters_fd = bpf_map__fd(nc->skel->maps.counters);
	worker_set_step(w, "fd store");
	r = kevent_store_skeleton(w, nc->skel->skeleton);
	if (r < 0)
		return r;

	kevent_cgroup_cache(w, CGROUP_CACHE_ENTRIES, &nc->cgroups);
	log_info("attached %s hooks; ring buffer %u KiB", nc->hookset, nc->cfg->ring_buffer_kib);
	return 0;
}

static void network_teardown(struct worker *w, void *ctx)
{
	struct network_ctx *nc = ctx;
	(void)w;
	network_bpf__destroy(nc->skel);
	cgroup_cache_free(nc->cgroups);
}

static void network_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct network_ctx *nc = ctx;
	uint64_t sums[TAPIO_CNT_MAX];
	if (kevent_counters_sum(nc->counters_fd, sums) < 0)
		return;
	st->has_kernel_drops = 1;
	st->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP];
	worker_counters(w)->filtered = nc->user_filtered + sums[TAPIO_CNT_FILTERED] -
				       worker_counters(w)->kernel_filtered_at_start;
}

/* ---- decode ------------------------------------------------------------------------------ */

/* Everything one event needs, on the stack: no allocation per event. */
struct event_parts {
	struct kevent k;
	Tapio__V1__TcpEvent tcp;
	Tapio__V1__Endpoint src, dst;
	char saddr[NETWORK_ADDR_STRLEN], daddr[NETWORK_ADDR_STRLEN];
};

/* Container context from the owner's cgroup, else the socket's. Returns false when the event
 * is filtered (containers_only). */
static bool enrich(struct network_ctx *nc, struct event_parts *p, const struct network_rec *r)
{
	uint64_t cg = 0;
	pid_t hint = 0;
	if (r->flags & NETWORK_F_OWNER) {
		cg = r->owner.cgroup_id;
		hint = (pid_t)r->owner.pid;
	} else if (r->flags & NETWORK_F_SOCK_CGROUP) {
		cg = r->sock_cgroup_id;
	}
	if (kevent_attach_k8s(&p->k.ev, &p->k.k8s, cg ? nc->cgroups : NULL, cg, hint,
			      nc->cfg->containers_only, worker_counters(nc->w)))
		return true;
	nc->user_filtered++;
	return false;
}

static void set_owner(struct event_parts *p, const struct network_owner *o)
{
	Tapio__V1__ProcessContext *pc = &p->k.proc;
	memcpy(p->k.comm, o->comm, NETWORK_COMM_LEN);
	p->k.comm[NETWORK_COMM_LEN] = '\0';
	pc->has_pid = pc->has_tid = pc->has_ppid = 1;
	pc->has_uid = pc->has_gid = pc->has_cgroup_id = 1;
	pc->pid = o->pid;
	pc->tid = o->tid;
	pc->ppid = o->ppid;
	pc->uid = o->uid;
	pc->gid = o->gid;
	pc->cgroup_id = o->cgroup_id;
	pc->comm = p->k.comm;
	p->k.ev.process = pc;
}

static int emit(struct network_ctx *nc, const struct network_rec *r)
{
	struct event_parts p;
	kevent_init(&p.k, worker_timeconv(nc->w), network_event_type(r->hdr.type), r->boot_ns,
		    NULL);
	p.tcp = (Tapio__V1__TcpEvent)TAPIO__V1__TCP_EVENT__INIT;
	p.src = (Tapio__V1__Endpoint)TAPIO__V1__ENDPOINT__INIT;
	p.dst = (Tapio__V1__Endpoint)TAPIO__V1__ENDPOINT__INIT;
	if (r->flags & NETWORK_F_OWNER)
		set_owner(&p, &r->owner);
	if (!enrich(nc, &p, r))
		return 0;

	if (network_format_addr(r->family, r->saddr, p.saddr, sizeof(p.saddr)) < 0 ||
	    network_format_addr(r->family, r->daddr, p.daddr, sizeof(p.daddr)) < 0)
		return -EBADMSG;
	p.src.addr = p.saddr;
	p.src.has_port = 1;
	p.src.port = r->sport;
	p.dst.addr = p.daddr;
	p.dst.has_port = 1;
	p.dst.port = r->dport;
	Tapio__V1__TcpEvent *t = &p.tcp;
	t->src = &p.src;
	t->dst = &p.dst;
	t->has_family = 1;
	t->family = r->family;
	if (r->netns) {
		t->has_netns = 1;
		t->netns = r->netns;
	}
	if (r->flags & NETWORK_F_SOCK_CGROUP) {
		t->has_sock_cgroup_id = 1;
		t->sock_cgroup_id = r->sock_cgroup_id;
	}
	t->direction = (char *)network_direction_name(r->direction);
	if (r->state)
		t->state = (char *)network_state_name(r->state);

	switch (r->hdr.type) {
	case NETWORK_REC_CONNECT:
		t->has_latency_ns = 1;
		t->latency_ns = r->latency_ns;
		break;
	case NETWORK_REC_CLOSE:
		if (r->flags & NETWORK_F_START) {
			t->has_duration_ns = 1;
			t->duration_ns = r->duration_ns;
		}
		break;
	case NETWORK_REC_RESET_SENT:
		t->reset = "sent";
		break;
	case NETWORK_REC_RESET_RECV:
		t->reset = "received";
		break;
	case NETWORK_REC_RETRANSMIT:
		t->has_suppressed = 1;
		t->suppressed = r->suppressed;
		break;
	case NETWORK_REC_STATE:
		t->old_state = (char *)network_state_name(r->old_state);
		break;
	}
	if (r->flags & NETWORK_F_BYTES) {
		t->has_bytes_sent = t->has_bytes_received = t->has_retransmits = 1;
		t->bytes_sent = r->bytes_sent;
		t->bytes_received = r->bytes_received;
		t->retransmits = r->retransmits;
	}
	p.k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_TCP;
	p.k.ev.tcp = t;
	return worker_emit(nc->w, &p.k.ev);
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct network_ctx *nc = ctx;
	worker_counters(nc->w)->records_read++;
	int r = network_rec_check(data, size);
	if (r == 0)
		r = emit(nc, data);
	kevent_rec_done(nc->w, data, size, r);
	return 0; /* queue drops are counted by the worker; never stop consuming */
}

static const struct worker_collector network_collector = {
	.name = "network",
	.setup = network_setup,
	.fill_stats = network_fill_stats,
	.teardown = network_teardown,
};

int main(int argc, char **argv)
{
	static struct network_ctx ctx;
	return worker_main(argc, argv, &network_collector, &ctx);
}
