/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Shared kernel-side pieces: the record header every collector's records start with, the
 * per-CPU counters map (ring-buffer reserve failures, in-kernel filter hits), the ring
 * consumer's wakeup state and the task fields every record carries. Include after vmlinux.h
 * and the libbpf BPF headers. */
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

/* Adaptive ring-buffer wakeups (user space: worker_watch_ring). While `polling` is set, the
 * worker drains the ring every flush_ms on its own and a record wakes it only when the ring is
 * over a quarter full (a burst must not fill it unseen); otherwise (the worker sleeps, or never
 * set the flag) a record wakes a consumer that has caught up, as by default. Waking the worker
 * for every record cost the exec storm a fifth of its rate on a 2-vCPU VM (IPIs trap). */
struct tapio_ring_consumer {
	__u32 polling;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tapio_ring_consumer);
} ring_consumer SEC(".maps");

/* The flags for bpf_ringbuf_submit/output/discard of a record in `ring`. */
static __always_inline __u64 tapio_wakeup(void *ring)
{
	__u32 zero = 0;
	struct tapio_ring_consumer *c = bpf_map_lookup_elem(&ring_consumer, &zero);
	if (!c || !c->polling)
		return 0;
	__u64 size = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE);
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > size / 4)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void tapio_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

/* Copy the kernel string src into buf of cap bytes (a power of two) and return its length
 * without the NUL, masked below cap for the verifier. Sets trunc in *flags when the string filled
 * buf; a failed read is counted (TAPIO_CNT_READ_FAIL) and gives 0. */
static __always_inline __u32 tapio_read_kstr(char *buf, __u32 cap, const char *src, __u32 *flags,
					     __u32 trunc)
{
	long n = bpf_probe_read_kernel_str(buf, cap, src);
	if (n < 0) {
		tapio_count(TAPIO_CNT_READ_FAIL);
		n = 0;
	} else if (n > 0) {
		n--; /* drop the NUL */
		if (n == cap - 1)
			*flags |= trunc;
	}
	return n & (cap - 1);
}

/* Copy len bytes of user memory at src into buf, never more than cap (a constant: the bound the
 * verifier checks buf against). Returns the bytes copied; a failed read is counted
 * (TAPIO_CNT_READ_FAIL) and gives 0. */
static __always_inline __u32 tapio_read_user(void *buf, __u32 cap, unsigned long src, __u64 len)
{
	__u32 len32 = len;
	if (len32 > cap)
		len32 = cap;
	if (len32 > 0 && bpf_probe_read_user(buf, len32, (void *)src) < 0) {
		tapio_count(TAPIO_CNT_READ_FAIL);
		len32 = 0;
	}
	return len32;
}

/* The exit code of the exiting task: the group's when a thread ended the group (exit_group, a
 * fatal signal), the task's own otherwise. */
static __always_inline __u32 tapio_exit_code(struct task_struct *task)
{
	__u32 code = BPF_CORE_READ(task, exit_code);
	if (BPF_CORE_READ(task, signal, flags) & 0x00000004 /* SIGNAL_GROUP_EXIT */)
		code = BPF_CORE_READ(task, signal, group_exit_code);
	return code;
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
