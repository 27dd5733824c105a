// SPDX-License-Identifier: Apache-2.0
// systemd collector end to end against a real systemd booted as PID 1 of a container
// (tests/helpers/systemd-env.sh: systemd-nspawn over the host's /usr): transient units that
// fail, restart, get killed and log; the events read from tapiod's stdout, every field checked.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
/* the attribution under test, on real processes in real unit cgroups */
#include "cgroup.h"
#include "systemd_unit.h"

struct env {
	char dir[128];
	char script[4096];
};

/* Run the helper with these arguments; its exit status (-1 when it did not exit). */
static int helper(const struct env *e, const char *const *args)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = e->script;
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		execv(e->script, (char *const *)argv);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* The host pid of pid `inner` of the container whose PID 1 is host pid `leader` (NSpid). */
static pid_t host_pid(pid_t leader, pid_t inner)
{
	char path[64], ns[64], lns[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)leader);
	ssize_t ln = readlink(path, lns, sizeof(lns) - 1);
	if (ln <= 0)
		return -1;
	lns[ln] = '\0';
	for (pid_t p = 2; p < 4194304; p++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)p);
		ssize_t n = readlink(path, ns, sizeof(ns) - 1);
		if (n <= 0)
			continue;
		ns[n] = '\0';
		if (strcmp(ns, lns) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/status", (int)p);
		FILE *f = fopen(path, "r");
		char line[256];
		while (f && fgets(line, sizeof(line), f)) {
			int a, b;
			if (sscanf(line, "NSpid: %d %d", &a, &b) == 2 && b == inner) {
				fclose(f);
				return p;
			}
		}
		if (f)
			fclose(f);
	}
	return -1;
}

static pid_t env_leader(const struct env *e)
{
	char path[200];
	snprintf(path, sizeof(path), "%s/leader", e->dir);
	FILE *f = fopen(path, "r");
	int pid = -1;
	if (f && fscanf(f, "%d", &pid) != 1)
		pid = -1;
	if (f)
		fclose(f);
	return pid;
}

/* Run a command inside the container. */
#define IN(e, ...) helper((e), (const char *const[]){"exec", (e)->dir, __VA_ARGS__, NULL})

/* The container of the running test (a copy: a failed assertion leaves the test's frame),
 * stopped by env_fini even then. */
static struct env live_env;
static bool env_live;

static void env_init(struct env *e)
{
	harness_require_root();
	snprintf(e->dir, sizeof(e->dir), "/tmp/tapio-sd-%d", (int)getpid());
	snprintf(e->script, sizeof(e->script), "%s/tests/helpers/systemd-env.sh",
		 harness_source_dir());
	live_env = *e;
	env_live = true;
}

static void env_start(struct env *e)
{
	env_init(e);
	cr_assert_eq(helper(e, (const char *const[]){"start", e->dir, NULL}), 0,
		     "systemd-env.sh start failed (is systemd-container installed?)");
}

static void env_stop(struct env *e)
{
	helper(e, (const char *const[]){"stop", e->dir, NULL});
	env_live = false;
}

static void env_fini(void)
{
	if (env_live)
		env_stop(&live_env);
}

static const char *collectors_yaml(const struct env *e, const char *extra, char *buf, size_t size)
{
	snprintf(buf, size,
		 "  process:\n    enabled: false\n"
		 "  network:\n    enabled: false\n"
		 "  dns:\n    enabled: false\n"
		 "  systemd:\n    enabled: true\n"
		 "    globs: [\"tapio-it-*\"]\n"
		 "    bus_address: \"unix:path=%s/dbus/system_bus_socket\"\n"
		 "    journal_directory: %s/journal\n"
		 "    cursor_file: %s/state/journal.cursor\n"
		 "%s",
		 e->dir, e->dir, e->dir, extra);
	return buf;
}

/* The worker has listed the units (subscribed): changes from now on are seen. */
static void wait_connected(struct tapiod *t, int n)
{
	for (int i = 0; i < 200; i++) {
		char *log = tapiod_log(t);
		int seen = 0;
		for (const char *p = log; p && (p = strstr(p, "connected to the manager")); p++)
			seen++;
		free(log);
		if (seen >= n)
			return;
		tapiod_pump(t, 50);
	}
	cr_assert_fail("the systemd worker never connected to the container's manager");
}

struct want {
	const char *type, *unit, *active, *sub;
	long long restarts;	 /* -1 = any */
	const char *prev_active; /* NULL = any */
};

static bool match_want(json_object *ev, void *arg)
{
	const struct want *w = arg;
	const char *t = jstr(ev, "type"), *u = jstr(ev, "systemd.unit");
	if (!t || strcmp(t, w->type) != 0 || !u || strcmp(u, w->unit) != 0)
		return false;
	if (w->active && strcmp(jstr(ev, "systemd.activeState") ?: "", w->active) != 0)
		return false;
	if (w->sub && strcmp(jstr(ev, "systemd.subState") ?: "", w->sub) != 0)
		return false;
	if (w->prev_active &&
	    strcmp(jstr(ev, "systemd.previousActiveState") ?: "", w->prev_active) != 0)
		return false;
	return w->restarts < 0 || jint(ev, "systemd.restarts", -1) == w->restarts;
}

