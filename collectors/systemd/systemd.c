// SPDX-License-Identifier: Apache-2.0
// systemd collector, worker side: unit lifecycle from the manager's D-Bus signals (sd-bus, on
// the worker's loop: every call asynchronous with a timeout, reconnect with backoff) and
// entries of the watched units from the journal (sd-journal), resumed from a cursor file that
// is saved only once the events before it were written to tapiod.
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"
#include "systemd_config.h"
#include "systemd_cursor.h"
#include "timeconv.h"
#include "worker.h"

#define TICK_MS		  200
#define BUS_ROUND_MAX	  256	/* sd_bus_process() calls per wakeup */
#define JOURNAL_ROUND_MAX 512	/* entries read per wakeup */
#define STATE_MAX	  32	/* ActiveState, SubState, Result: short words */
#define RESTART_RING	  64	/* restart times per unit (restart_loop_count < 64) */
#define CHECKPOINTS	  1024	/* cursors waiting for their events to be written */
#define CTX_REQS	  16	/* failures whose context is still to be read */
#define CTX_GRACE_MS	  500	/* after the window: journald has written what it received */
#define CTX_SCAN_MAX	  20000 /* entries of the unit looked at per failure */
#define UNIT_PATH_PREFIX  "/org/freedesktop/systemd1/unit"
#define SYSTEMD_DEST	  "org.freedesktop.systemd1"
#define MANAGER_PATH	  "/org/freedesktop/systemd1"
#define MANAGER_IFACE	  "org.freedesktop.systemd1.Manager"
#define UNIT_IFACE	  "org.freedesktop.systemd1.Unit"
#define SERVICE_IFACE	  "org.freedesktop.systemd1.Service"
#define DEFAULT_BUS	  "unix:path=/run/dbus/system_bus_socket"

static const char *const default_units[] = {"kubelet.service", "containerd.service", "crio.service",
					    "docker.service"};
static const char *const default_types[] = {"service", "socket", "timer", "mount"};

struct unit {
	char *path; /* owned: the manager's object path */
	char *name; /* owned */
	bool tracked;
	bool state_known;
	char active[STATE_MAX], sub[STATE_MAX];
	/* from the Service interface, kept current by its PropertiesChanged */
	char result[STATE_MAX];
	bool has_result, has_pid, has_code, has_status, has_restarts;
	uint32_t main_pid, nrestarts;
	int32_t exec_code, exec_status;
	char invocation[33];
	char trigger[STATE_MAX]; /* Result when it last entered auto-restart */
	uint32_t nrestarts_seen; /* NRestarts at the last unit event */
	bool restarts_seen;
	uint64_t restart_ns[RESTART_RING];
	unsigned restart_n;
	bool loop_reported;
	/* journal rate limit: a token bucket */
	double tokens;
	uint64_t refill_ns;
	uint32_t suppressed;
};

struct checkpoint {
	uint64_t seq; /* events up to this seq must be written first ... */
	char *cursor; /* owned; ... before this cursor may be saved */
};

struct sd_ctx {
	struct worker *w;
	const struct config_systemd *cfg;
	int efd;	/* the collector's own epoll, watched by the worker */
	int tickfd;	/* TICK_MS: reconnects, cursor saves, congested journal */
	int bustimerfd; /* sd_bus_get_timeout() */
	int soonfd;	/* one-shot: the journal's next round (more to read, or congested) */

	/* the bus */
	sd_bus *bus;
	int busfd;
	uint32_t bus_events;
	bool bus_ready;	  /* ListUnits answered since the last connect */
	bool listed_once; /* a listing has been seen (state is a baseline) */
	uint64_t next_connect_ns;
	uint32_t backoff_ms;
	char bus_error[160];
	uint64_t connects, disconnects;

	struct unit *units;
	size_t n_units;

	/* the journal */
	sd_journal *j;
	int jfd;
	int cursor_fd;
	char *saved_cursor; /* owned: what the file holds */
	uint64_t last_emitted_seq;
	struct checkpoint cps[CHECKPOINTS];
	unsigned cp_first, cp_n;
	bool sandboxed;
	bool in_loop;	       /* past setup: sandboxed when `sandboxed` */
	int exit_err;	       /* set: end the worker with this -errno at the next callback */
	char journal_why[160]; /* the journal could not be opened: part of the degraded reason */
	/* Context lines around a failure: a second journal handle (opened in setup, with the
	 * first), and the failures whose window has not closed yet. */
	sd_journal *jc;
	struct ctx_req {
		char unit[256];
		uint64_t from_us, to_us; /* realtime window: first failure - before, last + after */
		uint64_t due_ns; /* mono: read it then (the window closed, journald wrote) */
	} reqs[CTX_REQS];
	unsigned n_reqs;
	uint64_t context_lines, context_cut, context_requests_dropped;
	uint64_t journal_read, journal_suppressed, journal_truncated;
};

static int64_t wall_ns(struct sd_ctx *s, uint64_t *ret_boot)
{
	uint64_t boot = timeconv_now_boot_ns();
	*ret_boot = boot;
	return timeconv_wall_ns(worker_timeconv(s->w), boot);
}

static void set_time(Google__Protobuf__Timestamp *ts, int64_t ns)
{
	ts->seconds = ns / 1000000000;
	ts->nanos = (int32_t)(ns % 1000000000);
}

static void copy_state(char *dst, const char *src)
{
	snprintf(dst, STATE_MAX, "%s", src ? src : "");
}

/* ---- which units ------------------------------------------------------------------------- */

static const char *unit_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : "";
}

static bool type_allowed(const struct config_systemd *cfg, const char *name)
{
	const char *t = unit_type(name);
	if (cfg->unit_types.n == 0) {
		for (size_t i = 0; i < sizeof(default_types) / sizeof(default_types[0]); i++)
			if (strcmp(t, default_types[i]) == 0)
				return true;
		return false;
	}
	for (size_t i = 0; i < cfg->unit_types.n; i++)
		if (strcmp(t, cfg->unit_types.items[i]) == 0)
			return true;
	return false;
}

/* A configured name without a suffix means its .service. */
static bool name_is(const char *name, const char *want)
{
	if (strcmp(name, want) == 0)
		return true;
	size_t n = strlen(want);
	return !strchr(want, '.') && strncmp(name, want, n) == 0 &&
	       strcmp(name + n, ".service") == 0;
}

/* Watched by name or glob (failed units are added when they fail). */
static bool unit_selected(const struct config_systemd *cfg, const char *name)
{
	if (cfg->units.n == 0) {
		for (size_t i = 0; i < sizeof(default_units) / sizeof(default_units[0]); i++)
			if (strcmp(name, default_units[i]) == 0)
				return true;
	}
	for (size_t i = 0; i < cfg->units.n; i++)
		if (name_is(name, cfg->units.items[i]))
			return true;
	for (size_t i = 0; i < cfg->globs.n; i++)
		if (fnmatch(cfg->globs.items[i], name, 0) == 0 && type_allowed(cfg, name))
			return true;
	return false;
}

/* ---- the unit table ---------------------------------------------------------------------- */

static struct unit *unit_by_path(struct sd_ctx *s, const char *path)
{
	for (size_t i = 0; i < s->n_units; i++)
		if (strcmp(s->units[i].path, path) == 0)
			return &s->units[i];
	return NULL;
}

