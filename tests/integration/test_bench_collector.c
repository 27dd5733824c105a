// SPDX-License-Identifier: Apache-2.0
// The bench-only collector end to end: tapiod runs it filtered to one child's pid; that child's
// real getppid() calls arrive as bench.call events with its pid, another process's do not.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define CALLS 50

/* A child that makes `n` getppid() calls each time it reads a byte n, then answers a byte. */
struct caller {
	pid_t pid;
	int to, from;
};

static void caller_start(struct caller *c)
{
	int a[2], b[2];
	cr_assert(pipe(a) == 0 && pipe(b) == 0);
	c->pid = fork();
	cr_assert(c->pid >= 0);
	if (c->pid == 0) {
		close(a[1]);
		close(b[0]);
		unsigned char n;
		while (read(a[0], &n, 1) == 1) {
			for (unsigned i = 0; i < n; i++)
				syscall(SYS_getppid);
			if (write(b[1], &n, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	c->to = a[1];
	c->from = b[0];
}

static void caller_call(struct caller *c, unsigned char n)
{
	cr_assert(write(c->to, &n, 1) == 1);
	unsigned char ack;
	cr_assert(read(c->from, &ack, 1) == 1 && ack == n);
}

static void caller_stop(struct caller *c)
{
	close(c->to);
	close(c->from);
	int st;
	waitpid(c->pid, &st, 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool match_call(json_object *ev, void *arg)
{
	const char *type = jstr(ev, "type");
	return type && strcmp(type, "bench.call") == 0 &&
	       jint(ev, "process.pid", -1) == *(long long *)arg;
}

static bool match_any_call(json_object *ev, void *arg)
{
	const char *type = jstr(ev, "type");
	return type && strcmp(type, "bench.call") == 0;
}

static bool match_not_pid(json_object *ev, void *arg)
{
	return !match_call(ev, arg);
}

Test(bench_collector, calls_of_the_configured_pid_only, .timeout = 60)
{
	harness_require_root();
	struct caller c;
	caller_start(&c);
	char yaml[256];
	snprintf(yaml, sizeof(yaml),
		 "  process:\n    enabled: false\n"
		 "  bench:\n    enabled: true\n    ring_buffer_kib: 64\n    pid: %d\n",
		 (int)c.pid);
	struct tapiod t;
	cr_assert(tapiod_start(&t, yaml) == 0);
	cr_assert(tapiod_wait_log(&t, "bench: READY", 1, 15000), "no READY");

	double before = now_s();
	caller_call(&c, CALLS);
	for (int i = 0; i < CALLS; i++)
		syscall(SYS_getppid); /* this process: must not show up */
	long long pid = c.pid;
	cr_assert(tapiod_wait(&t, match_call, &pid, 10000), "no bench.call");
	for (int waited = 0; tapiod_count(&t, match_call, &pid) < CALLS && waited < 10000;
	     waited += 100)
		tapiod_pump(&t, 100);
	double after = now_s();

	/* A second round after the first arrived: every one of them, nothing else. */
	caller_call(&c, CALLS);
	for (int waited = 0; tapiod_count(&t, match_call, &pid) < 2 * CALLS && waited < 10000;
	     waited += 100)
		tapiod_pump(&t, 100);
	tapiod_pump(&t, 300);
	cr_expect_eq(tapiod_count(&t, match_call, &pid), 2 * CALLS);
	cr_expect_eq(tapiod_count(&t, match_any_call, NULL), 2 * CALLS,
		     "calls of other pids were reported");
	cr_expect_eq(tapiod_count(&t, match_not_pid, &pid), 0);

	long long last_seq = 0, last_boot = 0;
	for (size_t i = 0, k = 0; i < t.n_events; i++) {
		json_object *ev = t.events[i];
		if (!match_call(ev, &pid))
			continue;
		cr_expect_str_eq(jstr(ev, "collector"), "bench");
		cr_expect_eq(jint(ev, "process.tid", -1), pid);
		cr_expect_not_null(jstr(ev, "id"));
		cr_expect_str_eq(jstr(ev, "node"), "it-node");
		long long seq = jint(ev, "seq", -1), boot = jint(ev, "bootNs", -1);
		cr_expect_eq(seq, last_seq + 1, "seq %lld after %lld", seq, last_seq);
		cr_expect_gt(boot, last_boot);
		last_seq = seq;
		last_boot = boot;
		if (k++ < CALLS) {
			double tm = jtime(ev);
			cr_expect(tm >= before - 1 && tm <= after + 1, "time %f not in [%f, %f]", tm,
				  before, after);
		}
	}

	cr_expect_eq(tapiod_stop(&t, 10000), 0);
	char *log = tapiod_log(&t);
	/* the last stats line (the final one, at stop), not any line that happens to match */
	cr_expect(strstr(log, "stats bench:"), "log:\n%s", log);
	cr_expect_eq(tapiod_last_stat(&t, "bench", " events="), 100, "log:\n%s", log);
	const char *zero[] = {" kernel=", " worker_queue=", " seq_gaps=", " sink=", " decode_errors="};
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		cr_expect_eq(tapiod_last_stat(&t, "bench", zero[i]), 0, "%s; log:\n%s", zero[i], log);
	cr_expect(!strstr(log, "sandbox violation"), "log:\n%s", log);
	free(log);
	tapiod_cleanup(&t);
	caller_stop(&c);
}

Test(bench_collector, refuses_pid_zero, .timeout = 30)
{
	harness_require_root();
	struct tapiod t;
	cr_assert(tapiod_start(&t, "  process:\n    enabled: false\n"
				   "  bench:\n    enabled: true\n") == 0);
	cr_assert(tapiod_wait_log(&t, "collectors.bench.pid is 0", 1, 10000), "no config error");
	cr_expect(tapiod_wait_log(&t, "exit code 100", 1, 5000));
	cr_expect(tapiod_wait_log(&t, "setup failed at 'check config': Invalid argument (exit 100)",
				  1, 5000),
		  "the worker names the step that failed");
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

/* Make n getppid() calls paced at `rate` per second, in a child; returns when it is done. */
static void paced_calls(pid_t *ret_pid, int go_fd, long n, long rate)
{
	pid_t p = fork();
	cr_assert(p >= 0);
	if (p == 0) {
		char b;
		if (read(go_fd, &b, 1) != 1)
			_exit(1);
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < n; i++) {
			syscall(SYS_getppid);
			long long due = i * 1000000000LL / rate;
			do
				clock_gettime(CLOCK_MONOTONIC, &t);
			while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) < due);
		}
		_exit(0);
	}
	*ret_pid = p;
}

/* While records keep coming the worker polls every flush_ms instead of being woken per record
 * (bpf/tapio_bpf.h). A burst that fills a quarter of the ring between two polls must wake it:
 * here 1,000 records arrive per 10 ms poll interval into a ring that holds 512. Polling alone
 * loses about half of them (9,400 of 20,000 measured without the forced wakeup). With it, the
 * worker has ~3.8 ms to be scheduled before the ring is full; a loaded 2-core machine can
 * miss that now and then, so a few drops are allowed — each one counted, none silent. */
Test(bench_collector, burst_between_polls_wakes_the_worker, .timeout = 60)
{
	harness_require_root();
	enum { BURST = 20000, RATE = 100000 };
	int go[2];
	cr_assert(pipe(go) == 0);
	pid_t child;
	paced_calls(&child, go[0], BURST, RATE);
	char yaml[256];
	snprintf(yaml, sizeof(yaml),
		 "  process:\n    enabled: false\n"
		 "  bench:\n    enabled: true\n    ring_buffer_kib: 16\n    flush_ms: 10\n"
		 "    pid: %d\n",
		 (int)child);
	struct tapiod t;
	cr_assert(tapiod_start(&t, yaml) == 0);
	cr_assert(tapiod_wait_log(&t, "bench: READY", 1, 15000), "no READY");
	cr_assert(write(go[1], "g", 1) == 1);
	int st;
	cr_assert(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	long long pid = child;
	for (int waited = 0; tapiod_count(&t, match_call, &pid) < BURST && waited < 10000;
	     waited += 100)
		tapiod_pump(&t, 100);
	long long got = (long long)tapiod_count(&t, match_call, &pid);
	cr_expect_eq(tapiod_stop(&t, 10000), 0);
	long long kernel = tapiod_last_stat(&t, "bench", " kernel=");
	cr_expect_eq(got + kernel, BURST, "delivered %lld + counted kernel drops %lld", got, kernel);
	cr_expect_lt(kernel, BURST / 50, "the burst woke the worker: %lld kernel drops", kernel);
	cr_expect_eq(tapiod_last_stat(&t, "bench", "worker_queue="), 0);
	cr_expect_eq(tapiod_last_stat(&t, "bench", "seq_gaps="), 0);
	tapiod_cleanup(&t);
	close(go[0]);
	close(go[1]);
}