static json_object *wait_for(struct tapiod *t, const char *type, const char *unit,
			     const char *active, const char *sub, long long restarts)
{
	struct want w = {type, unit, active, sub, restarts, NULL};
	json_object *ev = tapiod_wait(t, match_want, &w, 20000);
	cr_assert_not_null(ev, "no %s for %s %s/%s restarts %lld", type, unit, active ?: "*",
			   sub ?: "*", restarts);
	return ev;
}

/* The systemd.unit events of one unit, in order. */
static size_t unit_events(struct tapiod *t, const char *unit, json_object **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_events && n < max; i++) {
		json_object *ev = t->events[i];
		if (strcmp(jstr(ev, "type") ?: "", "systemd.unit") == 0 &&
		    strcmp(jstr(ev, "systemd.unit") ?: "", unit) == 0)
			out[n++] = ev;
	}
	return n;
}

static bool is_hex(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* systemd.context: a line below the priority, sent because its unit failed around it */
static bool is_context(json_object *ev)
{
	json_object *sd, *v;
	return json_object_object_get_ex(ev, "systemd", &sd) &&
	       json_object_object_get_ex(sd, "context", &v) &&
	       json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static void assert_envelope(json_object *ev)
{
	cr_assert_str_eq(jstr(ev, "collector"), "systemd");
	cr_assert_str_eq(jstr(ev, "node"), "it-node");
	cr_assert_gt(jint(ev, "seq", 0), 0);
	double now = (double)time(NULL);
	double ts = jtime(ev);
	cr_assert(ts > now - 120 && ts < now + 5, "event time %f is not now (%f)", ts, now);
}

#define FLAP "tapio-it-flap.service"
/* Runs 0..2 log at err and debug and exit 3; run 3 (after the third restart) stays up. */
#define FLAP_SCRIPT                                                                                \
	"n=$(cat /run/tapio-it-n 2>/dev/null || echo 0); echo $((n + 1)) > /run/tapio-it-n; "      \
	"if [ \"$n\" -ge 3 ]; then exec sleep 1000; fi; "                                          \
	"echo \"<3>tapio-it err line $n\"; echo \"<7>tapio-it debug line $n\"; exit 3"

Test(systemd, unit_lifecycle_restarts_kill_job_and_journal, .timeout = 120, .fini = env_fini)
{
	struct env e;
	env_start(&e);
	char cfg[2048];
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, collectors_yaml(&e,
						      "    restart_loop_count: 2\n"
						      "    restart_loop_window_s: 60\n",
						      cfg, sizeof(cfg))),
		     0);
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 10000), "systemd worker not READY");
	wait_connected(&t, 1);
	pid_t kids[8];
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	assert_worker_sandboxed(kids[0]);
	int st;
	char *audit = tapioctl_run(&t, &st, (const char *const[]){"audit", NULL});
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "audit:\n%s", audit ?: "");
	cr_assert_not_null(strstr(audit, "systemd"), "%s", audit);
	free(audit);

	/* a service that exits 3 and is restarted on failure three times, then stopped */
	cr_assert_eq(IN(&e, "systemd-run", "--unit=" FLAP, "-p", "Restart=on-failure", "-p",
			"RestartSec=300ms", "/bin/sh", "-c", FLAP_SCRIPT),
		     0);
	wait_for(&t, "systemd.unit", FLAP, "active", "running", 3);
	cr_assert_eq(IN(&e, "systemctl", "stop", FLAP), 0);
	struct want stopped = {"systemd.unit", FLAP, "inactive", "dead", 3, "deactivating"};
	cr_assert_not_null(tapiod_wait(&t, match_want, &stopped, 20000), "no stop of " FLAP);

	json_object *evs[64];
	size_t n = unit_events(&t, FLAP, evs, 64);
	/* change-only, in order: each event's previous state is the one before it */
	for (size_t i = 0; i < n; i++) {
		assert_envelope(evs[i]);
		if (i == 0)
			continue;
		cr_assert_str_eq(jstr(evs[i], "systemd.previousActiveState"),
				 jstr(evs[i - 1], "systemd.activeState"), "event %zu", i);
		cr_assert_str_eq(jstr(evs[i], "systemd.previousSubState"),
				 jstr(evs[i - 1], "systemd.subState"), "event %zu", i);
		cr_assert(strcmp(jstr(evs[i], "systemd.activeState"),
				 jstr(evs[i - 1], "systemd.activeState")) != 0 ||
				  strcmp(jstr(evs[i], "systemd.subState"),
					 jstr(evs[i - 1], "systemd.subState")) != 0,
			  "event %zu repeats the state", i);
	}
	/* the runs: running → failed (exit 3) → auto-restart, three times, then running */
	size_t i = 0;
	for (long long run = 0; run <= 3; run++) {
		while (i < n && strcmp(jstr(evs[i], "systemd.subState"), "running") != 0)
			i++;
		cr_assert_lt(i, n, "run %lld never ran", run);
		json_object *up = evs[i];
		cr_assert_str_eq(jstr(up, "systemd.activeState"), "active");
		cr_assert_eq(jint(up, "systemd.restarts", -1), run);
		long long pid = jint(up, "systemd.mainPid", 0);
		cr_assert_gt(pid, 1);
		cr_assert(is_hex(jstr(up, "systemd.invocationId"), 32));
		if (run == 3)
			break;
		cr_assert_lt(i + 2, n);
		json_object *down = evs[i + 1], *again = evs[i + 2];
		cr_assert_str_eq(jstr(down, "systemd.activeState"), "failed");
		cr_assert_str_eq(jstr(down, "systemd.subState"), "failed");
		cr_assert_str_eq(jstr(down, "systemd.result"), "exit-code");
		cr_assert_str_eq(jstr(down, "systemd.exitCode"), "exited");
		cr_assert_eq(jint(down, "systemd.exitStatus", -1), 3);
		cr_assert_eq(jint(down, "systemd.signal", -1), -1);
		cr_assert_eq(jint(down, "systemd.mainPid", 0), pid);
		cr_assert_eq(jint(down, "systemd.restarts", -1), run);
		cr_assert_str_eq(jstr(again, "systemd.activeState"), "activating");
		cr_assert_str_eq(jstr(again, "systemd.subState"), "auto-restart");
		cr_assert_str_eq(jstr(again, "systemd.restartTrigger"), "exit-code");
		i += 3;
	}
	/* stopped: the last event is inactive/dead after the fourth run */
	json_object *last = evs[n - 1];
	cr_assert_str_eq(jstr(last, "systemd.activeState"), "inactive");
	cr_assert_str_eq(jstr(last, "systemd.subState"), "dead");
	cr_assert_eq(jint(last, "systemd.restarts", -1), 3);

	/* more than 2 restarts within 60 s: one restart-loop event, at the third */
	struct want loop = {"systemd.unit_restart_loop", FLAP, NULL, NULL, -1, NULL};
	cr_assert_eq(tapiod_count(&t, match_want, &loop), 1);
	json_object *lp = tapiod_wait(&t, match_want, &loop, 0);
	cr_assert_eq(jint(lp, "systemd.restartsInWindow", 0), 3);
	cr_assert_eq(jint(lp, "systemd.windowS", 0), 60);
	cr_assert_eq(jint(lp, "systemd.restarts", 0), 3);
	cr_assert_str_eq(jstr(lp, "systemd.restartTrigger"), "exit-code");

	/* the journal: each run's err line, never a debug line */
	for (int run = 0; run < 3; run++) {
		char want[64];
		snprintf(want, sizeof(want), "tapio-it err line %d", run);
		json_object *j = NULL;
		for (size_t k = 0; k < t.n_events && !j; k++)
			if (strcmp(jstr(t.events[k], "type") ?: "", "systemd.journal") == 0 &&
			    strcmp(jstr(t.events[k], "systemd.message") ?: "", want) == 0)
				j = t.events[k];
		cr_assert_not_null(j, "no journal event \"%s\"", want);
		assert_envelope(j);
		cr_assert_str_eq(jstr(j, "systemd.unit"), FLAP);
		cr_assert_eq(jint(j, "systemd.priority", -1), 3);
		cr_assert_str_eq(jstr(j, "systemd.syslogIdentifier"), "sh");
		cr_assert_gt(jint(j, "process.pid", 0), 1);
		cr_assert(is_hex(jstr(j, "systemd.bootId"), 32));
		cr_assert_gt(jint(j, "systemd.monotonicUs", 0), 0);
		cr_assert_not_null(strstr(jstr(j, "systemd.cursor") ?: "", ";i="));
		cr_assert_eq(jint(j, "systemd.messageTruncated", 0), 0);
	}
	for (size_t k = 0; k < t.n_events; k++) {
		const char *m = jstr(t.events[k], "systemd.message");
		/* a debug line comes only as context of the failed run it belongs to */
		cr_assert(!m || !strstr(m, "debug line") || is_context(t.events[k]),
			  "a debug line passed the priority");
	}

	/* a service killed by SIGKILL */
