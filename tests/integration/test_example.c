// SPDX-License-Identifier: Apache-2.0
// The example collector end to end: a collector that exists only in collectors/example/ (and
// its payload in proto/) is built, found in the collector table, configured, started by
// tapiod, sandboxed, and its events arrive with every field taken from /proc/loadavg.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define EXAMPLE_ON                                                                                 \
	"  process:\n    enabled: false\n"                                                         \
	"  example:\n    enabled: true\n    tick_ms: 50\n"

static bool is_example(json_object *ev, void *arg)
{
	const char *c = jstr(ev, "collector"), *type = jstr(ev, "type");
	return c && type && !strcmp(c, "example") && !strcmp(type, "example.loadavg");
}

/* A double of the payload; NAN when absent or not a number. */
static double payload_double(json_object *ev, const char *key)
{
	json_object *p, *v;
	if (!json_object_object_get_ex(ev, "example", &p) || !json_object_object_get_ex(p, key, &v))
		return __builtin_nan("");
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return __builtin_nan("");
	return json_object_get_double(v);
}

struct loadavg {
	double l1, l5, l15;
	long long runnable, total, last_pid;
};

static void read_loadavg(struct loadavg *la)
{
	FILE *f = fopen("/proc/loadavg", "re");
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lf %lf %lf %lld/%lld %lld", &la->l1, &la->l5, &la->l15,
			    &la->runnable, &la->total, &la->last_pid),
		     6);
	fclose(f);
}

static bool same_loads(json_object *ev, const struct loadavg *la)
{
	return payload_double(ev, "load1") == la->l1 && payload_double(ev, "load5") == la->l5 &&
	       payload_double(ev, "load15") == la->l15;
}

Test(example, loadavg_events_arrive_with_every_field, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, EXAMPLE_ON), 0);
	json_object *first = tapiod_wait(&t, is_example, NULL, 10000);
	cr_assert_not_null(first, "no example.loadavg event");

	/* The envelope tapiod and the worker library fill. */
	cr_assert_str_eq(jstr(first, "node"), "it-node");
	cr_assert_not_null(jstr(first, "id"));
	cr_assert_gt(strlen(jstr(first, "id")), 0);
	cr_assert_eq(jint(first, "seq", -1), 1, "the worker's first event");
	cr_assert_gt(jint(first, "bootNs", 0), 0);
	double age = (double)time(NULL) - jtime(first);
	cr_assert(age > -5 && age < 30, "time is now (%.1f s off)", age);

	/* The payload is what the kernel says: read /proc/loadavg, then find a later event with
	 * the same figures (the kernel updates them every 5 s: retry across an update). */
	bool matched = false;
	for (int attempt = 0; attempt < 5 && !matched; attempt++) {
		struct loadavg la;
		size_t from = t.n_events;
		read_loadavg(&la);
		for (int i = 0; i < 20 && !matched; i++) {
			tapiod_pump(&t, 50);
			for (size_t k = from; k < t.n_events && !matched; k++) {
				json_object *ev = t.events[k];
				if (!is_example(ev, NULL) || !same_loads(ev, &la))
					continue;
				long long runnable = jint(ev, "example.runnable", -1);
				long long total = jint(ev, "example.total", -1);
				long long last = jint(ev, "example.lastPid", -1);
				cr_assert_geq(runnable, 1, "the reader itself runs");
				cr_assert_geq(total, runnable);
				cr_assert_geq(total, 2);
				/* pids only grow (short of a wrap at pid_max): the worker read
				 * after tapiod's fork and before this reading */
				struct loadavg now;
				read_loadavg(&now);
				cr_assert_geq(last, (long long)t.pid);
				cr_assert_leq(last, now.last_pid);
				matched = true;
			}
		}
	}
	cr_assert(matched, "no event carried the load average of /proc/loadavg");

	/* Sequence numbers run without gaps, one event a tick. */
	for (int i = 0; i < 100 && tapiod_count(&t, is_example, NULL) < 10; i++)
		tapiod_pump(&t, 50);
	long long want = 1;
	for (size_t k = 0; k < t.n_events; k++)
		if (is_example(t.events[k], NULL))
			cr_assert_eq(jint(t.events[k], "seq", -1), want++, "seq gap");
	cr_assert_gt(want, 10, "events keep coming every tick");

	/* Its worker holds no privilege: only the sandbox drop was declared. */
	pid_t kids[4];
	cr_assert_eq(tapiod_children(&t, kids, 4), 1, "one worker");
	assert_worker_sandboxed(kids[0]);
	cr_assert(tapiod_wait_state(&t, "example", "READY", 10000));

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
}

/* tapiod without root: the table knows the collector, the default config shows it disabled,
 * and a collector's own check runs in --check-config. */
Test(example, default_config_and_check_config)
{
	char cmd[4500];
	snprintf(cmd, sizeof(cmd), "%s/tapiod --print-default-config", harness_bin_dir());
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	static char out[1 << 16];
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0);
	cr_assert_not_null(strstr(out, "\n  example:\n    enabled: false\n"), "%s", out);
	cr_assert_not_null(strstr(out, "\n    tick_ms: 1000 "));

	char path[] = "/tmp/tapio-example-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *bad = "collectors:\n  security:\n    capabilities: [CAP_NOPE]\n";
	cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s/tapiod --check-config --config %s 2>&1",
		 harness_bin_dir(), path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	unlink(path);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 100, "exit %d: %s", st, out);
	char want[200];
	snprintf(want, sizeof(want),
		 "%s:3: collectors.security.capabilities: item 1: unknown capability \"CAP_NOPE\"",
		 path);
	cr_assert_not_null(strstr(out, want), "%s", out);
}
