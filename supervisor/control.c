// SPDX-License-Identifier: Apache-2.0
// The control socket: a unix stream socket (path and group from the config) speaking framed
// ControlRequest/ControlResponse protobufs. Peers are checked with SO_PEERCRED: root, tapiod's
// own uid, or a member of the configured group. One request per connection; `events` keeps
// streaming through the subscribers sink (one shared memory budget; a subscriber that falls
// behind is cut off and counted). The socket stays available: a lock file keeps a second
// tapiod from unlinking it, a connection that does not finish its request in time is closed,
// the last slots are root's, and refused peers are logged at most every few seconds.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "control.h"
#include "log.h"
#include "privilege.h"
#include "sandbox.h"
#include "tapio/v1/control.pb-c.h"
#include "timeconv.h"

#define REQUEST_MAX	     4096
#define CLIENTS_MAX	     64
#define CLIENTS_ROOT	     4	  /* of CLIENTS_MAX, kept for root */
#define IDLE_TIMEOUT_MS	     5000 /* to send a whole request */
#define REFUSED_LOG_EVERY_NS (10 * 1000000000ull)

struct control_client {
	struct control *ctl;
	uv_pipe_t pipe;	 /* embedded; the client is freed once it and the timer are closed */
	uv_timer_t idle; /* embedded: closes a connection that does not finish its request */
	int handles;	 /* open handles of the two */
	uint8_t buf[FRAME_HDR + REQUEST_MAX];
	size_t len;
	bool subscribed, closing;
	char *want_collector, *want_type; /* owned filters of `events` */
	struct subscriber sub;		  /* in the subscribers sink while subscribed */
	struct control_client *next;
};

struct write_req {
	uv_write_t req;
	uv_buf_t buf;
};

static void client_close(struct control_client *cl);
static void on_cut(struct subscriber *sub);

/* ---- writing ------------------------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	free(w->buf.base);
	free(w);
}

static int send_response(struct control_client *cl, const Tapio__V1__ControlResponse *resp)
{
	size_t len = tapio__v1__control_response__get_packed_size(resp);
	if (len == 0 || len > FRAME_MAX)
		return -EMSGSIZE;
	struct write_req *w = malloc(sizeof(*w));
	uint8_t *buf = malloc(FRAME_HDR + len);
	if (!w || !buf) {
		free(w);
		free(buf);
		return -ENOMEM;
	}
	frame_put_header(buf, (uint32_t)len);
	tapio__v1__control_response__pack(resp, buf + FRAME_HDR);
	w->buf = uv_buf_init((char *)buf, (unsigned)(FRAME_HDR + len));
	int r = uv_write(&w->req, (uv_stream_t *)&cl->pipe, &w->buf, 1, on_written);
	if (r < 0) {
		free(buf);
		free(w);
	}
	return r;
}

static void send_error(struct control_client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void send_error(struct control_client *cl, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	Tapio__V1__ControlResponse resp = TAPIO__V1__CONTROL_RESPONSE__INIT;
	resp.error = msg;
	send_response(cl, &resp);
}

/* ---- requests ------------------------------------------------------------------------------ */

/* Every sink of the table; stdout's and the subscribers' counters also have fields of their
 * own from before the table (tapioctl's first status line). */
static void fill_sinks(Tapio__V1__StatusResponse *sr, const struct sinks *t,
		       Tapio__V1__SinkStatus *ss, Tapio__V1__SinkStatus **ptrs)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct sink *s = t->v[i];
		struct sink_stats st;
		s->ops->stats(s, &st);
		ss[i] = (Tapio__V1__SinkStatus)TAPIO__V1__SINK_STATUS__INIT;
		ss[i].name = (char *)s->name;
		ss[i].has_written = ss[i].has_dropped = ss[i].has_write_errors = 1;
		ss[i].has_rotations = 1;
		ss[i].written = st.written;
		ss[i].dropped = st.dropped;
		ss[i].write_errors = st.write_errors;
		ss[i].rotations = st.rotations;
		ptrs[i] = &ss[i];
		if (strcmp(s->name, "stdout") == 0) {
			sr->has_sink_written = sr->has_sink_drops = sr->has_sink_write_errors = 1;
			sr->sink_written = st.written;
			sr->sink_drops = st.dropped;
			sr->sink_write_errors = st.write_errors;
		} else if (strcmp(s->name, "subscribers") == 0) {
			sr->has_subscriber_drops = 1;
			sr->subscriber_drops = st.dropped;
		}
	}
	sr->n_sinks = t->n;
	sr->sinks = ptrs;
}

