/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* bench collector (bench/ only): the kernel/user contract. One small record per getppid()
 * of the configured pid; it measures the pipeline (ring → worker → tapiod → sink), not a hook. */
#pragma once

#include "tapio_rec.h"

enum bench_rec_type {
	BENCH_REC_CALL = 1,
};
#define BENCH_REC_VERSION 1

struct bench_call_rec {
	struct tapio_rec_hdr hdr;
	__u64 boot_ns; /* bpf_ktime_get_boot_ns() at the call */
	__u32 pid;     /* tgid of the caller (== cfg_pid) */
	__u32 tid;
};
