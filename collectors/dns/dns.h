/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* dns collector: the kernel/user contract (the packet record, limits, knob names). */
#pragma once

#include "tapio_rec.h"

#define DNS_PAYLOAD_MAX 4096 /* power of two: hard cap of cfg_payload_max (config max) */
#define DNS_COMM_LEN	16
#define DNS_MAX_PORTS	64 /* = CONFIG_MAX_LIST */

enum dns_rec_type {
	DNS_REC_PKT = 1,
};
#define DNS_REC_VERSION 1

enum dns_pkt_dir {
	DNS_DIR_EGRESS = 1,
	DNS_DIR_INGRESS = 2,
};

enum dns_pkt_flags {
	DNS_PKT_TCP = 1 << 0,	      /* payload follows a TCP header (2-byte length prefix
				       * already skipped when DNS_PKT_TCP_PREFIX) */
	DNS_PKT_TCP_PREFIX = 1 << 1,  /* msg_len came from the TCP length prefix */
	DNS_PKT_PAYLOAD_CUT = 1 << 2, /* payload_len < msg_len: cut by cfg_payload_max or by the
				       * segment */
	DNS_PKT_HAS_PID = 1 << 3,     /* pid/tid/comm are the sending process's (egress in the
				       * socket owner's context) */
};

/* One DNS packet on a configured port. Followed by payload_len bytes of the DNS message
 * (after the UDP header, or after the TCP header and its 2-byte length prefix). */
struct dns_pkt_rec {
	struct tapio_rec_hdr hdr;
	__u64 boot_ns;	   /* bpf_ktime_get_boot_ns() when the hook ran */
	__u64 cgroup_id;   /* cgroup v2 id of the socket the packet belongs to */
	__u32 pid, tid;	   /* sender (egress, DNS_PKT_HAS_PID), else 0 */
	__u32 msg_len;	   /* DNS message length (UDP payload, or the TCP prefix value) */
	__u16 payload_len; /* bytes copied below */
	__u8 family;	   /* 2 (AF_INET) or 10 (AF_INET6) */
	__u8 dir;	   /* enum dns_pkt_dir */
	__u8 flags;	   /* enum dns_pkt_flags */
	__u8 pad[3];
	__u16 sport, dport;	   /* host order */
	__u8 saddr[16], daddr[16]; /* IPv4 in the first 4 bytes */
	char comm[DNS_COMM_LEN];
	__u8 data[DNS_PAYLOAD_MAX];
};
#define DNS_PKT_FIXED (sizeof(struct dns_pkt_rec) - DNS_PAYLOAD_MAX)
