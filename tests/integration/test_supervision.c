// SPDX-License-Identifier: Apache-2.0
// Supervision end to end: real worker processes that die, hang, lie or break the protocol,
// and tapiod restarting, failing or killing them while the process collector keeps streaming.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "privilege.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The clock of tapiod's log timestamps. */
static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool is_collector(json_object *ev, void *arg)
{
	const char *c = jstr(ev, "collector");
	return c && strcmp(c, arg) == 0;
}

struct after {
	const char *collector;
	long long pid;   /* event from this worker pid (testing events carry it) */
};

static bool not_from_pid(json_object *ev, void *arg)
{
	struct after *a = arg;
	return is_collector(ev, (void *)a->collector) && jint(ev, "process.pid", -1) != a->pid;
}

/* The RESTARTS column of a collector's status line; -1 without one. */
static int status_restarts(struct tapiod *t, const char *name)
{
	char *l = tapiod_status_line(t, name);
	char n[64], state[32], pid[16], up[16];
	int restarts = -1;
	if (sscanf(l, "%63s %31s %15s %15s %d", n, state, pid, up, &restarts) != 5)
		restarts = -1;
	free(l);
	return restarts;
}

/* The other collector was not touched by what the testing worker did: it is (or becomes, on a
 * machine where loading its BPF programs takes a while) READY, and it was never restarted. */
static void assert_unharmed(struct tapiod *t, const char *name)
{
	bool ready = tapiod_wait_status(t, name, "READY", 10000);
	char *l = tapiod_status_line(t, name);
	cr_assert(ready, "%s is not READY: %s", name, l);
	free(l);
	cr_assert_eq(status_restarts(t, name), 0, "%s was restarted", name);
}

/* Sequence numbers of one collector's events, as delivered, must have no hole. */
static void assert_contiguous(struct tapiod *t, const char *collector)
{
	long long prev = 0;
	size_t n = 0;
	for (size_t i = 0; i < t->n_events; i++) {
		if (!is_collector(t->events[i], (void *)collector))
			continue;
		long long seq = jint(t->events[i], "seq", -1);
		if (prev && seq != prev + 1)
			cr_assert_fail("%s: seq %lld follows %lld", collector, seq, prev);
		prev = seq;
		n++;
	}
	cr_assert_gt(n, 0, "no %s events", collector);
}

#define BOTH(testing_yaml)                                                                    \
	"  process:\n"                                                                        \
	"    heartbeat_interval_ms: 200\n"                                                   \
	"  testing:\n"                                                                        \
	"    enabled: true\n"                                                                \
	"    heartbeat_interval_ms: 200\n"                                                   \
	"    tick_ms: 20\n" testing_yaml

