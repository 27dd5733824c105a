// SPDX-License-Identifier: GPL-2.0-only
// cni collector, kernel side: exec of CNI plugin binaries (filtered here by the directory of
// the executed file), their environment, their writes to stdout/stderr and their exit; and
// network-namespace creation and entry (unshare, clone, setns).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "cni.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 cfg_env_max_bytes = 4096;
const volatile __u32 cfg_capture_max = 65536; /* per plugin process, fd 1 and 2 together */

#define CLONE_NEWNET_FLAG 0x40000000

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized from config before load */
} events SEC(".maps");

/* The plugin directories, filled by user space at setup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CNI_PLUGIN_DIRS_MAX);
	__type(key, struct cni_dir_key);
	__type(value, __u8);
} plugin_dirs SEC(".maps");

/* Plugin processes being followed, by tgid (LRU: an exit never seen cannot fill it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CNI_TRACKED_MAX);
	__type(key, __u32);
	__type(value, struct cni_plugin_state);
} plugins SEC(".maps");

/* unshare/setns in flight: the netns inode before the call, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} ns_calls SEC(".maps");

struct scratch {
	union {
		struct cni_exec_rec exec;
		struct cni_output_rec out;
	};
};

/* The variable-size records are built here (too large for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline __u64 task_netns(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
}

/* The filter: the directory holding the executed file, by device and inode (key, computed by
 * the caller: direct BTF reads under tp_btf, probe reads under raw_tp). One hash lookup for
 * every exec on the node; nothing else happens for a non-plugin. */
static __always_inline int do_exec(struct task_struct *task, struct linux_binprm *bprm,
				   const struct cni_dir_key *key, __u32 tgid)
{
	if (!bpf_map_lookup_elem(&plugin_dirs, key)) {
		/* A tracked plugin that execs something else is no longer a plugin. (Look
		 * first: a delete takes the map's bucket lock, a lookup does not.) */
		if (bpf_map_lookup_elem(&plugins, &tgid))
			bpf_map_delete_elem(&plugins, &tgid);
		return 0;
	}

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct cni_exec_rec *r = &s->exec;
	tapio_fill_task(&r->task, task);
	r->hdr.type = CNI_REC_EXEC;
	r->hdr.version = CNI_REC_VERSION;
	r->flags = 0;
	r->pad = 0;

	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	struct cni_plugin_state st = {.start_boot_ns = r->task.boot_ns};
	if (bpf_map_lookup_elem(&plugins, &ppid))
		st.parent_plugin = ppid;
	r->parent_plugin = st.parent_plugin;
	bpf_map_update_elem(&plugins, &tgid, &st, BPF_ANY);

	__u32 flen = tapio_read_kstr(r->data, CNI_FILENAME_MAX, BPF_CORE_READ(bprm, filename),
				     &r->flags, CNI_EXEC_FILENAME_TRUNCATED);
	r->filename_len = flen;

	unsigned long env_start = BPF_CORE_READ(task, mm, env_start);
	unsigned long env_end = BPF_CORE_READ(task, mm, env_end);
	__u64 elen = env_end > env_start ? env_end - env_start : 0;
	__u32 max = cfg_env_max_bytes;
	if (max > CNI_ENV_MAX)
		max = CNI_ENV_MAX;
	if (elen > max) {
		/* Keep the tail: runtimes (libcni) append the CNI_* variables last. */
		env_start = env_end - max;
		elen = max;
		r->flags |= CNI_EXEC_ENV_TRUNCATED;
	}
	__u32 len32 = tapio_read_user(r->data + flen, CNI_ENV_MAX, env_start, elen);
	r->env_len = len32;

	__u64 size = CNI_EXEC_FIXED + flen + len32;
	if (size > sizeof(*r))
		size = sizeof(*r);
	r->hdr.size = size;
	if (bpf_ringbuf_output(&events, r, size, tapio_wakeup(&events)) < 0)
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
	return 0;
}

static __always_inline int do_exit(struct task_struct *task, __u32 tgid)
{
	struct cni_plugin_state *st = bpf_map_lookup_elem(&plugins, &tgid);
	if (!st)
		return 0;
	/* Only the last thread of the group (plugins written in Go have several). */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	struct cni_exit_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		bpf_map_delete_elem(&plugins, &tgid);
		return 0;
	}
	tapio_fill_task(&r->task, task);
	r->hdr.type = CNI_REC_EXIT;
	r->hdr.version = CNI_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->exit_code = tapio_exit_code(task);
	r->start_boot_ns = st->start_boot_ns;
	r->parent_plugin = st->parent_plugin;
	r->output_bytes = st->output_bytes;
	r->output_dropped = st->output_dropped;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	bpf_map_delete_elem(&plugins, &tgid);
	return 0;
}

