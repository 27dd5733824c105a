// SPDX-License-Identifier: Apache-2.0
// Issue 14: a restarted worker loses nothing the kernel recorded. A generator makes a known
// number of uniquely marked kernel events (execs, TCP connects) at a steady rate while the
// collector's worker is killed with SIGKILL three times and stopped with SIGSTOP once (the
// watchdog replaces it). Every marked event must arrive exactly once, or, only if the ring
// overflowed, the number missing must be covered by the overflow counter.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* (the harness logs stats every second) */
#define SUPERVISOR "  heartbeat_timeout_ms: 1000\n"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t worker_pid(struct tapiod *t, const char *name)
{
	char *l = tapiod_status_line(t, name);
	char n[64], state[32];
	int pid = 0;
	if (sscanf(l, "%63s %31s %d", n, state, &pid) != 3 ||
	    (strcmp(state, "READY") != 0 && strcmp(state, "DEGRADED") != 0))
		pid = 0;
	free(l);
	return pid;
}

/* Pump tapiod's output until `name` has a READY worker other than `old`; its pid. */
static pid_t wait_new_worker(struct tapiod *t, const char *name, pid_t old, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	while (now_s() < deadline) {
		pid_t p = worker_pid(t, name);
		if (p > 0 && p != old)
			return p;
		tapiod_pump(t, 50);
	}
	return 0;
}

/* The generator: a child that runs `n` marked actions at ~rate_hz and exits. */
typedef void (*action_fn)(const char *tag, int i, void *arg);

static pid_t start_generator(action_fn act, const char *tag, int n, int rate_hz, void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct timespec gap = {0, 1000000000L / rate_hz};
		for (int i = 0; i < n; i++) {
			act(tag, i, arg);
			nanosleep(&gap, NULL);
		}
		_exit(0);
	}
	return pid;
}

static void exec_marked(const char *tag, int i, void *arg)
{
	(void)arg;
	char mark[64];
	snprintf(mark, sizeof(mark), "%s-%d", tag, i);
	pid_t p = fork();
	if (p == 0) {
		char *argv[] = {"true", mark, NULL};
		execv("/bin/true", argv);
		_exit(127);
	}
	waitpid(p, NULL, 0);
}

/* A marked TCP connect: the source port of each connection is the mark (a range of ports
 * bound one by one), the peer a listener on 127.0.0.1. */
struct tcp_gen {
	int port;	 /* the listener */
	int first_sport; /* source ports first_sport + i (below the ephemeral range) */
	int fail_fd;	 /* marks whose connect failed (not produced): one int each */
};

static void connect_marked(const char *tag, int i, void *arg)
{
	(void)tag;
	struct tcp_gen *g = arg;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in src = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)(g->first_sport + i)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in dst = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)g->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(s, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(s, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		/* the port was taken: this mark was never produced */
		if (g->fail_fd >= 0 && write(g->fail_fd, &i, sizeof(i)) != sizeof(i))
			_exit(1);
	}
	close(s);
}

/* Kill the worker three times (SIGKILL) and stop it once (SIGSTOP: the watchdog replaces it)
 * while the generator runs, pumping tapiod's output all along. */
static void disturb(struct tapiod *t, const char *name, pid_t gen)
{
	pid_t w = worker_pid(t, name);
	cr_assert_gt(w, 0, "%s has no running worker", name);
	for (int k = 0; k < 4; k++) {
		double until = now_s() + 0.7;
		while (now_s() < until)
			tapiod_pump(t, 50);
		cr_assert_eq(kill(w, k < 3 ? SIGKILL : SIGSTOP), 0);
		pid_t next = wait_new_worker(t, name, w, 20);
		char *log = next ? NULL : tapiod_log(t);
		cr_assert_gt(next, 0, "%s did not come back after signal %d; log:\n%s", name,
			     k < 3 ? SIGKILL : SIGSTOP, log ? log : "");
		w = next;
	}
	int st;
	while (waitpid(gen, &st, WNOHANG) == 0)
		tapiod_pump(t, 50);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the generator failed");
}

