// SPDX-License-Identifier: Apache-2.0
// dns collector, worker side: attach cgroup_skb programs to the cgroup2 root (or, when that is
// impossible or force_fallback is set, open an AF_PACKET socket with a classic BPF filter),
// parse every DNS message in user space, match responses to queries and emit dns.query,
// dns.response and dns.timeout.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "cgroup.h"
#include "cleanup.h"
#include "kevent.h"
#include "dns.h"
#include "dns_config.h"
#include "dns_packet.h"
#include "dns.skel.h"
#include "dns_parse.h"
#include "log.h"
#include "worker.h"

#define CGROUP_CACHE_ENTRIES 8192
#define FALLBACK_BUDGET	     512 /* packets per on_readable call */
#define FALLBACK_RCVBUF	     (4 << 20)

struct dns_ctx {
	struct worker *w;
	const struct config_dns *cfg;
	struct dns_bpf *skel; /* NULL in fallback mode */
	int counters_fd;      /* the skeleton's or a stored one; -1 in fallback mode */
	struct bpf_link *links[2];
	int pkt_fd; /* AF_PACKET socket (fallback), else -1 */
	int timer_fd;
	struct cgroup_cache *cgroups; /* NULL when the host has no cgroup2 mount */
	struct dns_table *table;
	struct dns_msg *msg; /* scratch (large), owned */
	uint8_t *pkt_buf;    /* fallback read buffer, owned */
	uint64_t parse_errors[DNS_ERR_MAX];
	uint64_t user_filtered;
	uint64_t not_dns; /* TCP continuation segments and other non-messages */
	uint64_t last_log_mono_ns, last_logged_errors;
};

/* ---- setup ------------------------------------------------------------------------------- */

static bool port_configured(const struct config_dns *cfg, uint16_t port)
{
	for (size_t i = 0; i < cfg->ports.n; i++)
		if (cfg->ports.items[i] == port)
			return true;
	return false;
}

static void bpf_cleanup(struct dns_ctx *dc)
{
	for (int i = 0; i < 2; i++) {
		bpf_link__destroy(dc->links[i]);
		dc->links[i] = NULL;
	}
	dns_bpf__destroy(dc->skel);
	dc->skel = NULL;
}

static int load(struct dns_ctx *dc, bool with_pid, bool with_comm)
{
	struct dns_bpf *s = dns_bpf__open();
	if (!s)
		return errno ? -errno : -ENOMEM;
	s->rodata->cfg_payload_max = dc->cfg->payload_max_bytes;
	s->rodata->cfg_with_pid = with_pid;
	s->rodata->cfg_with_comm = with_comm;
	for (size_t i = 0; i < dc->cfg->ports.n; i++) {
		uint16_t port = dc->cfg->ports.items[i];
		s->rodata->cfg_port_bits[port >> 3] |= (uint8_t)(1u << (port & 7));
	}
	int r = bpf_map__set_max_entries(s->maps.events, dc->cfg->ring_buffer_kib * 1024u);
	if (r == 0)
		r = dns_bpf__load(s);
	if (r < 0) {
		dns_bpf__destroy(s);
		return r;
	}
	dc->skel = s;
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size);

/* Attach the loaded programs to the cgroup2 root and hand their ring to the worker. 0, or
 * -errno with *why saying which step failed (the caller releases what was attached). */