Test(supervision, kill9_worker_comes_back_others_lose_nothing, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	cr_assert(tapiod_wait_status(&t, "process", "READY", 10000));
	pid_t old = tapiod_status_pid(&t, "testing");
	cr_assert_gt(old, 0);
	/* load on the process collector while the other worker is killed */
	for (int i = 0; i < 20; i++) {
		char *argv[] = { "true", NULL };
		pid_t p = fork();
		if (p == 0) {
			execv("/bin/true", argv);
			_exit(127);
		}
		if (i == 10) {
			cr_assert_eq(kill(old, SIGKILL), 0);
		}
		waitpid(p, NULL, 0);
	}
	double killed = now_s();
	struct after a = { "testing", old };
	json_object *first = tapiod_wait(&t, not_from_pid, &a, harness_ms(10000));
	double back = now_s() - killed;
	cr_assert_not_null(first, "no event from a restarted testing worker");
	/* The restart is the policy's: the backoff starts at restart_initial_ms (100) ±20 %, and
	 * the next worker is started when it ends. Both from tapiod's own log (when it saw the
	 * death, the delay it chose, when it started the next worker), so the time a slow machine
	 * takes to exec and set up a worker is not part of it. */
	char line[512];
	size_t pos = 0;
	double died = tapiod_log_line(&t, "testing: killed by signal 9", &pos, line, sizeof(line));
	cr_assert_gt(died, 0, "no death in the log");
	const char *in = strstr(line, "restarting in ");
	unsigned delay = 0;
	cr_assert(in && sscanf(in, "restarting in %u ms", &delay) == 1, "%s", line);
	cr_assert(delay >= 80 && delay <= 120, "backoff %u ms: %s", delay, line);
	double started = tapiod_log_time(&t, "testing: started pid", &pos);
	cr_assert_gt(started, 0, "no worker started after the death");
	double gap_ms = (started - died) * 1000;
	cr_assert(gap_ms >= delay - 20 && gap_ms <= delay + harness_ms(250),
		  "started %.0f ms after the death, backoff %u ms", gap_ms, delay);
	/* end to end, with exec and setup: events again within 2 s (on this machine's scale) */
	cr_assert_lt(back, 2.0 * harness_slow(), "back after %.3f s", back);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 5000));
	char *l = tapiod_status_line(&t, "testing");
	cr_assert(strstr(l, "killed by signal 9"), "status: %s", l);
	free(l);
	tapiod_pump(&t, 300);
	int st = tapiod_stop(&t, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_contiguous(&t, "process");
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "stats process:"), "log:\n%s", log);
	cr_assert_eq(tapiod_last_stat(&t, "process", "seq_gaps="), 0, "log:\n%s", log);
	free(log);
	tapiod_cleanup(&t);
}

Test(supervision, exit111_loop_ends_failed_others_keep_streaming, .timeout = 90)
{
	harness_require_root();
	struct tapiod t;
	/* restart_max_ms: a FAILED crash loop is retried only after 10 minutes, so the one worker
	 * started after it in this test is the one started by hand */
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: exit\n    exit_code: 111\n"
					   "    restart_max_ms: 600000\n")),
		     0);
	cr_assert(tapiod_wait_status(&t, "testing", "FAILED", 30000), "crash loop not detected");
	char *l = tapiod_status_line(&t, "testing");
	cr_assert(strstr(l, "exit code 111"), "status: %s", l);
	free(l);
	/* the process collector was not touched, and it still streams */
	assert_unharmed(&t, "process");
	size_t before = tapiod_count(&t, is_collector, "process");
	for (int i = 0; i < 5; i++) {
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(p, NULL, 0);
	}
	double deadline = now_s() + harness_ms(5000) / 1000.0;
	while (tapiod_count(&t, is_collector, "process") <= before && now_s() < deadline)
		tapiod_pump(&t, 100);
	cr_assert_gt(tapiod_count(&t, is_collector, "process"), before);
	/* a FAILED collector can be restarted by hand: a new worker is started */
	unsigned started = tapiod_log_count(&t, "testing: started pid");
	const char *args[] = { "restart", "testing", NULL };
	int st;
	free(tapioctl_run(&t, &st, args));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert(tapiod_wait_log(&t, "testing: started pid", started + 1, harness_ms(5000)),
		  "restart by hand did not start it");
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "testing: FAILED"), "log:\n%s", log);
	free(log);
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

