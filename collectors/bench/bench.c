// SPDX-License-Identifier: Apache-2.0
// bench collector, worker side (bench/ only): load the getppid() hook filtered to one pid, then
// turn each ring-buffer record into one "bench.call" event. It does the same per-event work
// as a real collector minus enrichment, so it measures the pipeline's ceiling.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kevent.h"
#include "bench.h"
#include "bench_config.h"
#include "bench.skel.h"
#include "log.h"
#include "worker.h"

struct bench_ctx {
	struct bench_bpf *skel;
	const struct config_bench *cfg;
	struct worker *w;
	int counters_fd; /* the skeleton's or a stored one */
};

static int handle_record(void *ctx, void *data, size_t size);

static int bench_setup(struct worker *w, void *ctx)
{
	struct bench_ctx *bc = ctx;
	bc->w = w;
	bc->cfg = config_section(worker_config(w), "bench");
	worker_set_step(w, "check config");
	if (bc->cfg->pid == 0) {
		log_error("collectors.bench.pid is 0: set it to the generator's pid");
		return -EINVAL;
	}
	worker_set_step(w, "libbpf setup");
	int r = kevent_setup();
	if (r < 0)
		return r;

	/* A pipeline benchmark: its 16 KiB bursts test wakeups and throughput, which records held
	 * until their batch is in the socket would cost; its restarts need no exactly-once. */
	worker_release_on_read(w);
	if (worker_stored(w)) {
		/* the predecessor's program is still attached (the fd store) */
		worker_set_step(w, "resume the stored ring buffer");
		bc->counters_fd = kevent_stored_map(w, "counters");
		return kevent_resume_ring(w, "events", handle_record, bc);
	}
	worker_set_step(w, "load and attach hooks");
	struct bench_bpf *s = bench_bpf__open();
	if (!s)
		return -EIO; /* the embedded object does not open: transient, as before */
	bc->skel = s;
	s->rodata->cfg_pid = bc->cfg->pid;
	r = bpf_map__set_max_entries(s->maps.events, bc->cfg->ring_buffer_kib * 1024u);
	if (r == 0)
		r = bench_bpf__load(s);
	if (r == 0)
		r = bench_bpf__attach(s);
	if (r < 0) {
		log_error("tp/syscalls/sys_enter_getppid: %s (is tracefs mounted?)", strerror(-r));
		return r == -EPERM || r == -EACCES ? r : -EOPNOTSUPP;
	}
	worker_add_hook(w, "tp/syscalls/sys_enter_getppid");

	worker_set_step(w, "ring buffer");
	r = kevent_add_ring(w, s->obj, s->maps.events, handle_record, bc);
	if (r < 0)
		return r;
	bc->counters_fd = bpf_map__fd(s->maps.counters);
	worker_set_step(w, "fd store");
	r = kevent_store_skeleton(w, s->skeleton);
	if (r < 0)
		return r;
	log_info("attached tp/syscalls/sys_enter_getppid for pid %u; ring buffer %u KiB",
		 bc->cfg->pid, bc->cfg->ring_buffer_kib);
	return 0;
}

static void bench_teardown(struct worker *w, void *ctx)
{
	struct bench_ctx *bc = ctx;
	/* A tp/ link is a perf event: libbpf's detach issues ioctl(PERF_EVENT_IOC_DISABLE),
	 * which the sandbox forbids. Disconnect it instead; exit closes the fd, which detaches. */
	if (bc->skel && bc->skel->links.handle_getppid)
		bpf_link__disconnect(bc->skel->links.handle_getppid);
	bench_bpf__destroy(bc->skel);
}

static void bench_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct bench_ctx *bc = ctx;
	uint64_t sums[TAPIO_CNT_MAX];
	if (kevent_counters_sum(bc->counters_fd, sums) < 0)
		return;
	st->has_kernel_drops = 1;
	st->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP];
}

static int emit_call(struct bench_ctx *bc, const struct bench_call_rec *r, size_t size)
{
	if (size != sizeof(*r))
		return -EBADMSG;
	struct kevent k;
	kevent_init(&k, worker_timeconv(bc->w), "bench.call", r->boot_ns, NULL);
	k.proc.has_pid = k.proc.has_tid = 1;
	k.proc.pid = r->pid;
	k.proc.tid = r->tid;
	k.ev.process = &k.proc;
	return worker_emit(bc->w, &k.ev);
}

/* Validate by type and version first, then by the exact size that type implies. */
static int handle_record(void *ctx, void *data, size_t size)
{
	struct bench_ctx *bc = ctx;
	int r = -EBADMSG;

	if (kevent_rec_type(bc->w, data, size, BENCH_REC_VERSION) == BENCH_REC_CALL)
		r = emit_call(bc, data, size);
	kevent_rec_done(bc->w, data, size, r);
	return 0; /* queue drops are counted by the worker; never stop consuming */
}

static const struct worker_collector bench_collector = {
	.name = "bench",
	.setup = bench_setup,
	.fill_stats = bench_fill_stats,
	.teardown = bench_teardown,
};

int main(int argc, char **argv)
{
	static struct bench_ctx ctx;
	return worker_main(argc, argv, &bench_collector, &ctx);
}