#define KILLED "tapio-it-kill.service"
	cr_assert_eq(IN(&e, "systemd-run", "--unit=" KILLED, "/bin/sleep", "1000"), 0);
	json_object *up = wait_for(&t, "systemd.unit", KILLED, "active", "running", 0);
	cr_assert_eq(IN(&e, "systemctl", "kill", "-s", "KILL", KILLED), 0);
	json_object *dead = wait_for(&t, "systemd.unit", KILLED, "failed", "failed", 0);
	assert_envelope(dead);
	cr_assert_str_eq(jstr(dead, "systemd.previousActiveState"), "active");
	cr_assert_str_eq(jstr(dead, "systemd.previousSubState"), "running");
	cr_assert_str_eq(jstr(dead, "systemd.result"), "signal");
	cr_assert_str_eq(jstr(dead, "systemd.exitCode"), "killed");
	cr_assert_eq(jint(dead, "systemd.signal", -1), 9);
	cr_assert_eq(jint(dead, "systemd.exitStatus", -1), -1);
	cr_assert_eq(jint(dead, "systemd.mainPid", 0), jint(up, "systemd.mainPid", -1));

	/* unit attribution of a real process from its real cgroup (as tapiod will join it) */
#define ATTR "tapio-it-attr.service"
	cr_assert_eq(IN(&e, "systemd-run", "--unit=" ATTR, "/bin/sleep", "1000"), 0);
	json_object *attr = wait_for(&t, "systemd.unit", ATTR, "active", "running", 0);
	pid_t hp = host_pid(env_leader(&e), (pid_t)jint(attr, "systemd.mainPid", 0));
	cr_assert_gt(hp, 0, "the unit's main process is not visible from the host");
	char cgpath[64], cgtext[4096], unit[SYSTEMD_UNIT_NAME_MAX + 1];
	snprintf(cgpath, sizeof(cgpath), "/proc/%d/cgroup", (int)hp);
	FILE *cg = fopen(cgpath, "r");
	cr_assert_not_null(cg);
	size_t cglen = fread(cgtext, 1, sizeof(cgtext) - 1, cg);
	fclose(cg);
	cr_assert_eq(systemd_unit_from_proc_cgroup(cgtext, cglen, unit, sizeof(unit)),
		     (int)strlen(ATTR), "%.*s", (int)cglen, cgtext);
	cr_assert_str_eq(unit, ATTR);

	/* a job that ends other than done */