static int attach(struct dns_ctx *dc, const char **why)
{
	char root[256];
	int r = cgroup2_find_mount(root, sizeof(root));
	if (r < 0) {
		*why = "no cgroup2 mount";
		return r;
	}
	_cleanup_close_ int cg = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		*why = "cannot open the cgroup2 root";
		return -errno;
	}
	struct bpf_program *progs[2] = {dc->skel->progs.handle_egress,
					dc->skel->progs.handle_ingress};
	for (int i = 0; i < 2; i++) {
		dc->links[i] = bpf_program__attach_cgroup(progs[i], cg);
		if (!dc->links[i]) {
			*why = "cgroup_skb attach to the cgroup2 root failed";
			return errno ? -errno : -EINVAL;
		}
	}
	r = kevent_add_ring(dc->w, dc->skel->obj, dc->skel->maps.events, handle_record, dc);
	if (r < 0) {
		*why = "ring buffer";
		return r;
	}
	/* kept by tapiod: the filters stay attached across a restart */
	r = kevent_store_skeleton(dc->w, dc->skel->skeleton);
	if (r == 0)
		r = kevent_store_link(dc->w, dc->links[0], "cgroup_egress");
	if (r == 0)
		r = kevent_store_link(dc->w, dc->links[1], "cgroup_ingress");
	if (r < 0) {
		*why = "fd store";
		return r;
	}
	dc->counters_fd = bpf_map__fd(dc->skel->maps.counters);
	char hook[300];
	snprintf(hook, sizeof(hook), "cgroup_skb/egress@%s", root);
	worker_add_hook(dc->w, hook);
	snprintf(hook, sizeof(hook), "cgroup_skb/ingress@%s", root);
	worker_add_hook(dc->w, hook);
	log_info("attached cgroup_skb ingress+egress at %s; ring buffer %u KiB", root,
		 dc->cfg->ring_buffer_kib);
	return 0;
}

/* Load and attach the cgroup_skb programs. 0, or -errno with everything released; *why says
 * which step failed. */
static int try_bpf(struct dns_ctx *dc, const char **why)
{
	int r = load(dc, true, true);
	if (r < 0) {
		log_info("cgroup_skb with process helpers did not load (%s); retrying without "
			 "bpf_get_current_comm",
			 strerror(-r));
		r = load(dc, true, false);
		if (r == 0)
			worker_add_missing(dc->w, "comm of the sender (bpf_get_current_comm in "
						  "cgroup_skb: newer kernels than 6.12)");
	}
	if (r < 0) {
		log_info("cgroup_skb with bpf_get_current_pid_tgid did not load (%s); retrying "
			 "without",
			 strerror(-r));
		r = load(dc, false, false);
		if (r == 0)
			worker_add_missing(dc->w, "pid of the sender (bpf_get_current_pid_tgid in "
						  "cgroup_skb needs kernel 6.4+)");
	}
	if (r < 0) {
		*why = "cgroup_skb programs did not load";
		return r;
	}
	r = attach(dc, why);
	if (r < 0)
		bpf_cleanup(dc);
	return r;
}

/* Classic BPF for an AF_PACKET SOCK_DGRAM socket (the filter sees the network header at 0):
 * drop the outgoing copy of loopback packets (each appears twice there), keep IPv4/IPv6 UDP
 * and TCP (first fragments only) with a configured source or destination port. */