static struct unit *unit_by_name(struct sd_ctx *s, const char *name)
{
	for (size_t i = 0; i < s->n_units; i++)
		if (strcmp(s->units[i].name, name) == 0)
			return &s->units[i];
	return NULL;
}

/* The unit at `path`, added when new (name: given, or decoded from the path). NULL when the
 * table is full (counted) or the path is no unit's. */
static struct unit *unit_get(struct sd_ctx *s, const char *path, const char *name)
{
	struct unit *u = unit_by_path(s, path);
	if (u)
		return u;
	if (s->n_units >= s->cfg->max_units) {
		worker_counters(s->w)->filtered++;
		return NULL;
	}
	char *decoded = NULL;
	if (!name) {
		if (sd_bus_path_decode(path, UNIT_PATH_PREFIX, &decoded) <= 0 || !decoded[0]) {
			free(decoded);
			return NULL;
		}
		name = decoded;
	}
	if (s->n_units % 64 == 0) {
		struct unit *n = realloc(s->units, (s->n_units + 64) * sizeof(*n));
		if (!n) {
			free(decoded);
			return NULL;
		}
		s->units = n;
	}
	u = &s->units[s->n_units];
	*u = (struct unit){0};
	u->path = strdup(path);
	u->name = decoded ? decoded : strdup(name);
	if (!u->path || !u->name) {
		free(u->path);
		free(u->name);
		return NULL;
	}
	u->tracked = unit_selected(s->cfg, u->name);
	u->tokens = s->cfg->journal_burst;
	u->refill_ns = timeconv_now_mono_ns();
	s->n_units++;
	return u;
}

static void unit_remove(struct sd_ctx *s, struct unit *u)
{
	free(u->path);
	free(u->name);
	*u = s->units[--s->n_units];
}

/* ---- events ------------------------------------------------------------------------------ */

static const char *exec_code_name(int32_t code)
{
	switch (code) {
	case 1:
		return "exited"; /* CLD_EXITED */
	case 2:
		return "killed"; /* CLD_KILLED */
	case 3:
		return "dumped"; /* CLD_DUMPED */
	default:
		return NULL;
	}
}

static void fill_unit(Tapio__V1__SystemdEvent *se, struct unit *u)
{
	se->unit = u->name;
	if (u->active[0])
		se->active_state = u->active;
	if (u->sub[0])
		se->sub_state = u->sub;
	if (u->has_result)
		se->result = u->result;
	if (u->has_restarts) {
		se->has_restarts = 1;
		se->restarts = u->nrestarts;
	}
	if (u->has_pid && u->main_pid) {
		se->has_main_pid = 1;
		se->main_pid = u->main_pid;
	}
	const char *code = u->has_code ? exec_code_name(u->exec_code) : NULL;
	if (code) {
		se->exit_code = (char *)code;
		if (u->has_status && u->exec_code == 1) {
			se->has_exit_status = 1;
			se->exit_status = u->exec_status;
		} else if (u->has_status) {
			se->has_signal = 1;
			se->signal = u->exec_status;
		}
	}
	if (u->invocation[0])
		se->invocation_id = u->invocation;
}

static void emit(struct sd_ctx *s, const char *type, Tapio__V1__SystemdEvent *se)
{
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint64_t boot;
	set_time(&ts, wall_ns(s, &boot));
	ev.type = (char *)type;
	ev.time = &ts;
	ev.has_boot_ns = 1;
	ev.boot_ns = boot;
	ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_SYSTEMD;
	ev.systemd = se;
	worker_emit(s->w, &ev);
}

/* Automatic restarts: NRestarts went up. A loop once more than restart_loop_count fall in the
 * window; reported again only after the window has calmed down. */
static void note_restarts(struct sd_ctx *s, struct unit *u)
{
	if (!u->has_restarts)
		return;
	if (!u->restarts_seen) {
		u->restarts_seen = true;
		u->nrestarts_seen = u->nrestarts;
		return;
	}
	uint64_t now = timeconv_now_mono_ns();
	for (uint32_t i = u->nrestarts_seen; i < u->nrestarts && i - u->nrestarts_seen < 1024; i++)
		u->restart_ns[u->restart_n++ % RESTART_RING] = now;
	u->nrestarts_seen = u->nrestarts;
	uint64_t window = (uint64_t)s->cfg->restart_loop_window_s * 1000000000ull;
	uint32_t in_window = 0;
	unsigned n = u->restart_n < RESTART_RING ? u->restart_n : RESTART_RING;
	for (unsigned i = 0; i < n; i++)
		if (now - u->restart_ns[i] <= window)
			in_window++;
	if (in_window <= s->cfg->restart_loop_count) {
		u->loop_reported = false;
		return;
	}
	if (u->loop_reported)
		return;
	u->loop_reported = true;
	Tapio__V1__SystemdEvent se = TAPIO__V1__SYSTEMD_EVENT__INIT;
	fill_unit(&se, u);
	se.has_restarts_in_window = se.has_window_s = 1;
	se.restarts_in_window = in_window;
	se.window_s = s->cfg->restart_loop_window_s;
	if (u->trigger[0])
		se.restart_trigger = u->trigger;
	emit(s, "systemd.unit_restart_loop", &se);
}

static void context_request(struct sd_ctx *s, const char *unit);

/* The unit's ActiveState/SubState are now `active`/`sub`: an event when they changed and the
 * unit is watched (or has just failed). `baseline`: the first listing, no previous state. */
static void unit_state(struct sd_ctx *s, struct unit *u, const char *active, const char *sub,
		       bool baseline)
{
	bool changed =
		!u->state_known || strcmp(u->active, active) != 0 || strcmp(u->sub, sub) != 0;
	if (!u->tracked && s->cfg->watch_failed && strcmp(active, "failed") == 0 && changed &&
	    type_allowed(s->cfg, u->name))
		u->tracked = true; /* from now on, until it goes away */
	char prev_active[STATE_MAX], prev_sub[STATE_MAX];
	bool had = u->state_known;
	memcpy(prev_active, u->active, STATE_MAX);
	memcpy(prev_sub, u->sub, STATE_MAX);
	copy_state(u->active, active);
	copy_state(u->sub, sub);
	u->state_known = true;
	bool restarting = strcmp(sub, "auto-restart") == 0 && u->has_result;
	if (restarting && changed)
		copy_state(u->trigger, u->result);
	if (!u->tracked || !changed)
		return;
	/* failed, or its main process ended badly and it restarts: the lines around it */
	if (!baseline &&
	    (strcmp(active, "failed") == 0 || (restarting && strcmp(u->result, "success") != 0)))
		context_request(s, u->name);
	if (baseline && strcmp(active, "failed") != 0)
		return; /* change-only: a listing at start reports only what is failed */
	if (!had && strcmp(active, "inactive") == 0)
		return; /* a unit appearing (loaded, not started) is no change yet */
	Tapio__V1__SystemdEvent se = TAPIO__V1__SYSTEMD_EVENT__INIT;
	fill_unit(&se, u);
	if (had) {
		se.previous_active_state = prev_active;
		se.previous_sub_state = prev_sub;
	}
	if (restarting)
		se.restart_trigger = u->trigger;
	emit(s, "systemd.unit", &se);
	note_restarts(s, u);
}

