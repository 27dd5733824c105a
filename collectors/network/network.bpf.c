// SPDX-License-Identifier: GPL-2.0-only
// network collector, kernel side: TCP connect, accept, close, reset, retransmit and (optional)
// state transitions from the sock/tcp tracepoints. Two hook sets with the same logic: tp_btf
// (preferred) and raw_tp (fallback); user space enables one set by probing.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "network.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET	      2
#define AF_INET6      10
#define IPPROTO_TCP_  6
#define SOCK_DONE_BIT 1 /* enum sock_flags: set by tcp_fin() when the peer's FIN arrives */

const volatile bool cfg_port_filter = false; /* only flows with a port in port_filter */
const volatile __u8 cfg_direction = 0;	     /* 0 both, 1 outbound, 2 inbound */
const volatile bool cfg_state_events = false;
const volatile __u64 cfg_retrans_interval_ns = 1000000000ull;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized from config before load */
} events SEC(".maps");

/* What we remember about a socket between its hooks; keyed by the sock pointer. */
struct flow {
	__u64 start_ns;	       /* SYN_SENT / SYN_RECV; 0 when the start was not seen */
	__u64 last_retrans_ns; /* last reported retransmit */
	__u32 suppressed;      /* retransmits not reported since */
	__u8 direction;	       /* enum network_dir */
	__u8 has_owner;
	__u16 pad;
	struct network_owner owner;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct flow);
} flows SEC(".maps");

/* Who listens on (netns, port): the owner an accepted connection is attributed to. */
struct listen_key {
	__u32 netns;
	__u16 port;
	__u16 family;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct listen_key);
	__type(value, struct network_owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u8);
} port_filter SEC(".maps");

static __always_inline void owner_current(struct network_owner *o)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 pt = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();

	o->pid = pt >> 32;
	o->tid = (__u32)pt;
	o->uid = (__u32)ug;
	o->gid = ug >> 32;
	o->ppid = BPF_CORE_READ(t, real_parent, tgid);
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* Tuple, netns and socket cgroup from the sock_common part (valid for every sock kind). */
static __always_inline void read_tuple(struct network_rec *r, const struct sock *sk)
{
	r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (r->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)r->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)r->daddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&r->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&r->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	r->netns = sk_netns(sk);
}

/* At → CLOSE the port is already released (inet_num = 0); inet_sport survives. Full sockets
 * only (timewait and request socks have no inet_sock). */
