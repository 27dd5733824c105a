// SPDX-License-Identifier: Apache-2.0
// The supervisor: sets up the event path (one link per worker → the routing step → the table
// of sinks) and one child per enabled collector, handles signals and reload, logs per-hop loss
// periodically, stops cleanly.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "audit.h"
#include "identity.h"
#include "log.h"
#include "privilege.h"
#include "sandbox.h"
#include <linux/capability.h>
#include "sup.h"
#include "timeconv.h"

#define TICK_MS	      1000
#define SINK_DRAIN_MS 2000

static int make_memfd(const struct config *cfg)
{
	int fd = memfd_create("tapio-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (frame_write_all(fd, cfg->text, cfg->text_len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int find_collector_dir(struct sup *sup)
{
	return identity_collector_dir(sup->cfg, sup->collector_dir, sizeof(sup->collector_dir));
}

static void log_stats(struct sup *sup, uint64_t now);

static void close_all(struct sup *sup)
{
	uv_close((uv_handle_t *)&sup->sig_term, NULL);
	uv_close((uv_handle_t *)&sup->sig_int, NULL);
	uv_close((uv_handle_t *)&sup->sig_hup, NULL);
	uv_close((uv_handle_t *)&sup->sig_pipe, NULL);
	uv_close((uv_handle_t *)&sup->tick, NULL);
	if (sup->on_close)
		sup->on_close(sup->on_close_ctx);
	/* the kept kernel objects go: the programs detach as their last fd closes */
	struct fdstore *stores[64];
	size_t nstores = 0;
	for (size_t i = 0; i < sup->n_children; i++) {
		stores[nstores++] = &sup->children[i].store;
		if (nstores == 64 || i + 1 == sup->n_children) {
			fdstore_clear_all(stores, nstores);
			nstores = 0;
		}
	}
	for (size_t i = 0; i < sup->n_children; i++) {
		struct child *c = &sup->children[i];
		link_close(c);
		uv_close((uv_handle_t *)&c->timer, NULL);
	}
	sinks_close(&sup->sinks);
}

/* A child reached a final state during shutdown: once all have, drain and close. */
static void sup_child_stopped(struct sup *sup)
{
	if (!sup->env.stopping)
		return;
	for (size_t i = 0; i < sup->n_children; i++)
		if (sup->children[i].pid > 0)
			return;
	sinks_drain(&sup->sinks, SINK_DRAIN_MS);
	log_stats(sup, timeconv_now_mono_ns()); /* the final counters, whatever the interval */
	for (size_t i = 0; i < sup->n_children; i++)
		budget_cleanup(&sup->budgets, sup->children[i].reg->name);
	log_info("all workers stopped");
	for (size_t i = 0; i < sup->sinks.n; i++) {
		struct sink *s = sup->sinks.v[i];
		struct sink_stats st;
		s->ops->stats(s, &st);
		log_info("%s sink: %llu events written, %llu dropped, %llu write errors, %llu "
			 "rotations",
			 s->name, (unsigned long long)st.written, (unsigned long long)st.dropped,
			 (unsigned long long)st.write_errors, (unsigned long long)st.rotations);
	}
	close_all(sup);
}

static void stop_all(struct sup *sup)
{
	if (sup->env.stopping)
		return;
	sup->env.stopping = true;
	log_info("stopping workers");
	bool any = false;
	for (size_t i = sup->n_children; i-- > 0;) {
		struct child *c = &sup->children[i];
		if (c->pid > 0)
			any = true;
		child_handle(c, CEV_STOP_REQUESTED, NULL);
	}
	if (!any)
		sup_child_stopped(sup);
}

/* Does collector `name` need a restart because its configuration changed? */
static bool worker_config_changed(const struct config *a, const struct config *b, const char *name)
{
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "collectors.%s.", name);
	/* keys every worker reads at start */
	return !config_equal_under(a, b, prefix) || !config_equal_under(a, b, "run_as_") ||
	       !config_equal_under(a, b, "collector_dir") || !config_equal_under(a, b, "log_level");
}

/* SIGHUP: re-read the file; an invalid file changes nothing; only workers whose section
 * changed are restarted; collectors enabled or disabled start or stop. */
static void reload(struct sup *sup)
{
	if (!sup->config_path) {
		log_warn(
			"SIGHUP: running on the embedded default configuration: nothing to reload");
		return;
	}
	struct config *next = NULL;
	char *err = NULL;
	if (config_load_file(sup->config_path, &next, &err) < 0) {
		log_error("reload rejected, keeping the running configuration: %s",
			  err ? err : "invalid configuration");
		free(err);
		return;
	}
	int memfd = make_memfd(next);
	if (memfd < 0) {
		log_error("reload: %s; keeping the running configuration", strerror(-memfd));
		config_free(next);
		return;
	}
	struct privilege_status self;
	uint64_t bnd = privilege_status_read(0, &self) == 0 ? self.cap_bnd : ~0ull;
	/* what tapiod could have kept at start but dropped: a collector needing it cannot run */
	uint64_t dropped = sup->bounding_at_start & ~bnd;
	if (!config_equal_under(sup->cfg, next, "control."))
		log_warn("reload: control socket settings change only when tapiod restarts");

	struct config *old = sup->cfg;
	sup->cfg = next;
	sup->env.cfg = next;
	sup->route.node = next->node_name;
	close(sup->config_memfd);
	sup->config_memfd = memfd;
	sup->env.config_memfd = memfd;
	sinks_reconfigure(&sup->sinks, next);
	unsigned restarted = 0, started = 0, stopped = 0;
	for (size_t i = 0; i < registry_count; i++) {
		const struct registry_entry *reg = registry_entries[i];
		const struct config_collector_common *cc = config_collector(next, reg->name);
		struct child *c = NULL;
		for (size_t k = 0; k < sup->n_children; k++)
			if (sup->children[k].reg == reg)
				c = &sup->children[k];
		bool was = c && config_collector(old, reg->name)->enabled;
		if (c)
			c->cc = cc; /* the old config is freed below */
		if (c && !next->supervisor.fd_store)
			child_store_drop(c, "supervisor.fd_store is off");
		if (!cc || (!was && !cc->enabled))
			continue;
		if (!was && cc->enabled && (registry_setup_caps(reg) & dropped)) {
			log_error("reload: %s needs capabilities tapiod dropped at start "
				  "(%016llx); restart tapiod to enable it",
				  reg->name,
				  (unsigned long long)(registry_setup_caps(reg) & dropped));
			continue;
		}
		if (!c) {
			c = &sup->children[sup->n_children];
			if (child_init(c, &sup->env, reg) < 0)
				continue;
			sup->n_children++;
		}
		if (was && !cc->enabled) {
			child_store_drop(c, "disabled");
			/* enabled later, its next worker reads its own disk copy */
			c->resume_token_len = 0;
			child_handle(c, CEV_STOP_REQUESTED, NULL);
			stopped++;
		} else if (!was && cc->enabled) {
			child_store_drop(c, "enabled again");
			child_restart(c);
			started++;
		} else if (worker_config_changed(old, next, reg->name)) {
			child_store_drop(c, "configuration changed");
			child_restart(c);
			restarted++;
		}
	}
	config_free(old);
	log_info("reloaded %s: %u restarted, %u started, %u stopped, the rest untouched",
		 sup->config_path, restarted, started, stopped);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct sup *sup = h->data;
	if (signum == SIGHUP) {
		reload(sup);
		return;
	}
	if (signum == SIGPIPE)
		return;
	log_info("signal %d (%s)", signum, strsignal(signum));
	stop_all(sup);
}

static void log_stats(struct sup *sup, uint64_t now)
{
	double secs = sup->last_log_ns ? (double)(now - sup->last_log_ns) / 1e9 : 0;
	for (size_t i = 0; i < sup->n_children; i++) {
		struct child *c = &sup->children[i];
		struct child_counters *k = &c->cnt;
		double rate = secs > 0 ? (double)(k->events - c->events_at_last_log) / secs : 0;
		c->events_at_last_log = k->events;
		char named[CHILD_MAX_COUNTERS * 48] = "";
		size_t used = 0;
		for (unsigned j = 0; j < c->n_named && used < sizeof(named); j++) {
			int w = snprintf(named + used, sizeof(named) - used, " %s=%llu",
					 c->named[j].name,
					 (unsigned long long)(c->named[j].base + c->named[j].cur));
			if (w > 0)
				used += (size_t)w;
		}
		log_info("stats %s: state=%s pid=%d restarts=%u events=%llu (%.0f/s) "
			 "drops: kernel=%llu worker_queue=%llu seq_gaps=%llu sink=%llu "
			 "decode_errors=%llu filtered=%llu protocol_errors=%llu resumed=%llu "
			 "backlog=%llu unattended_drops=%llu gaps=%llu gap_ms=%llu%s",
			 c->reg->name, policy_state_name(c->state), (int)c->pid, c->restarts,
			 (unsigned long long)k->events, rate, (unsigned long long)k->kernel_drops,
			 (unsigned long long)k->queue_drops, (unsigned long long)k->seq_gaps,
			 (unsigned long long)k->sink_queue_drops,
			 (unsigned long long)k->decode_errors, (unsigned long long)k->filtered,
			 (unsigned long long)k->protocol_errors, (unsigned long long)k->resumed,
			 (unsigned long long)k->backlog_records,
			 (unsigned long long)k->unattended_drops, (unsigned long long)k->gaps,
			 (unsigned long long)k->gap_ms, named);
	}
	struct meta_stats ms;
	meta_get_stats(&sup->route.meta, &ms);
	log_info("stats joins: containers=%zu (dropped %llu) pods=%zu controllers=%zu (dropped "
		 "%llu) unit_cache hits=%llu misses=%llu",
		 ms.containers, (unsigned long long)ms.containers_dropped, ms.pods, ms.controllers,
		 (unsigned long long)ms.owners_dropped, (unsigned long long)ms.unit_hits,
		 (unsigned long long)ms.unit_misses);
	sup->last_log_ns = now;
}

static void on_tick(uv_timer_t *t)
{
	struct sup *sup = t->data;
	uint64_t now = timeconv_now_mono_ns();
	for (size_t i = 0; i < sup->n_children; i++) {
		struct child *c = &sup->children[i];
		child_check_watchdog(c, now);
		c->events_per_s =
			(double)(c->cnt.events - c->events_at_last_tick) * 1000.0 / TICK_MS;
		c->events_at_last_tick = c->cnt.events;
	}
	identity_check_children(sup->children, sup->n_children, sup->cfg);
	uint32_t every = sup->cfg->supervisor.stats_log_interval_s;
	if (every && (!sup->last_log_ns || now - sup->last_log_ns >= every * 1000000000ull))
		log_stats(sup, now);
	sinks_flush(&sup->sinks);
}

/* tapiod's bounding set keeps no capability that no enabled collector declared; workers
 * inherit at most that. */
static int limit_caps(struct sup *sup)
{
	if (geteuid() != 0)
		return 0;
	uint64_t keep = 0;
	for (size_t i = 0; i < registry_count; i++) {
		const struct config_collector_common *cc =
			config_collector(sup->cfg, registry_entries[i]->name);
		if (cc && cc->enabled)
			keep |= registry_setup_caps(registry_entries[i]);
	}
	/* tapiod's own needs stay out of the bounding set, so no worker can ever get them:
	 * CAP_KILL to signal workers that switched to another uid, CAP_CHOWN to hand the control
	 * socket to its group. */
	uint64_t own = 1ull << CAP_KILL;
	if (sup->cfg->control.enabled && sup->cfg->control.socket_group[0])
		own |= 1ull << CAP_CHOWN;
	struct privilege_status st;
	sup->bounding_at_start = privilege_status_read(0, &st) == 0 ? st.cap_bnd : 0;
	int r = sandbox_limit_caps(keep, own);
	if (r < 0)
		log_error("cannot drop the capabilities no collector needs: %s", strerror(-r));
	else
		log_debug("capabilities kept for the enabled collectors: %016llx",
			  (unsigned long long)keep);
	return r;
}

/* ---- the children's calls up (struct child_hooks) ------------------------------------------ */

static int hook_link_open(struct child *c, int fd)
{
	struct sup *sup = c->env->owner;
	return link_open(&sup->links, c, fd);
}

static void hook_link_drain(struct child *c)
{
	link_drain(c);
}

static void hook_link_close(struct child *c)
{
	link_close(c);
}

static void hook_ready(struct child *c)
{
	audit_on_ready(c);
}

static void hook_stopped(struct child *c)
{
	sup_child_stopped(c->env->owner);
}

static const struct child_hooks child_hooks = {
	.link_open = hook_link_open,
	.link_drain = hook_link_drain,
	.link_close = hook_link_close,
	.ready = hook_ready,
	.stopped = hook_stopped,
};

int sup_setup(struct sup *sup)
{
	enum log_level lv;
	if (log_level_parse(sup->cfg->log_level, &lv) == 0 && log_get_level() == LOG_LEVEL_INFO)
		log_set_level(lv);
	uint64_t rid = 0;
	if (getrandom(&rid, sizeof(rid), 0) != sizeof(rid))
		rid = timeconv_now_mono_ns() ^ (uint64_t)getpid();
	snprintf(sup->run_id, sizeof(sup->run_id), "%016llx", (unsigned long long)rid);

	int r = limit_caps(sup);
	if (r < 0)
		return r;
	r = find_collector_dir(sup);
	if (r < 0)
		return r;
	budget_init(&sup->budgets);
	sup->config_memfd = make_memfd(sup->cfg);
	if (sup->config_memfd < 0)
		return sup->config_memfd;
	struct sink_env senv = {.loop = sup->loop, .cfg = sup->cfg, .stdout_fd = STDOUT_FILENO};
	r = sinks_open(&sup->sinks, &senv);
	if (r < 0)
		return r;
	route_init(&sup->route, &sup->sinks, sup->run_id, sup->cfg->node_name);
	if (link_env_init(&sup->links, sup->loop, &sup->route) < 0) {
		log_error("out of memory");
		return -ENOMEM;
	}
	sup->env = (struct child_env){
		.loop = sup->loop,
		.cfg = sup->cfg,
		.collector_dir = sup->collector_dir,
		.config_memfd = sup->config_memfd,
		.budgets = &sup->budgets,
		.hooks = &child_hooks,
		.owner = sup,
	};
	sup->start_mono_ns = timeconv_now_mono_ns();

	sup->children = calloc(registry_count, sizeof(*sup->children));
	if (!sup->children)
		return -ENOMEM;
	for (size_t i = 0; i < registry_count; i++) {
		const struct config_collector_common *cc =
			config_collector(sup->cfg, registry_entries[i]->name);
		if (!cc || !cc->enabled)
			continue;
		r = child_init(&sup->children[sup->n_children], &sup->env, registry_entries[i]);
		if (r < 0)
			return r;
		sup->n_children++;
	}
	if (sup->n_children == 0)
		log_warn("no collector is enabled: nothing to do but wait for a signal");

	struct {
		uv_signal_t *h;
		int sig;
	} sigs[] = {{&sup->sig_term, SIGTERM},
		    {&sup->sig_int, SIGINT},
		    {&sup->sig_hup, SIGHUP},
		    {&sup->sig_pipe, SIGPIPE}};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		uv_signal_init(sup->loop, sigs[i].h);
		sigs[i].h->data = sup;
		uv_signal_start(sigs[i].h, on_signal, sigs[i].sig);
	}
	uv_timer_init(sup->loop, &sup->tick);
	sup->tick.data = sup;
	uv_timer_start(&sup->tick, on_tick, TICK_MS, TICK_MS);
	return 0;
}

void sup_start(struct sup *sup)
{
	for (size_t i = 0; i < sup->n_children; i++)
		child_handle(&sup->children[i], CEV_START, NULL);
}

void sup_release(struct sup *sup)
{
	for (size_t i = 0; i < sup->n_children; i++)
		child_release(&sup->children[i]);
	free(sup->children);
	route_release(&sup->route);
	link_env_release(&sup->links);
	close(sup->config_memfd);
	config_free(sup->cfg);
	uv_loop_close(sup->loop);
}