Test(supervision, exit100_is_not_restarted, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: exit\n    exit_code: 100\n")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "FAILED", 10000));
	/* time for a restart that must not come */
	for (double until = now_s() + harness_ms(1500) / 1000.0; now_s() < until;)
		tapiod_pump(&t, 100);
	char *l = tapiod_status_line(&t, "testing");
	cr_assert(strstr(l, "config/usage error"), "status: %s", l);
	int restarts = -1;
	char n[32], s[32], pid[16], up[16];
	sscanf(l, "%31s %31s %15s %15s %d", n, s, pid, up, &restarts);
	cr_assert_eq(restarts, 0, "status: %s", l);
	free(l);
	assert_unharmed(&t, "process");
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

Test(supervision, stopped_worker_is_caught_by_the_watchdog, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start_with(&t, "  heartbeat_timeout_ms: 1000\n", BOTH("")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	pid_t old = tapiod_status_pid(&t, "testing");
	char *before = tapiod_log(&t);
	size_t pos = strlen(before); /* the log from the stop on */
	free(before);
	double t0 = now_s(), stopped = wall_s();
	cr_assert_eq(kill(old, SIGSTOP), 0);
	struct after a = { "testing", old };
	json_object *ev = tapiod_wait(&t, not_from_pid, &a, harness_ms(15000));
	cr_assert_not_null(ev, "the stopped worker was not replaced");
	double dt = now_s() - t0;
	cr_assert_eq(kill(old, 0), -1, "the stopped worker is gone");
	/* From tapiod's own log: caught within the 1 s deadline + the 1 s check period, and the
	 * next worker started after the 2 s SIGABRT grace (then SIGKILL) + the backoff (at most
	 * 120 ms); each with 1 s of slack, scaled for a slow machine. */
	double slack = harness_ms(1000) / 1000.0;
	double caught = tapiod_log_time(&t, "testing: no heartbeat for 1000 ms", &pos);
	cr_assert_gt(caught, 0, "no 'no heartbeat' line after the stop");
	cr_assert_lt(caught - stopped, 2.0 + slack, "caught %.2f s after the stop",
		     caught - stopped);
	double started = tapiod_log_time(&t, "testing: started pid", &pos);
	cr_assert_gt(started, 0, "no worker started after the abort");
	cr_assert_lt(started - caught, 2.12 + slack, "replaced %.2f s after it was caught",
		     started - caught);
	/* end to end, with exec and setup of the next worker (on this machine's scale) */
	cr_assert_lt(dt, 8.0 * harness_slow(), "replaced after %.1f s", dt);
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

struct hostile_case {
	const char *mode;
	const char *why;
};

static void run_hostile(const struct hostile_case *hc)
{
	struct tapiod t;
	char yaml[512];
	snprintf(yaml, sizeof(yaml), BOTH("    mode: %s\n"), hc->mode);
	cr_assert_eq(tapiod_start(&t, yaml), 0);
	cr_assert(tapiod_wait_status(&t, "testing", hc->why, 10000), "%s: no '%s' in status",
		  hc->mode, hc->why);
	/* the process collector keeps serving */
	assert_unharmed(&t, "process");
	int st = tapiod_stop(&t, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* counted: the last stats line of the testing collector has protocol_errors > 0 */
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, hc->why), "%s: log:\n%s", hc->mode, log);
	free(log);
	cr_assert_gt(tapiod_last_stat(&t, "testing", "protocol_errors="), 0, "%s", hc->mode);
	tapiod_cleanup(&t);
}

Test(supervision, hostile_oversized_frame_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = { "oversized", "frame length out of range" };
	run_hostile(&hc);
}

Test(supervision, hostile_garbage_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = { "garbage", "undecodable frame" };
	run_hostile(&hc);
}

Test(supervision, hostile_events_before_ready_are_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = { "early_events", "events before READY" };
	run_hostile(&hc);
}

Test(supervision, hostile_frame_with_two_bodies_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = { "mixed_frame", "holds more than one body" };
	run_hostile(&hc);
}

Test(supervision, hostile_undecodable_event_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = { "bad_event", "undecodable event" };
	run_hostile(&hc);
}

Test(supervision, hostile_backwards_sequence_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = {"seq_backwards", "event sequence 3 after 4"};
	run_hostile(&hc);
}

Test(supervision, hostile_fd_store_with_a_foreign_fd_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = {"fd_store_forged", "FdStore object 0 ('map:events')"};
	run_hostile(&hc);
}

Test(supervision, hostile_fds_without_fd_store_are_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = {"fd_store_unnamed", "2 fds sent without an FdStore frame"};
	run_hostile(&hc);
}

/* A gap in the sequence numbers is counted (once, as seq_gaps) and is not a violation: the
 * last stats line says so. */
Test(supervision, sequence_gap_is_counted, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start_with(&t, "",
				       "  process:\n"
				       "    enabled: false\n"
				       "  testing:\n"
				       "    enabled: true\n"
				       "    mode: seq_gap\n"),
		     0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	double deadline = now_s() + harness_ms(10000) / 1000.0;
	while (tapiod_last_stat(&t, "testing", " events=") < 7 && now_s() < deadline)
		tapiod_pump(&t, 200);
	/* one more stats line after the events */
	unsigned lines = tapiod_log_count(&t, "stats testing:");
	cr_assert(tapiod_wait_log(&t, "stats testing:", lines + 1, harness_ms(3000)));
	cr_assert_eq(tapiod_last_stat(&t, "testing", " events="), 7);
	cr_assert_eq(tapiod_last_stat(&t, "testing", "seq_gaps="), 5);
	cr_assert_eq(tapiod_last_stat(&t, "testing", "worker_queue="), 0);
	cr_assert_eq(tapiod_last_stat(&t, "testing", "protocol_errors="), 0);
	cr_assert_eq(tapiod_last_stat(&t, "testing", "restarts="), 0);
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

static long rss_kib(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "r");
	long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A worker that floods valid frames and never reads: tapiod's memory stays bounded (the
 * socket backpressures the worker, the sink queue drops and counts), the others keep going. */
static long long status_events(struct tapiod *t, const char *name)
{
	char *l = tapiod_status_line(t, name);
	char n[32], st[32], pid[16], up[16];
	int restarts;
	double rate;
	long long events = -1;
	sscanf(l, "%31s %31s %15s %15s %d %lf %lld", n, st, pid, up, &restarts, &rate, &events);
	free(l);
	return events;
}

Test(supervision, flood_keeps_supervisor_memory_bounded, .timeout = 90)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: flood\n")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	cr_assert(tapiod_wait_status(&t, "process", "READY", 10000));
	long long proc_before = status_events(&t, "process");
	long peak = 0;
	/* 3 s of flood at least, and until 10000 events did reach tapiod (up to 3 s on this
	 * machine's scale) */
	double end = now_s() + 3.0, limit = now_s() + harness_ms(3000) / 1000.0;
	long long flood = 0;
	for (int i = 1; now_s() < end || (flood <= 10000 && now_s() < limit); i++) {
		/* read our end of stdout slowly: tapiod's sink queue fills up */
		usleep(100000);
		tapiod_pump(&t, 0);
		long r = rss_kib(t.pid);
		if (r > peak)
			peak = r;
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(p, NULL, 0);
		if (i % 10 == 0)
			flood = status_events(&t, "testing");
	}
	long long proc_after = status_events(&t, "process");
	cr_assert_gt(proc_after, proc_before, "process events kept flowing (%lld -> %lld)",
		     proc_before, proc_after);
	flood = status_events(&t, "testing");
	cr_assert_gt(flood, 10000, "the flood did reach tapiod (%lld events)", flood);
	/* 16 MiB sink queue + 1 MiB frame reader per worker + decode budget + libraries; an
	 * ASan build (same flags as this test) adds its quarantine and shadow memory. */
#ifdef __SANITIZE_ADDRESS__
	const long bound = 1024 * 1024;
#else
	const long bound = 96 * 1024;
#endif
	cr_assert_lt(peak, bound, "tapiod RSS %ld KiB under a flood", peak);
	int st = tapiod_stop(&t, 15000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	long long sink = tapiod_last_stat(&t, "testing", " sink=");
	cr_assert_gt(sink, 0, "sink drops are counted (%lld)", sink);
	tapiod_cleanup(&t);
}

/* Issue 4: a forbidden syscall kills the worker and is reported; a forbidden path is EACCES. */
Test(sandbox_e2e, forbidden_syscall_is_reported_and_restarted, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: forbidden_syscall\n    after_ms: 100\n")),
		     0);
	cr_assert(
		tapiod_wait_status(&t, "testing", "sandbox violation: syscall 41 (socket)", 10000));
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "restarting in"), "restarted: log:\n%s", log);
	free(log);
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