#define JOB "tapio-it-job.service"
	IN(&e, "systemd-run", "--unit=" JOB, "-p", "Type=oneshot", "/bin/false");
	json_object *job = wait_for(&t, "systemd.job", JOB, NULL, NULL, -1);
	assert_envelope(job);
	cr_assert_str_eq(jstr(job, "systemd.jobResult"), "failed");
	cr_assert_gt(jint(job, "systemd.jobId", 0), 0);
	struct want done = {"systemd.job", FLAP, NULL, NULL, -1, NULL};
	cr_assert_eq(tapiod_count(&t, match_want, &done), 0, "a job that ended done was reported");

	/* the bus goes away (dbus restarted): the worker reconnects and sees changes again */
	cr_assert_eq(IN(&e, "systemctl", "restart", "dbus.service"), 0);
	wait_connected(&t, 2);
#define AFTER "tapio-it-after.service"
	cr_assert_eq(IN(&e, "systemd-run", "--unit=" AFTER, "/bin/sleep", "1000"), 0);
	wait_for(&t, "systemd.unit", AFTER, "active", "running", 0);

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	cr_assert_eq(t.bad_lines, 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}

/* Kill the worker in the middle of a burst of journal lines: after tapiod restarts it, the
 * cursor file says where it was. No line may be missing. The cursor is saved right after each
 * batch is written to tapiod, so a kill between that write and the save repeats at most the
 * one batch in flight (batch_max_events lines), the last ones the first worker sent;
 * anything else repeated is a cursor bug. (Exactly once needs a consumer that drops repeats:
 * each event carries its journal cursor.) */
#define BURST 9000 /* journald keeps 10000 lines per 30 s of one service */
Test(systemd, journal_cursor_survives_kill_mid_burst, .timeout = 120, .fini = env_fini)
{
	struct env e;
	env_start(&e);
	char cfg[2048];
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, collectors_yaml(&e,
						      "    journal_rate_per_s: 100000\n"
						      "    journal_burst: 100000\n"
						      "    batch_max_events: 32\n"
						      "    restart_initial_ms: 200\n",
						      cfg, sizeof(cfg))),
		     0);
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 10000), "systemd worker not READY");
	wait_connected(&t, 1);
	pid_t kids[8];
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	pid_t first = kids[0];

	char script[512];
	/* The kill lands in the middle of the burst however fast the worker and the test's own
	 * reading are: lines are paced (50 ms every 300), and the second half waits on a gate
	 * the test opens only after the kill (at full speed a sanitizer build's reader once saw
	 * the whole burst before it could kill). */
	snprintf(script, sizeof(script),
		 "i=0; while [ $i -lt %d ]; do echo \"<3>burst $i\"; i=$((i + 1)); "
		 "[ $((i %% 300)) -ne 0 ] || sleep 0.05; "
		 "if [ $i -eq %d ]; then while [ ! -e /run/tapio-it/go ]; do sleep 0.02; done; fi; "
		 "done; exec sleep 1000",
		 BURST, BURST / 2);
	cr_assert_eq(
		IN(&e, "systemd-run", "--unit=tapio-it-burst.service", "/bin/sh", "-c", script), 0);
	/* a part of the burst is through: kill the worker */
	size_t seen = 0;
	for (int i = 0; i < 400 && seen < BURST / 10; i++) {
		tapiod_pump(&t, 20);
		seen = 0;
		for (size_t k = 0; k < t.n_events; k++)
			seen += strncmp(jstr(t.events[k], "systemd.message") ?: "", "burst ", 6) ==
				0;
	}
	cr_assert_geq(seen, BURST / 10, "the burst did not start");
	cr_assert_eq(kill(first, SIGKILL), 0);
	cr_assert_leq(seen, BURST / 2, "the burst went past its gate");
	char gate[sizeof(e.dir) + 16];
	snprintf(gate, sizeof(gate), "%s/share/go", e.dir);
	int gfd = open(gate, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	cr_assert_geq(gfd, 0, "%s: %s", gate, strerror(errno));
	close(gfd);
	/* tapiod reaps it and starts another */
	bool restarted = false;
	for (int i = 0; i < 200 && !restarted; i++) {
		tapiod_pump(&t, 50);
		restarted = tapiod_children(&t, kids, 8) == 1 && kids[0] != first;
	}
	cr_assert(restarted, "the worker was not restarted");

	/* the restarted worker resumes at the cursor: wait for the last line */
	static bool got[BURST];
	size_t total = 0, dups = 0;
	for (int round = 0; round < 600; round++) {
		tapiod_pump(&t, 50);
		memset(got, 0, sizeof(got));
		total = dups = 0;
		for (size_t k = 0; k < t.n_events; k++) {
			const char *m = jstr(t.events[k], "systemd.message");
			if (!m || strncmp(m, "burst ", 6) != 0)
				continue;
			int v = atoi(m + 6);
			cr_assert(v >= 0 && v < BURST);
			if (got[v])
				dups++;
			got[v] = true;
			total++;
		}
		if (total - dups == BURST)
			break;
	}
	for (int v = 0; v < BURST; v++)
		cr_assert(got[v], "line %d is missing", v);
	/* exactly once: the batch in flight at the kill carried its cursor (the resume token);
	 * tapiod handed the last one it received whole to the next worker */
	cr_assert_eq(dups, 0, "%zu lines were repeated after the restart", dups);
	cr_assert_eq(total, BURST);
	char *log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "journal resumes after the cursor tapiod kept"), "%s", log);
	free(log);

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}

