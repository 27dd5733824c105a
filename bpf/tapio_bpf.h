/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Shared kernel-side pieces: the record header every collector's records start with, the
 * per-CPU counters map (ring-buffer reserve failures, in-kernel filter hits) and the task
 * fields every record carries. Include after vmlinux.h and the libbpf BPF headers. */
#pragma once

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

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

/* The record fields of `task` (for the current task's cgroup and time). CO-RE reads, so the
 * same code serves tp_btf, raw_tp and classic tracepoint programs. */
static __always_inline void tapio_fill_task(struct tapio_task *t, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);

	t->boot_ns = bpf_ktime_get_boot_ns();
	t->cgroup_id = bpf_get_current_cgroup_id();
	t->pid = BPF_CORE_READ(task, tgid);
	t->tid = BPF_CORE_READ(task, pid);
	t->ppid = BPF_CORE_READ(task, real_parent, tgid);
	t->uid = BPF_CORE_READ(cred, uid.val);
	t->gid = BPF_CORE_READ(cred, gid.val);
	t->euid = BPF_CORE_READ(cred, euid.val);
	t->egid = BPF_CORE_READ(cred, egid.val);
	t->loginuid = (__u32)-1;
	if (bpf_core_field_exists(task->loginuid))
		t->loginuid = BPF_CORE_READ(task, loginuid.val);
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
}