static int build_filter(const struct config_dns *cfg, unsigned lo_ifindex, struct sock_filter *f,
			size_t cap, size_t *ret_n)
{
	size_t n = 0;
#define I(code, k)	   (f[n++] = (struct sock_filter)BPF_STMT((code), (k)))
#define J(code, k, jt, jf) (f[n++] = (struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))
	if (cap < 40 + 2 * cfg->ports.n)
		return -ENOSPC;
	/* 0 */ I(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
	/* 1 */ J(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 2);
	/* 2 */ I(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_IFINDEX);
	/* 3 */ J(BPF_JMP | BPF_JEQ | BPF_K, lo_ifindex, 0 /* → drop, patched */, 0);
	size_t lo_jump = n - 1;
	/* 4 */ I(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL);
	/* 5 */ J(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 9);
	/* IPv4: 6 */ I(BPF_LD | BPF_B | BPF_ABS, 9);
	/* 7 */ J(BPF_JMP | BPF_JEQ | BPF_K, 17, 1, 0);
	/* 8 */ J(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 0 /* → drop, patched */);
	size_t v4_proto_jump = n - 1;
	/* 9 */ I(BPF_LD | BPF_H | BPF_ABS, 6);
	/* 10 */ J(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 0 /* → drop, patched */, 0);
	size_t frag_jump = n - 1;
	/* 11 */ I(BPF_LDX | BPF_B | BPF_MSH, 0);
	/* 12 */ I(BPF_LD | BPF_H | BPF_IND, 0);
	/* 13 */ I(BPF_ST, 0);
	/* 14 */ I(BPF_LD | BPF_H | BPF_IND, 2);
	/* 15 */ I(BPF_ST, 1);
	/* 16 */ I(BPF_JMP | BPF_JA, 0 /* → ports, patched */);
	size_t v4_ja = n - 1;
	/* not IPv4: 15 */ J(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 0 /* → drop, patched */);
	size_t v6_jump = n - 1;
	I(BPF_LD | BPF_B | BPF_ABS, 6);
	J(BPF_JMP | BPF_JEQ | BPF_K, 17, 1, 0);
	J(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 0 /* → drop, patched */);
	size_t v6_proto_jump = n - 1;
	I(BPF_LD | BPF_H | BPF_ABS, 40);
	I(BPF_ST, 0);
	I(BPF_LD | BPF_H | BPF_ABS, 42);
	I(BPF_ST, 1);
	size_t ports_at = n;
	for (int m = 0; m < 2; m++) {
		I(BPF_LD | BPF_MEM, (unsigned)m);
		for (size_t i = 0; i < cfg->ports.n; i++) {
			size_t left = (cfg->ports.n - i - 1) + (m == 0 ? 1 + cfg->ports.n + 1 : 1);
			J(BPF_JMP | BPF_JEQ | BPF_K, cfg->ports.items[i], (uint8_t)left, 0);
		}
	}
	size_t drop = n;
	I(BPF_RET | BPF_K, 0);
	I(BPF_RET | BPF_K, 0x40000);
#undef I
#undef J
	if (drop - lo_jump - 1 > 255 || drop - v6_jump - 1 > 255)
		return -ENOSPC;
	f[lo_jump].jt = (uint8_t)(drop - lo_jump - 1);
	f[v4_proto_jump].jf = (uint8_t)(drop - v4_proto_jump - 1);
	f[frag_jump].jt = (uint8_t)(drop - frag_jump - 1);
	f[v4_ja].k = (uint32_t)(ports_at - v4_ja - 1);
	f[v6_jump].jf = (uint8_t)(drop - v6_jump - 1);
	f[v6_proto_jump].jf = (uint8_t)(drop - v6_proto_jump - 1);
	/* 5's false branch skips the IPv4 block to the IPv6 test */
	f[5].jf = (uint8_t)(v6_jump - 5 - 1);
	*ret_n = n;
	return 0;
}

static int open_fallback(struct dns_ctx *dc)
{
	struct sock_filter code[64 + 2 * DNS_MAX_PORTS];
	size_t n;
	unsigned lo = if_nametoindex("lo");
	int r = build_filter(dc->cfg, lo ? lo : 1, code, sizeof(code) / sizeof(code[0]), &n);
	if (r < 0)
		return r;
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = code};
	_cleanup_close_ int fd =
		socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	int rcv = FALLBACK_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	/* Packets queued before the filter was attached may be anything: drain them. */
	uint8_t tmp[64];
	while (read(fd, tmp, sizeof(tmp)) >= 0) {
	}
	dc->pkt_fd = TAKE_FD(fd);
	return 0;
}