/* A journal file cut off in the middle of an entry: the worker reads up to the cut, keeps
 * running (no crash, no restart) and stops cleanly. */
Test(systemd, truncated_journal_does_not_crash_the_worker, .timeout = 60, .fini = env_fini)
{
	struct env e;
	env_start(&e);
	/* lines to read, then the journal file copied and cut */
	for (int i = 0; i < 3; i++)
		IN(&e, "systemd-run", "--unit=tapio-it-trunc.service", "-p", "Type=oneshot",
		   "/bin/sh", "-c",
		   "for i in 1 2 3 4 5 6 7 8; do echo \"<3>tapio-it trunc $i\"; done");
	char cmd[2048];
	/* Cut 5 bytes into the file's last object, and shrink the header's arena_size (le64 at
	 * 96; header_size at 88, tail_object_offset at 136) to match: sd-journal refuses a file
	 * smaller than its arena outright, and the point is to make it read up to the cut. */
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; f=$(ls journal/*/system.journal); m=$(basename $(dirname $f)); "
		 "mkdir -p cut/$m state; cp --sparse=always $f cut/$m/system.journal; "
		 "c=$(journalctl -D cut -o export -n 2000 -r PRIORITY=3 | sed -n 's/^__CURSOR=//p' "
		 "| tail -1); "
		 "printf 'tapio-journal-cursor 1\\n%%s\\n' \"$c\" > state/journal.cursor; "
		 "perl -e 'open(my $F, \"+<\", $ARGV[0]) or die; binmode $F; "
		 "seek($F, 136, 0); read($F, my $b, 8); my $t = unpack(\"Q<\", $b); "
		 "seek($F, 88, 0); read($F, $b, 8); my $h = unpack(\"Q<\", $b); "
		 "seek($F, 96, 0); print $F pack(\"Q<\", $t + 5 - $h); close $F; "
		 "truncate($ARGV[0], $t + 5) or die' cut/$m/system.journal",
		 e.dir);
	cr_assert_eq(system(cmd), 0, "cannot prepare the truncated journal");

	char cfg[2048], extra[600];
	snprintf(extra, sizeof(extra),
		 "    globs: [\"*\"]\n    unit_types: [service, scope]\n"
		 "    journal_directory: %s/cut\n",
		 e.dir);
	/* the later journal_directory key overrides the one of collectors_yaml(): not allowed
	 * twice in YAML, so build the section here */
	snprintf(cfg, sizeof(cfg),
		 "  process:\n    enabled: false\n"
		 "  network:\n    enabled: false\n"
		 "  dns:\n    enabled: false\n"
		 "  systemd:\n    enabled: true\n"
		 "    bus_address: \"unix:path=%s/dbus/system_bus_socket\"\n"
		 "    cursor_file: %s/state/journal.cursor\n%s",
		 e.dir, e.dir, extra);
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, cfg), 0);
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 10000), "systemd worker not READY");
	pid_t kids[8];
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	pid_t first = kids[0];
	/* it reads what is before the cut, then waits */
	struct want any = {"systemd.journal", "tapio-it-trunc.service", NULL, NULL, -1, NULL};
	json_object *ev = tapiod_wait(&t, match_want, &any, 10000);
	cr_assert_not_null(ev, "nothing read from the truncated journal");
	cr_assert_eq(jint(ev, "systemd.priority", -1), 3);
	tapiod_pump(&t, 500);
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	cr_assert_eq(kids[0], first, "the worker died on the truncated file");
	char *log = tapiod_log(&t);
	cr_assert_null(strstr(log, "systemd: exit"), "%s", log);
	cr_assert_null(strstr(log, "killed with signal"), "%s", log);
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}

/* Rotation: journald starts a new file the sandboxed worker cannot open; it exits, and the
 * restarted worker reopens the journal at its cursor: the lines before and after the rotation
 * arrive, each once. */