static __always_inline int do_fork(struct task_struct *parent, struct task_struct *child)
{
	/* Threads share the nsproxy: two pointer reads and a compare for every fork. */
	struct nsproxy *pns = BPF_CORE_READ(parent, nsproxy);
	struct nsproxy *cns = BPF_CORE_READ(child, nsproxy);
	if (pns == cns)
		return 0;
	__u64 old_inum = BPF_CORE_READ(pns, net_ns, ns.inum);
	__u64 inum = BPF_CORE_READ(cns, net_ns, ns.inum);
	if (old_inum == inum)
		return 0;
	struct cni_netns_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	tapio_fill_task(&r->task, parent);
	r->hdr.type = CNI_REC_NETNS;
	r->hdr.version = CNI_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->op = CNI_NETNS_CLONE;
	r->child_pid = BPF_CORE_READ(child, tgid);
	r->inum = inum;
	r->old_inum = old_inum;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

/* ---- tp_btf: BTF-typed tracepoints (5.5+) -------------------------------------------- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	/* Typed pointers: plain loads, no probe-read helper calls (the exec-storm cost). */
	struct dentry *dir = bprm->file->f_path.dentry->d_parent;
	struct cni_dir_key key = {.dev = dir->d_sb->s_dev, .ino = dir->d_inode->i_ino};
	return do_exec(p, bprm, &key, p->tgid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit_btf, struct task_struct *p)
{
	return do_exit(p, p->tgid);
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
	struct dentry *dir = BPF_CORE_READ(bprm, file, f_path.dentry, d_parent);
	struct cni_dir_key key = {
		.dev = BPF_CORE_READ(dir, d_sb, s_dev),
		.ino = BPF_CORE_READ(dir, d_inode, i_ino),
	};
	return do_exec(p, bprm, &key, BPF_CORE_READ(p, tgid));
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(handle_exit_raw, struct task_struct *p)
{
	return do_exit(p, BPF_CORE_READ(p, tgid));
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return do_fork(parent, child);
}

/* ---- syscall tracepoints (both sets) -------------------------------------------------- */

/* Every write() on the node: one hash lookup by tgid; only tracked plugins go further. */
SEC("tracepoint/syscalls/sys_enter_write")
int handle_write(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct cni_plugin_state *st = bpf_map_lookup_elem(&plugins, &tgid);
	if (!st)
		return 0;
	__u32 fd = ctx->args[0];
	if (fd != 1 && fd != 2)
		return 0;
	__u64 count = ctx->args[2];
	__sync_fetch_and_add(&st->output_bytes, count);
	__u32 cap = cfg_capture_max;
	__u32 room = st->captured < cap ? cap - st->captured : 0;
	__u64 n = count;
	if (n > room)
		n = room;
	if (n > CNI_CHUNK_MAX)
		n = CNI_CHUNK_MAX;
	if (n < count)
		__sync_fetch_and_add(&st->output_dropped, count - n);
	if (n == 0)
		return 0;

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct cni_output_rec *r = &s->out;
	__u32 len = n;
	if (len > CNI_CHUNK_MAX)
		len = CNI_CHUNK_MAX;
	if (bpf_probe_read_user(r->data, len, (void *)ctx->args[1]) < 0) {
		tapio_count(TAPIO_CNT_READ_FAIL);
		__sync_fetch_and_add(&st->output_dropped, len);
		return 0;
	}
	st->captured += len;
	r->hdr.type = CNI_REC_OUTPUT;
	r->hdr.version = CNI_REC_VERSION;
	r->hdr.size = CNI_OUTPUT_FIXED + len;
	r->pid = tgid;
	r->fd = fd;
	r->len = len;
	r->pad = 0;
	__u64 size = CNI_OUTPUT_FIXED + len;
	if (size > sizeof(*r))
		size = sizeof(*r);
	if (bpf_ringbuf_output(&events, r, size, tapio_wakeup(&events)) < 0)
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
	return 0;
}

static __always_inline void ns_enter(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 inum = task_netns((struct task_struct *)bpf_get_current_task());
	bpf_map_update_elem(&ns_calls, &tid, &inum, BPF_ANY);
}

static __always_inline void ns_exit(long ret, __u32 op)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *old = bpf_map_lookup_elem(&ns_calls, &tid);
	if (!old)
		return;
	__u64 old_inum = *old;
	bpf_map_delete_elem(&ns_calls, &tid);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 inum = task_netns(task);
	if (ret != 0 || inum == old_inum)
		return;
	struct cni_netns_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return;
	}
	tapio_fill_task(&r->task, task);
	r->hdr.type = CNI_REC_NETNS;
	r->hdr.version = CNI_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->op = op;
	r->child_pid = 0;
	r->inum = inum;
	r->old_inum = old_inum;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int handle_unshare(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[0] & CLONE_NEWNET_FLAG)
		ns_enter();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int handle_unshare_x(struct trace_event_raw_sys_exit *ctx)
{
	ns_exit(ctx->ret, CNI_NETNS_UNSHARE);
	return 0;
}

/* setns with nstype 0 may enter any kind: the inode comparison at exit decides. */
SEC("tracepoint/syscalls/sys_enter_setns")
int handle_setns(struct trace_event_raw_sys_enter *ctx)
{
	__u64 nstype = ctx->args[1];
	if (nstype == 0 || (nstype & CLONE_NEWNET_FLAG))
		ns_enter();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_setns")
int handle_setns_x(struct trace_event_raw_sys_exit *ctx)
{
	ns_exit(ctx->ret, CNI_NETNS_SETNS);
	return 0;
}
