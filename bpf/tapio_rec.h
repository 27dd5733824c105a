/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* The kernel/user contract shared by all collectors: every ring-buffer record begins with
 * this header, and user space validates records by type and version, never by size alone. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct tapio_rec_hdr {
	__u16 type;     /* collector-specific record type, never 0 */
	__u16 version;  /* layout version of that type */
	__u32 size;     /* bytes of the whole record including this header */
};

#define TAPIO_COMM_LEN 16

/* The task an event is about, as every collector's records carry it (filled in the kernel by
 * tapio_fill_task, turned into the envelope's ProcessContext by kevent_init). */
struct tapio_task {
	__u64 boot_ns;        /* bpf_ktime_get_boot_ns() at the event */
	__u64 cgroup_id;      /* cgroup v2 id of the current task */
	__u32 pid;            /* tgid */
	__u32 tid;
	__u32 ppid;           /* real_parent's tgid */
	__u32 uid, gid, euid, egid;
	__u32 loginuid;       /* (u32)-1 when unset or not compiled in */
	char comm[TAPIO_COMM_LEN];
};

/* Indices of the per-CPU `counters` map. */
enum tapio_counter {
	TAPIO_CNT_RINGBUF_DROP = 0,   /* bpf_ringbuf_reserve/output failed: event lost */
	TAPIO_CNT_FILTERED = 1,       /* dropped by an in-kernel filter on purpose */
	TAPIO_CNT_READ_FAIL = 2,      /* a kernel read failed; record sent with fields missing */
	TAPIO_CNT_MAX = 4,
};
