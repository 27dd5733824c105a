// SPDX-License-Identifier: Apache-2.0
// One child per enabled collector: spawn it with its socket and config, turn what happens to it
// into the policy table's events and carry out the actions the table decides, restart with
// exponential backoff and jitter, detect crash loops.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <seccomp.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "child.h"
#include "timeconv.h"

#define NS_PER_S       1000000000ull
#define ABORT_GRACE_MS 2000
#define WORKER_SOCKBUF (4 << 20)

static void on_timer(uv_timer_t *t);

int child_init(struct child *c, struct child_env *env, const struct registry_entry *reg)
{
	memset(c, 0, sizeof(*c));
	c->env = env;
	c->reg = reg;
	c->cc = config_collector(env->cfg, reg->name);
	c->fd = -1;
	c->violation_syscall = -1;
	c->backoff_ms = c->cc->restart_initial_ms;
	c->store.owned = c->pending.owned = true;
	snprintf(c->last_exit, sizeof(c->last_exit), "-");
	int r = frame_reader_init(&c->reader);
	if (r < 0)
		return r;
	uv_timer_init(env->loop, &c->timer);
	c->timer.data = c;
	return 0;
}

void child_store_drop(struct child *c, const char *why)
{
	if (c->store.n == 0)
		return;
	if (why)
		log_info("%s: dropping the %u kernel objects kept for it (%s): the next worker "
			 "loads afresh",
			 c->reg->name, c->store.n, why);
	fdstore_clear(&c->store);
	c->store_raw_kernel = 0;
	memset(c->ring_delivered, 0, sizeof(c->ring_delivered));
	c->n_ring_delivered = 0;
	c->cnt.store_drops++;
}

void child_release(struct child *c)
{
	child_store_drop(c, NULL);
	fdstore_clear(&c->pending);
	frame_reader_release(&c->reader);
	free(c->degraded_reason);
	c->degraded_reason = NULL;
	free(c->hooks);
	c->hooks = NULL;
}

static void on_proc_closed(uv_handle_t *h)
{
	struct child *c = h->data;
	c->proc_open = false;
}

static void on_proc_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct child *c = p->data;
	enum child_event ev;
	char why[128];

	c->env->hooks->link_drain(c);
	/* a gap in coverage until a successor is READY, unless the stop was asked for */
	c->gap_from_ns = c->env->stopping || !c->cc->enabled ? 0 : c->last_heartbeat_ns;
	if (term_signal == SIGKILL &&
	    budget_was_oom_killed(c->env->budgets, c->reg->name, &c->budget)) {
		ev = CEV_KILLED;
		c->cnt.over_budget++;
		snprintf(why, sizeof(why), "over memory budget: OOM-killed in its cgroup (%u MiB)",
			 c->cc->memory_max_mib);
	} else if (c->killed_by_us && term_signal) {
		/* keep the reason tapiod killed it for (protocol violation, watchdog) */
		ev = CEV_KILLED;
		snprintf(why, sizeof(why), "%.100s (killed with signal %d)", c->last_exit,
			 term_signal);
	} else if (term_signal == SIGSYS) {
		ev = CEV_KILLED;
		c->cnt.sandbox_violations++;
		if (c->violation_syscall >= 0) {
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
								      c->violation_syscall);
			snprintf(why, sizeof(why), "sandbox violation: syscall %d (%s)",
				 c->violation_syscall, name ? name : "?");
			free(name);
		} else {
			snprintf(why, sizeof(why), "sandbox violation: killed by SIGSYS");
		}
	} else if (term_signal) {
		ev = CEV_KILLED;
		snprintf(why, sizeof(why), "killed by signal %d (%s)", term_signal,
			 strsignal(term_signal));
	} else if (status == EXIT_CLEAN && c->foreign_signal[0]) {
		/* the worker told us who sent the signal it exited on (link.c) */
		ev = CEV_EXIT_CLEAN;
		snprintf(why, sizeof(why), "exit code 0 on %.100s", c->foreign_signal);
	} else {
		switch (status) {
		case EXIT_CLEAN:
			ev = CEV_EXIT_CLEAN;
			break;
		case EXIT_CONFIG:
			ev = CEV_EXIT_CONFIG;
			break;
		case EXIT_NO_FEATURE:
			ev = CEV_EXIT_NO_FEATURE;
			break;
		default:
			ev = CEV_EXIT_TRANSIENT;
			break;
		}
		snprintf(why, sizeof(why), "exit code %d%s", (int)status,
			 status == EXIT_CONFIG	     ? " (config/usage error)"
			 : status == EXIT_NO_FEATURE ? " (kernel lacks a feature)"
			 : status == EXIT_TRANSIENT  ? " (transient failure)"
						     : "");
	}
	uv_timer_stop(&c->timer);
	c->kill_pending = false;
	c->killed_by_us = false;
	c->foreign_signal[0] = '\0';
	c->pid = 0;
	uv_close((uv_handle_t *)&c->proc, on_proc_closed);
	c->env->hooks->link_close(c);
	child_handle(c, ev, why);
}