/* ---- D-Bus messages ---------------------------------------------------------------------- */

/* One a{sv} of Unit or Service properties into u; the states are returned, not applied.
 * Unknown keys and unexpected types are skipped (the latter counted). */
static int read_props(struct sd_ctx *s, sd_bus_message *m, struct unit *u, char *ret_active,
		      char *ret_sub)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;
		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		const char *sv = NULL;
		uint32_t uv;
		int32_t iv;
		const void *bytes;
		size_t nbytes;
		int got = 0;
		if (!strcmp(key, "ActiveState") || !strcmp(key, "SubState") ||
		    !strcmp(key, "Result")) {
			got = sd_bus_message_read(m, "v", "s", &sv);
			if (got > 0 && !strcmp(key, "ActiveState"))
				copy_state(ret_active, sv);
			else if (got > 0 && !strcmp(key, "SubState"))
				copy_state(ret_sub, sv);
			else if (got > 0) {
				copy_state(u->result, sv);
				u->has_result = true;
			}
		} else if (!strcmp(key, "ExecMainPID") || !strcmp(key, "NRestarts")) {
			got = sd_bus_message_read(m, "v", "u", &uv);
			if (got > 0 && key[0] == 'E') {
				u->main_pid = uv;
				u->has_pid = true;
			} else if (got > 0) {
				u->nrestarts = uv;
				u->has_restarts = true;
			}
		} else if (!strcmp(key, "ExecMainCode") || !strcmp(key, "ExecMainStatus")) {
			got = sd_bus_message_read(m, "v", "i", &iv);
			if (got > 0 && !strcmp(key, "ExecMainCode")) {
				u->exec_code = iv;
				u->has_code = true;
			} else if (got > 0) {
				u->exec_status = iv;
				u->has_status = true;
			}
		} else if (!strcmp(key, "InvocationID")) {
			r = sd_bus_message_enter_container(m, 'v', "ay");
			if (r > 0) {
				got = sd_bus_message_read_array(m, 'y', &bytes, &nbytes);
				if (got >= 0 && nbytes == 16) {
					for (size_t i = 0; i < 16; i++)
						snprintf(u->invocation + 2 * i, 3, "%02x",
							 ((const uint8_t *)bytes)[i]);
				} else if (got >= 0) {
					u->invocation[0] = '\0';
				}
				sd_bus_message_exit_container(m);
			} else {
				got = r;
			}
		} else {
			got = 1;
			r = sd_bus_message_skip(m, "v");
			if (r < 0)
				return r;
		}
		if (got < 0) {
			/* a known key with another type than systemd documents */
			worker_counters(s->w)->decode_errors++;
			r = sd_bus_message_skip(m, "v");
			if (r < 0)
				return r;
		}
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct sd_ctx *s = userdata;
	const char *path = sd_bus_message_get_path(m);
	const char *iface;
	worker_counters(s->w)->records_read++;
	if (!path || sd_bus_message_read(m, "s", &iface) < 0)
		goto bad;
	bool is_unit = strcmp(iface, UNIT_IFACE) == 0;
	if (!is_unit && strcmp(iface, SERVICE_IFACE) != 0)
		return 0;
	struct unit *u = unit_get(s, path, NULL);
	if (!u)
		return 0;
	char active[STATE_MAX] = "", sub[STATE_MAX] = "";
	if (read_props(s, m, u, active, sub) < 0)
		goto bad;
	/* The manager sends the type's interface first, then Unit's: states apply with the
	 * service's fields already current. */
	if (is_unit && active[0] && sub[0])
		unit_state(s, u, active, sub, false);
	return 0;
bad:
	worker_counters(s->w)->decode_errors++;
	return 0;
}

struct getall_req {
	struct sd_ctx *s;
	char path[];
};

static int on_getall(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct getall_req *q = userdata;
	struct sd_ctx *s = q->s;
	if (!sd_bus_message_is_method_error(m, NULL)) {
		struct unit *u = unit_by_path(s, q->path);
		char a[STATE_MAX], b[STATE_MAX];
		if (u && read_props(s, m, u, a, b) < 0)
			worker_counters(s->w)->decode_errors++;
		if (u) {
			/* a baseline for NRestarts, not a restart */
			u->restarts_seen = false;
			note_restarts(s, u);
		}
	}
	return 0; /* q is freed with the slot */
}

static void request_service_props(struct sd_ctx *s, struct unit *u)
{
	if (strcmp(unit_type(u->name), "service") != 0)
		return;
	size_t n = strlen(u->path) + 1;
	struct getall_req *q = malloc(sizeof(*q) + n);
	if (!q)
		return;
	q->s = s;
	memcpy(q->path, u->path, n);
	sd_bus_slot *slot = NULL;
	int r = sd_bus_call_method_async(s->bus, &slot, SYSTEMD_DEST, u->path,
					 "org.freedesktop.DBus.Properties", "GetAll", on_getall, q,
					 "s", SERVICE_IFACE);
	if (r < 0) {
		free(q);
		return;
	}
	/* the slot lives until the reply or the bus is gone (floating), and frees q with
	 * itself: a bus closed with the call pending must not leak it */
	sd_bus_slot_set_destroy_callback(slot, free);
	sd_bus_slot_set_floating(slot, 1);
	sd_bus_slot_unref(slot);
}

static void update_status(struct sd_ctx *s);

static int on_list_units(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct sd_ctx *s = userdata;
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *e = sd_bus_message_get_error(m);
		log_warn("systemd: ListUnits: %s", e && e->message ? e->message : "error");
		return 0;
	}
	int r = sd_bus_message_enter_container(m, 'a', "(ssssssouso)");
	if (r < 0)
		goto bad;
	const char *name, *desc, *load, *active, *sub, *following, *path, *jtype, *jpath;
	uint32_t jid;
	bool baseline = !s->listed_once;
	while ((r = sd_bus_message_read(m, "(ssssssouso)", &name, &desc, &load, &active, &sub,
					&following, &path, &jid, &jtype, &jpath)) > 0) {
		struct unit *u = unit_get(s, path, name);
		if (!u)
			continue;
		if (u->tracked || unit_selected(s->cfg, name))
			request_service_props(s, u);
		unit_state(s, u, active, sub, baseline);
	}
	if (r < 0)
		goto bad;
	s->listed_once = true;
	s->bus_ready = true;
	s->backoff_ms = 0;
	log_info("systemd: connected to the manager, %zu units known", s->n_units);
	update_status(s);
	return 0;