static bool is_open_probe(json_object *ev, void *arg)
{
	const char *type = jstr(ev, "type");
	return type && strcmp(type, "testing.open") == 0;
}

Test(sandbox_e2e, forbidden_path_is_denied_with_eacces, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: forbidden_path\n")), 0);
	json_object *ev = tapiod_wait(&t, is_open_probe, NULL, 10000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "security.filename"), "/etc/hostname");
	cr_assert_eq(jint(ev, "security.result", 0), -13, "EACCES from Landlock");
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

/* The audit: every worker ok, and tapiod's bounding set within what collectors declared. */
Test(sandbox_e2e, audit_and_supervisor_bounding_set, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	cr_assert(tapiod_wait_status(&t, "process", "READY", 10000));
	const char *args[] = { "audit", NULL };
	int st;
	char *out = tapioctl_run(&t, &st, args);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "audit:\n%s", out);
	cr_assert(strstr(out, " ok\n"), "%s", out);
	cr_assert_null(strstr(out, "mismatch"), "%s", out);
	free(out);
	const char *jargs[] = { "audit", "--json", NULL };
	out = tapioctl_run(&t, &st, jargs);
	json_object *j = json_tokener_parse(out);
	cr_assert_not_null(j, "audit --json is JSON: %s", out);
	json_object_put(j);
	free(out);

	struct privilege_status sup;
	cr_assert_eq(privilege_status_read(t.pid, &sup), 0);
	/* union of process (BPF tracing + sandbox + DAC_READ_SEARCH) and testing (sandbox) */
	uint64_t allowed = (1ull << 39) | (1ull << 38) | (1ull << 21) | (1ull << 24) |
			   (1ull << 6) | (1ull << 7) | (1ull << 8) | (1ull << 2);
	cr_assert_eq(sup.cap_bnd & ~allowed, 0, "tapiod bounding set %llx has more than %llx",
		     (unsigned long long)sup.cap_bnd, (unsigned long long)allowed);
	cr_assert_eq(sup.cap_bnd & (1ull << 5), 0, "CAP_KILL is not in the bounding set");
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

