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
/* bpf_get_current_{pid_tgid,cgroup_id} in cgroup_skb programs (kernel 6.4+); user space
 * clears this when the load with them fails, and the branch is then dead code. */
const volatile bool cfg_with_pid = true;
/* bpf_get_current_comm in cgroup_skb: later than pid_tgid (Debian's 6.12 refuses it, 6.18 has
 * it); cleared like cfg_with_pid, the comm is then left empty. */
const volatile bool cfg_with_comm = true;
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

/* Configured ports (host order), one bit each: the check every packet of the node pays is two
 * loads, where a hash lookup per port cost more than the rest of the reject path. */
const volatile __u8 cfg_port_bits[65536 / 8] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_pkt_rec);
} pkt_scratch SEC(".maps");

static __always_inline bool port_on(__u16 port)
{
	/* clang drops the mask (port >> 3 < 8192 anyway), and verifiers before 6.13 do not
	 * bound the result of the byte swap that made port: without the mask in asm, Debian's
	 * 6.1 and 6.12 reject the program ("R1 unbounded memory access"). */
	__u32 idx = port >> 3;
	asm volatile("%[i] &= 8191" : [i] "+r"(idx));
	return cfg_port_bits[idx] & (1 << (port & 7));
}

static __always_inline int do_pkt(struct __sk_buff *skb, __u8 dir)
{
	if (dir == DNS_DIR_INGRESS && cfg_skip_lo_ingress && skb->ifindex == LOOPBACK_IFINDEX)
		return 1;

	/* Reject what is not DNS with as little work as possible: this runs for every packet of
	 * every socket on the node. The header copies stay on the stack until the ports match. */
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	} ip;
	if (bpf_skb_load_bytes(skb, 0, &ip.v4, sizeof(ip.v4)) < 0)
		return 1;
	__u32 l4;
	__u8 proto, family;
	if (ip.v4.version == 4) {
		if (bpf_ntohs(ip.v4.frag_off) & IP_MF_OFFSET)
			return 1; /* fragments: the DNS header is only in the first, without ports
				   */
		proto = ip.v4.protocol;
		l4 = (__u32)ip.v4.ihl * 4;
		family = 2;
	} else if (ip.v4.version == 6) {
		if (bpf_skb_load_bytes(skb, 0, &ip.v6, sizeof(ip.v6)) < 0)
			return 1;
		proto = ip.v6.nexthdr; /* extension headers are not followed */
		l4 = sizeof(ip.v6);
		family = 10;
	} else {
		return 1;
	}
	if (proto != IPPROTO_UDP_ && proto != IPPROTO_TCP_)
		return 1;
	__be16 pp[2]; /* source and destination port: the same place in UDP and TCP */
	if (bpf_skb_load_bytes(skb, l4, pp, sizeof(pp)) < 0)
		return 1;
	__u16 sport = bpf_ntohs(pp[0]), dport = bpf_ntohs(pp[1]);
	if (!port_on(sport) && !port_on(dport))
		return 1;

	__u32 zero = 0;
	struct dns_pkt_rec *r = bpf_map_lookup_elem(&pkt_scratch, &zero);
	if (!r)
		return 1;
	r->family = family;
	if (family == 2) {
		__builtin_memset(r->saddr, 0, sizeof(r->saddr));
		__builtin_memset(r->daddr, 0, sizeof(r->daddr));
		__builtin_memcpy(r->saddr, &ip.v4.saddr, 4);
		__builtin_memcpy(r->daddr, &ip.v4.daddr, 4);
	} else {
		__builtin_memcpy(r->saddr, &ip.v6.saddr, 16);
		__builtin_memcpy(r->daddr, &ip.v6.daddr, 16);
	}
	r->sport = sport;
	r->dport = dport;
	r->flags = 0;
	__u32 off;
	if (proto == IPPROTO_UDP_) {
		off = l4 + sizeof(struct udphdr);
	} else {
		__u8 doff; /* data offset: the high nibble of byte 12 of the TCP header */
		if (bpf_skb_load_bytes(skb, l4 + 12, &doff, 1) < 0)
			return 1;
		off = l4 + (__u32)(doff >> 4) * 4;
		r->flags |= DNS_PKT_TCP;
	}
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
			if (cfg_with_comm)
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