bad:
	worker_counters(s->w)->decode_errors++;
	log_warn("systemd: ListUnits reply does not decode: %s", strerror(-r));
	return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct sd_ctx *s = userdata;
	uint32_t id;
	const char *jpath, *unit, *result;
	worker_counters(s->w)->records_read++;
	if (sd_bus_message_read(m, "uoss", &id, &jpath, &unit, &result) < 0) {
		worker_counters(s->w)->decode_errors++;
		return 0;
	}
	if (strcmp(result, "done") == 0)
		return 0;
	struct unit *u = unit_by_name(s, unit);
	bool watched = (u && u->tracked) || unit_selected(s->cfg, unit) ||
		       (s->cfg->watch_failed && type_allowed(s->cfg, unit) &&
			(!strcmp(result, "failed") || !strcmp(result, "timeout") ||
			 !strcmp(result, "dependency")));
	if (!watched) {
		worker_counters(s->w)->filtered++;
		return 0;
	}
	Tapio__V1__SystemdEvent se = TAPIO__V1__SYSTEMD_EVENT__INIT;
	if (u)
		fill_unit(&se, u);
	se.unit = (char *)unit;
	se.has_job_id = 1;
	se.job_id = id;
	se.job_result = (char *)result;
	emit(s, "systemd.job", &se);
	return 0;
}

static int on_unit_removed(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct sd_ctx *s = userdata;
	const char *name, *path;
	if (sd_bus_message_read(m, "so", &name, &path) < 0)
		return 0;
	struct unit *u = unit_by_path(s, path);
	if (u)
		unit_remove(s, u);
	return 0;
}

static void list_units(struct sd_ctx *s)
{
	int r = sd_bus_call_method_async(s->bus, NULL, SYSTEMD_DEST, MANAGER_PATH, MANAGER_IFACE,
					 "ListUnits", on_list_units, s, "");
	if (r < 0)
		log_warn("systemd: ListUnits: %s", strerror(-r));
}

/* After a daemon-reload the unit set may differ: list again, report what changed. */
static int on_reloading(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct sd_ctx *s = userdata;
	int active;
	if (sd_bus_message_read(m, "b", &active) >= 0 && !active)
		list_units(s);
	return 0;
}

/* ---- the connection ---------------------------------------------------------------------- */

/* After READY, tapiod sees what the worker can do now: DEGRADED while the bus is lost (or the
 * journal never opened), READY once the manager answered again. The worker library sends only
 * changes, at most one a second. */
static void update_status(struct sd_ctx *s)
{
	if (!s->in_loop)
		return; /* setup: READY carries the reason */
	char why[400] = "";
	size_t n = 0;
	if (s->journal_why[0])
		n = (size_t)snprintf(why, sizeof(why), "%s", s->journal_why);
	if (!s->bus_ready && n < sizeof(why))
		snprintf(why + n, sizeof(why) - n, "%ssystemd bus lost (%s): reconnecting",
			 n ? "; " : "", s->bus_error[0] ? s->bus_error : "not connected");
	if (why[0])
		worker_set_degraded(s->w, why);
	else
		worker_set_ready(s->w);
}

static void bus_drop(struct sd_ctx *s, const char *why)
{
	if (!s->bus)
		return;
	if (s->busfd >= 0)
		epoll_ctl(s->efd, EPOLL_CTL_DEL, s->busfd, NULL);
	s->busfd = -1;
	s->bus_events = 0;
	s->bus = sd_bus_close_unref(s->bus);
	struct itimerspec off = {{0, 0}, {0, 0}};
	timerfd_settime(s->bustimerfd, 0, &off, NULL);
	s->disconnects++;
	uint32_t lo = s->cfg->reconnect_initial_ms, hi = s->cfg->reconnect_max_ms;
	s->backoff_ms = s->backoff_ms == 0 ? lo : (s->backoff_ms * 2 > hi ? hi : s->backoff_ms * 2);
	s->next_connect_ns = timeconv_now_mono_ns() + (uint64_t)s->backoff_ms * 1000000ull;
	if (s->bus_ready)
		log_warn("systemd: bus connection lost (%s): reconnecting in %u ms", why,
			 s->backoff_ms);
	else
		log_debug("systemd: bus not reachable (%s): retrying in %u ms", why, s->backoff_ms);
	snprintf(s->bus_error, sizeof(s->bus_error), "%s", why);
	if (!s->bus_ready && s->in_loop && s->sandboxed) {
		/* The socket took the connection and the bus then closed it before answering:
		 * dbus-daemon refuses a uid it cannot look up (a worker's own uid has no passwd
		 * entry). Only a new worker, connecting as root during setup, gets in: exit, and
		 * tapiod's restart is the reconnect. While the socket refuses connections (the bus
		 * is down) the worker keeps retrying here instead, without dying. */
		log_warn("systemd: the bus refuses this sandboxed worker (%s): restarting to "
			 "reconnect",
			 why);
		s->exit_err = -ECONNREFUSED;
	}
	bool was_ready = s->bus_ready;
	s->bus_ready = false;
	if (was_ready)
		update_status(s);
}