Test(supervision, worker_over_memory_budget_is_killed_and_restarted, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: alloc\n"
					   "    alloc_mib: 96\n"
					   "    after_ms: 200\n"
					   "    memory_max_mib: 32\n")),
		     0);
	cr_assert(tapiod_wait_status(&t, "testing", "over memory budget", 15000));
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "over memory budget") && strstr(log, "restarting in"), "log:\n%s",
		  log);
	free(log);
	assert_unharmed(&t, "process"); /* the others keep running */
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

static void write_config(const struct tapiod *t, const char *collectors)
{
	/* the same file tapiod_start wrote, with other collector sections */
	char path[400], sock[400];
	snprintf(path, sizeof(path), "%s/tapio.yaml", t->dir);
	TAPIOD_CTL_SOCK(t, sock);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"node_name: it-node\n"
		"collector_dir: %s\n"
		"supervisor:\n"
		"  stats_log_interval_s: 1\n"
		"control:\n"
		"  socket_path: %s\n"
		"collectors:\n%s",
		harness_bin_dir(), sock, collectors);
	fclose(f);
}

Test(supervision, sighup_restarts_only_changed_sections, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	cr_assert(tapiod_wait_status(&t, "process", "READY", 10000));
	pid_t proc = tapiod_status_pid(&t, "process"), test = tapiod_status_pid(&t, "testing");

	/* an invalid file changes nothing */
	write_config(&t, "  testing:\n    enabled: maybe\n");
	cr_assert_eq(kill(t.pid, SIGHUP), 0);
	cr_assert(tapiod_wait_log(&t, "reload rejected", 1, harness_ms(5000)));
	cr_assert_eq(tapiod_status_pid(&t, "process"), proc);
	cr_assert_eq(tapiod_status_pid(&t, "testing"), test);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "reload rejected") && strstr(log, "collectors.testing.enabled"),
		  "log:\n%s", log);
	free(log);

	/* only the testing section changes: only that worker restarts */
	write_config(&t, BOTH("    after_ms: 5\n"));
	cr_assert_eq(kill(t.pid, SIGHUP), 0);
	double deadline = now_s() + harness_ms(10000) / 1000.0;
	pid_t now_test = test;
	while (now_s() < deadline && (now_test == test || now_test <= 0)) {
		tapiod_pump(&t, 100);
		now_test = tapiod_status_pid(&t, "testing");
	}
	cr_assert_neq(now_test, test, "the changed collector was restarted");
	cr_assert_gt(now_test, 0);
	cr_assert_eq(tapiod_status_pid(&t, "process"), proc,
		     "the unchanged collector kept running");
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 5000));

	/* disabling a collector stops it */
	write_config(&t, "  process:\n    heartbeat_interval_ms: 200\n");
	cr_assert_eq(kill(t.pid, SIGHUP), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "STOPPED", 10000));
	cr_assert_eq(tapiod_status_pid(&t, "process"), proc);

	int st = tapiod_stop(&t, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	tapiod_cleanup(&t);
}