Test(systemd, journal_rotation_reopens_at_the_cursor, .timeout = 90, .fini = env_fini)
{
	struct env e;
	env_start(&e);
	char cfg[2048];
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, collectors_yaml(&e, "    restart_initial_ms: 100\n", cfg,
						      sizeof(cfg))),
		     0);
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 10000), "systemd worker not READY");
	wait_connected(&t, 1);
	pid_t kids[8];
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	pid_t first = kids[0];

	IN(&e, "systemd-run", "--unit=tapio-it-rot1.service", "-p", "Type=oneshot", "/bin/sh", "-c",
	   "for i in 0 1 2 3 4; do echo \"<3>rot $i\"; done");
	struct want before = {"systemd.journal", "tapio-it-rot1.service", NULL, NULL, -1, NULL};
	for (int i = 0; i < 200 && tapiod_count(&t, match_want, &before) < 5; i++)
		tapiod_pump(&t, 50);
	cr_assert_eq(tapiod_count(&t, match_want, &before), 5);

	cr_assert_eq(IN(&e, "journalctl", "--rotate"), 0);
	IN(&e, "systemd-run", "--unit=tapio-it-rot2.service", "-p", "Type=oneshot", "/bin/sh", "-c",
	   "for i in 5 6 7 8 9; do echo \"<3>rot $i\"; done");
	struct want after = {"systemd.journal", "tapio-it-rot2.service", NULL, NULL, -1, NULL};
	for (int i = 0; i < 400 && tapiod_count(&t, match_want, &after) < 5; i++)
		tapiod_pump(&t, 50);
	cr_assert_eq(tapiod_count(&t, match_want, &after), 5, "lines after the rotation");
	tapiod_pump(&t, 300);
	cr_assert_eq(tapiod_count(&t, match_want, &before), 5, "lines before it, repeated");
	cr_assert_eq(tapiod_count(&t, match_want, &after), 5);
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	cr_assert_neq(kids[0], first, "the worker did not restart to reopen the journal");
	char *log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "journal files changed"), "%s", log);
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}

/* No systemd yet: the worker goes READY as DEGRADED and retries with backoff; once the
 * manager is there it connects and reports units (the journal, absent at start, stays off). */
Test(systemd, degraded_until_the_bus_appears, .timeout = 60, .fini = env_fini)
{
	struct env e;
	env_init(&e);
	char cfg[2048];
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, collectors_yaml(&e,
						      "    reconnect_initial_ms: 100\n"
						      "    reconnect_max_ms: 400\n",
						      cfg, sizeof(cfg))),
		     0);
	cr_assert(tapiod_wait_state(&t, "systemd", "DEGRADED", 10000), "not DEGRADED");
	int st;
	char *status = tapioctl_run(&t, &st, (const char *const[]){"status", NULL});
	cr_assert_not_null(strstr(status ?: "", "systemd bus unreachable"), "%s", status ?: "");
	cr_assert_not_null(strstr(status, "journal unavailable"), "%s", status);
	free(status);

	cr_assert_eq(helper(&e, (const char *const[]){"start", e.dir, NULL}), 0);
	wait_connected(&t, 1);
#define LATE "tapio-it-late.service"
	cr_assert_eq(IN(&e, "systemd-run", "--unit=" LATE, "/bin/sleep", "1000"), 0);
	json_object *ev = wait_for(&t, "systemd.unit", LATE, "active", "running", 0);
	assert_envelope(ev);
	pid_t kids[8];
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	assert_worker_sandboxed(kids[0]);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}

/* The bus goes away under a running worker (dbus stopped inside the container): tapiod shows
 * the collector DEGRADED with the reason, once; the bus comes back: READY again, and unit
 * changes are seen again. */
Test(systemd, bus_lost_after_ready_is_degraded_then_ready, .timeout = 90, .fini = env_fini)
{
	struct env e;
	env_start(&e);
	char cfg[2048];
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, collectors_yaml(&e,
						      "    reconnect_initial_ms: 100\n"
						      "    reconnect_max_ms: 400\n"
						      "    restart_initial_ms: 100\n",
						      cfg, sizeof(cfg))),
		     0);
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 10000), "systemd worker not READY");
	wait_connected(&t, 1);

	cr_assert_eq(IN(&e, "systemctl", "stop", "dbus.socket", "dbus.service"), 0);
	cr_assert(tapiod_wait_state(&t, "systemd", "DEGRADED", 15000), "not DEGRADED:\n%s",
		  tapiod_log(&t));
	int st;
	char *status = tapioctl_run(&t, &st, (const char *const[]){"status", NULL});
	cr_assert_not_null(strstr(status ?: "", "systemd bus lost"), "%s", status ?: "");
	free(status);
	pid_t kids[8];
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	pid_t during = kids[0];

	cr_assert_eq(IN(&e, "systemctl", "start", "dbus.socket"), 0);
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 20000), "not READY again:\n%s",
		  tapiod_log(&t));
	wait_connected(&t, 2);
