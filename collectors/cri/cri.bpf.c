// SPDX-License-Identifier: GPL-2.0-only
// cri collector, kernel side: the OOM victim (oom/mark_victim; tp_btf gives the victim task and
// its cgroup, the classic tracepoint only its pid), exits of container init processes
// (sched_process_exit) and cgroup2 mkdir/rmdir, for immediacy; user space joins them with CRI.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "cri.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized from config before load */
} events SEC(".maps");

/* OOM victims (tgid) until their exit is seen. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} oom_victims SEC(".maps");

static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void emit_oom(__u32 pid, __u64 cgid, __u32 flags, __u64 anon)
{
	__u64 now = bpf_ktime_get_boot_ns();
	bpf_map_update_elem(&oom_victims, &pid, &now, BPF_ANY);
	struct cri_oom_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return;
	}
	r->hdr.type = CRI_REC_OOM;
	r->hdr.version = CRI_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->boot_ns = now;
	r->cgroup_id = cgid;
	r->anon_rss_pages = anon;
	r->victim_pid = pid;
	r->flags = flags;
	__builtin_memset(r->comm, 0, sizeof(r->comm));
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
}

/* Kernels whose mark_victim passes the task (6.8+): the victim's own cgroup. */
SEC("tp_btf/mark_victim")
int BPF_PROG(handle_oom_btf, struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, tgid);
	emit_oom(pid, task_cgroup_id(task), CRI_OOM_VICTIM_CGROUP, 0);
	return 0;
}

/* Every kernel: only the pid; the allocating task's cgroup (the memcg under OOM) as a hint. */
SEC("tp/oom/mark_victim")
int handle_oom_tp(struct trace_event_raw_mark_victim *ctx)
{
	__u64 anon = 0;
	if (bpf_core_field_exists(ctx->anon_rss))
		anon = BPF_CORE_READ(ctx, anon_rss);
	emit_oom((__u32)ctx->pid, bpf_get_current_cgroup_id(), 0, anon);
	return 0;
}

static __always_inline bool comm_is(const char *c, const char *want, int n)
{
	for (int i = 0; i < n; i++)
		if (c[i] != want[i])
			return false;
	return true;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if ((__u32)pid_tgid != tgid)
		return 0; /* threads: only the group leader's exit is the process exit */

	__u32 flags = 0;
	if (bpf_map_lookup_elem(&oom_victims, &tgid)) {
		flags |= CRI_EXIT_OOM_VICTIM;
		bpf_map_delete_elem(&oom_victims, &tgid);
	}
	unsigned int level = BPF_CORE_READ(t, thread_pid, level);
	if (level > 0 && level < 32) {
		struct upid up;
		struct pid *p = BPF_CORE_READ(t, thread_pid);
		if (bpf_core_read(&up, sizeof(up), &p->numbers[level]) == 0 && up.nr == 1)
			flags |= CRI_EXIT_NS_INIT;
	}
	char pcomm[16];
	BPF_CORE_READ_STR_INTO(&pcomm, t, real_parent, comm);
	if (comm_is(pcomm, "containerd-shim", 15) || comm_is(pcomm, "conmon", 6))
		flags |= CRI_EXIT_SHIM_CHILD;
	if (!flags) {
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}

	struct cri_exit_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	r->hdr.type = CRI_REC_EXIT;
	r->hdr.version = CRI_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->boot_ns = bpf_ktime_get_boot_ns();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->pid = tgid;
	r->exit_code = BPF_CORE_READ(t, exit_code);
	r->flags = flags;
	r->pad = 0;
	bpf_get_current_comm(&r->comm, sizeof(r->comm));
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

static __always_inline int emit_cgroup(struct trace_event_raw_cgroup *ctx, __u32 op)
{
	/* The cgroup2 hierarchy only (hierarchy id 0): v1 controllers repeat the same paths. */
	if (ctx->root != 0) {
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}
	struct cri_cgroup_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	r->hdr.type = CRI_REC_CGROUP;
	r->hdr.version = CRI_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->boot_ns = bpf_ktime_get_boot_ns();
	r->id = ctx->id;
	r->op = op;
	r->level = ctx->level;
	r->root = ctx->root;
	unsigned int off = ctx->__data_loc_path & 0xffff;
	long n = bpf_probe_read_kernel_str(r->path, sizeof(r->path), (void *)ctx + off);
	if (n < 1) {
		n = 1;
		r->path[0] = '\0';
		tapio_count(TAPIO_CNT_READ_FAIL);
	}
	r->path_len = (__u32)(n - 1);
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

SEC("tp/cgroup/cgroup_mkdir")
int handle_cg_mkdir(struct trace_event_raw_cgroup *ctx)
{
	return emit_cgroup(ctx, CRI_CGROUP_MKDIR);
}

SEC("tp/cgroup/cgroup_rmdir")
int handle_cg_rmdir(struct trace_event_raw_cgroup *ctx)
{
	return emit_cgroup(ctx, CRI_CGROUP_RMDIR);
}