static int dns_setup(struct worker *w, void *ctx)
{
	struct dns_ctx *dc = ctx;
	dc->w = w;
	dc->cfg = config_section(worker_config(w), "dns");
	dc->pkt_fd = dc->timer_fd = -1;
	worker_set_step(w, "libbpf setup");
	dc->msg = malloc(sizeof(*dc->msg));
	if (!dc->msg)
		return -ENOMEM;
	int r = kevent_setup();
	if (r < 0)
		return r;
	r = dns_table_new(dc->cfg->table_max, (uint64_t)dc->cfg->timeout_ms * 1000000ull,
			  &dc->table);
	if (r < 0)
		return r;

	worker_set_step(w, "attach cgroup_skb");
	const char *why = "force_fallback is set";
	r = -1;
	dc->counters_fd = -1;
	if (worker_stored(w)) {
		/* a predecessor's filters are still attached (the fd store) */
		worker_set_step(w, "resume the stored ring buffer");
		r = kevent_resume_ring(w, "events", handle_record, dc);
		if (r < 0)
			return r;
		dc->counters_fd = kevent_stored_map(w, "counters");
	} else if (!dc->cfg->force_fallback) {
		r = try_bpf(dc, &why);
	}
	if (r < 0) {
		worker_set_step(w, "AF_PACKET fallback");
		char reason[256];
		if (dc->cfg->force_fallback)
			snprintf(reason, sizeof(reason), "AF_PACKET fallback: %s", why);
		else
			snprintf(reason, sizeof(reason), "AF_PACKET fallback: %s (%s)", why,
				 strerror(-r));
		if (!dc->cfg->force_fallback) {
			log_warn("%s", reason);
			worker_add_missing(w, "cgroup_skb");
		}
		dc->pkt_buf = malloc(65536);
		if (!dc->pkt_buf)
			return -ENOMEM;
		r = open_fallback(dc);
		if (r < 0) {
			log_error("AF_PACKET socket: %s", strerror(-r));
			return r == -EPERM || r == -EACCES ? r : -EOPNOTSUPP;
		}
		worker_set_degraded(w, reason);
		worker_add_missing(w, "process attribution (AF_PACKET sees packets, not senders)");
		worker_add_hook(w, "af_packet+cbpf");
		r = worker_watch(w, dc->pkt_fd);
		if (r < 0)
			return r;
		log_info("%s", reason);
	}

	/* Expiry tick: a quarter of the timeout, between 20 and 250 ms. */
	worker_set_step(w, "expiry timer");
	uint64_t tick_ms = dc->cfg->timeout_ms / 4;
	tick_ms = tick_ms < 20 ? 20 : tick_ms > 250 ? 250 : tick_ms;
	dc->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = {.it_interval = {0, (long)tick_ms * 1000000},
				 .it_value = {0, (long)tick_ms * 1000000}};
	if (dc->timer_fd < 0 || timerfd_settime(dc->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	r = worker_watch(w, dc->timer_fd);
	if (r < 0)
		return r;

	kevent_cgroup_cache(w, CGROUP_CACHE_ENTRIES, &dc->cgroups);
	return 0;
}

/* Rejections by reason and matching counters, in the log (the stats frame has one
 * decode_errors total): at most every 10 s when something changed, and at exit. */
static void log_counters(struct dns_ctx *dc, bool force)
{
	uint64_t total = 0, now = timeconv_now_mono_ns();
	for (int i = 0; i < DNS_ERR_MAX; i++)
		total += dc->parse_errors[i];
	if (!dc->table || (!force && (total == dc->last_logged_errors ||
				      now - dc->last_log_mono_ns < 10000000000ull)))
		return;
	dc->last_log_mono_ns = now;
	dc->last_logged_errors = total;
	struct dns_table_stats st;
	dns_table_get_stats(dc->table, &st);
	log_info("dns: queries=%" PRIu64 " matched=%" PRIu64 " unmatched=%" PRIu64
		 " duplicates=%" PRIu64 " timeouts=%" PRIu64 " evicted=%" PRIu64
		 " rejected: short_header=%" PRIu64 " truncated_question=%" PRIu64
		 " truncated_record=%" PRIu64 " bad_compression_pointer=%" PRIu64
		 " bad_label_type=%" PRIu64 " name_too_long=%" PRIu64 " bad_rdata=%" PRIu64
		 " (tcp segments among them=%" PRIu64 ")",
		 st.queries, st.matched, st.unmatched, st.duplicates, st.timeouts, st.evicted,
		 dc->parse_errors[DNS_ERR_SHORT_HEADER], dc->parse_errors[DNS_ERR_TRUNC_QUESTION],
		 dc->parse_errors[DNS_ERR_TRUNC_RR], dc->parse_errors[DNS_ERR_BAD_POINTER],
		 dc->parse_errors[DNS_ERR_BAD_LABEL], dc->parse_errors[DNS_ERR_NAME_TOO_LONG],
		 dc->parse_errors[DNS_ERR_BAD_RDATA], dc->not_dns);
}

static void dns_teardown(struct worker *w, void *ctx)
{
	struct dns_ctx *dc = ctx;
	log_counters(dc, true);
	bpf_cleanup(dc);
	if (dc->pkt_fd >= 0)
		close(dc->pkt_fd);
	if (dc->timer_fd >= 0)
		close(dc->timer_fd);
	dns_table_free(dc->table);
	cgroup_cache_free(dc->cgroups);
	free(dc->msg);
	free(dc->pkt_buf);
}

static void dns_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct dns_ctx *dc = ctx;
	uint64_t kernel_filtered = 0;
	uint64_t sums[TAPIO_CNT_MAX];
	if (dc->counters_fd >= 0 && kevent_counters_sum(dc->counters_fd, sums) == 0) {
		st->has_kernel_drops = 1;
		st->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP];
		kernel_filtered =
			sums[TAPIO_CNT_FILTERED] - worker_counters(w)->kernel_filtered_at_start;
	}
	worker_counters(w)->filtered = dc->user_filtered + kernel_filtered;
	struct dns_table_stats ts;
	dns_table_get_stats(dc->table, &ts);
	/* an evicted query never becomes dns.timeout: counted here instead */
	worker_set_counter(w, "dns_evicted", ts.evicted);
	worker_set_counter(w, "dns_timeouts", ts.timeouts);
	log_counters(dc, false);
}