Test(supervision, degraded_worker_is_shown_with_its_reason, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: degraded\n")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "DEGRADED", 10000));
	char *l = tapiod_status_line(&t, "testing");
	cr_assert(strstr(l, "testing: degraded on purpose"), "status: %s", l);
	free(l);
	/* a degraded worker keeps streaming */
	long long before = status_events(&t, "testing"), now = before;
	double deadline = now_s() + harness_ms(5000) / 1000.0;
	while (now <= before && now_s() < deadline) {
		tapiod_pump(&t, 200);
		now = status_events(&t, "testing");
	}
	cr_assert_gt(now, before);
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

/* Issue 15/18: a running worker whose source goes away says so (Status frame), and says so
 * again when it is back. The testing worker flaps 1000 times first: tapiod hears of the first
 * change and then of the state it settled in, never of the 2000 in between. */
static size_t count_in(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(supervision, degraded_after_ready_and_back, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: flap\n    after_ms: 1500\n")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	pid_t pid = tapiod_status_pid(&t, "testing");
	cr_assert(tapiod_wait_status(&t, "testing", "testing: source lost", 10000),
		  "never DEGRADED");
	char *l = tapiod_status_line(&t, "testing");
	cr_assert(strstr(l, "DEGRADED"), "status: %s", l);
	free(l);
	/* /readyz stays 200 (a degraded collector serves what it can) and names it */
	cr_assert(tapiod_wait_status(&t, "testing", "READY ", 10000), "never READY again");
	cr_assert_eq(tapiod_status_pid(&t, "testing"), pid, "the worker was replaced");
	/* a degraded worker kept streaming: events after the recovery too */
	long long before = status_events(&t, "testing"), now = before;
	double deadline = now_s() + harness_ms(5000) / 1000.0;
	while (now <= before && now_s() < deadline) {
		tapiod_pump(&t, 100);
		now = status_events(&t, "testing");
	}
	char *diag = tapiod_status_line(&t, "testing");
	cr_assert_gt(now, before, "no events after READY again: %s\n%s", diag, tapiod_log(&t));
	free(diag);
	const char *args[] = {"status", NULL};
	int st;
	char *out = tapioctl_run(&t, &st, args);
	cr_assert(strstr(out ?: "", "testing: 1 time(s) DEGRADED while running"), "%s", out ?: "");
	cr_assert(strstr(out, "status_changes_merged"), "%s", out);
	free(out);
	st = tapiod_stop(&t, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *log = tapiod_log(&t);
	/* one line per transition (a new reason while DEGRADED is an info line), the recovery */
	cr_assert_eq(count_in(log, "testing: DEGRADED while running"), 1, "%s", log);
	cr_assert(count_in(log, "testing: still DEGRADED") <= 1, "%s", log);
	cr_assert_eq(count_in(log, "testing: READY again"), 1, "%s", log);
	cr_assert(strstr(log, "was DEGRADED: testing: source lost"), "%s", log);
	cr_assert_eq(count_in(log, "protocol violation"), 0, "%s", log);
	free(log);
	tapiod_cleanup(&t);
}

Test(supervision, hostile_status_before_ready_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = {"status_early", "status before READY"};
	run_hostile(&hc);
}

Test(supervision, hostile_status_flood_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = {"status_flood", "status frames faster than"};
	run_hostile(&hc);
}

Test(supervision, hostile_overlong_status_reason_is_killed, .timeout = 60)
{
	harness_require_root();
	struct hostile_case hc = {"status_long", "over-long reason"};
	run_hostile(&hc);
}

/* A reason that is not UTF-8 is shown escaped, never as raw bytes. */
Test(supervision, status_reason_bytes_are_escaped, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("    mode: status_bytes\n")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "DEGRADED", 10000));
	char *l = tapiod_status_line(&t, "testing");
	cr_assert(strstr(l, "bytes \\xff\\x01\\x5c caf\xc3\xa9"), "status: %s", l);
	free(l);
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

Test(tapioctl, events_follow_filters_by_collector_and_type, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, BOTH("")), 0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	char bin[4200], sock[400], cmd[9000];
	snprintf(bin, sizeof(bin), "%s/tapioctl", harness_bin_dir());
	TAPIOD_CTL_SOCK(&t, sock);
	snprintf(cmd, sizeof(cmd),
		 "timeout 10 %s --socket %s events --collector testing --type testing. --follow "
		 "| head -n 5",
		 bin, sock);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), p)) {
		json_object *o = json_tokener_parse(line);
		cr_assert_not_null(o, "not JSON: %s", line);
		cr_assert_str_eq(jstr(o, "collector"), "testing");
		cr_assert_str_eq(jstr(o, "type"), "testing.tick");
		json_object_put(o);
		n++;
	}
	pclose(p);
	cr_assert_eq(n, 5, "5 live events");
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
}