#define BACK "tapio-it-back.service"
	cr_assert_eq(IN(&e, "systemd-run", "--unit=" BACK, "/bin/sleep", "1000"), 0);
	wait_for(&t, "systemd.unit", BACK, "active", "running", 0);

	char *log = tapiod_log(&t);
	const char *deg = strstr(log, "systemd: DEGRADED while running");
	cr_assert_not_null(deg, "%s", log);
	cr_assert(strstr(deg, "systemd bus lost"), "%s", log);
	/* once per transition: one line for the loss */
	cr_assert_null(strstr(deg + 1, "systemd: DEGRADED while running"), "%s", log);
	/* back: the same worker says READY again, or (the bus refuses a sandboxed uid) its
	 * successor's READY */
	cr_assert_eq(tapiod_children(&t, kids, 8), 1);
	if (kids[0] == during)
		cr_assert(strstr(deg, "systemd: READY again"), "%s", log);
	cr_log_info("bus back: %s", kids[0] == during ? "same worker, READY again"
						     : "a new worker (the bus refused the sandboxed one)");
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}

/* Issue 15 point 2: everything the unit wrote in the seconds around its failure. A unit logs
 * at debug and exits 3: its debug lines arrive, flagged as context, once each; the debug lines
 * of a unit that ends well do not. */
#define CTXF "tapio-it-ctxfail.service"
#define CTXOK "tapio-it-ctxok.service"

struct msg_want {
	const char *unit, *message;
};

static bool match_msg(json_object *ev, void *arg)
{
	const struct msg_want *w = arg;
	return strcmp(jstr(ev, "type") ?: "", "systemd.journal") == 0 &&
	       strcmp(jstr(ev, "systemd.unit") ?: "", w->unit) == 0 &&
	       strcmp(jstr(ev, "systemd.message") ?: "", w->message) == 0;
}

Test(systemd, context_lines_around_a_failure, .timeout = 90, .fini = env_fini)
{
	struct env e;
	env_start(&e);
	char cfg[2048];
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, collectors_yaml(&e,
						      "    context_before_ms: 5000\n"
						      "    context_after_ms: 500\n"
						      "    context_max_lines: 10\n",
						      cfg, sizeof(cfg))),
		     0);
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 10000), "systemd worker not READY");
	wait_connected(&t, 1);

	cr_assert_eq(IN(&e, "systemd-run", "--wait", "--unit=" CTXOK, "-p", "Type=oneshot",
			"/bin/sh", "-c", "echo \"<7>ctx healthy debug\"; echo \"<3>ctx healthy err\""),
		     0);
	IN(&e, "systemd-run", "--unit=" CTXF, "/bin/sh", "-c",
	   "for i in 0 1 2; do echo \"<7>ctx debug $i\"; done; echo \"<3>ctx err\"; sleep 0.3; "
	   "exit 3");
	json_object *failed = wait_for(&t, "systemd.unit", CTXF, "failed", "failed", -1);
	cr_assert_eq(jint(failed, "systemd.exitStatus", -1), 3);
	/* the window closes 500 ms after the failure; read then */
	struct msg_want last = {CTXF, "ctx debug 2"};
	cr_assert_not_null(tapiod_wait(&t, match_msg, &last, 10000), "no context lines");
	tapiod_pump(&t, 1000); /* nothing more may come */
	for (int i = 0; i < 3; i++) {
		char m[32];
		snprintf(m, sizeof(m), "ctx debug %d", i);
		struct msg_want w = {CTXF, m};
		cr_assert_eq(tapiod_count(&t, match_msg, &w), 1, "\"%s\" not exactly once", m);
		json_object *ev = tapiod_wait(&t, match_msg, &w, 0);
		assert_envelope(ev);
		cr_assert(is_context(ev), "\"%s\" is not flagged as context", m);
		cr_assert_eq(jint(ev, "systemd.priority", -1), 7);
		cr_assert_not_null(strstr(jstr(ev, "systemd.cursor") ?: "", ";i="));
	}
	/* the err line went out as an ordinary line, and only as that */
	struct msg_want err = {CTXF, "ctx err"};
	cr_assert_eq(tapiod_count(&t, match_msg, &err), 1);
	cr_assert(!is_context(tapiod_wait(&t, match_msg, &err, 0)));
	/* the healthy unit: its err line, never its debug line */
	struct msg_want okerr = {CTXOK, "ctx healthy err"};
	cr_assert_not_null(tapiod_wait(&t, match_msg, &okerr, 10000));
	cr_assert_eq(tapiod_count(&t, match_msg, &okerr), 1);
	struct msg_want okdbg = {CTXOK, "ctx healthy debug"};
	cr_assert_eq(tapiod_count(&t, match_msg, &okdbg), 0, "a healthy unit's debug line came");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}

/* A process.exec whose argv[1] is the marker. */
static bool match_exec(json_object *ev, void *arg)
{
	json_object *pe, *argv;
	if (strcmp(jstr(ev, "type") ?: "", "process.exec") != 0 ||
	    !json_object_object_get_ex(ev, "processExec", &pe) ||
	    !json_object_object_get_ex(pe, "argv", &argv) || json_object_array_length(argv) < 2)
		return false;
	const char *a1 = json_object_get_string(json_object_array_get_idx(argv, 1));
	return a1 && strcmp(a1, (const char *)arg) == 0;
}

/* Fork, move the child into the cgroup `rel` of the cgroup2 mount `mnt` ("" = stay), exec
 * /bin/true MARKER; wait for it. */
static void exec_marker(const char *mnt, const char *rel, const char *marker)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (rel[0]) {
			char p[4200];
			snprintf(p, sizeof(p), "%s%s/cgroup.procs", mnt, rel);
			int fd = open(p, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(126);
			close(fd);
		}
		execl("/bin/true", "true", marker, (char *)NULL);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "marker child: status %d", st);
}

