// SPDX-License-Identifier: Apache-2.0
// worker_exit_code: the one mapping from a collector callback's -errno to the exit-code
// contract of exitcodes.h.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>

#include "exitcodes.h"
#include "worker.h"

struct exit_case {
	int err;
	int code;
};

ParameterizedTestParameters(worker, exit_code_contract)
{
	static struct exit_case cases[] = {
		{0, EXIT_CLEAN},
		{-EINVAL, EXIT_CONFIG},
		{-EPERM, EXIT_CONFIG},
		{-EACCES, EXIT_CONFIG},
		{-EOPNOTSUPP, EXIT_NO_FEATURE},
		{-ENOSYS, EXIT_NO_FEATURE},
		{-ENOENT, EXIT_TRANSIENT},
		{-ENOMEM, EXIT_TRANSIENT},
		{-EIO, EXIT_TRANSIENT},
		{-EAGAIN, EXIT_TRANSIENT},
		{-ECONNREFUSED, EXIT_TRANSIENT},
		{-ETIMEDOUT, EXIT_TRANSIENT},
		{-E2BIG, EXIT_TRANSIENT},
	};
	return cr_make_param_array(struct exit_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct exit_case *c, worker, exit_code_contract)
{
	cr_expect_eq(worker_exit_code(c->err), c->code, "errno %d", -c->err);
}

/* ---- per-fd callbacks and one-shot timers on a bare loop ---- */

#include <stdint.h>
#include <time.h>
#include <unistd.h>

struct io_seen {
	int calls;
	unsigned last;
	char byte;
};

static int on_pipe(struct worker *w, int fd, unsigned events, void *data)
{
	struct io_seen *s = data;
	s->calls++;
	s->last = events;
	if (events & WORKER_IO_READ)
		cr_assert_eq(read(fd, &s->byte, 1), 1);
	return 0;
}

Test(worker, io_watch_calls_back_per_fd)
{
	struct worker *w;
	cr_assert_eq(worker_loop_new(&w), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct io_seen rd = {0}, wr = {0};
	cr_assert_eq(worker_io_watch(w, p[0], WORKER_IO_READ, on_pipe, &rd), 0);
	cr_assert_eq(worker_io_watch(w, p[1], WORKER_IO_WRITE, on_pipe, &wr), 0);
	cr_assert_eq(worker_loop_run_once(w, 1000), 1, "only the write end is ready");
	cr_expect_eq(wr.calls, 1);
	cr_expect_eq(wr.last, WORKER_IO_WRITE);
	cr_expect_eq(rd.calls, 0);
	worker_io_unwatch(w, p[1]);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(worker_loop_run_once(w, 1000), 1);
	cr_expect_eq(rd.calls, 1);
	cr_expect_eq(rd.byte, 'x');
	cr_expect_eq(wr.calls, 1, "unwatched: no more calls");
	/* changing the events of a watched fd */
	cr_assert_eq(worker_io_watch(w, p[1], WORKER_IO_WRITE, on_pipe, &wr), 0);
	cr_assert_eq(worker_io_watch(w, p[1], WORKER_IO_READ, on_pipe, &wr), 0);
	cr_expect_eq(worker_loop_run_once(w, 50), 0, "a write end never becomes readable");
	close(p[0]);
	close(p[1]);
	worker_loop_free(w);
}

Test(worker, io_watch_is_bounded)
{
	struct worker *w;
	cr_assert_eq(worker_loop_new(&w), 0);
	int fds[WORKER_IO_MAX + 1][2];
	struct io_seen s = {0};
	for (int i = 0; i <= WORKER_IO_MAX; i++) {
		cr_assert_eq(pipe(fds[i]), 0);
		int r = worker_io_watch(w, fds[i][0], WORKER_IO_READ, on_pipe, &s);
		cr_expect_eq(r, i < WORKER_IO_MAX ? 0 : -ENOSPC, "fd %d", i);
	}
	for (int i = 0; i <= WORKER_IO_MAX; i++) {
		worker_io_unwatch(w, fds[i][0]);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	worker_loop_free(w);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int on_timer(struct worker *w, void *data)
{
	(*(int *)data)++;
	return 0;
}

static int on_timer_fail(struct worker *w, void *data)
{
	return -EIO;
}

Test(worker, timer_fires_once_after_its_delay)
{
	struct worker *w;
	cr_assert_eq(worker_loop_new(&w), 0);
	int fired = 0;
	struct worker_timer *t;
	cr_assert_eq(worker_timer_new(w, on_timer, &fired, &t), 0);
	cr_expect_eq(worker_loop_run_once(w, 50), 0, "created disarmed");
	uint64_t t0 = mono_ms();
	cr_assert_eq(worker_timer_arm(t, 80), 0);
	while (fired == 0 && mono_ms() - t0 < 2000)
		cr_assert_geq(worker_loop_run_once(w, 2000), 0);
	cr_expect_eq(fired, 1);
	cr_expect_geq(mono_ms() - t0, 79, "fired after %llu ms",
		      (unsigned long long)(mono_ms() - t0));
	cr_expect_eq(worker_loop_run_once(w, 150), 0, "one-shot");
	cr_expect_eq(fired, 1);
	/* re-arming replaces; disarming cancels */
	cr_assert_eq(worker_timer_arm(t, 10000), 0);
	cr_assert_eq(worker_timer_arm(t, 0), 0);
	cr_expect_eq(worker_loop_run_once(w, 1000), 1);
	cr_expect_eq(fired, 2);
	cr_assert_eq(worker_timer_arm(t, 30), 0);
	worker_timer_disarm(t);
	cr_expect_eq(worker_loop_run_once(w, 100), 0);
	cr_expect_eq(fired, 2);
	worker_timer_free(t);

	struct worker_timer *bad;
	cr_assert_eq(worker_timer_new(w, on_timer_fail, NULL, &bad), 0);
	cr_assert_eq(worker_timer_arm(bad, 0), 0);
	cr_expect_eq(worker_loop_run_once(w, 1000), -EIO, "a callback's error ends the round");
	worker_timer_free(bad);
	worker_loop_free(w);
}