static void do_status(struct control_client *cl)
{
	struct sup *sup = cl->ctl->sup;
	uint64_t now = timeconv_now_mono_ns();
	size_t n = sup->n_children;
	Tapio__V1__CollectorStatus *st = calloc(n ? n : 1, sizeof(*st));
	Tapio__V1__CollectorStatus **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	struct {
		Tapio__V1__Counter c[CHILD_MAX_COUNTERS];
		Tapio__V1__Counter *p[CHILD_MAX_COUNTERS];
	} *named = calloc(n ? n : 1, sizeof(*named));
	if (!st || !ptrs || !named) {
		free(st);
		free(ptrs);
		free(named);
		send_error(cl, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct child *c = &sup->children[i];
		Tapio__V1__CollectorStatus *s = &st[i];
		*s = (Tapio__V1__CollectorStatus)TAPIO__V1__COLLECTOR_STATUS__INIT;
		ptrs[i] = s;
		s->name = (char *)c->reg->name;
		s->state = (char *)policy_state_name(c->state);
		s->has_pid = s->has_restarts = s->has_events = s->has_kernel_drops = 1;
		s->has_worker_queue_drops = s->has_seq_gaps = s->has_decode_errors = 1;
		s->has_filtered = s->has_protocol_errors = s->has_events_per_s = 1;
		s->pid = c->pid > 0 ? (uint32_t)c->pid : 0;
		if (c->pid > 0) {
			s->has_uptime_ms = s->has_rss_kib = 1;
			s->uptime_ms = (now - c->start_mono_ns) / 1000000;
			s->rss_kib = budget_rss_kib(c->pid);
		}
		s->restarts = c->restarts;
		s->last_exit = c->last_exit;
		s->events_per_s = c->events_per_s;
		s->events = c->cnt.events;
		s->kernel_drops = c->cnt.kernel_drops;
		s->worker_queue_drops = c->cnt.queue_drops;
		s->seq_gaps = c->cnt.seq_gaps;
		s->decode_errors = c->cnt.decode_errors;
		s->filtered = c->cnt.filtered;
		s->protocol_errors = c->cnt.protocol_errors;
		s->has_supervisor_queue_drops = s->has_sandbox_violations = s->has_over_budget = 1;
		s->supervisor_queue_drops = c->cnt.sink_queue_drops;
		s->sandbox_violations = c->cnt.sandbox_violations;
		s->over_budget = c->cnt.over_budget;
		s->degraded_reason = c->state == CHILD_DEGRADED ? c->degraded_reason : NULL;
		s->hooks = c->hooks; /* which hook set runs (issue 21) */
		s->looping = c->state == CHILD_FAILED && c->looping[0] ? c->looping : NULL;
		s->has_foreign_signals = s->has_foreign_processes = 1;
		s->foreign_signals = c->cnt.foreign_signals;
		s->foreign_processes = c->cnt.foreign_processes;
		uint32_t uid, gid;
		if (config_worker_ids(sup->cfg, c->reg->name, &uid, &gid) == 0) {
			s->has_worker_uid = s->has_worker_gid = 1;
			s->worker_uid = uid;
			s->worker_gid = gid;
		}
		s->has_fd_store_objects = s->has_resumed = s->has_backlog_records = 1;
		s->has_unattended_drops = s->has_gaps = s->has_gap_ms = s->has_fd_store_drops = 1;
		s->fd_store_objects = c->store.n;
		s->resumed = c->cnt.resumed;
		s->backlog_records = c->cnt.backlog_records;
		s->unattended_drops = c->cnt.unattended_drops;
		s->gaps = c->cnt.gaps;
		s->gap_ms = c->cnt.gap_ms;
		s->fd_store_drops = c->cnt.store_drops;
		s->has_degraded_transitions = s->has_status_frames = s->has_resume_token_bytes = 1;
		s->degraded_transitions = c->cnt.degraded_transitions;
		s->status_frames = c->cnt.status_frames;
		s->resume_token_bytes = (uint32_t)c->resume_token_len;
		for (unsigned k = 0; k < c->n_named; k++) {
			Tapio__V1__Counter *pc = &named[i].c[k];
			*pc = (Tapio__V1__Counter)TAPIO__V1__COUNTER__INIT;
			pc->name = c->named[k].name;
			pc->has_value = 1;
			pc->value = c->named[k].base + c->named[k].cur;
			named[i].p[k] = pc;
		}
		s->counters = named[i].p;
		s->n_counters = c->n_named;
	}
	Tapio__V1__StatusResponse sr = TAPIO__V1__STATUS_RESPONSE__INIT;
	sr.node = sup->cfg->node_name;
	sr.run_id = sup->run_id;
	sr.has_uptime_ms = 1;
	sr.uptime_ms = (now - sup->start_mono_ns) / 1000000;
	Tapio__V1__SinkStatus sink_st[SINKS_MAX], *sink_ptrs[SINKS_MAX];
	fill_sinks(&sr, &sup->sinks, sink_st, sink_ptrs);
	sr.n_collectors = n;
	sr.collectors = ptrs;
	struct sink *subs = sinks_find(&sup->sinks, "subscribers");
	sr.has_control_refused = sr.has_control_idle_timeouts = sr.has_control_busy = 1;
	sr.has_subscribers_cut = sr.has_subscribers_held = 1;
	sr.control_refused = cl->ctl->refused;
	sr.control_idle_timeouts = cl->ctl->idle_timeouts;
	sr.control_busy = cl->ctl->busy;
	sr.subscribers_cut = sink_subscribers_cut(subs);
	sr.subscribers_held = sink_subscribers_held(subs);
	Tapio__V1__ControlResponse resp = TAPIO__V1__CONTROL_RESPONSE__INIT;
	resp.response_case = TAPIO__V1__CONTROL_RESPONSE__RESPONSE_STATUS;
	resp.status = &sr;
	send_response(cl, &resp);
	free(st);
	free(ptrs);
	free(named);
}

static void do_restart(struct control_client *cl, const Tapio__V1__RestartRequest *rq)
{
	struct sup *sup = cl->ctl->sup;
	const char *name = rq && rq->collector ? rq->collector : "";
	for (size_t i = 0; i < sup->n_children; i++) {
		struct child *c = &sup->children[i];
		if (strcmp(c->reg->name, name) != 0)
			continue;
		child_restart(c);
		Tapio__V1__ControlResponse resp = TAPIO__V1__CONTROL_RESPONSE__INIT;
		resp.response_case = TAPIO__V1__CONTROL_RESPONSE__RESPONSE_RESTARTED;
		resp.restarted = (char *)c->reg->name;
		send_response(cl, &resp);
		return;
	}
	send_error(cl, "no enabled collector named '%.64s'", name);
}

static void do_audit(struct control_client *cl)
{
	struct sup *sup = cl->ctl->sup;
	size_t n = sup->n_children;
	struct audit_slot *slots = calloc(n ? n : 1, sizeof(*slots));
	Tapio__V1__AuditEntry **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!slots || !ptrs) {
		free(slots);
		free(ptrs);
		send_error(cl, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		audit_child(&sup->children[i], &slots[i]);
		ptrs[i] = &slots[i].e;
		if (slots[i].e.n_problems)
			log_warn("audit %s: %s (%s)", sup->children[i].reg->name,
				 slots[i].e.verdict, slots[i].problems[0]);
	}
	Tapio__V1__AuditResponse ar = TAPIO__V1__AUDIT_RESPONSE__INIT;
	ar.n_entries = n;
	ar.entries = ptrs;
	struct privilege_status self;
	if (privilege_status_read(0, &self) == 0) {
		ar.has_supervisor_cap_bnd = ar.has_supervisor_cap_eff = 1;
		ar.supervisor_cap_bnd = self.cap_bnd;
		ar.supervisor_cap_eff = self.cap_eff;
	}
	Tapio__V1__ControlResponse resp = TAPIO__V1__CONTROL_RESPONSE__INIT;
	resp.response_case = TAPIO__V1__CONTROL_RESPONSE__RESPONSE_AUDIT;
	resp.audit = &ar;
	send_response(cl, &resp);
	free(slots);
	free(ptrs);
}

static void do_events(struct control_client *cl, const Tapio__V1__EventsRequest *rq)
{
	if (rq && rq->collector && rq->collector[0])
		cl->want_collector = strndup(rq->collector, 64);
	if (rq && rq->type && rq->type[0])
		cl->want_type = strndup(rq->type, 64);
	struct sink *s = sinks_find(&cl->ctl->sup->sinks, "subscribers");
	if (!s) {
		send_error(cl, "no event subscriptions in this tapiod");
		return;
	}
	cl->sub = (struct subscriber){.stream = (uv_stream_t *)&cl->pipe,
				      .want_collector = cl->want_collector,
				      .want_type = cl->want_type,
				      .on_cut = on_cut};
	sink_subscribe(s, &cl->sub);
	cl->subscribed = true;
	uv_timer_stop(&cl->idle); /* a subscriber that falls behind is cut off by the sink */
}

static void handle_request(struct control_client *cl, const uint8_t *data, size_t len)
{
	Tapio__V1__ControlRequest *rq = tapio__v1__control_request__unpack(NULL, len, data);
	if (!rq) {
		send_error(cl, "undecodable request");
		return;
	}
	switch (rq->request_case) {
	case TAPIO__V1__CONTROL_REQUEST__REQUEST_STATUS:
		do_status(cl);
		break;
	case TAPIO__V1__CONTROL_REQUEST__REQUEST_RESTART:
		do_restart(cl, rq->restart);
		break;
	case TAPIO__V1__CONTROL_REQUEST__REQUEST_EVENTS:
		do_events(cl, rq->events);
		break;
	case TAPIO__V1__CONTROL_REQUEST__REQUEST_AUDIT:
		do_audit(cl);
		break;
	default:
		send_error(cl, "unknown request");
		break;
	}
	tapio__v1__control_request__free_unpacked(rq, NULL);
}

/* ---- connections --------------------------------------------------------------------------- */

static void on_client_closed(uv_handle_t *h)
{
	struct control_client *cl = h->data;
	struct control *ctl = cl->ctl;
	if (--cl->handles > 0)
		return;
	for (struct control_client **p = &ctl->clients; *p; p = &(*p)->next) {
		if (*p == cl) {
			*p = cl->next;
			break;
		}
	}
	ctl->n_clients--;
	free(cl->want_collector);
	free(cl->want_type);
	free(cl);
}

static void client_close(struct control_client *cl)
{
	if (cl->closing)
		return;
	cl->closing = true;
	if (cl->subscribed) {
		struct sink *s = sinks_find(&cl->ctl->sup->sinks, "subscribers");
		if (s)
			sink_unsubscribe(s, &cl->sub);
	}
	uv_close((uv_handle_t *)&cl->idle, on_client_closed);
	uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
}

static void on_idle(uv_timer_t *t)
{
	struct control_client *cl = t->data;
	cl->ctl->idle_timeouts++;
	log_debug("control: connection idle for %u ms: closed", IDLE_TIMEOUT_MS);
	client_close(cl);
}

static void on_cut(struct subscriber *sub)
{
	struct control_client *cl =
		(struct control_client *)((char *)sub - offsetof(struct control_client, sub));
	client_close(cl);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct control_client *cl = req->data;
	free(req);
	client_close(cl);
}

/* Close once the response has been written (uv_close would cancel pending writes). */
static void finish(struct control_client *cl)
{
	uv_read_stop((uv_stream_t *)&cl->pipe);
	uv_timer_stop(&cl->idle);
	uv_shutdown_t *req = malloc(sizeof(*req));
	if (!req || uv_shutdown(req, (uv_stream_t *)&cl->pipe, on_shutdown) < 0) {
		free(req);
		client_close(cl);
		return;
	}
	req->data = cl;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct control_client *cl = h->data;
	*buf = uv_buf_init((char *)cl->buf + cl->len, (unsigned)(sizeof(cl->buf) - cl->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct control_client *cl = s->data;
	if (n < 0) {
		client_close(cl);
		return;
	}
	if (cl->subscribed) /* a subscriber has nothing more to say */
		return;
	cl->len += (size_t)n;
	if (cl->len < FRAME_HDR)
		return;
	uint32_t want = (uint32_t)cl->buf[0] << 24 | (uint32_t)cl->buf[1] << 16 |
			(uint32_t)cl->buf[2] << 8 | cl->buf[3];
	if (want == 0 || want > REQUEST_MAX) {
		send_error(cl, "request length %u out of range (1..%u)", want, REQUEST_MAX);
		finish(cl);
		return;
	}
	if (cl->len < FRAME_HDR + want)
		return;
	handle_request(cl, cl->buf + FRAME_HDR, want);
	cl->len = 0;
	if (!cl->subscribed)
		finish(cl); /* one request per connection */
}

static bool peer_allowed(struct control *ctl, int fd, char *who, size_t len, uint32_t *ret_uid)
{
	struct ucred cred;
	socklen_t sl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0)
		return false;
	*ret_uid = cred.uid;
	snprintf(who, len, "pid %d uid %u gid %u", (int)cred.pid, cred.uid, cred.gid);
	if (cred.uid == 0 || cred.uid == getuid())
		return true;
	if (ctl->gid_set && cred.gid == ctl->gid)
		return true;
	/* Supplementary groups of the peer: /proc/PID/status "Groups:". */
	if (!ctl->gid_set)
		return false;
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)cred.pid);
	FILE *f = fopen(path, "re");
	bool ok = false;
	while (f && !ok && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		char *p = line + 7, *end;
		for (;;) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			if (g == ctl->gid)
				ok = true;
			p = end;
		}
	}
	if (f)
		fclose(f);
	return ok;
}