typedef int (*mark_of_fn)(json_object *ev, const void *arg);

/* Count each mark's events; wait (up to timeout) until every mark has arrived. Returns the
 * number of marks missing; asserts none arrived twice. */
static int count_marks_except(struct tapiod *t, mark_of_fn mark_of, const void *arg, int n,
			      double timeout_s, const bool *skip)
{
	int *seen = calloc((size_t)n, sizeof(int));
	size_t *first = calloc((size_t)n, sizeof(size_t));
	size_t done = 0;
	int missing = n;
	double deadline = now_s() + timeout_s;
	for (;;) {
		for (; done < t->n_events; done++) {
			int m = mark_of(t->events[done], arg);
			if (m < 0 || m >= n)
				continue;
			if (seen[m]++ == 0)
				first[m] = done;
			else
				cr_assert_fail("mark %d arrived twice:\n%s\n%s", m,
					       json_object_to_json_string(t->events[first[m]]),
					       json_object_to_json_string(t->events[done]));
		}
		missing = 0;
		for (int i = 0; i < n; i++) {
			missing += seen[i] == 0 && !(skip && skip[i]);
		}
		if (missing == 0 || now_s() > deadline)
			break;
		tapiod_pump(t, 100);
	}
	free(seen);
	free(first);
	return missing;
}

static int count_marks(struct tapiod *t, mark_of_fn mark_of, const void *arg, int n,
		       double timeout_s)
{
	return count_marks_except(t, mark_of, arg, n, timeout_s, NULL);
}

struct exec_mark {
	const char *tag;
};

static int exec_mark_of(json_object *ev, const void *arg)
{
	const struct exec_mark *m = arg;
	const char *type = jstr(ev, "type");
	json_object *pe, *argv;
	if (!type || strcmp(type, "process.exec") != 0 ||
	    !json_object_object_get_ex(ev, "processExec", &pe) ||
	    !json_object_object_get_ex(pe, "argv", &argv) || json_object_array_length(argv) < 2)
		return -1;
	const char *a1 = json_object_get_string(json_object_array_get_idx(argv, 1));
	size_t tl = strlen(m->tag);
	if (!a1 || strncmp(a1, m->tag, tl) != 0 || a1[tl] != '-')
		return -1;
	return atoi(a1 + tl + 1);
}

/* The last stats line: loss adds up (kernel overflow covers what is missing, nothing else
 * lost or counted twice), and the restarts were on the stored objects. */
static void assert_accounted(struct tapiod *t, const char *name, int missing)
{
	/* the last stats line comes from a tick after the last event */
	double until = now_s() + 2.2;
	while (now_s() < until)
		tapiod_pump(t, 100);
	long long kernel = tapiod_last_stat(t, name, " kernel=");
	long long queue = tapiod_last_stat(t, name, " worker_queue=");
	long long gaps = tapiod_last_stat(t, name, " seq_gaps=");
	long long sink = tapiod_last_stat(t, name, " sink=");
	long long resumed = tapiod_last_stat(t, name, " resumed=");
	char *log = tapiod_log(t);
	cr_assert_geq(kernel, 0, "no stats line; log:\n%s", log);
	cr_assert(missing == 0 || missing <= kernel,
		  "%d marked events missing, the kernel overflow counter says %lld; log:\n%s",
		  missing, kernel, log);
	cr_assert_eq(queue, 0, "worker queue drops: %lld", queue);
	cr_assert_eq(sink, 0, "sink drops: %lld", sink);
	cr_assert_eq(gaps, 0, "sequence gaps: %lld", gaps);
	cr_assert_geq(resumed, 4, "workers resumed on the fd store: %lld; log:\n%s", resumed, log);
	free(log);
	/* and tapioctl status shows the replacements and the store */
	const char *args[] = {"status", NULL};
	int st;
	char *out = tapioctl_run(t, &st, args);
	char want[64];
	snprintf(want, sizeof(want), "  %s: ", name);
	const char *l = out ? strstr(out, want) : NULL;
	cr_assert(l && strstr(l, "replacement(s)") && strstr(l, "objects kept"), "status:\n%s",
		  out ? out : "");
	unsigned long long repl = strtoull(l + strlen(want), NULL, 10);
	cr_assert_geq(repl, 4, "status:\n%s", out);
	free(out);
}