static __always_inline void fix_sport(struct network_rec *r, const struct sock *sk)
{
	if (!r->sport)
		r->sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

/* The socket's cgroup (5.15+: sk_cgrp_data.cgroup); full sockets only. */
static __always_inline void read_sock_cgroup(struct network_rec *r, const struct sock *sk)
{
	if (!bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return;
	struct cgroup *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	if (!cg)
		return;
	r->sock_cgroup_id = BPF_CORE_READ(cg, kn, id);
	if (r->sock_cgroup_id)
		r->flags |= NETWORK_F_SOCK_CGROUP;
}

/* Counters of a full TCP socket: data bytes each way and retransmitted segments. */
static __always_inline void read_counters(struct network_rec *r, const struct sock *sk)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 sent, retr = 0;

	if (bpf_core_field_exists(tp->bytes_sent)) {
		/* 4.19+: data bytes put on the wire, minus those sent again. */
		sent = BPF_CORE_READ(tp, bytes_sent);
		if (bpf_core_field_exists(tp->bytes_retrans))
			retr = BPF_CORE_READ(tp, bytes_retrans);
		sent = sent > retr ? sent - retr : 0;
	} else {
		sent = BPF_CORE_READ(tp, bytes_acked);
	}
	/* bytes_received advances with rcv_nxt, which counts the peer's FIN as one byte;
	 * SOCK_DONE says the FIN arrived. */
	__u64 recv = BPF_CORE_READ(tp, bytes_received);
	unsigned long skflags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	if ((skflags & (1ul << SOCK_DONE_BIT)) && recv > 0)
		recv--;
	r->bytes_sent = sent;
	r->bytes_received = recv;
	r->retransmits = BPF_CORE_READ(tp, total_retrans);
	r->flags |= NETWORK_F_BYTES;
}

static __always_inline bool port_ok(__u16 p)
{
	return p && bpf_map_lookup_elem(&port_filter, &p) != NULL;
}

/* The configured filters; counts what they drop. */
static __always_inline bool wanted(const struct network_rec *r)
{
	if (cfg_direction && r->direction != cfg_direction)
		goto drop;
	if (cfg_port_filter && !port_ok(r->sport) && !port_ok(r->dport))
		goto drop;
	return true;
drop:
	tapio_count(TAPIO_CNT_FILTERED);
	return false;
}

static __always_inline struct network_rec *rec_new(__u16 type)
{
	struct network_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->hdr.type = type;
	r->hdr.version = NETWORK_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->boot_ns = bpf_ktime_get_boot_ns();
	return r;
}

static __always_inline void rec_flow(struct network_rec *r, const struct flow *f)
{
	if (!f)
		return;
	r->direction = f->direction;
	if (f->has_owner) {
		r->owner = f->owner;
		r->flags |= NETWORK_F_OWNER;
	}
	if (f->start_ns) {
		r->flags |= NETWORK_F_START;
		if (r->boot_ns > f->start_ns)
			r->duration_ns = r->boot_ns - f->start_ns;
	}
}

static __always_inline void rec_send(struct network_rec *r)
{
	if (wanted(r))
		bpf_ringbuf_submit(r, tapio_wakeup(&events));
	else
		bpf_ringbuf_discard(r, tapio_wakeup(&events));
}

static __always_inline int do_state(const struct sock *sk, int old, int new)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP_)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_boot_ns();

	if (new == TCP_LISTEN) {
		/* listen(): process context, the caller owns what the socket will accept. */
		struct listen_key lk = {sk_netns(sk), BPF_CORE_READ(sk, __sk_common.skc_num),
					family};
		struct network_owner o = {};
		owner_current(&o);
		bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY);
	} else if (old == TCP_LISTEN && new == TCP_CLOSE) {
		struct listen_key lk = {sk_netns(sk), BPF_CORE_READ(sk, __sk_common.skc_num),
					family};
		bpf_map_delete_elem(&listeners, &lk);
	} else if (new == TCP_SYN_SENT) {
		/* connect(): process context of the caller. */
		struct flow nf = {};
		nf.start_ns = now;
		nf.direction = NETWORK_DIR_OUTBOUND;
		nf.has_owner = 1;
		owner_current(&nf.owner);
		bpf_map_update_elem(&flows, &key, &nf, BPF_ANY);
	} else if (new == TCP_SYN_RECV && old == TCP_LISTEN) {
		/* A child socket cloned from its listener, in softirq: current is whoever sent
		 * the final ACK (on loopback, the client). Attribute to the listener's owner. */
		struct flow nf = {};
		nf.start_ns = now;
		nf.direction = NETWORK_DIR_INBOUND;
		struct listen_key lk = {sk_netns(sk), BPF_CORE_READ(sk, __sk_common.skc_num),
					family};
		struct network_owner *lo = bpf_map_lookup_elem(&listeners, &lk);
		if (lo) {
			nf.owner = *lo;
			nf.has_owner = 1;
		}
		bpf_map_update_elem(&flows, &key, &nf, BPF_ANY);
	}

	struct flow *f = bpf_map_lookup_elem(&flows, &key);
	bool listener = new == TCP_LISTEN || (old == TCP_LISTEN && new == TCP_CLOSE);

	if (cfg_state_events) {
		struct network_rec *r = rec_new(NETWORK_REC_STATE);
		if (r) {
			read_tuple(r, sk);
			fix_sport(r, sk);
			read_sock_cgroup(r, sk);
			rec_flow(r, f);
			r->duration_ns = 0;
			r->state = new;
			r->old_state = old;
			rec_send(r);
		}
	}

	if (new == TCP_ESTABLISHED && f && f->start_ns &&
	    (old == TCP_SYN_SENT || old == TCP_SYN_RECV)) {
		struct network_rec *r =
			rec_new(old == TCP_SYN_SENT ? NETWORK_REC_CONNECT : NETWORK_REC_ACCEPT);
		if (r) {
			read_tuple(r, sk);
			fix_sport(r, sk);
			read_sock_cgroup(r, sk);
			rec_flow(r, f);
			if (old == TCP_SYN_SENT)
				r->latency_ns = r->duration_ns;
			r->duration_ns = 0;
			r->flags &= ~NETWORK_F_START;
			r->state = new;
			r->old_state = old;
			rec_send(r);
		}
	} else if (new == TCP_CLOSE && !listener) {
		struct network_rec *r = rec_new(NETWORK_REC_CLOSE);
		if (r) {
			read_tuple(r, sk);
			fix_sport(r, sk);
			read_sock_cgroup(r, sk);
			read_counters(r, sk);
			rec_flow(r, f);
			r->state = old; /* the state the connection closed from */
			r->old_state = old;
			rec_send(r);
		}
		if (f)
			bpf_map_delete_elem(&flows, &key);
	}
	return 0;
}

/* The flow of sk, created (without owner or start) if the collector missed its start. */
static __always_inline struct flow *flow_get(__u64 key)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &key);
	if (f)
		return f;
	struct flow nf = {};
	bpf_map_update_elem(&flows, &key, &nf, BPF_NOEXIST);
	return bpf_map_lookup_elem(&flows, &key);
}