/* Register the bus fd with what sd-bus wants now, and its deadline on the timer. */
static void bus_arm(struct sd_ctx *s)
{
	int ev = sd_bus_get_events(s->bus);
	uint32_t want =
		(ev > 0 && (ev & POLLIN) ? EPOLLIN : 0) | (ev > 0 && (ev & POLLOUT) ? EPOLLOUT : 0);
	if (want != s->bus_events) {
		struct epoll_event e = {.events = want, .data.fd = s->busfd};
		epoll_ctl(s->efd, EPOLL_CTL_MOD, s->busfd, &e);
		s->bus_events = want;
	}
	uint64_t until;
	struct itimerspec its = {{0, 0}, {0, 0}};
	if (sd_bus_get_timeout(s->bus, &until) >= 0 && until != UINT64_MAX) {
		if (until == 0)
			until = 1; /* due now; 0 would disarm */
		its.it_value.tv_sec = (time_t)(until / 1000000);
		its.it_value.tv_nsec = (long)(until % 1000000) * 1000;
	}
	timerfd_settime(s->bustimerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Let sd-bus read, write and dispatch; never blocks. */
static void bus_pump(struct sd_ctx *s)
{
	for (int i = 0; s->bus && i < BUS_ROUND_MAX; i++) {
		int r = sd_bus_process(s->bus, NULL);
		if (r < 0) {
			char why[96];
			snprintf(why, sizeof(why), "%s", strerror(-r));
			bus_drop(s, why);
			return;
		}
		if (!sd_bus_is_open(s->bus)) {
			bus_drop(s, "closed by the peer");
			return;
		}
		if (r == 0)
			break;
	}
	if (s->bus)
		bus_arm(s);
}

static int add_signal(struct sd_ctx *s, const char *path, const char *iface, const char *member,
		      sd_bus_message_handler_t cb)
{
	return sd_bus_match_signal_async(s->bus, NULL, SYSTEMD_DEST, path, iface, member, cb, NULL,
					 s);
}

/* Start a connection: everything after connect() is asynchronous (auth, Hello, the matches,
 * Subscribe, ListUnits) and completes in bus_pump(). */
static int bus_connect(struct sd_ctx *s)
{
	const char *addr = s->cfg->bus_address[0] ? s->cfg->bus_address : DEFAULT_BUS;
	sd_bus *b = NULL;
	int r = sd_bus_new(&b);
	if (r < 0)
		return r;
	if ((r = sd_bus_set_address(b, addr)) < 0 || (r = sd_bus_set_bus_client(b, 1)) < 0 ||
	    (r = sd_bus_set_method_call_timeout(b, (uint64_t)s->cfg->rpc_timeout_ms * 1000)) < 0 ||
	    (r = sd_bus_start(b)) < 0) {
		sd_bus_close_unref(b);
		return r;
	}
	s->bus = b;
	s->connects++;
	s->busfd = sd_bus_get_fd(b);
	struct epoll_event e = {.events = EPOLLIN, .data.fd = s->busfd};
	if (s->busfd < 0 || epoll_ctl(s->efd, EPOLL_CTL_ADD, s->busfd, &e) < 0) {
		r = s->busfd < 0 ? s->busfd : -errno;
		s->busfd = -1;
		bus_drop(s, "cannot watch the bus fd");
		return r;
	}
	s->bus_events = EPOLLIN;
	/* PropertiesChanged of every unit (the path namespace needs a rule string) */
	r = sd_bus_add_match_async(s->bus, NULL,
				   "type='signal',sender='" SYSTEMD_DEST "',"
				   "interface='org.freedesktop.DBus.Properties',"
				   "member='PropertiesChanged',path_namespace='" UNIT_PATH_PREFIX
				   "'",
				   on_properties_changed, NULL, s);
	if (r >= 0)
		r = add_signal(s, MANAGER_PATH, MANAGER_IFACE, "JobRemoved", on_job_removed);
	if (r >= 0)
		r = add_signal(s, MANAGER_PATH, MANAGER_IFACE, "UnitRemoved", on_unit_removed);
	if (r >= 0)
		r = add_signal(s, MANAGER_PATH, MANAGER_IFACE, "Reloading", on_reloading);
	/* the manager sends unit signals only while someone is subscribed */
	if (r >= 0)
		r = sd_bus_call_method_async(s->bus, NULL, SYSTEMD_DEST, MANAGER_PATH,
					     MANAGER_IFACE, "Subscribe", NULL, NULL, "");
	if (r < 0) {
		char why[96];
		snprintf(why, sizeof(why), "%s", strerror(-r));
		bus_drop(s, why);
		return r;
	}
	list_units(s);
	bus_pump(s);
	return 0;
}

static void bus_maybe_connect(struct sd_ctx *s)
{
	if (s->bus || timeconv_now_mono_ns() < s->next_connect_ns)
		return;
	int r = bus_connect(s);
	if (r < 0 && !s->bus) {
		char why[96];
		snprintf(why, sizeof(why), "%s", strerror(-r));
		/* bus_drop's backoff, without a bus to drop */
		uint32_t lo = s->cfg->reconnect_initial_ms, hi = s->cfg->reconnect_max_ms;
		s->backoff_ms =
			s->backoff_ms == 0 ? lo : (s->backoff_ms * 2 > hi ? hi : s->backoff_ms * 2);
		s->next_connect_ns = timeconv_now_mono_ns() + (uint64_t)s->backoff_ms * 1000000ull;
		snprintf(s->bus_error, sizeof(s->bus_error), "%s", why);
		log_debug("systemd: cannot connect to the bus: %s (retry in %u ms)", why,
			  s->backoff_ms);
	}
}

/* ---- the journal ------------------------------------------------------------------------- */

/* The cursor file (systemd_cursor.h), rewritten whole in place: one pwrite of one 1 KiB
 * block, so a kill cannot leave half of it. */
static char *cursor_load(int fd)
{
	char data[SYSTEMD_CURSOR_FILE_SIZE], c[SYSTEMD_CURSOR_FILE_SIZE];
	ssize_t n = pread(fd, data, sizeof(data), 0);
	if (n <= 0)
		return NULL; /* a new file */
	if (systemd_cursor_parse(data, (size_t)n, c, sizeof(c)) <= 0) {
		log_warn("systemd: cursor file: not a cursor or damaged, starting at the journal's "
			 "end");
		return NULL;
	}
	return strdup(c);
}

static int cursor_store(struct sd_ctx *s, const char *cursor)
{
	char buf[SYSTEMD_CURSOR_FILE_SIZE];
	int r = systemd_cursor_format(cursor, buf, sizeof(buf));
	if (r < 0)
		return r;
	if (pwrite(s->cursor_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return -errno;
	char *copy = strdup(cursor);
	if (copy) {
		free(s->saved_cursor);
		s->saved_cursor = copy;
	}
	return 0;
}

/* Save the newest cursor whose events have all been written to tapiod. */
static void cursor_commit(struct sd_ctx *s)
{
	uint64_t sent = worker_sent_seq(s->w);
	char *best = NULL;
	while (s->cp_n > 0 && s->cps[s->cp_first].seq <= sent) {
		free(best);
		best = s->cps[s->cp_first].cursor;
		s->cp_first = (s->cp_first + 1) % CHECKPOINTS;
		s->cp_n--;
	}
	if (best && (!s->saved_cursor || strcmp(best, s->saved_cursor) != 0)) {
		int r = cursor_store(s, best);
		if (r < 0)
			log_warn("systemd: cannot save the journal cursor: %s", strerror(-r));
	}
	free(best);
}

/* `cursor` (owned, taken) may be saved once events up to `seq` are written. */
static void checkpoint_add(struct sd_ctx *s, uint64_t seq, char *cursor)
{
	if (s->cp_n == CHECKPOINTS) {
		/* the newest one moves forward: its events are later still */
		struct checkpoint *last = &s->cps[(s->cp_first + s->cp_n - 1) % CHECKPOINTS];
		free(last->cursor);
		*last = (struct checkpoint){seq, cursor};
		return;
	}
	s->cps[(s->cp_first + s->cp_n) % CHECKPOINTS] = (struct checkpoint){seq, cursor};
	s->cp_n++;
}

/* The entry just read: behind every event emitted so far (covers entries filtered out). It
 * is also the resume token of the batch that carries those events: tapiod hands it to the
 * next worker, which resumes right behind what was delivered (exactly once across a kill;
 * the file is for tapiod's own restarts). */
static void checkpoint(struct sd_ctx *s)
{
	char *c = NULL;
	if (sd_journal_get_cursor(s->j, &c) >= 0 && c) {
		worker_set_resume_token(s->w, c, strlen(c));
		checkpoint_add(s, s->last_emitted_seq, c);
	}
}

/* A field's value: the bytes after "NAME=", or NULL. */
static const char *field(sd_journal *j, const char *name, size_t *ret_len)
{
	const void *d;
	size_t n, k = strlen(name);
	if (sd_journal_get_data(j, name, &d, &n) < 0 || n <= k)
		return NULL;
	*ret_len = n - k - 1;
	return (const char *)d + k + 1;
}

static void field_str(sd_journal *j, const char *name, char *buf, size_t size)
{
	size_t n;
	const char *v = field(j, name, &n);
	buf[0] = '\0';
	if (!v)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
}

static bool rate_ok(struct sd_ctx *s, struct unit *u)
{
	uint64_t now = timeconv_now_mono_ns();
	double add = (double)(now - u->refill_ns) / 1e9 * s->cfg->journal_rate_per_s;
	u->refill_ns = now;
	u->tokens += add;
	if (u->tokens > s->cfg->journal_burst)
		u->tokens = s->cfg->journal_burst;
	if (u->tokens < 1.0)
		return false;
	u->tokens -= 1.0;
	return true;
}

static int journal_emit(struct sd_ctx *s, sd_journal *j, struct unit *u, int p, bool context,
			char **ret_cursor, uint64_t *ret_seq);

/* The current entry: an event when its unit is watched and the rate allows. */
static void journal_entry(struct sd_ctx *s)
{
	char unit[256], prio[4];
	field_str(s->j, "_SYSTEMD_UNIT", unit, sizeof(unit));
	if (!unit[0] || strcmp(unit, "init.scope") == 0)
		field_str(s->j, "UNIT", unit, sizeof(unit)); /* the manager about a unit */
	if (!unit[0])
		return;
	struct unit *u = unit_by_name(s, unit);
	if (!u) {
		if (!unit_selected(s->cfg, unit))
			return;
		char path[600];
		char *enc = NULL;
		if (sd_bus_path_encode(UNIT_PATH_PREFIX, unit, &enc) < 0)
			return;
		snprintf(path, sizeof(path), "%s", enc);
		free(enc);
		u = unit_get(s, path, unit);
		if (!u)
			return;
	}
	if (!u->tracked) {
		worker_counters(s->w)->filtered++;
		return;
	}
	field_str(s->j, "PRIORITY", prio, sizeof(prio));
	int p = prio[0] >= '0' && prio[0] <= '7' && !prio[1] ? prio[0] - '0' : 6;
	if (p > (int)s->cfg->journal_priority) {
		worker_counters(s->w)->filtered++;
		return;
	}
	if (!rate_ok(s, u)) {
		u->suppressed++;
		s->journal_suppressed++;
		worker_counters(s->w)->filtered++;
		return;
	}
	char *cursor = NULL;
	uint64_t seq;
	if (journal_emit(s, s->j, u, p, false, &cursor, &seq) == 0) {
		s->last_emitted_seq = seq;
		if (cursor) {
			worker_set_resume_token(s->w, cursor, strlen(cursor));
			checkpoint_add(s, seq, cursor);
			cursor = NULL;
		}
		/* a full batch leaves inside worker_emit(), before its last checkpoint */
		if (worker_sent_seq(s->w) >= seq)
			cursor_commit(s);
	}
	free(cursor);
}

/* The current entry of j as a systemd.journal event of unit u (priority p); context: a line
 * below the threshold around a failure. 0 (its cursor in *ret_cursor, owned, and its seq) or
 * -errno. */
static int journal_emit(struct sd_ctx *s, sd_journal *j, struct unit *u, int p, bool context,
			char **ret_cursor, uint64_t *ret_seq)
{
	*ret_cursor = NULL;
	char pid[16], comm[64], ident[64];
	size_t mlen = 0;
	const char *msg = field(j, "MESSAGE", &mlen);
	char *text = malloc((size_t)s->cfg->message_max + 1);
	if (!text)
		return -ENOMEM;
	bool truncated = mlen > s->cfg->message_max;
	size_t keep = truncated ? s->cfg->message_max : mlen;
	if (msg)
		memcpy(text, msg, keep);
	text[keep] = '\0';
	if (strlen(text) != keep) /* binary MESSAGE: up to the first NUL */
		truncated = true;
	field_str(j, "_PID", pid, sizeof(pid));
	field_str(j, "_COMM", comm, sizeof(comm));
	field_str(j, "SYSLOG_IDENTIFIER", ident, sizeof(ident));

	Tapio__V1__SystemdEvent se = TAPIO__V1__SYSTEMD_EVENT__INIT;
	se.unit = u->name;
	se.has_priority = 1;
	se.priority = p;
	se.message = text;
	if (truncated) {
		se.has_message_truncated = 1;
		se.message_truncated = 1;
		s->journal_truncated++;
	}
	if (ident[0])
		se.syslog_identifier = ident;
	if (context) {
		se.has_context = 1;
		se.context = 1;
	}
	char *cursor = NULL, boot_id[33] = "";
	uint64_t mono = 0, real = 0;
	sd_id128_t boot;
	if (sd_journal_get_monotonic_usec(j, &mono, &boot) >= 0) {
		se.has_monotonic_us = 1;
		se.monotonic_us = mono;
		sd_id128_to_string(boot, boot_id);
		se.boot_id = boot_id;
	}
	if (sd_journal_get_cursor(j, &cursor) >= 0)
		se.cursor = cursor;
	if (u->suppressed && !context) {
		se.has_suppressed = 1;
		se.suppressed = u->suppressed;
		u->suppressed = 0;
	}

	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint64_t bootns;
	int64_t now = wall_ns(s, &bootns);
	if (sd_journal_get_realtime_usec(j, &real) >= 0)
		set_time(&ts, (int64_t)real * 1000);
	else
		set_time(&ts, now);
	ev.type = "systemd.journal";
	ev.time = &ts;
	Tapio__V1__ProcessContext pc = TAPIO__V1__PROCESS_CONTEXT__INIT;
	char *end;
	unsigned long pv = strtoul(pid, &end, 10);
	if (pid[0] && !*end && pv > 0 && pv <= 0x7fffffff) {
		pc.has_pid = 1;
		pc.pid = (uint32_t)pv;
	}
	if (comm[0])
		pc.comm = comm;
	if (pc.has_pid || pc.comm)
		ev.process = &pc;
	ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_SYSTEMD;
	ev.systemd = &se;
	int r = worker_emit(s->w, &ev);
	free(text);
	if (r < 0) {
		free(cursor);
		return r;
	}
	*ret_cursor = cursor;
	*ret_seq = ev.seq;
	return 0;
}

/* ---- context lines around a failure ------------------------------------------------------ */

/* Unit `unit` failed now: read its lines below the threshold from context_before_ms before to
 * context_after_ms after, once that window has closed. A failure of a unit whose window is
 * still open widens it (a restart loop makes one window, not one per run). */
static void context_request(struct sd_ctx *s, const char *unit)
{
	if (!s->jc || s->cfg->context_max_lines == 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	uint64_t from = now_us - (uint64_t)s->cfg->context_before_ms * 1000u;
	uint64_t to = now_us + (uint64_t)s->cfg->context_after_ms * 1000u;
	uint64_t due = timeconv_now_mono_ns() +
		       ((uint64_t)s->cfg->context_after_ms + CTX_GRACE_MS) * 1000000ull;
	for (unsigned i = 0; i < s->n_reqs; i++) {
		struct ctx_req *q = &s->reqs[i];
		if (strcmp(q->unit, unit) == 0 && from <= q->to_us) {
			q->to_us = to;
			q->due_ns = due;
			return;
		}
	}
	if (s->n_reqs == CTX_REQS || strlen(unit) >= sizeof(s->reqs[0].unit)) {
		s->context_requests_dropped++;
		return;
	}
	struct ctx_req *q = &s->reqs[s->n_reqs++];
	snprintf(q->unit, sizeof(q->unit), "%s", unit);
	q->from_us = from;
	q->to_us = to;
	q->due_ns = due;
}

/* The window of q: the unit's entries below journal_priority (those above it went out as
 * ordinary lines), at most context_max_lines, the rest counted. */
static void context_read(struct sd_ctx *s, const struct ctx_req *q)
{
	struct unit *u = unit_by_name(s, q->unit);
	if (!u)
		return;
	char m[300];
	snprintf(m, sizeof(m), "_SYSTEMD_UNIT=%s", q->unit);
	sd_journal_flush_matches(s->jc);
	if (sd_journal_add_match(s->jc, m, 0) < 0 ||
	    sd_journal_seek_realtime_usec(s->jc, q->from_us) < 0)
		return;
	sd_journal_process(s->jc); /* files journald added since */
	uint32_t sent = 0;
	for (unsigned n = 0; n < CTX_SCAN_MAX && sd_journal_next(s->jc) > 0; n++) {
		uint64_t real;
		if (sd_journal_get_realtime_usec(s->jc, &real) < 0)
			continue;
		if (real > q->to_us)
			break;
		if (real < q->from_us)
			continue;
		char prio[4];
		field_str(s->jc, "PRIORITY", prio, sizeof(prio));
		int p = prio[0] >= '0' && prio[0] <= '7' && !prio[1] ? prio[0] - '0' : 6;
		if (p <= (int)s->cfg->journal_priority)
			continue; /* an ordinary line: already sent */
		if (sent == s->cfg->context_max_lines) {
			s->context_cut++;
			continue;
		}
		char *cursor = NULL;
		uint64_t seq;
		if (journal_emit(s, s->jc, u, p, true, &cursor, &seq) == 0) {
			sent++;
			s->context_lines++;
		}
		free(cursor);
	}
	if (sent > 0)
		log_debug("systemd: %u context lines around the failure of %s", sent, q->unit);
}

/* Windows that have closed: read them. */
static void context_due(struct sd_ctx *s)
{
	uint64_t now = timeconv_now_mono_ns();
	for (unsigned i = 0; i < s->n_reqs;) {
		if (s->reqs[i].due_ns > now) {
			i++;
			continue;
		}
		struct ctx_req q = s->reqs[i];
		s->reqs[i] = s->reqs[--s->n_reqs];
		context_read(s, &q);
	}
}

/* The next journal round in `ms`: at once when a round stopped at its size, a little later
 * when tapiod's queue is filling. */
static void journal_again(struct sd_ctx *s, long ms)
{
	struct itimerspec its = {{0, 0}, {ms / 1000, (ms % 1000) * 1000000L + 1}};
	timerfd_settime(s->soonfd, 0, &its, NULL);
}

/* Read what the journal has, as long as tapiod keeps up. Returns an exit code, or 0. */
static int journal_pump(struct sd_ctx *s)
{
	if (!s->j)
		return 0;
	int r = sd_journal_process(s->j);
	if (r == SD_JOURNAL_INVALIDATE && s->sandboxed) {
		/* Files were added or removed (rotation). New files are root's and the sandbox
		 * cannot open them: exit, and tapiod's restart reopens at the saved cursor. */
		log_info("systemd: journal files changed: restarting to reopen them at the cursor");
		return -ESTALE; /* transient: tapiod restarts the worker */
	}
	int n = 0;
	while (n < JOURNAL_ROUND_MAX) {
		/* tapiod is behind, or so many entries wait for the socket that their cursors
		 * would have to be merged (a kill would then repeat the merged ones) */
		if (worker_congested(s->w) || s->cp_n >= CHECKPOINTS - 1) {
			journal_again(s, 20);
			break;
		}
		r = sd_journal_next(s->j);
		if (r <= 0) {
			if (r < 0)
				worker_counters(s->w)->decode_errors++;
			break;
		}
		n++;
		s->journal_read++;
		worker_counters(s->w)->records_read++;
		journal_entry(s);
	}
	if (n == JOURNAL_ROUND_MAX)
		journal_again(s, 0); /* more: after the loop has seen to the rest */
	if (n > 0) {
		checkpoint(s);
		/* hand the round over now and save its cursor right behind it: a kill between
		 * the two is what can repeat entries after a restart, so keep it short */
		worker_flush(s->w);
		cursor_commit(s);
	}
	return 0;
}

static int journal_open(struct sd_ctx *s)
{
	const struct config_systemd *cfg = s->cfg;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", cfg->cursor_file);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			log_warn("systemd: cannot create %s: %s", dir, strerror(errno));
	}
	s->cursor_fd = open(cfg->cursor_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->cursor_fd < 0) {
		int e = errno;
		log_error("systemd: cursor file %s: %s", cfg->cursor_file, strerror(e));
		return -e;
	}
	int r;
	if (cfg->journal_directory[0])
		r = sd_journal_open_directory(&s->j, cfg->journal_directory, 0);
	else
		r = sd_journal_open(&s->j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
	if (r < 0) {
		log_warn("systemd: cannot open the journal%s%s: %s",
			 cfg->journal_directory[0] ? " in " : "", cfg->journal_directory,
			 strerror(-r));
		return r;
	}
	/* bounds what a huge field costs; MESSAGE beyond message_max is cut anyway */
	sd_journal_set_data_threshold(s->j, cfg->message_max + 64);
	if (cfg->context_max_lines > 0) {
		/* the context lines' own handle (its matches change per failure): opened now, as
		 * the first, before the sandbox; without it there are no context lines */
		r = cfg->journal_directory[0]
			    ? sd_journal_open_directory(&s->jc, cfg->journal_directory, 0)
			    : sd_journal_open(&s->jc, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
		if (r < 0) {
			log_warn("systemd: no context lines: cannot open the journal twice: %s",
				 strerror(-r));
			s->jc = NULL;
		} else {
			sd_journal_set_data_threshold(s->jc, cfg->message_max + 64);
		}
	}
	for (unsigned p = 0; p <= cfg->journal_priority; p++) {
		char m[16];
		snprintf(m, sizeof(m), "PRIORITY=%u", p);
		sd_journal_add_match(s->j, m, 0);
	}
	/* the manager's own lines about a unit (UNIT=) carry PRIORITY too: no other match */
	char *c = cursor_load(s->cursor_fd);
	bool positioned = false;
	/* The predecessor's resume token (tapiod kept it from the last batch it received whole)
	 * is exact; the file may lag it by the batch in flight at a kill. The file serves when
	 * there is no token: tapiod itself restarted. */
	size_t tlen = 0;
	const uint8_t *tok = worker_resume_token(s->w, &tlen);
	if (tok && tlen < 512 && !memchr(tok, '\0', tlen)) {
		char *t = strndup((const char *)tok, tlen);
		if (t && sd_journal_seek_cursor(s->j, t) >= 0) {
			r = sd_journal_next(s->j);
			if (r > 0 && sd_journal_test_cursor(s->j, t) <= 0)
				sd_journal_previous(s->j);
			positioned = true;
			log_info("systemd: journal resumes after the cursor tapiod kept");
		} else if (t) {
			log_warn("systemd: the resume token from tapiod is not a journal cursor: "
				 "using the file");
		}
		free(t);
	}
	if (c) {
		if (!positioned && sd_journal_seek_cursor(s->j, c) >= 0) {
			r = sd_journal_next(s->j);
			if (r > 0 && sd_journal_test_cursor(s->j, c) <= 0) {
				/* the saved entry is gone: this one is the first unread */
				sd_journal_previous(s->j);
			}
			positioned = true;
			log_info("systemd: journal resumes after the saved cursor");
		}
		s->saved_cursor = c;
	}
	if (!positioned) {
		/* the first start: from now on. Saved at once, so a restart before the first
		 * event resumes here instead of at a later end. */
		sd_journal_seek_tail(s->j);
		char *now = NULL;
		if (sd_journal_previous(s->j) > 0 && sd_journal_get_cursor(s->j, &now) >= 0 &&
		    now) {
			r = cursor_store(s, now);
			if (r < 0)
				log_warn("systemd: cannot save the journal cursor: %s",
					 strerror(-r));
		}
		free(now);
	}
	s->jfd = sd_journal_get_fd(s->j);
	if (s->jfd < 0) {
		log_error("systemd: journal fd: %s", strerror(-s->jfd));
		return s->jfd;
	}
	struct epoll_event e = {.events = EPOLLIN, .data.fd = s->jfd};
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, s->jfd, &e) < 0)
		return -errno;
	return 0;
}

/* ---- the worker callbacks ---------------------------------------------------------------- */

static int systemd_setup(struct worker *w, void *ctx)
{
	struct sd_ctx *s = ctx;
	s->w = w;
	s->cfg = config_section(worker_config(w), "systemd");
	s->busfd = s->jfd = s->cursor_fd = -1;
	s->sandboxed = config_collector(worker_config(w), "systemd")->sandbox;
	worker_set_step(w, "timers");
	s->efd = epoll_create1(EPOLL_CLOEXEC);
	s->tickfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->soonfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->bustimerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->efd < 0 || s->tickfd < 0 || s->bustimerfd < 0 || s->soonfd < 0)
		return -errno;
	struct itimerspec its = {{0, TICK_MS * 1000000L}, {0, TICK_MS * 1000000L}};
	struct epoll_event e = {.events = EPOLLIN, .data.fd = s->tickfd};
	if (timerfd_settime(s->tickfd, 0, &its, NULL) < 0 ||
	    epoll_ctl(s->efd, EPOLL_CTL_ADD, s->tickfd, &e) < 0)
		return -errno;
	e.data.fd = s->bustimerfd;
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, s->bustimerfd, &e) < 0)
		return -errno;
	e.data.fd = s->soonfd;
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, s->soonfd, &e) < 0)
		return -errno;
	int r = worker_watch(w, s->efd);
	if (r < 0)
		return r;

	char why[320] = "";
	if (s->cfg->journal) {
		worker_set_step(w, "open the journal");
		r = journal_open(s);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			/* units without the journal: DEGRADED, not a crash loop */
			if (s->j)
				s->j = (sd_journal_close(s->j), NULL);
			snprintf(why, sizeof(why), "journal unavailable (%s)", strerror(-r));
			snprintf(s->journal_why, sizeof(s->journal_why), "%s", why);
			worker_add_missing(w, "journal");
		} else {
			worker_add_hook(w, "sd-journal");
			journal_again(s, 0); /* what was written while no one read */
		}
	}
	worker_set_step(w, "connect to the bus");
	bus_maybe_connect(s);
	worker_add_hook(w, "sd-bus:org.freedesktop.systemd1");
	if (!s->bus) {
		size_t n = strlen(why);
		snprintf(why + n, sizeof(why) - n, "%ssystemd bus unreachable (%s): retrying",
			 n ? "; " : "", s->bus_error);
	}
	if (why[0]) {
		worker_set_degraded(w, why);
		log_warn("systemd: %s", why);
	}
	return 0;
}