/* ---- events ------------------------------------------------------------------------------ */

struct event_parts {
	struct kevent k; /* envelope, process and container context */
	Tapio__V1__DnsEvent dns;
	Tapio__V1__Endpoint client, server;
	char client_addr[INET6_ADDRSTRLEN], server_addr[INET6_ADDRSTRLEN];
	char qtype[16], qclass[16], rcode[16];
	Tapio__V1__DnsAnswer answers[DNS_MAX_RRS];
	Tapio__V1__DnsAnswer *answer_ptrs[DNS_MAX_RRS];
	char types[DNS_MAX_RRS][16], classes[DNS_MAX_RRS][16];
};

static void init_parts(struct dns_ctx *dc, struct event_parts *p, const char *type,
		       uint64_t boot_ns, const struct dns_flow *f, uint16_t id, const char *qname,
		       uint16_t qtype, uint16_t qclass)
{
	kevent_init(&p->k, worker_timeconv(dc->w), type, boot_ns, NULL);
	p->dns = (Tapio__V1__DnsEvent)TAPIO__V1__DNS_EVENT__INIT;
	p->client = (Tapio__V1__Endpoint)TAPIO__V1__ENDPOINT__INIT;
	p->server = (Tapio__V1__Endpoint)TAPIO__V1__ENDPOINT__INIT;
	p->k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_DNS;
	p->k.ev.dns = &p->dns;

	inet_ntop(f->family, f->client, p->client_addr, sizeof(p->client_addr));
	inet_ntop(f->family, f->server, p->server_addr, sizeof(p->server_addr));
	p->client.addr = p->client_addr;
	p->client.has_port = 1;
	p->client.port = f->client_port;
	p->server.addr = p->server_addr;
	p->server.has_port = 1;
	p->server.port = f->server_port;
	p->dns.client = &p->client;
	p->dns.server = &p->server;
	p->dns.transport = f->transport == DNS_TRANSPORT_TCP ? "tcp" : "udp";
	p->dns.has_id = 1;
	p->dns.id = id;
	p->dns.qname = (char *)qname;
	p->dns.qtype = (char *)dns_type_name(qtype, p->qtype);
	p->dns.qclass = (char *)dns_class_name(qclass, p->qclass);
}

/* Process and container of the querying client. false: filtered (containers_only). */
static bool attach_client(struct dns_ctx *dc, struct event_parts *p, const struct dns_client *c)
{
	struct kevent *k = &p->k;
	_Static_assert(DNS_COMM_LEN == TAPIO_COMM_LEN, "kevent.comm holds a DNS comm");
	if (c->pid) {
		k->proc.has_pid = k->proc.has_tid = 1;
		k->proc.pid = c->pid;
		k->proc.tid = c->tid;
		memcpy(k->comm, c->comm, DNS_COMM_LEN);
		k->comm[DNS_COMM_LEN] = '\0';
		k->proc.comm = k->comm; /* empty: the kernel refused bpf_get_current_comm */
	}
	if (c->cgroup_id) {
		k->proc.has_cgroup_id = 1;
		k->proc.cgroup_id = c->cgroup_id;
	}
	if (c->pid || c->cgroup_id)
		k->ev.process = &k->proc;
	/* no cgroup id (AF_PACKET fallback): no lookup, but containers_only still filters */
	if (kevent_attach_k8s(&k->ev, &k->k8s, c->cgroup_id ? dc->cgroups : NULL, c->cgroup_id,
			      (pid_t)c->pid, dc->cfg->containers_only, worker_counters(dc->w)))
		return true;
	dc->user_filtered++;
	return false;
}

