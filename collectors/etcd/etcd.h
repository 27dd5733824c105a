/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* etcd collector: the kernel/user contract of the disk-sync tracer. The eBPF half times
 * fdatasync/fsync/sync_file_range of the etcd process (syscall tracepoints, enter → exit per
 * thread), keeps a log2 latency histogram and records each call over the threshold. */
#pragma once

#include "tapio_rec.h"

#define ETCD_REC_VERSION  1
#define ETCD_NAME_LEN	  48
#define ETCD_HIST_BUCKETS 24 /* bucket i: latency < 2^i µs (the last: everything above) */

enum etcd_rec_type {
	ETCD_REC_SLOW_SYNC = 1,
};

enum etcd_sync_call {
	ETCD_SYNC_FDATASYNC = 1,
	ETCD_SYNC_FSYNC = 2,
	ETCD_SYNC_FILE_RANGE = 3,
};

struct etcd_sync_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u64 latency_ns;
	__s64 ret;
	__u32 call; /* enum etcd_sync_call */
	__s32 fd;
	char name[ETCD_NAME_LEN];   /* the file's name (d_name), "" when unknown */
	char parent[ETCD_NAME_LEN]; /* its directory's name */
};