static int on_tick(struct sd_ctx *s)
{
	uint64_t exp;
	while (read(s->tickfd, &exp, sizeof(exp)) > 0)
		;
	bus_maybe_connect(s);
	cursor_commit(s);
	context_due(s);
	return 0;
}

static int systemd_on_readable(struct worker *w, void *ctx, int fd)
{
	struct sd_ctx *s = ctx;
	struct epoll_event evs[8];
	s->in_loop = true;
	int n = epoll_wait(s->efd, evs, 8, 0);
	for (int i = 0; i < n; i++) {
		int f = evs[i].data.fd;
		int r = 0;
		if (f == s->tickfd) {
			r = on_tick(s);
		} else if (f == s->bustimerfd) {
			uint64_t exp;
			while (read(s->bustimerfd, &exp, sizeof(exp)) > 0)
				;
			bus_pump(s);
		} else if (s->bus && f == s->busfd) {
			bus_pump(s);
		} else if (f == s->soonfd) {
			uint64_t exp;
			while (read(s->soonfd, &exp, sizeof(exp)) > 0)
				;
			r = journal_pump(s);
		} else if (s->j && f == s->jfd) {
			r = journal_pump(s);
		}
		if (r)
			return r;
		if (s->exit_err)
			return s->exit_err;
	}
	return 0;
}