static void fill_msg(struct event_parts *p, const struct dns_msg *m, bool incomplete, uint32_t size)
{
	static const char *const sections[] = {"", "answer", "authority", "additional"};
	Tapio__V1__DnsEvent *d = &p->dns;
	d->has_opcode = 1;
	d->opcode = m->opcode;
	d->has_truncated = d->has_authoritative = d->has_recursion_desired = 1;
	d->has_recursion_available = d->has_authenticated_data = d->has_checking_disabled = 1;
	d->truncated = m->tc;
	d->authoritative = m->aa;
	d->recursion_desired = m->rd;
	d->recursion_available = m->ra;
	d->authenticated_data = m->ad;
	d->checking_disabled = m->cd;
	d->has_answer_count = d->has_authority_count = d->has_additional_count = 1;
	d->answer_count = m->ancount;
	d->authority_count = m->nscount;
	d->additional_count = m->arcount;
	d->has_size = 1;
	d->size = size;
	if (m->has_edns) {
		d->has_edns_udp_size = d->has_edns_version = d->has_edns_dnssec_ok = 1;
		d->edns_udp_size = m->edns_udp_size;
		d->edns_version = m->edns_version;
		d->edns_dnssec_ok = m->edns_do;
	}
	d->has_answers_incomplete = 1;
	d->answers_incomplete = incomplete || m->rrs_dropped > 0;
	if (!m->qr)
		return;
	d->rcode = (char *)dns_rcode_name(m->rcode, p->rcode);
	for (size_t i = 0; i < m->n_rrs; i++) {
		const struct dns_rr *rr = &m->rrs[i];
		Tapio__V1__DnsAnswer *a = &p->answers[i];
		*a = (Tapio__V1__DnsAnswer)TAPIO__V1__DNS_ANSWER__INIT;
		a->name = (char *)rr->name;
		a->type = (char *)dns_type_name(rr->type, p->types[i]);
		a->rclass = (char *)dns_class_name(rr->rclass, p->classes[i]);
		a->has_ttl = 1;
		a->ttl = rr->ttl;
		a->data = (char *)rr->data;
		a->section = (char *)sections[rr->section & 3];
		a->has_data_truncated = 1;
		a->data_truncated = rr->data_truncated;
		p->answer_ptrs[i] = a;
	}
	d->n_answers = m->n_rrs;
	d->answers = p->answer_ptrs;
}

static void on_timeout(const struct dns_entry *e, void *arg)
{
	struct dns_ctx *dc = arg;
	struct event_parts p;
	uint64_t when = e->query_ns + (uint64_t)dc->cfg->timeout_ms * 1000000ull;
	init_parts(dc, &p, "dns.timeout", when, &e->flow, e->id, e->qname, e->qtype, e->qclass);
	p.dns.has_timeout_ms = 1;
	p.dns.timeout_ms = dc->cfg->timeout_ms;
	p.dns.has_matched = 1;
	p.dns.matched = false;
	if (!attach_client(dc, &p, &e->client))
		return;
	worker_emit(dc->w, &p.k.ev);
}

