// SPDX-License-Identifier: Apache-2.0
// The example collector: the smallest real collector, living only in this folder. Every
// tick_ms it reads /proc/loadavg (opened before the sandbox) and emits example.loadavg.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "example_config.h"
#include "log.h"
#include "timeconv.h"
#include "worker.h"

struct example_ctx {
	const struct config_example *cfg;
	int timerfd;
	int loadavg_fd;
};

static int example_setup(struct worker *w, void *ctx)
{
	struct example_ctx *x = ctx;
	x->cfg = config_section(worker_config(w), "example");
	x->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	if (x->loadavg_fd < 0) {
		int r = -errno;
		log_error("example: /proc/loadavg: %s", strerror(-r));
		return r == -ENOENT ? -EOPNOTSUPP : r;
	}
	x->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (x->timerfd < 0)
		return -errno;
	long ns = (long)x->cfg->tick_ms * 1000000L;
	struct itimerspec its = {.it_interval = {ns / 1000000000L, ns % 1000000000L},
				 .it_value = {ns / 1000000000L, ns % 1000000000L}};
	if (timerfd_settime(x->timerfd, 0, &its, NULL) < 0)
		return -errno;
	int r = worker_watch(w, x->timerfd);
	if (r < 0)
		return r;
	worker_add_hook(w, "/proc/loadavg");
	log_info("example: reading /proc/loadavg every %u ms", x->cfg->tick_ms);
	return 0;
}

/* "0.13 0.25 0.30 2/345 6789\n" → payload. 0, or -EINVAL when the text is not that. */
static int parse_loadavg(const char *text, Tapio__V1__ExampleLoadavg *ret)
{
	double l1, l5, l15;
	unsigned runnable, total, last;

	if (sscanf(text, "%lf %lf %lf %u/%u %u", &l1, &l5, &l15, &runnable, &total, &last) != 6)
		return -EINVAL;
	ret->has_load1 = ret->has_load5 = ret->has_load15 = 1;
	ret->load1 = l1;
	ret->load5 = l5;
	ret->load15 = l15;
	ret->has_runnable = ret->has_total = ret->has_last_pid = 1;
	ret->runnable = runnable;
	ret->total = total;
	ret->last_pid = last;
	return 0;
}

static int example_on_readable(struct worker *w, void *ctx, int fd)
{
	struct example_ctx *x = ctx;
	uint64_t expirations;
	char text[128];

	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return 0;
	ssize_t n = pread(x->loadavg_fd, text, sizeof(text) - 1, 0);
	if (n <= 0) {
		worker_counters(w)->decode_errors++;
		return 0;
	}
	text[n] = '\0';
	worker_counters(w)->records_read++;

	Tapio__V1__ExampleLoadavg la = TAPIO__V1__EXAMPLE_LOADAVG__INIT;
	if (parse_loadavg(text, &la) < 0) {
		worker_counters(w)->decode_errors++;
		return 0;
	}
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint64_t boot = timeconv_now_boot_ns();
	int64_t wall = timeconv_wall_ns(worker_timeconv(w), boot);
	ts.seconds = wall / 1000000000;
	ts.nanos = (int32_t)(wall % 1000000000);
	ev.type = "example.loadavg";
	ev.time = &ts;
	ev.has_boot_ns = 1;
	ev.boot_ns = boot;
	ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_EXAMPLE;
	ev.example = &la;
	worker_emit(w, &ev);
	return 0;
}

static void example_teardown(struct worker *w, void *ctx)
{
	struct example_ctx *x = ctx;
	if (x->timerfd >= 0)
		close(x->timerfd);
	if (x->loadavg_fd >= 0)
		close(x->loadavg_fd);
}

static const struct worker_collector example_collector = {
	.name = "example",
	.setup = example_setup,
	.on_readable = example_on_readable,
	.teardown = example_teardown,
};

int main(int argc, char **argv)
{
	static struct example_ctx ctx = {.timerfd = -1, .loadavg_fd = -1};
	return worker_main(argc, argv, &example_collector, &ctx);
}
