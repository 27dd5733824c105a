/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Shared kernel-side pieces: the record header every collector's records start with, and the
 * per-CPU counters map (ring-buffer reserve failures, in-kernel filter hits). */
#pragma once

#include "tapio_rec.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAPIO_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void tapio_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}