/* One line at most every REFUSED_LOG_EVERY_NS, with the count of those not logged. */
static void log_refused(struct control *ctl, const char *who)
{
	uint64_t now = timeconv_now_mono_ns();
	ctl->refused++;
	if (ctl->refused_logged_ns && now - ctl->refused_logged_ns < REFUSED_LOG_EVERY_NS) {
		ctl->refused_unlogged++;
		return;
	}
	log_warn("control: refused %s (not root, not tapiod's uid, not in the control group); "
		 "%llu refused in all, %llu not logged since the last line",
		 who, (unsigned long long)ctl->refused, (unsigned long long)ctl->refused_unlogged);
	ctl->refused_logged_ns = now;
	ctl->refused_unlogged = 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct control *ctl = server->data;
	if (status < 0)
		return;
	struct control_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->ctl = ctl;
	uv_pipe_init(ctl->sup->loop, &cl->pipe, 0);
	uv_timer_init(ctl->sup->loop, &cl->idle);
	cl->handles = 2;
	cl->pipe.data = cl;
	cl->idle.data = cl;
	cl->next = ctl->clients;
	ctl->clients = cl;
	ctl->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
		client_close(cl);
		return;
	}
	uv_os_fd_t fd;
	char who[96] = "unknown peer";
	uint32_t uid = (uint32_t)-1;
	if (uv_fileno((uv_handle_t *)&cl->pipe, &fd) < 0 ||
	    !peer_allowed(ctl, fd, who, sizeof(who), &uid)) {
		log_refused(ctl, who);
		client_close(cl);
		return;
	}
	/* the last CLIENTS_ROOT slots are root's: idle or streaming peers of the control group
	 * cannot lock root out */
	unsigned limit = uid == 0 ? CLIENTS_MAX : CLIENTS_MAX - CLIENTS_ROOT;
	if (ctl->n_clients > limit) {
		ctl->busy++;
		send_error(cl, "too many control connections (%u)", limit);
		finish(cl);
		return;
	}
	uv_timer_start(&cl->idle, on_idle, IDLE_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
}