static int spawn(struct child *c)
{
	struct child_env *env = c->env;
	if (c->proc_open || c->fd >= 0)
		return -EBUSY; /* the previous worker's handles are still closing */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* Bigger socket buffers absorb bursts; beyond net.core.[rw]mem_max only with
	 * CAP_NET_ADMIN (FORCE), else the plain option takes what the sysctl allows. */
	int sz = WORKER_SOCKBUF;
	if (setsockopt(sv[0], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));

	char path[4200];
	snprintf(path, sizeof(path), "%s/" REGISTRY_BINARY_PREFIX "%s", env->collector_dir,
		 c->reg->name);
	/* The fd store's objects follow as fds 5, 6, ...: --stored NAME=FD each. */
	char *args[8 + 2 * FDSTORE_MAX + 2 * CHILD_MAX_RINGS] = {path, "--fd", "3", "--config-fd",
								 "4"};
	char token[2 * WIRE_RESUME_TOKEN_MAX + 1];
	char stored[FDSTORE_MAX][FDSTORE_NAME_MAX + 8];
	char resume[CHILD_MAX_RINGS][24];
	uv_stdio_container_t stdio[5 + FDSTORE_MAX] = {
		{.flags = UV_IGNORE},
		{.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO}, /* stdout is the sink's */
		{.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
		{.flags = UV_INHERIT_FD, .data.fd = sv[1]},
		{.flags = UV_INHERIT_FD, .data.fd = env->config_memfd},
	};
	int nargs = 5;
	for (unsigned i = 0; i < c->store.n; i++) {
		snprintf(stored[i], sizeof(stored[i]), "%s=%u", c->store.names[i], 5 + i);
		args[nargs++] = "--stored";
		args[nargs++] = stored[i];
		stdio[5 + i] =
			(uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = c->store.fds[i]};
	}
	for (unsigned i = 0; c->store.n > 0 && i < c->n_ring_delivered; i++) {
		snprintf(resume[i], sizeof(resume[i]), "%llu",
			 (unsigned long long)c->ring_delivered[i]);
		args[nargs++] = "--ring-resume";
		args[nargs++] = resume[i];
	}
	if (c->resume_token_len > 0) {
		/* where the predecessor's delivered input ends (hex: the token is opaque) */
		static const char hex[] = "0123456789abcdef";
		for (size_t i = 0; i < c->resume_token_len; i++) {
			token[2 * i] = hex[c->resume_token[i] >> 4];
			token[2 * i + 1] = hex[c->resume_token[i] & 15];
		}
		token[2 * c->resume_token_len] = '\0';
		args[nargs++] = "--resume-token";
		args[nargs++] = token;
	}
	args[nargs] = NULL;
	uv_process_options_t opts = {
		.exit_cb = on_proc_exit,
		.file = path,
		.args = args,
		.stdio_count = 5 + (int)c->store.n,
		.stdio = stdio,
	};
	c->proc.data = c;
	int r = uv_spawn(env->loop, &c->proc, &opts);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		/* libuv requires closing the handle even when spawn failed */
		uv_close((uv_handle_t *)&c->proc, NULL);
		snprintf(c->last_exit, sizeof(c->last_exit), "spawn %.100s: %s", path,
			 uv_strerror(r));
		return r;
	}
	c->proc_open = true;
	c->pid = c->proc.pid;
	r = env->hooks->link_open(c, sv[0]);
	if (r < 0) {
		close(sv[0]);
		kill(c->pid, SIGKILL);
		return r;
	}
	budget_apply(env->budgets, c->reg->name, c->cc, c->pid, &c->budget);
	uint64_t now = timeconv_now_mono_ns();
	/* The predecessor's counters join the totals; the gap to this worker's READY counts
	 * from its last heartbeat. */
	struct child_worker_stats *b = &c->base, *p = &c->cur;
	b->kernel_drops += p->kernel_drops;
	b->queue_drops += p->queue_drops;
	b->decode_errors += p->decode_errors;
	b->filtered += p->filtered;
	b->records_read += p->records_read;
	b->enrich_misses += p->enrich_misses;
	b->events_sent += p->events_sent;
	b->backlog_records += p->backlog_records;
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < c->n_named; i++) {
		c->named[i].base += c->named[i].cur;
		c->named[i].cur = 0;
	}
	c->resumed = c->store.n > 0;
	c->store_stats_seen = false;
	if (c->resumed)
		c->cnt.resumed++;
	c->start_mono_ns = now;
	c->last_heartbeat_ns = now;
	c->last_seq = 0;
	c->violation_syscall = -1;
	if (c->resumed)
		log_info("%s: started pid %d with the %u kernel objects of its predecessor",
			 c->reg->name, (int)c->pid, c->store.n);
	else
		log_info("%s: started pid %d", c->reg->name, (int)c->pid);
	return 0;
}

