// SPDX-License-Identifier: GPL-2.0-only
// etcd collector, kernel side: the latency of every fdatasync, fsync and sync_file_range of the
// etcd process (by comm, or a configured tgid), from the syscall tracepoints' enter and exit.
// Every call goes into a per-CPU log2 histogram; a call over the threshold is a record with
// the file's name and directory, read from the fd table at exit.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "etcd.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 cfg_tgid = 0;	   /* 0: match by comm */
const volatile char cfg_comm[16] = "etcd"; /* NUL-padded */
const volatile __u64 cfg_threshold_ns = 10000000;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} events SEC(".maps");

struct start {
	__u64 ns;
	__s32 fd;
	__u32 call;
};

/* enter → exit per thread; LRU: a thread that never exits the call cannot fill it */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct start);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ETCD_HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

static __always_inline bool is_etcd(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (cfg_tgid)
		return (__u32)(id >> 32) == cfg_tgid;
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < 16; i++) {
		if (comm[i] != cfg_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

static __always_inline int enter(__s64 fd, __u32 call)
{
	if (!is_etcd())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start s = {.ns = bpf_ktime_get_ns(), .fd = (__s32)fd, .call = call};
	bpf_map_update_elem(&inflight, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline void file_names(struct etcd_sync_rec *r, int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_core_read(&f, sizeof(f), &fds[fd]) < 0 || !f)
		return;
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	const unsigned char *n = BPF_CORE_READ(d, d_name.name);
	if (bpf_core_read_str(r->name, sizeof(r->name), n) < 0)
		tapio_count(TAPIO_CNT_READ_FAIL);
	n = BPF_CORE_READ(d, d_parent, d_name.name);
	if (bpf_core_read_str(r->parent, sizeof(r->parent), n) < 0)
		tapio_count(TAPIO_CNT_READ_FAIL);
}

static __always_inline int leave(__s64 ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start *s = bpf_map_lookup_elem(&inflight, &tid);
	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 lat = now - s->ns;
	__s32 fd = s->fd;
	__u32 call = s->call;
	bpf_map_delete_elem(&inflight, &tid);

	__u64 us = lat / 1000;
	__u32 b = 0;
	for (int i = 0; i < ETCD_HIST_BUCKETS - 1; i++) {
		if (us < (1ull << i))
			break;
		b++;
	}
	__u64 *c = bpf_map_lookup_elem(&hist, &b);
	if (c)
		*c += 1;
	if (lat < cfg_threshold_ns)
		return 0;

	struct etcd_sync_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	r->hdr.type = ETCD_REC_SLOW_SYNC;
	r->hdr.version = ETCD_REC_VERSION;
	r->hdr.size = sizeof(*r);
	tapio_fill_task(&r->task, (struct task_struct *)bpf_get_current_task());
	r->latency_ns = lat;
	r->ret = ret;
	r->call = call;
	r->fd = fd;
	r->name[0] = r->parent[0] = 0;
	file_names(r, fd);
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int enter_fdatasync(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx->args[0], ETCD_SYNC_FDATASYNC);
}

SEC("tracepoint/syscalls/sys_exit_fdatasync")
int exit_fdatasync(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int enter_fsync(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx->args[0], ETCD_SYNC_FSYNC);
}

SEC("tracepoint/syscalls/sys_exit_fsync")
int exit_fsync(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sync_file_range")
int enter_sync_file_range(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx->args[0], ETCD_SYNC_FILE_RANGE);
}

SEC("tracepoint/syscalls/sys_exit_sync_file_range")
int exit_sync_file_range(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}