Test(lossless, marked_execs_survive_three_kills_and_a_stop, .timeout = 180)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start_with(&t, SUPERVISOR,
				       "  process:\n"
				       "    enabled: true\n"
				       "    heartbeat_interval_ms: 300\n"),
		     0);
	cr_assert(tapiod_wait_state(&t, "process", "READY", 20000));
	char tag[48];
	snprintf(tag, sizeof(tag), "lossless-exec-%d", (int)getpid());
	/* attached: a first marked exec arrives */
	struct exec_mark warm = {"warmup"};
	char wtag[64];
	snprintf(wtag, sizeof(wtag), "warmup%d", (int)getpid());
	warm.tag = wtag;
	exec_marked(wtag, 0, NULL);
	cr_assert_eq(count_marks(&t, exec_mark_of, &warm, 1, 20), 0, "no warm-up exec");

	enum { N = 1500 };
	pid_t gen = start_generator(exec_marked, tag, N, 150, NULL);
	disturb(&t, "process", gen);
	struct exec_mark m = {tag};
	int missing = count_marks(&t, exec_mark_of, &m, N, 30);
	assert_accounted(&t, "process", missing);
	cr_assert_eq(missing, 0, "%d of %d marked execs missing", missing, N);
	cr_assert_eq(tapiod_stop(&t, 15000), 0);
	tapiod_cleanup(&t);
}

struct tcp_mark {
	int port, first_sport;
};

static int tcp_mark_of(json_object *ev, const void *arg)
{
	const struct tcp_mark *m = arg;
	const char *type = jstr(ev, "type");
	if (!type || strcmp(type, "tcp.connect") != 0)
		return -1;
	if (jint(ev, "tcp.dst.port", -1) != m->port)
		return -1;
	long long sport = jint(ev, "tcp.src.port", -1);
	return sport < 0 ? -1 : (int)(sport - m->first_sport);
}