static int resolve_group(const char *name, gid_t *ret)
{
	char *end;
	unsigned long v = strtoul(name, &end, 10);
	if (*name && !*end) {
		*ret = (gid_t)v;
		return 0;
	}
	struct group *g = getgrnam(name);
	if (!g)
		return -ENOENT;
	*ret = g->gr_gid;
	return 0;
}

/* <socket_path>.lock, held (flock) as long as tapiod runs: a second tapiod with the same path
 * fails here instead of unlinking the live socket. The file is never removed (removing a lock
 * file races with its next taker). */
static int take_lock(struct control *ctl, const char *path)
{
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int r = -errno;
		log_error("control socket lock %s: %s", lock, strerror(errno));
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_error("control socket %s is in use by another tapiod (pid %s, holding %s): "
			  "refusing to start a second one",
			  path, pid[0] ? pid : "?", lock);
		close(fd);
		return r;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0)
		log_debug("control socket lock %s: cannot write the pid", lock);
	ctl->lock_fd = fd;
	return 0;
}

/* Does a process accept connections on the socket at `path`? (A tapiod of a version without
 * the lock file.) */
static bool someone_listens(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool yes = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return yes;
}

int control_open(struct control *ctl, struct sup *sup)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->sup = sup;
	ctl->lock_fd = -1;
	const char *path = sup->cfg->control.socket_path;
	const char *group = sup->cfg->control.socket_group;
	if (group && group[0]) {
		if (resolve_group(group, &ctl->gid) < 0) {
			log_error("control.socket_group: no group named '%s'", group);
			return -ENOENT;
		}
		ctl->gid_set = true;
	}
	/* The directory: created 0755 if missing; a stale socket from a dead tapiod is removed. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	int r = take_lock(ctl, path);
	if (r < 0)
		return r;
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("control.socket_path %s exists and is not a socket", path);
			return -EEXIST;
		}
		if (someone_listens(path)) {
			log_error("control socket %s: another process listens on it (a second "
				  "tapiod?); not taking it over",
				  path);
			return -EADDRINUSE;
		}
		unlink(path); /* stale: its tapiod is gone */
	}
	r = uv_pipe_init(sup->loop, &ctl->server, 0);
	if (r < 0)
		return r;
	ctl->server.data = ctl;
	ctl->open = true;
	mode_t old = umask(0177);
	r = uv_pipe_bind(&ctl->server, path);
	umask(old);
	if (r < 0) {
		log_error("control socket %s: %s", path, uv_strerror(r));
		return r;
	}
	if (ctl->gid_set) {
		if (chown(path, (uid_t)-1, ctl->gid) < 0 || chmod(path, 0660) < 0)
			log_warn("control socket %s: cannot give group %u access: %s", path,
				 (unsigned)ctl->gid, strerror(errno));
	}
	r = uv_listen((uv_stream_t *)&ctl->server, 16, on_connection);
	if (r < 0) {
		log_error("control socket %s: listen: %s", path, uv_strerror(r));
		return r;
	}
	log_info("control socket %s", path);
	return 0;
}

void control_close(struct control *ctl)
{
	if (!ctl->open)
		return;
	ctl->open = false;
	for (struct control_client *cl = ctl->clients; cl; cl = cl->next)
		client_close(cl);
	uv_close((uv_handle_t *)&ctl->server, NULL);
	unlink(ctl->sup->cfg->control.socket_path);
	if (ctl->lock_fd >= 0)
		close(ctl->lock_fd); /* after the unlink: the next tapiod finds no socket */
	ctl->lock_fd = -1;
}