/* Issue 15 point 3: tapiod joins the unit owning each event's cgroup. The process collector's
 * exec of a command started by systemd-run in the container's real systemd carries the
 * transient unit's name; an exec in a cgroup of no unit carries none; an exec from the
 * test's own cgroup carries what the rules say of that path. */
Test(systemd, process_events_carry_their_systemd_unit, .timeout = 90, .fini = env_fini)
{
	struct env e;
	env_start(&e);
	char cfg[2048];
	struct tapiod t;
	snprintf(cfg, sizeof(cfg),
		 "  process:\n    enabled: true\n"
		 "  network:\n    enabled: false\n"
		 "  dns:\n    enabled: false\n"
		 "  systemd:\n    enabled: true\n"
		 "    globs: [\"tapio-it-*\"]\n"
		 "    journal: false\n"
		 "    bus_address: \"unix:path=%s/dbus/system_bus_socket\"\n",
		 e.dir);
	cr_assert_eq(tapiod_start(&t, cfg), 0);
	cr_assert(tapiod_wait_state(&t, "process", "READY", 15000), "process worker not READY");
	cr_assert(tapiod_wait_state(&t, "systemd", "READY", 10000), "systemd worker not READY");
	wait_connected(&t, 1);

	/* a transient service whose main process is the marked command */
#define JOINED "tapio-it-joined.service"
	char marker[64];
	snprintf(marker, sizeof(marker), "4242.%d", (int)getpid());
	cr_assert_eq(IN(&e, "systemd-run", "--unit=" JOINED, "/bin/sleep", marker), 0);
	json_object *up = wait_for(&t, "systemd.unit", JOINED, "active", "running", 0);
	json_object *ex = tapiod_wait(&t, match_exec, marker, 15000);
	cr_assert_not_null(ex, "no process.exec of /bin/sleep %s", marker);
	cr_assert_str_eq(jstr(ex, "collector"), "process");
	cr_assert_str_eq(jstr(ex, "processExec.filename"), "/bin/sleep");
	pid_t hp = host_pid(env_leader(&e), (pid_t)jint(up, "systemd.mainPid", 0));
	cr_assert_eq(jint(ex, "process.pid", 0), hp, "%s", json_object_to_json_string(ex));
	const char *path = jstr(ex, "k8s.cgroupPath");
	cr_assert_not_null(path, "%s", json_object_to_json_string(ex));
	size_t pl = strlen(path), ul = strlen("/" JOINED);
	cr_assert(pl > ul && strcmp(path + pl - ul, "/" JOINED) == 0, "cgroup path %s", path);
	cr_assert_str_eq(jstr(ex, "k8s.systemdUnit"), JOINED, "%s", json_object_to_json_string(ex));

	/* a cgroup of no unit on the host */
	char mnt[4096], rel[128];
	cr_assert_eq(cgroup2_find_mount(mnt, sizeof(mnt)), 0);
	snprintf(rel, sizeof(rel), "/tapio-it-nounit-%d", (int)getpid());
	char abs[4300];
	snprintf(abs, sizeof(abs), "%s%s", mnt, rel);
	cr_assert(mkdir(abs, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", abs, strerror(errno));
	char m2[64];
	snprintf(m2, sizeof(m2), "tapio-nounit-%d", (int)getpid());
	exec_marker(mnt, rel, m2);
	ex = tapiod_wait(&t, match_exec, m2, 15000);
	for (int i = 0; i < 100 && rmdir(abs) < 0 && errno == EBUSY; i++)
		usleep(10000);
	cr_assert_not_null(ex, "no process.exec of the marker in %s", rel);
	cr_assert_str_eq(jstr(ex, "k8s.cgroupPath"), rel, "%s", json_object_to_json_string(ex));
	cr_assert_null(jstr(ex, "k8s.systemdUnit"), "%s", json_object_to_json_string(ex));

	/* the test's own cgroup, whatever runs it: the rules applied to the same path */
	char m3[64];
	snprintf(m3, sizeof(m3), "tapio-selfcg-%d", (int)getpid());
	exec_marker(mnt, "", m3);
	ex = tapiod_wait(&t, match_exec, m3, 15000);
	cr_assert_not_null(ex, "no process.exec of the marker in the test's cgroup");
	const char *own = jstr(ex, "k8s.cgroupPath");
	cr_assert_not_null(own, "%s", json_object_to_json_string(ex));
	char want[SYSTEMD_UNIT_NAME_MAX + 1];
	int n = systemd_unit_name(own, strlen(own), want, sizeof(want));
	if (n > 0)
		cr_assert_str_eq(jstr(ex, "k8s.systemdUnit") ?: "(none)", want, "path %s", own);
	else
		cr_assert_null(jstr(ex, "k8s.systemdUnit"), "path %s", own);
	cr_log_info("the test's own cgroup %s: unit %s", own, n > 0 ? want : "(none)");

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "stats joins:") && strstr(log, "unit_cache hits="), "%s", log);
	free(log);
	cr_assert_eq(t.bad_lines, 0);
	tapiod_cleanup(&t);
	env_stop(&e);
}