Test(lossless, marked_connects_survive_three_kills_and_a_stop, .timeout = 180)
{
	harness_require_root();
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 4096), 0);
	getsockname(l, (struct sockaddr *)&a, &al);
	/* accept and close in a child so that the backlog never fills */
	pid_t acc = fork();
	if (acc == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion must not leave it behind */
		for (;;) {
			int c = accept(l, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	}
	char failpath[64];
	snprintf(failpath, sizeof(failpath), "/tmp/tapio-lossless-%d.fail", (int)getpid());
	int fail_fd = open(failpath, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	cr_assert_geq(fail_fd, 0);
	unlink(failpath);
	struct tcp_gen g = {ntohs(a.sin_port), 21000, fail_fd};
	struct tapiod t;
	cr_assert_eq(tapiod_start_with(&t, SUPERVISOR,
				       "  process:\n"
				       "    enabled: false\n"
				       "  network:\n"
				       "    enabled: true\n"
				       "    heartbeat_interval_ms: 300\n"),
		     0);
	cr_assert(tapiod_wait_state(&t, "network", "READY", 20000));
	struct tcp_mark m = {g.port, g.first_sport};
	/* attached: the warm-up connect (mark 0 of a separate port range) arrives */
	struct tcp_gen wg = {g.port, 20990, -1};
	struct tcp_mark wm = {g.port, 20990};
	bool up = false;
	for (int i = 0; i < 10 && !up; i++) {
		connect_marked("", i, &wg);
		up = count_marks(&t, tcp_mark_of, &wm, 10, 1) < 10;
	}
	cr_assert(up, "no warm-up connect event");

	enum { N = 1500 };
	pid_t gen = start_generator(connect_marked, "", N, 150, &g);
	disturb(&t, "network", gen);
	static bool skip[N];
	int i, failed = 0;
	lseek(fail_fd, 0, SEEK_SET);
	while (read(fail_fd, &i, sizeof(i)) == sizeof(i))
		if (i >= 0 && i < N && !skip[i]) {
			skip[i] = true;
			failed++;
		}
	close(fail_fd);
	cr_assert_lt(failed, N / 10, "%d of %d connects failed (ports taken?)", failed, N);
	int missing = count_marks_except(&t, tcp_mark_of, &m, N, 30, skip);
	assert_accounted(&t, "network", missing);
	cr_assert_eq(missing, 0, "%d of %d marked connects missing", missing, N);
	cr_assert_eq(tapiod_stop(&t, 15000), 0);
	tapiod_cleanup(&t);
	kill(acc, SIGKILL);
	waitpid(acc, NULL, 0);
	close(l);
}

/* A ring that overflows while no worker reads it: the drops are counted once (the unattended
 * ones are part of the kernel's), and they cover every marked exec that is missing. The worker is
 * stopped (SIGSTOP) while a burst fills a 16 KiB ring, then killed; its successor resumes on the
 * ring. */
Test(lossless, overflow_while_no_worker_reads_is_counted_once, .timeout = 120)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, "  process:\n"
				      "    enabled: true\n"
				      "    ring_buffer_kib: 16\n"),
		     0);
	cr_assert(tapiod_wait_state(&t, "process", "READY", 20000));
	char wtag[64], tag[64];
	snprintf(wtag, sizeof(wtag), "warmup%d", (int)getpid());
	snprintf(tag, sizeof(tag), "overflow-%d", (int)getpid());
	struct exec_mark warm = {wtag};
	exec_marked(wtag, 0, NULL);
	cr_assert_eq(count_marks(&t, exec_mark_of, &warm, 1, 20), 0, "no warm-up exec");

	pid_t w = worker_pid(&t, "process");
	cr_assert_gt(w, 0);
	cr_assert_eq(kill(w, SIGSTOP), 0);
	enum { N = 400 };
	for (int i = 0; i < N; i++)
		exec_marked(tag, i, NULL);
	cr_assert_eq(kill(w, SIGKILL), 0);
	cr_assert_gt(wait_new_worker(&t, "process", w, 20), 0, "no successor");
	struct exec_mark m = {tag};
	int missing = count_marks(&t, exec_mark_of, &m, N, 10);

	double until = now_s() + 2.2;
	while (now_s() < until)
		tapiod_pump(&t, 100);
	long long kernel = tapiod_last_stat(&t, "process", " kernel=");
	long long unattended = tapiod_last_stat(&t, "process", " unattended_drops=");
	long long resumed = tapiod_last_stat(&t, "process", " resumed=");
	char *log = tapiod_log(&t);
	cr_assert_eq(resumed, 1, "log:\n%s", log);
	cr_assert_gt(kernel, 0, "a 16 KiB ring took %d execs without overflowing", N);
	/* (a 16 KiB ring may also overflow now and then while read: those are not unattended) */
	cr_assert_gt(unattended, 0, "the drops while no worker read are not told apart");
	cr_assert_leq(unattended, kernel, "unattended drops %lld are part of the kernel's %lld",
		      unattended, kernel);
	cr_assert_leq(missing, kernel, "%d marked execs missing, %lld counted", missing, kernel);
	cr_assert_eq(tapiod_last_stat(&t, "process", " worker_queue="), 0);
	cr_assert_eq(tapiod_last_stat(&t, "process", " seq_gaps="), 0);
	free(log);
	cr_assert_eq(tapiod_stop(&t, 15000), 0);
	tapiod_cleanup(&t);
}
