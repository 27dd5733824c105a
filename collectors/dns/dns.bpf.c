// SPDX-License-Identifier: GPL-2.0-only
// dns collector, kernel side: cgroup_skb programs on the cgroup2 root copy DNS messages (UDP,
// and TCP after the 2-byte length prefix) on the configured ports into the ring buffer, with
// the socket's cgroup id and, on egress in the sender's context, its pid.
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "dns.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 cfg_payload_max = 512;
/* bpf_get_current_{pid_tgid,cgroup_id,comm} in cgroup_skb programs (kernel 6.4+); user space
 * clears this when the load with them fails, and the branch is then dead code. */
const volatile bool cfg_with_pid = true;
/* A packet on loopback passes egress (sender's socket) and then ingress (receiver's socket):
 * keep only the egress copy. */
const volatile bool cfg_skip_lo_ingress = true;

#define LOOPBACK_IFINDEX 1
#define IPPROTO_TCP_	 6
#define IPPROTO_UDP_	 17
#define IP_MF_OFFSET	 0x3fff

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized from config before load */
} events SEC(".maps");

/* Configured ports (host order) → 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DNS_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_pkt_rec);
} pkt_scratch SEC(".maps");

static __always_inline bool port_on(__u16 port)
{
	return bpf_map_lookup_elem(&ports, &port) != NULL;
}

static __always_inline int do_pkt(struct __sk_buff *skb, __u8 dir)
{
	if (dir == DNS_DIR_INGRESS && cfg_skip_lo_ingress && skb->ifindex == LOOPBACK_IFINDEX)
		return 1;

	__u8 vb;
	if (bpf_skb_load_bytes(skb, 0, &vb, 1) < 0)
		return 1;
	__u32 zero = 0;
	struct dns_pkt_rec *r = bpf_map_lookup_elem(&pkt_scratch, &zero);
	if (!r)
		return 1;

	__u32 l4;
	__u8 proto;
	if ((vb >> 4) == 4) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
			return 1;
		if (bpf_ntohs(ip.frag_off) & IP_MF_OFFSET)
			return 1; /* fragments: the DNS header is only in the first, without ports
				   */
		proto = ip.protocol;
		l4 = (__u32)ip.ihl * 4;
		r->family = 2;
		__builtin_memset(r->saddr, 0, sizeof(r->saddr));
		__builtin_memset(r->daddr, 0, sizeof(r->daddr));
		__builtin_memcpy(r->saddr, &ip.saddr, 4);
		__builtin_memcpy(r->daddr, &ip.daddr, 4);
	} else if ((vb >> 4) == 6) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0)
			return 1;
		proto = ip6.nexthdr; /* extension headers are not followed */
		l4 = sizeof(ip6);
		r->family = 10;
		__builtin_memcpy(r->saddr, &ip6.saddr, 16);
		__builtin_memcpy(r->daddr, &ip6.daddr, 16);
	} else {
		return 1;
	}

	__u32 off;
	r->flags = 0;
	if (proto == IPPROTO_UDP_) {
		struct udphdr uh;
		if (bpf_skb_load_bytes(skb, l4, &uh, sizeof(uh)) < 0)
			return 1;
		r->sport = bpf_ntohs(uh.source);
		r->dport = bpf_ntohs(uh.dest);
		off = l4 + sizeof(uh);
	} else if (proto == IPPROTO_TCP_) {
		struct tcphdr th;
		if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)) < 0)
			return 1;
		r->sport = bpf_ntohs(th.source);
		r->dport = bpf_ntohs(th.dest);
		off = l4 + (__u32)th.doff * 4;
		r->flags |= DNS_PKT_TCP;
	} else {
		return 1;
	}
	if (!port_on(r->sport) && !port_on(r->dport))
		return 1;
	if (skb->len <= off)
		return 1; /* no payload: handshake, ACK, FIN */
	__u32 avail = skb->len - off;
	r->msg_len = avail;
	if (r->flags & DNS_PKT_TCP) {
		__u16 pfx;
		if (avail < 2 || bpf_skb_load_bytes(skb, off, &pfx, 2) < 0)
			return 1;
		r->msg_len = bpf_ntohs(pfx);
		r->flags |= DNS_PKT_TCP_PREFIX;
		off += 2;
		avail -= 2;
	}
	__u32 n = avail;
	if (n > r->msg_len)
		n = r->msg_len;
	if (n < r->msg_len)
		r->flags |= DNS_PKT_PAYLOAD_CUT;
	if (n > cfg_payload_max) {
		n = cfg_payload_max;
		r->flags |= DNS_PKT_PAYLOAD_CUT;
	}
	if (n > DNS_PAYLOAD_MAX)
		n = DNS_PAYLOAD_MAX;
	if (n == 0)
		return 1;
	/* n is in [1, DNS_PAYLOAD_MAX]; restate it in a form the verifier tracks (clang would
	 * otherwise hand it a signed copy without the bounds). */
	n -= 1;
	asm volatile("%[n] &= %[mask]" : [n] "+r"(n) : [mask] "i"(DNS_PAYLOAD_MAX - 1));
	n += 1;
	if (bpf_skb_load_bytes(skb, off, r->data, n) < 0) {
		tapio_count(TAPIO_CNT_READ_FAIL);
		return 1;
	}
	r->payload_len = n;

	r->hdr.type = DNS_REC_PKT;
	r->hdr.version = DNS_REC_VERSION;
	r->boot_ns = bpf_ktime_get_boot_ns();
	r->cgroup_id = bpf_skb_cgroup_id(skb);
	r->dir = dir;
	r->pid = r->tid = 0;
	__builtin_memset(r->comm, 0, sizeof(r->comm));
	if (cfg_with_pid && dir == DNS_DIR_EGRESS) {
		/* The current task is the sender only when it runs in the socket's cgroup (not a
		 * softirq transmit on behalf of another task). */
		__u64 pt = bpf_get_current_pid_tgid();
		if ((__u32)pt && bpf_get_current_cgroup_id() == r->cgroup_id) {
			r->pid = pt >> 32;
			r->tid = (__u32)pt;
			bpf_get_current_comm(r->comm, sizeof(r->comm));
			r->flags |= DNS_PKT_HAS_PID;
		}
	}
	__u32 size = DNS_PKT_FIXED + n;
	r->hdr.size = size;
	if (size > sizeof(*r))
		return 1;
	if (bpf_ringbuf_output(&events, r, size, tapio_wakeup(&events)) < 0)
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
	return 1;
}

SEC("cgroup_skb/egress")
int handle_egress(struct __sk_buff *skb)
{
	return do_pkt(skb, DNS_DIR_EGRESS);
}

SEC("cgroup_skb/ingress")
int handle_ingress(struct __sk_buff *skb)
{
	return do_pkt(skb, DNS_DIR_INGRESS);
}
