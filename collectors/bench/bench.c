// SPDX-License-Identifier: Apache-2.0
// bench collector, worker side (bench/ only): load the getppid() hook filtered to one pid, then
// turn each ring-buffer record into one "bench.call" event. It does the same per-event work
// as a real collector minus enrichment, so it measures the pipeline's ceiling.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "bench.skel.h"
#include "exitcodes.h"
#include "log.h"
#include "worker.h"

struct bench_ctx {
	struct bench_bpf *skel;
	struct ring_buffer *rb;
	const struct config_bench *cfg;
	struct worker *w;
	int ncpu;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && log_get_level() > LOG_LEVEL_DEBUG)
		return 0;
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_debug("libbpf: %s", buf);
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size);

static int bench_setup(struct worker *w, void *ctx)
{
	struct bench_ctx *bc = ctx;
	bc->w = w;
	bc->cfg = &worker_config(w)->bench;
	libbpf_set_print(libbpf_log);
	if (bc->cfg->pid == 0) {
		log_error("collectors.bench.pid is 0: set it to the generator's pid");
		return EXIT_CONFIG;
	}
	bc->ncpu = libbpf_num_possible_cpus();
	if (bc->ncpu <= 0)
		return EXIT_TRANSIENT;

	struct bench_bpf *s = bench_bpf__open();
	if (!s)
		return EXIT_TRANSIENT;
	bc->skel = s;
	s->rodata->cfg_pid = bc->cfg->pid;
	int r = bpf_map__set_max_entries(s->maps.events, bc->cfg->ring_buffer_kib * 1024u);
	if (r == 0)
		r = bench_bpf__load(s);
	if (r == 0)
		r = bench_bpf__attach(s);
	if (r < 0) {
		log_error("tp/syscalls/sys_enter_getppid: %s (is tracefs mounted?)", strerror(-r));
		return r == -EPERM || r == -EACCES ? EXIT_CONFIG : EXIT_NO_FEATURE;
	}
	worker_add_hook(w, "tp/syscalls/sys_enter_getppid");

	bc->rb = ring_buffer__new(bpf_map__fd(s->maps.events), handle_record, bc, NULL);
	if (!bc->rb) {
		log_error("ring buffer: %s", strerror(errno));
		return EXIT_TRANSIENT;
	}
	if (worker_watch(w, ring_buffer__epoll_fd(bc->rb)) < 0)
		return EXIT_TRANSIENT;
	log_info("attached tp/syscalls/sys_enter_getppid for pid %u; ring buffer %u KiB",
		 bc->cfg->pid, bc->cfg->ring_buffer_kib);
	return 0;
}

static void bench_teardown(struct worker *w, void *ctx)
{
	struct bench_ctx *bc = ctx;
	ring_buffer__free(bc->rb);
	/* A tp/ link is a perf event: libbpf's detach issues ioctl(PERF_EVENT_IOC_DISABLE),
	 * which the sandbox forbids. Disconnect it instead; exit closes the fd, which detaches. */
	if (bc->skel && bc->skel->links.handle_getppid)
		bpf_link__disconnect(bc->skel->links.handle_getppid);
	bench_bpf__destroy(bc->skel);
}

static int bench_on_readable(struct worker *w, void *ctx, int fd)
{
	struct bench_ctx *bc = ctx;
	int r = ring_buffer__consume(bc->rb);
	if (r < 0 && r != -EINTR) {
		log_error("ring buffer consume: %s", strerror(-r));
		return EXIT_TRANSIENT;
	}
	return 0;
}

static void bench_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct bench_ctx *bc = ctx;
	int fd = bpf_map__fd(bc->skel->maps.counters);
	__u64 vals[bc->ncpu];
	__u32 k = TAPIO_CNT_RINGBUF_DROP;
	__u64 sum = 0;
	if (bpf_map_lookup_elem(fd, &k, vals) == 0)
		for (int c = 0; c < bc->ncpu; c++)
			sum += vals[c];
	st->has_kernel_drops = 1;
	st->kernel_drops = sum;
}

static int emit_call(struct bench_ctx *bc, const struct bench_call_rec *r, size_t size)
{
	if (size != sizeof(*r))
		return -EBADMSG;
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Tapio__V1__ProcessContext proc = TAPIO__V1__PROCESS_CONTEXT__INIT;
	int64_t wall = timeconv_wall_ns(worker_timeconv(bc->w), r->boot_ns);
	ts.seconds = wall / 1000000000;
	ts.nanos = (int32_t)(wall % 1000000000);
	ev.type = "bench.call";
	ev.time = &ts;
	ev.has_boot_ns = 1;
	ev.boot_ns = r->boot_ns;
	proc.has_pid = proc.has_tid = 1;
	proc.pid = r->pid;
	proc.tid = r->tid;
	ev.process = &proc;
	return worker_emit(bc->w, &ev);
}

/* Validate by type and version first, then by the exact size that type implies. */
static int handle_record(void *ctx, void *data, size_t size)
{
	struct bench_ctx *bc = ctx;
	struct worker_counters *cnt = worker_counters(bc->w);
	const struct tapio_rec_hdr *h = data;
	int r = -EBADMSG;

	cnt->records_read++;
	if (size >= sizeof(*h) && h->size == size && h->version == BENCH_REC_VERSION &&
	    h->type == BENCH_REC_CALL)
		r = emit_call(bc, data, size);
	if (r == -EBADMSG)
		cnt->decode_errors++;
	return 0; /* queue drops are counted by the worker; never stop consuming */
}

static const struct worker_collector bench_collector = {
	.name = "bench",
	.setup = bench_setup,
	.on_readable = bench_on_readable,
	.fill_stats = bench_fill_stats,
	.teardown = bench_teardown,
};

int main(int argc, char **argv)
{
	static struct bench_ctx ctx;
	return worker_main(argc, argv, &bench_collector, &ctx);
}