static __always_inline int do_retransmit(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_boot_ns();
	struct flow *f = flow_get(key);
	__u32 suppressed = 0;
	if (f) {
		if (cfg_retrans_interval_ns && f->last_retrans_ns &&
		    now - f->last_retrans_ns < cfg_retrans_interval_ns) {
			__sync_fetch_and_add(&f->suppressed, 1);
			tapio_count(TAPIO_CNT_FILTERED);
			return 0;
		}
		f->last_retrans_ns = now;
		suppressed = f->suppressed;
		f->suppressed = 0;
	}
	struct network_rec *r = rec_new(NETWORK_REC_RETRANSMIT);
	if (!r)
		return 0;
	read_tuple(r, sk);
	fix_sport(r, sk);
	read_sock_cgroup(r, sk);
	read_counters(r, sk);
	rec_flow(r, f);
	r->duration_ns = 0;
	r->flags &= ~NETWORK_F_START;
	r->suppressed = suppressed;
	r->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	rec_send(r);
	return 0;
}

/* TCPF_TIME_WAIT | TCPF_NEW_SYN_RECV: socks that are not full sockets. */
#define NOT_FULL_SOCK ((1 << TCP_TIME_WAIT) | (1 << TCP_NEW_SYN_RECV))

static __always_inline int do_send_reset(const struct sock *sk, const struct sk_buff *skb)
{
	struct network_rec *r;
	if (sk) {
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
		if (family != AF_INET && family != AF_INET6)
			return 0;
		r = rec_new(NETWORK_REC_RESET_SENT);
		if (!r)
			return 0;
		read_tuple(r, sk);
		r->state = BPF_CORE_READ(sk, __sk_common.skc_state);
		if (!((1 << r->state) & NOT_FULL_SOCK)) {
			fix_sport(r, sk);
			read_sock_cgroup(r, sk);
			__u64 key = (__u64)sk;
			struct flow *f = bpf_map_lookup_elem(&flows, &key);
			rec_flow(r, f);
			r->duration_ns = 0;
			r->flags &= ~NETWORK_F_START;
		}
		rec_send(r);
		return 0;
	}
	if (!skb)
		return 0;
	/* No socket (e.g. a SYN to a closed port; 6.10+ report these): the tuple comes from the
	 * packet being answered, whose data points at its TCP header. Local = its destination. */
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u8 vbyte = 0;
	if (bpf_probe_read_kernel(&vbyte, 1, head + nh) < 0)
		return 0;
	struct tcphdr th;
	if (bpf_probe_read_kernel(&th, sizeof(th), data) < 0)
		return 0;
	r = rec_new(NETWORK_REC_RESET_SENT);
	if (!r)
		return 0;
	if ((vbyte >> 4) == 4) {
		struct iphdr ip;
		bpf_probe_read_kernel(&ip, sizeof(ip), head + nh);
		r->family = AF_INET;
		__builtin_memcpy(r->saddr, &ip.daddr, 4);
		__builtin_memcpy(r->daddr, &ip.saddr, 4);
	} else if ((vbyte >> 4) == 6) {
		struct ipv6hdr ip6;
		bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh);
		r->family = AF_INET6;
		__builtin_memcpy(r->saddr, &ip6.daddr, 16);
		__builtin_memcpy(r->daddr, &ip6.saddr, 16);
	} else {
		bpf_ringbuf_discard(r, tapio_wakeup(&events));
		tapio_count(TAPIO_CNT_READ_FAIL);
		return 0;
	}
	r->sport = bpf_ntohs(th.dest);
	r->dport = bpf_ntohs(th.source);
	r->direction = NETWORK_DIR_INBOUND;
	r->flags |= NETWORK_F_NO_SOCK;
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (dev)
		r->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	rec_send(r);
	return 0;
}

static __always_inline int do_receive_reset(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct network_rec *r = rec_new(NETWORK_REC_RESET_RECV);
	if (!r)
		return 0;
	__u64 key = (__u64)sk;
	struct flow *f = bpf_map_lookup_elem(&flows, &key);
	read_tuple(r, sk);
	fix_sport(r, sk);
	read_sock_cgroup(r, sk);
	rec_flow(r, f);
	r->duration_ns = 0;
	r->flags &= ~NETWORK_F_START;
	r->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	rec_send(r);
	return 0;
}

/* ---- tp_btf: BTF-typed tracepoints (5.5+) -------------------------------------------- */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_state_btf, const struct sock *sk, int oldstate, int newstate)
{
	return do_state(sk, oldstate, newstate);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_retr_btf, const struct sock *sk, const struct sk_buff *skb)
{
	return do_retransmit(sk);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(handle_rst_tx_btf, const struct sock *sk, const struct sk_buff *skb)
{
	return do_send_reset(sk, skb);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(handle_rst_rx_btf, struct sock *sk)
{
	return do_receive_reset(sk);
}

/* ---- raw_tp: raw tracepoints (4.17+), same arguments untyped --------------------------- */

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(handle_state_raw, const struct sock *sk, int oldstate, int newstate)
{
	return do_state(sk, oldstate, newstate);
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(handle_retr_raw, const struct sock *sk, const struct sk_buff *skb)
{
	return do_retransmit(sk);
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(handle_rst_tx_raw, const struct sock *sk, const struct sk_buff *skb)
{
	return do_send_reset(sk, skb);
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(handle_rst_rx_raw, struct sock *sk)
{
	return do_receive_reset(sk);
}
