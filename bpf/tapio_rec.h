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

/* Indices of the per-CPU `counters` map. */
enum tapio_counter {
	TAPIO_CNT_RINGBUF_DROP = 0,   /* bpf_ringbuf_reserve/output failed: event lost */
	TAPIO_CNT_FILTERED = 1,       /* dropped by an in-kernel filter on purpose */
	TAPIO_CNT_READ_FAIL = 2,      /* a kernel read failed; record sent with fields missing */
	TAPIO_CNT_MAX = 4,
};