/* One captured DNS packet (eBPF record, or AF_PACKET frame). */
static int handle_pkt(struct dns_ctx *dc, const struct dns_packet *r)
{
	struct dns_msg *m = dc->msg;
	bool cut = r->flags & DNS_PKT_PAYLOAD_CUT;
	int err = dns_parse(r->payload, r->payload_len, m);
	if (err < 0 && !(cut && m->has_question)) {
		/* A TCP segment that continues a message has no length prefix of its own. */
		if (r->flags & DNS_PKT_TCP)
			dc->not_dns++;
		dc->parse_errors[-err < DNS_ERR_MAX ? -err : 0]++;
		log_debug("dns parse: %s (%u bytes)", dns_err_name(err), r->payload_len);
		return -EBADMSG;
	}
	struct dns_flow f;
	dns_packet_flow(r, m->qr, &f);
	if (!port_configured(dc->cfg, f.server_port)) {
		dc->user_filtered++;
		return 0;
	}
	const char *qname = m->has_question ? m->qname : "";
	struct dns_client cl = {0};
	if (dns_packet_at_client(r, m->qr)) {
		cl.cgroup_id = r->cgroup_id;
		if (r->flags & DNS_PKT_HAS_PID) {
			cl.pid = r->pid;
			cl.tid = r->tid;
			memcpy(cl.comm, r->comm, DNS_COMM_LEN);
		}
	}
	struct event_parts p;
	if (!m->qr) {
		struct dns_entry *e;
		int q = dns_table_query(dc->table, &f, m->id, qname, m->qtype, m->qclass,
					r->boot_ns, &cl, &e);
		if (q <= 0)
			return 0; /* duplicate copy (counted by the table) or no memory */
		init_parts(dc, &p, "dns.query", r->boot_ns, &f, m->id, qname, m->qtype, m->qclass);
		fill_msg(&p, m, err < 0, r->msg_len);
		if (!attach_client(dc, &p, &cl))
			return 0;
		return worker_emit(dc->w, &p.k.ev);
	}

	struct dns_entry *e = NULL;
	int q = dns_table_response(dc->table, &f, m->id, qname, &e);
	if (q == 0)
		return 0; /* the second copy of an answered response */
	init_parts(dc, &p, "dns.response", r->boot_ns, &f, m->id, qname, m->qtype, m->qclass);
	fill_msg(&p, m, err < 0, r->msg_len);
	p.dns.has_matched = 1;
	p.dns.matched = q == 1;
	if (q == 1) {
		if (!e->client.cgroup_id)
			e->client.cgroup_id = cl.cgroup_id;
		cl = e->client;
		if (r->boot_ns >= e->query_ns) {
			p.dns.has_latency_ns = 1;
			p.dns.latency_ns = r->boot_ns - e->query_ns;
		}
	}
	if (!attach_client(dc, &p, &cl))
		return 0;
	return worker_emit(dc->w, &p.k.ev);
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct dns_ctx *dc = ctx;
	struct worker_counters *cnt = worker_counters(dc->w);
	struct dns_packet pkt;
	cnt->records_read++;
	if (dns_packet_from_record(data, size, &pkt) < 0) {
		cnt->decode_errors++;
		return 0;
	}
	if (handle_pkt(dc, &pkt) == -EBADMSG)
		cnt->decode_errors++;
	return 0;
}

static int read_fallback(struct dns_ctx *dc)
{
	struct worker_counters *cnt = worker_counters(dc->w);
	for (int i = 0; i < FALLBACK_BUDGET; i++) {
		ssize_t n = read(dc->pkt_fd, dc->pkt_buf, 65536);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno; /* the worker logs it and exits */
		}
		cnt->records_read++;
		struct dns_packet pkt;
		int r = dns_packet_from_frame(dc->pkt_buf, (size_t)n, dc->cfg->payload_max_bytes,
					      &pkt);
		if (r < 0) {
			cnt->decode_errors++;
		} else if (r == 0) {
			/* Direction unknown (dir 0): neither side's socket is known, so no
			 * client attribution. */
			pkt.boot_ns = timeconv_now_boot_ns();
			if (handle_pkt(dc, &pkt) == -EBADMSG)
				cnt->decode_errors++;
		}
	}
	return 0;
}

static int dns_on_readable(struct worker *w, void *ctx, int fd)
{
	struct dns_ctx *dc = ctx;
	if (fd == dc->timer_fd) {
		uint64_t ticks;
		if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
			return -errno;
		dns_table_expire(dc->table, timeconv_now_boot_ns(), on_timeout, dc);
		return 0;
	}
	return fd == dc->pkt_fd ? read_fallback(dc) : 0;
}

static const struct worker_collector dns_collector = {
	.name = "dns",
	.setup = dns_setup,
	.on_readable = dns_on_readable,
	.fill_stats = dns_fill_stats,
	.teardown = dns_teardown,
};

int main(int argc, char **argv)
{
	static struct dns_ctx ctx;
	return worker_main(argc, argv, &dns_collector, &ctx);
}
