/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* network collector: the kernel/user contract (records, limits, knob names). */
#pragma once

#include "tapio_rec.h"

#define NETWORK_COMM_LEN 16

/* Record types: one fixed-size layout (struct network_rec), the type says what happened. */
enum network_rec_type {
	NETWORK_REC_CONNECT = 1,    /* SYN_SENT → ESTABLISHED */
	NETWORK_REC_ACCEPT = 2,	    /* SYN_RECV → ESTABLISHED (child of a listener) */
	NETWORK_REC_CLOSE = 3,	    /* any → CLOSE (not listeners) */
	NETWORK_REC_RESET_SENT = 4, /* tcp/tcp_send_reset */
	NETWORK_REC_RESET_RECV = 5, /* tcp/tcp_receive_reset */
	NETWORK_REC_RETRANSMIT = 6, /* tcp/tcp_retransmit_skb, rate limited per flow */
	NETWORK_REC_STATE = 7,	    /* every transition, only with cfg_state_events */
	NETWORK_REC_TYPE_MAX = 7,
};
#define NETWORK_REC_VERSION 1

enum network_dir {
	NETWORK_DIR_UNKNOWN = 0,  /* the flow started before the collector attached */
	NETWORK_DIR_OUTBOUND = 1, /* this host connect()ed */
	NETWORK_DIR_INBOUND = 2,  /* accepted from a listener */
};

enum network_rec_flags {
	NETWORK_F_OWNER = 1 << 0,	/* owner is set */
	NETWORK_F_START = 1 << 1,	/* the flow's start was seen: duration/latency valid */
	NETWORK_F_BYTES = 1 << 2,	/* bytes_sent / bytes_received / retransmits valid */
	NETWORK_F_NO_SOCK = 1 << 3,	/* reset sent for no socket: tuple from the packet */
	NETWORK_F_SOCK_CGROUP = 1 << 4, /* sock_cgroup_id valid */
};

/* The process a socket is attributed to: the task that called connect() or listen(),
 * remembered when it did (later hooks fire in softirq or timer context). */
struct network_owner {
	__u64 cgroup_id;
	__u32 pid, tid, ppid, uid, gid;
	char comm[NETWORK_COMM_LEN];
	__u32 pad;
};

struct network_rec {
	struct tapio_rec_hdr hdr;
	__u64 boot_ns;	      /* bpf_ktime_get_boot_ns() at the event */
	__u64 latency_ns;     /* connect: SYN_SENT → ESTABLISHED */
	__u64 duration_ns;    /* close: first state seen → CLOSE */
	__u64 bytes_sent;     /* data bytes sent, retransmissions not counted */
	__u64 bytes_received; /* data bytes received (the FIN's sequence number not counted) */
	__u64 sock_cgroup_id; /* cgroup v2 id of the socket */
	__u32 netns;	      /* network namespace inode */
	__u32 retransmits;    /* tcp_sock.total_retrans */
	__u32 suppressed;     /* retransmit: not reported since the last event of this flow */
	__u32 flags;	      /* enum network_rec_flags */
	struct network_owner owner;
	__u8 saddr[16]; /* local address (v4: first 4 bytes), network order */
	__u8 daddr[16]; /* remote address */
	__u16 sport;	/* local port, host order */
	__u16 dport;	/* remote port, host order */
	__u16 family;	/* AF_INET / AF_INET6 */
	__u8 state;	/* new state (state events), state at the event otherwise */
	__u8 old_state;
	__u8 direction; /* enum network_dir */
	__u8 pad[7];
};