static void systemd_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct sd_ctx *s = ctx;
	cursor_commit(s); /* also at each stats interval: the queue has moved */
	log_debug("systemd: units %zu connects %llu disconnects %llu journal read %llu "
		  "suppressed %llu truncated %llu",
		  s->n_units, (unsigned long long)s->connects, (unsigned long long)s->disconnects,
		  (unsigned long long)s->journal_read, (unsigned long long)s->journal_suppressed,
		  (unsigned long long)s->journal_truncated);
	if (s->jc) {
		worker_set_counter(w, "context_lines", s->context_lines);
		worker_set_counter(w, "context_lines_cut", s->context_cut);
		worker_set_counter(w, "context_failures_dropped", s->context_requests_dropped);
	}
}

/* Events were written to tapiod: save the cursor behind them right away, so that a kill
 * finds it as close as possible to what tapiod has. */
static void systemd_on_sent(struct worker *w, void *ctx, uint64_t seq)
{
	struct sd_ctx *s = ctx;
	if (s->j && s->cursor_fd >= 0)
		cursor_commit(s);
}

static void systemd_teardown(struct worker *w, void *ctx)
{
	struct sd_ctx *s = ctx;
	if (s->j)
		cursor_commit(s);
	for (unsigned i = 0; i < s->cp_n; i++)
		free(s->cps[(s->cp_first + i) % CHECKPOINTS].cursor);
	if (s->bus)
		sd_bus_close_unref(s->bus);
	if (s->j)
		sd_journal_close(s->j);
	if (s->jc)
		sd_journal_close(s->jc);
	for (size_t i = 0; i < s->n_units; i++) {
		free(s->units[i].path);
		free(s->units[i].name);
	}
	free(s->units);
	free(s->saved_cursor);
	if (s->cursor_fd >= 0)
		close(s->cursor_fd);
	if (s->efd >= 0)
		close(s->efd);
	if (s->tickfd >= 0)
		close(s->tickfd);
	if (s->bustimerfd >= 0)
		close(s->bustimerfd);
	if (s->soonfd >= 0)
		close(s->soonfd);
}

static const struct worker_collector systemd_collector = {
	.name = "systemd",
	.setup = systemd_setup,
	.on_readable = systemd_on_readable,
	.fill_stats = systemd_fill_stats,
	.on_sent = systemd_on_sent,
	.teardown = systemd_teardown,
};

int main(int argc, char **argv)
{
	static struct sd_ctx ctx = {.efd = -1, .tickfd = -1, .bustimerfd = -1, .soonfd = -1};
	return worker_main(argc, argv, &systemd_collector, &ctx);
}
