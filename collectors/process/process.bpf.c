// SPDX-License-Identifier: GPL-2.0-only
// process collector, kernel side: exec, exit and fork from the scheduler tracepoints.
// Two hook sets with the same logic: tp_btf (BTF-typed, preferred) and raw_tp (kernels or
// builds where tp_btf cannot attach). User space enables one set by probing.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "process.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 cfg_argv_max_bytes = 2048;
const volatile bool cfg_include_threads = false;
const volatile bool cfg_comm_allow = false; /* only comms with value 1 in comm_filter */
const volatile bool cfg_comm_deny = false;  /* never comms with value 2 in comm_filter */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized from config before load */
} events SEC(".maps");

struct comm_key {
	char comm[PROCESS_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct comm_key);
	__type(value, __u8);
} comm_filter SEC(".maps");

/* Scratch space for the variable-size exec record (too large for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct process_exec_rec);
} exec_scratch SEC(".maps");

#define S_ISUID_BIT 04000
#define S_ISGID_BIT 02000
#define S_IXGRP_BIT 00010

static __always_inline bool comm_filtered(const char comm[PROCESS_COMM_LEN])
{
	if (!cfg_comm_allow && !cfg_comm_deny)
		return false;
	/* Only up to the NUL: the bytes after it are whatever the (reused) record buffer held,
	 * and the hash key must not depend on them. */
	struct comm_key key = {};
	for (int i = 0; i < PROCESS_COMM_LEN; i++) {
		key.comm[i] = comm[i];
		if (!comm[i])
			break;
	}
	__u8 *v = bpf_map_lookup_elem(&comm_filter, &key);
	if (cfg_comm_deny && v && *v == 2)
		return true;
	if (cfg_comm_allow && (!v || *v != 1))
		return true;
	return false;
}

static __always_inline int do_exec(struct task_struct *task, __u32 old_pid,
				   struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct process_exec_rec *r = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!r)
		return 0;
	tapio_fill_task(&r->task, task);
	if (comm_filtered(r->task.comm)) {
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}
	r->hdr.type = PROCESS_REC_EXEC;
	r->hdr.version = PROCESS_REC_VERSION;
	r->old_pid = old_pid;
	r->flags = 0;
	/* The real argument count is the kernel's, in the bprm the exec tracepoint passes (the
	 * captured area is bounded: counting its strings would say 1019 for 10,002). */
	r->argc = BPF_CORE_READ(bprm, argc);

	/* Mode and link count of the executed file, from the new mm. */
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	umode_t mode = BPF_CORE_READ(exe, f_inode, i_mode);
	unsigned int nlink = BPF_CORE_READ(exe, f_inode, __i_nlink);
	if (mode & S_ISUID_BIT)
		r->flags |= PROCESS_EXEC_SETUID;
	if ((mode & S_ISGID_BIT) && (mode & S_IXGRP_BIT))
		r->flags |= PROCESS_EXEC_SETGID;
	if (exe && nlink == 0)
		r->flags |= PROCESS_EXEC_ANON_FILE;

	__u32 flen = tapio_read_kstr(r->data, PROCESS_FILENAME_MAX, BPF_CORE_READ(bprm, filename),
				     &r->flags, PROCESS_EXEC_FILENAME_TRUNCATED);
	r->filename_len = flen;

	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	__u64 alen = arg_end > arg_start ? arg_end - arg_start : 0;
	__u32 max = cfg_argv_max_bytes;
	if (max > PROCESS_ARGS_MAX)
		max = PROCESS_ARGS_MAX;
	if (alen > max) {
		alen = max;
		r->flags |= PROCESS_EXEC_ARGS_TRUNCATED;
	}
	alen = tapio_read_user(r->data + flen, PROCESS_ARGS_MAX, arg_start, alen);
	r->args_len = alen;

	__u64 size = PROCESS_EXEC_FIXED + flen + alen;
	if (size > sizeof(*r))
		size = sizeof(*r);
	r->hdr.size = size;
	if (bpf_ringbuf_output(&events, r, size, tapio_wakeup(&events)) < 0)
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
	return 0;
}

static __always_inline int do_exit(struct task_struct *task)
{
	/* Only the last thread of a group reports the process's exit. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	struct process_exit_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	tapio_fill_task(&r->task, task);
	if (comm_filtered(r->task.comm)) {
		bpf_ringbuf_discard(r, tapio_wakeup(&events));
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}
	r->hdr.type = PROCESS_REC_EXIT;
	r->hdr.version = PROCESS_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->exit_code = tapio_exit_code(task);
	r->nr_threads = BPF_CORE_READ(task, signal, nr_threads);
	r->start_boot_ns = 0;
	if (bpf_core_field_exists(task->start_boottime))
		r->start_boot_ns = BPF_CORE_READ(task, start_boottime);
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

static __always_inline int do_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 child_pid = BPF_CORE_READ(child, tgid);
	__u32 child_tid = BPF_CORE_READ(child, pid);
	if (child_pid != child_tid && !cfg_include_threads) {
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}
	struct process_fork_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	tapio_fill_task(&r->task, parent);
	if (comm_filtered(r->task.comm)) {
		bpf_ringbuf_discard(r, tapio_wakeup(&events));
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}
	r->hdr.type = PROCESS_REC_FORK;
	r->hdr.version = PROCESS_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->child_pid = child_pid;
	r->child_tid = child_tid;
	r->clone_flags = 0;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

/* ---- tp_btf: BTF-typed tracepoints (5.5+) -------------------------------------------- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return do_exec(p, old_pid, bprm);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit_btf, struct task_struct *p)
{
	return do_exit(p);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return do_fork(parent, child);
}

/* ---- raw_tp: raw tracepoints (4.17+), same arguments untyped --------------------------- */

SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return do_exec(p, old_pid, bprm);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(handle_exit_raw, struct task_struct *p)
{
	return do_exit(p);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return do_fork(parent, child);
}