Test(tapioctl, check_config_names_file_line_and_key)
{
	char path[] = "/tmp/tapio-check-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *bad = "collectors:\n  process:\n    ring_buffer_kib: 1000\n";
	cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "%s/tapioctl check-config %s 2>&1", harness_bin_dir(), path);
	FILE *p = popen(cmd, "r");
	char out[1024] = "";
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 100, "exit %d: %s", st, out);
	char want[512];
	snprintf(want, sizeof(want), "%s:3: collectors.process.ring_buffer_kib: 1000 is not a power of two",
		 path);
	cr_assert(strstr(out, want), "got: %s", out);
	unlink(path);
}

/* A worker running without its sandbox is flagged: a warning at READY and a mismatch in the
 * audit (exit 1). */
Test(sandbox_e2e, unsandboxed_worker_is_a_mismatch, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, "  process:\n    enabled: false\n"
				      "  testing:\n    enabled: true\n    sandbox: false\n"),
		     0);
	cr_assert(tapiod_wait_status(&t, "testing", "READY", 10000));
	const char *args[] = { "audit", NULL };
	int st;
	char *out = tapioctl_run(&t, &st, args);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "audit exit %d:\n%s", st, out);
	cr_assert(strstr(out, "mismatch") && strstr(out, "sandbox disabled"), "%s", out);
	free(out);
	tapiod_stop(&t, 10000);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "audit testing") && strstr(log, "sandbox disabled"), "log:\n%s", log);
	free(log);
	tapiod_cleanup(&t);
}
