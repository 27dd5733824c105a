// SPDX-License-Identifier: GPL-2.0-only
// bench collector, kernel side: one record per getppid() of one thread group (cfg_pid),
// filtered here so no other process's calls cost a ring-buffer reservation.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bench.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 cfg_pid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized from config before load */
} events SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int handle_getppid(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != cfg_pid || cfg_pid == 0)
		return 0;
	struct bench_call_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	r->hdr.type = BENCH_REC_CALL;
	r->hdr.version = BENCH_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->boot_ns = bpf_ktime_get_boot_ns();
	r->pid = id >> 32;
	r->tid = (__u32)id;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}