static void send_signal(struct child *c, int sig, unsigned grace_ms)
{
	if (c->pid <= 0)
		return;
	if (kill(c->pid, sig) < 0 && errno != ESRCH)
		log_error("%s: cannot send signal %d to pid %d: %s (tapiod needs CAP_KILL for "
			  "workers running as another uid)",
			  c->reg->name, sig, (int)c->pid, strerror(errno));
	if (grace_ms && !c->kill_pending) {
		c->kill_pending = true;
		uv_timer_start(&c->timer, on_timer, grace_ms, 0);
	}
}

static bool crash_looping(struct child *c, uint64_t now)
{
	memmove(&c->deaths[1], &c->deaths[0], sizeof(c->deaths) - sizeof(c->deaths[0]));
	c->deaths[0] = now;
	unsigned n = 0;
	for (unsigned i = 0; i < sizeof(c->deaths) / sizeof(c->deaths[0]); i++)
		if (c->deaths[i] && now - c->deaths[i] <= c->cc->crash_loop_window_s * NS_PER_S)
			n++;
	return n >= c->cc->crash_loop_deaths;
}

static void schedule_restart(struct child *c)
{
	uint64_t now = timeconv_now_mono_ns();
	if (c->start_mono_ns && now - c->start_mono_ns > c->cc->healthy_after_s * NS_PER_S)
		c->backoff_ms = c->cc->restart_initial_ms;
	if (crash_looping(c, now)) {
		child_handle(c, CEV_CRASH_LOOP, NULL);
		return;
	}
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		rnd = (uint32_t)now;
	/* ±20 % jitter so workers that died together do not restart together */
	unsigned jitter = c->backoff_ms / 5;
	unsigned delay = c->backoff_ms - jitter + (jitter ? rnd % (2 * jitter + 1) : 0);
	log_warn("%s: %s; restarting in %u ms", c->reg->name, c->last_exit, delay);
	unsigned cap = c->cc->restart_max_ms;
	c->backoff_ms = c->backoff_ms * 2 > cap ? cap : c->backoff_ms * 2;
	c->restarts++;
	uv_timer_start(&c->timer, on_timer, delay, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct child *c = t->data;
	if (c->kill_pending) {
		log_warn("%s: pid %d did not exit in time: SIGKILL", c->reg->name, (int)c->pid);
		c->kill_pending = false;
		send_signal(c, SIGKILL, 0);
		return;
	}
	if (c->state == CHILD_BACKOFF || c->state == CHILD_FAILED)
		child_handle(c, CEV_BACKOFF_DONE, NULL);
}

static bool is_exit_event(enum child_event ev)
{
	return ev == CEV_EXIT_CLEAN || ev == CEV_EXIT_CONFIG || ev == CEV_EXIT_TRANSIENT ||
	       ev == CEV_EXIT_NO_FEATURE || ev == CEV_KILLED || ev == CEV_SPAWN_FAILED;
}

/* The facts the table's events are made of beyond the worker's own: a restart by hand that
 * waits for the worker to be gone, and shutdown (or a reload that disabled the collector). */
static enum child_event derive_event(const struct child *c, enum child_event ev)
{
	if (!is_exit_event(ev))
		return ev;
	if (c->restart_pending && !c->env->stopping)
		return CEV_EXIT_FOR_RESTART;
	if (c->env->stopping || !c->cc->enabled)
		return CEV_EXIT_STOPPING;
	return ev;
}

static void reset_restarts(struct child *c)
{
	memset(c->deaths, 0, sizeof(c->deaths));
	c->backoff_ms = c->cc->restart_initial_ms;
}

static void do_spawn(struct child *c)
{
	int r = spawn(c);
	if (r == -EBUSY) {
		child_handle(c, CEV_SPAWN_BUSY, NULL);
	} else if (r < 0) {
		log_error("%s: %s", c->reg->name, c->last_exit);
		child_handle(c, CEV_SPAWN_FAILED, c->last_exit);
	}
}

static void act(struct child *c, enum child_action action, const char *why)
{
	const struct config *cfg = c->env->cfg;
	switch (action) {
	case CACT_NONE:
	case CACT_MAX:
		break;
	case CACT_SPAWN:
		do_spawn(c);
		break;
	case CACT_RESET_SPAWN:
		uv_timer_stop(&c->timer);
		reset_restarts(c);
		do_spawn(c);
		break;
	case CACT_SPAWN_RETRY:
		/* the previous worker's handles are still closing */
		uv_timer_start(&c->timer, on_timer, 10, 0);
		break;
	case CACT_MARK_READY:
		c->last_heartbeat_ns = timeconv_now_mono_ns();
		c->looping[0] = '\0';
		if (c->state == CHILD_DEGRADED)
			log_warn("%s: DEGRADED: %s", c->reg->name,
				 c->degraded_reason ? c->degraded_reason : "?");
		else
			log_info("%s: READY (pid %d)", c->reg->name, (int)c->pid);
		c->env->hooks->ready(c);
		break;
	case CACT_STATUS:
		/* one line per transition (the worker sends only changes, at most one a second;
		 * link.c refuses a flood) */
		if (c->state == CHILD_DEGRADED) {
			bool was_degraded = c->degraded_reason != NULL;
			char *d = strdup(why ? why : "?");
			if (!was_degraded) {
				c->cnt.degraded_transitions++;
				log_warn("%s: DEGRADED while running (pid %d): %s", c->reg->name,
					 (int)c->pid, d ? d : "?");
			} else {
				log_info("%s: still DEGRADED, now: %s (was: %s)", c->reg->name,
					 d ? d : "?", c->degraded_reason);
			}
			free(c->degraded_reason);
			c->degraded_reason = d;
		} else {
			log_info("%s: READY again (pid %d); was DEGRADED: %s", c->reg->name,
				 (int)c->pid, c->degraded_reason ? c->degraded_reason : "?");
			free(c->degraded_reason);
			c->degraded_reason = NULL;
		}
		break;
	case CACT_KILL:
		c->killed_by_us = true;
		log_error("%s: %s: killing pid %d", c->reg->name, c->last_exit, (int)c->pid);
		send_signal(c, SIGKILL, 0);
		break;
	case CACT_ABORT:
		c->killed_by_us = true;
		log_error("%s: no heartbeat for %u ms: SIGABRT to pid %d", c->reg->name,
			  cfg->supervisor.heartbeat_timeout_ms, (int)c->pid);
		send_signal(c, SIGABRT, ABORT_GRACE_MS);
		break;
	case CACT_TERM:
		send_signal(c, SIGTERM, cfg->supervisor.stop_timeout_ms);
		break;
	case CACT_TERM_RESTART:
		c->restart_pending = true;
		send_signal(c, SIGTERM, cfg->supervisor.stop_timeout_ms);
		break;
	case CACT_BACKOFF:
		schedule_restart(c);
		break;
	case CACT_RESTART_NOW:
		c->restart_pending = false;
		reset_restarts(c);
		c->restarts++;
		log_info("%s: restarting by request (%s)", c->reg->name, why ? why : "");
		/* No delay: the timer fires on the next loop iteration, after the handles of the
		 * old worker have finished closing. */
		uv_timer_start(&c->timer, on_timer, 0, 0);
		break;
	case CACT_FAIL:
		log_error("%s: FAILED: %s; not restarting, the rest keeps running", c->reg->name,
			  c->last_exit);
		break;
	case CACT_FAIL_LOOPING:
		/* Not abandoned (CrashLoopBackOff): whoever made it loop may stop doing so. */
		log_error("%s: FAILED: %u deaths within %u s (last: %s); retrying every %u ms, the "
			  "rest keeps running",
			  c->reg->name, c->cc->crash_loop_deaths, c->cc->crash_loop_window_s,
			  c->last_exit, c->cc->restart_max_ms);
		snprintf(c->looping, sizeof(c->looping),
			 "crash loop: %u deaths within %u s (last: %.100s); retry every %u ms",
			 c->cc->crash_loop_deaths, c->cc->crash_loop_window_s, c->last_exit,
			 c->cc->restart_max_ms);
		c->restarts++;
		uv_timer_start(&c->timer, on_timer, c->cc->restart_max_ms, 0);
		break;
	case CACT_GONE:
		log_info("%s: stopped (%s)", c->reg->name, why ? why : "");
		c->env->hooks->stopped(c);
		break;
	case CACT_STOPPED:
		uv_timer_stop(&c->timer);
		break;
	}
}

void child_handle(struct child *c, enum child_event ev, const char *why)
{
	enum child_state old = c->state;

	/* why may be last_exit itself (a spawn failure): copying it onto itself would empty it */
	if (why && why != c->last_exit &&
	    (is_exit_event(ev) || ev == CEV_PROTOCOL_ERROR || ev == CEV_HEARTBEAT_MISSED ||
	     ev == CEV_OVER_BUDGET))
		snprintf(c->last_exit, sizeof(c->last_exit), "%s", why);

	ev = derive_event(c, ev);
	struct policy_step step = policy_lookup(old, ev);
	if (step.action == CACT_NONE) {
		log_debug("%s: %s ignored in %s", c->reg->name, policy_event_name(ev),
			  policy_state_name(old));
		return;
	}
	c->state = step.next;
	log_debug("%s: %s --%s--> %s", c->reg->name, policy_state_name(old), policy_event_name(ev),
		  policy_state_name(step.next));
	act(c, step.action, why);
}

void child_check_watchdog(struct child *c, uint64_t now_ns)
{
	if (c->state != CHILD_STARTING && c->state != CHILD_READY && c->state != CHILD_DEGRADED)
		return;
	if (c->kill_pending || c->pid <= 0)
		return;
	uint64_t limit = (uint64_t)c->env->cfg->supervisor.heartbeat_timeout_ms * 1000000ull;
	if (now_ns - c->last_heartbeat_ns > limit) {
		child_handle(c, CEV_HEARTBEAT_MISSED, "watchdog: heartbeat missed");
		return;
	}
	char why[160];
	if (budget_over(c->cc, c->pid, why, sizeof(why))) {
		c->cnt.over_budget++;
		child_handle(c, CEV_OVER_BUDGET, why);
	}
}

void child_restart(struct child *c)
{
	child_handle(c, c->pid > 0 ? CEV_RESTART_LIVE : CEV_RESTART_IDLE, NULL);
}
