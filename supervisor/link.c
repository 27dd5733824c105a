// SPDX-License-Identifier: Apache-2.0
// The framed link from one worker: read, split into frames, decode with a memory budget,
// enforce the protocol (READY first, sequence numbers only go up, the decode budget) and hand
// events to the routing step. Nothing a worker sends is trusted: any violation kills that worker
// and is counted.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "textesc.h"
#include "pbarena.h"
#include "link.h"
#include "pbwire.h"
#include "tapio/v1/worker.pb-c.h"
#include "timeconv.h"
#include "wire.h"

#define READS_PER_WAKEUP 8 /* fairness between workers */
#define TYPE_MAX	 64
#define REASON_MAX	 1024

static void protocol_error(struct child *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void protocol_error(struct child *c, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(why, sizeof(why), "protocol violation: ");
	vsnprintf(why + n, sizeof(why) - (size_t)n, fmt, ap);
	va_end(ap);
	c->cnt.protocol_errors++;
	link_close(c);
	child_handle(c, CEV_PROTOCOL_ERROR, why);
}

static bool valid_text(const char *s, size_t max)
{
	return s && s[0] && strnlen(s, max + 1) <= max;
}

/* Copy a worker-supplied string for the log: printable ASCII only, bounded. */
static void printable(char *dst, size_t len, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < len; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

/* After READY, the worker's state changed: DEGRADED with a reason, or READY again. Checked:
 * not before READY, a reason when degraded (1..WIRE_STATUS_REASON_MAX bytes, shown escaped),
 * and no flood (a burst, then one per interval: the worker library sends one a second). */
static int on_status(struct child *c, const Tapio__V1__Status *st)
{
	if (c->state == CHILD_STARTING) {
		protocol_error(c, "status before READY");
		return -EPROTO;
	}
	if (c->state != CHILD_READY && c->state != CHILD_DEGRADED)
		return 0; /* the worker is gone or going: its last words change nothing */
	uint64_t now = timeconv_now_mono_ns();
	if (c->status_refill_ns == 0) {
		c->status_tokens = WIRE_STATUS_BURST;
	} else {
		c->status_tokens +=
			(double)(now - c->status_refill_ns) / (WIRE_STATUS_MIN_INTERVAL_MS * 1e6);
		if (c->status_tokens > WIRE_STATUS_BURST)
			c->status_tokens = WIRE_STATUS_BURST;
	}
	c->status_refill_ns = now;
	if (c->status_tokens < 1.0) {
		protocol_error(c, "status frames faster than one per %u ms",
			       WIRE_STATUS_MIN_INTERVAL_MS);
		return -EPROTO;
	}
	c->status_tokens -= 1.0;
	c->cnt.status_frames++;
	if (!st->has_degraded) {
		protocol_error(c, "status without a state");
		return -EPROTO;
	}
	if (!st->degraded) {
		child_handle(c, CEV_STATUS_READY, NULL);
		return 0;
	}
	size_t n = st->reason ? strnlen(st->reason, WIRE_STATUS_REASON_MAX + 1) : 0;
	if (n == 0 || n > WIRE_STATUS_REASON_MAX) {
		protocol_error(c, "degraded status with %s reason", n ? "an over-long" : "no");
		return -EPROTO;
	}
	char reason[4 * WIRE_STATUS_REASON_MAX + 1];
	text_escape_utf8(reason, sizeof(reason), (const uint8_t *)st->reason, n);
	if (c->state == CHILD_DEGRADED && c->degraded_reason &&
	    strcmp(c->degraded_reason, reason) == 0)
		return 0; /* no change */
	child_handle(c, CEV_STATUS_DEGRADED, reason);
	return 0;
}

static int on_ready(struct child *c, const Tapio__V1__Ready *r)
{
	if (c->state != CHILD_STARTING) {
		protocol_error(c, "second READY");
		return -EPROTO;
	}
	if (!r->collector || strcmp(r->collector, c->reg->name) != 0) {
		protocol_error(c, "READY names collector '%.32s', expected '%s'",
			       r->collector ? r->collector : "", c->reg->name);
		return -EPROTO;
	}
	if (!r->has_protocol_version || r->protocol_version != WIRE_PROTOCOL_VERSION) {
		protocol_error(c, "unsupported protocol version %u", r->protocol_version);
		return -EPROTO;
	}
	const Tapio__V1__PrivilegeReport *pr = r->privileges;
	memset(&c->reported, 0, sizeof(c->reported));
	if (pr && pr->has_uid && pr->has_cap_eff && pr->has_seccomp) {
		c->reported.valid = true;
		c->reported.uid = pr->uid;
		c->reported.gid = pr->gid;
		c->reported.cap_inh = pr->cap_inh;
		c->reported.cap_prm = pr->cap_prm;
		c->reported.cap_eff = pr->cap_eff;
		c->reported.cap_bnd = pr->cap_bnd;
		c->reported.cap_amb = pr->cap_amb;
		c->reported.no_new_privs = pr->no_new_privs;
		c->reported.seccomp = pr->seccomp;
		c->reported.has_dumpable = pr->has_dumpable;
		c->reported.dumpable = pr->dumpable;
		printable(c->reported.landlock, sizeof(c->reported.landlock), pr->landlock);
		log_info("%s: privileges after setup: uid %u gid %u CapEff %016llx CapPrm %016llx "
			 "CapBnd %016llx NoNewPrivs %u Seccomp %u Landlock %s dumpable %d",
			 c->reg->name, pr->uid, pr->gid, (unsigned long long)pr->cap_eff,
			 (unsigned long long)pr->cap_prm, (unsigned long long)pr->cap_bnd,
			 pr->no_new_privs, pr->seccomp, c->reported.landlock,
			 pr->has_dumpable ? (int)pr->dumpable : -1);
	}
	if (c->gap_from_ns) {
		uint64_t now = timeconv_now_mono_ns();
		uint64_t gap = now > c->gap_from_ns ? (now - c->gap_from_ns) / 1000000u : 0;
		c->cnt.gap_ms += gap;
		c->cnt.gaps++;
		c->gap_from_ns = 0;
		log_info("%s: %llu ms without a worker (last heartbeat of the previous one to this "
			 "READY)%s",
			 c->reg->name, (unsigned long long)gap,
			 c->resumed
				 ? "; the kernel objects stayed attached: the backlog is read now"
				 : "; what happened meanwhile was not recorded");
	}
	free(c->degraded_reason);
	c->degraded_reason = NULL;
	c->status_refill_ns = 0; /* a new worker: a full burst of Status frames */
	if (r->degraded_reason && r->degraded_reason[0]) {
		char reason[REASON_MAX];
		text_escape_utf8(reason, sizeof(reason), (const uint8_t *)r->degraded_reason,
				 strnlen(r->degraded_reason, REASON_MAX / 4));
		c->degraded_reason = strdup(reason);
		child_handle(c, CEV_DEGRADED, NULL);
	} else {
		child_handle(c, CEV_READY, NULL); /* its action runs the audit */
	}
	/* The hook set, for tapioctl status: bounded, printable. */
	char hooks[1024] = "";
	for (size_t i = 0, u = 0; i < r->n_hooks_attached && i < 32 && u < sizeof(hooks); i++) {
		char h[512];
		printable(h, sizeof(h), r->hooks_attached[i]);
		int n = snprintf(hooks + u, sizeof(hooks) - u, "%s%s", i ? ", " : "", h);
		if (n < 0)
			break;
		u += (size_t)n;
	}
	if (hooks[0]) { /* a worker resumed on the stored objects lists none: keep the last */
		free(c->hooks);
		c->hooks = strdup(hooks);
	}
	for (size_t i = 0; i < r->n_features_missing && i < 16; i++) {
		char what[256];
		printable(what, sizeof(what), r->features_missing[i]);
		log_info("%s: not available: %s", c->reg->name, what);
	}
	return 0;
}

/* One event of a batch: decode (into the arena, under the decode budget), check, hand to the
 * routing step. Returns -EPROTO when the worker was killed for it. */
static int on_event(struct child *c, const uint8_t *bytes, size_t len)
{
	struct link_env *le = c->link;
	pbarena_reset(&le->arena);
	Tapio__V1__Event *ev = tapio__v1__event__unpack(&le->arena.alloc, len, bytes);
	if (!ev) {
		protocol_error(c, "undecodable event of %zu bytes", len);
		return -EPROTO;
	}
	if (!ev->has_seq || ev->seq <= c->last_seq) {
		protocol_error(c, "event sequence %llu after %llu", (unsigned long long)ev->seq,
			       (unsigned long long)c->last_seq);
		return -EPROTO;
	}
	if (!valid_text(ev->type, TYPE_MAX)) {
		protocol_error(c, "event without a valid type");
		return -EPROTO;
	}
	if (ev->seq > c->last_seq + 1)
		c->cnt.seq_gaps += ev->seq - c->last_seq - 1;
	c->last_seq = ev->seq;
	c->cnt.events++;
	struct route_tally t =
		route_event(le->route, c->reg->name, c->reg->pod_metadata, bytes, len, ev);
	c->cnt.encode_errors += t.encode_errors;
	c->cnt.sink_queue_drops += t.sink_drops;
	return 0;
}

/* An EventBatch, walked at the wire level so that each event is decoded on its own: the
 * arena stays one event small and hot, and the binary sink gets the event's own bytes. */
static int on_batch(struct child *c, const uint8_t *bytes, size_t len)
{
	if (c->state != CHILD_READY && c->state != CHILD_DEGRADED) {
		protocol_error(c, "events before READY");
		return -EPROTO;
	}
	struct pbwire_iter it;
	struct pbwire_field f;
	int r;
	uint64_t pos[CHILD_MAX_RINGS];
	unsigned npos = 0;
	const uint8_t *token = NULL;
	size_t token_len = 0;
	pbwire_iter_init(&it, bytes, len);
	while ((r = pbwire_next(&it, &f)) > 0) {
		if (f.number == WIRE_BATCH_RESUME_TOKEN && f.type == PBWIRE_LEN) {
			if (f.value_len == 0 || f.value_len > WIRE_RESUME_TOKEN_MAX) {
				protocol_error(c, "batch with a resume token of %zu bytes (1..%u)",
					       f.value_len, WIRE_RESUME_TOKEN_MAX);
				return -EPROTO;
			}
			token = f.value;
			token_len = f.value_len;
			continue;
		}
		if (f.number == WIRE_BATCH_RING_POS && f.type == PBWIRE_VARINT) {
			if (npos == CHILD_MAX_RINGS) {
				protocol_error(c, "batch with more than %u ring positions",
					       CHILD_MAX_RINGS);
				return -EPROTO;
			}
			pos[npos++] = f.varint;
			continue;
		}
		if (f.number != WIRE_BATCH_EVENTS || f.type != PBWIRE_LEN) {
			protocol_error(c, "batch holds field %u (wire type %d), not events",
				       f.number, (int)f.type);
			return -EPROTO;
		}
		if (on_event(c, f.value, f.value_len) < 0)
			return -EPROTO;
	}
	pbarena_reset(&c->link->arena); /* an outsized event's memory goes now, not later */
	if (r < 0) {
		protocol_error(c, "undecodable batch of %zu bytes", len);
		return -EPROTO;
	}
	/* every event of the batch is delivered: the collector's next worker resumes behind it */
	if (token) {
		memcpy(c->resume_token, token, token_len);
		c->resume_token_len = token_len;
	}
	/* every event of the batch is delivered: where the next worker on the same rings starts
	 * (it only ever moves forward; only the fd store's workers share rings) */
	if (c->store.n > 0) {
		for (unsigned i = 0; i < npos; i++)
			if (pos[i] > c->ring_delivered[i])
				c->ring_delivered[i] = pos[i];
		if (npos > c->n_ring_delivered)
			c->n_ring_delivered = npos;
	}
	return 0;
}

/* The worker's counters are cumulative since it started; the child's totals add those of the
 * workers before it (folded at spawn). A worker on the fd store reads a kernel drop counter that
 * kept counting while no worker ran: what it grew by since the last value a predecessor
 * reported is the ring's overflow while unattended, counted once, as such. */
static bool counter_name_valid(const char *n)
{
	size_t len = n ? strnlen(n, CHILD_COUNTER_NAME) : 0;
	if (len == 0 || len >= CHILD_COUNTER_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
			return false;
	return true;
}

/* The collector's own counters: checked (count, names), then kept by name. */
static int on_counters(struct child *c, const Tapio__V1__Stats *s)
{
	if (s->n_counters > CHILD_MAX_COUNTERS) {
		protocol_error(c, "stats with %zu counters (at most %u)", s->n_counters,
			       CHILD_MAX_COUNTERS);
		return -EPROTO;
	}
	for (size_t i = 0; i < s->n_counters; i++) {
		const Tapio__V1__Counter *k = s->counters[i];
		if (!counter_name_valid(k->name)) {
			protocol_error(c, "stats counter %zu has no valid name", i);
			return -EPROTO;
		}
		unsigned j = 0;
		while (j < c->n_named && strcmp(c->named[j].name, k->name) != 0)
			j++;
		if (j == c->n_named) {
			if (j == CHILD_MAX_COUNTERS)
				continue; /* names of earlier workers filled the table */
			snprintf(c->named[j].name, CHILD_COUNTER_NAME, "%s", k->name);
			c->named[j].base = c->named[j].cur = 0;
			c->n_named++;
		}
		c->named[j].cur = k->value;
	}
	return 0;
}

static void on_stats(struct child *c, const Tapio__V1__Stats *s)
{
	struct child_worker_stats *w = &c->cur;
	uint64_t kernel = s->kernel_drops;
	if (c->resumed && s->resumed) {
		uint64_t at_start = s->kernel_drops_at_start;
		if (!c->store_stats_seen && at_start > c->store_raw_kernel)
			c->cnt.unattended_drops += at_start - c->store_raw_kernel;
		kernel = kernel >= at_start ? kernel - at_start : 0;
		w->backlog_records = s->backlog_records;
	}
	c->store_stats_seen = true;
	if (c->store.n > 0)
		c->store_raw_kernel = s->kernel_drops;
	w->kernel_drops = kernel;
	w->queue_drops = s->queue_drops;
	w->decode_errors = s->decode_errors;
	w->filtered = s->filtered;
	w->records_read = s->records_read;
	w->enrich_misses = s->enrich_misses;
	w->events_sent = s->events_sent;
	const struct child_worker_stats *b = &c->base;
	c->cnt.kernel_drops = b->kernel_drops + w->kernel_drops + c->cnt.unattended_drops;
	c->cnt.queue_drops = b->queue_drops + w->queue_drops;
	c->cnt.decode_errors = b->decode_errors + w->decode_errors;
	c->cnt.filtered = b->filtered + w->filtered;
	c->cnt.records_read = b->records_read + w->records_read;
	c->cnt.enrich_misses = b->enrich_misses + w->enrich_misses;
	c->cnt.worker_events_sent = b->events_sent + w->events_sent;
	c->cnt.backlog_records = b->backlog_records + w->backlog_records;
}

/* FdStore: the fds came with the frame's first byte (read_frames collected them). Every one is
 * checked: the count, each name, the kind of object behind each fd. */
static int on_fd_store(struct child *c, const Tapio__V1__FdStore *fs)
{
	if (c->state != CHILD_STARTING || c->resumed) {
		protocol_error(c, "FdStore %s",
			       c->resumed ? "from a worker given the store" : "after READY");
		return -EPROTO;
	}
	if (fs->n_names != c->pending.n || fs->n_names == 0) {
		protocol_error(c, "FdStore names %zu objects, %u fds came", fs->n_names,
			       c->pending.n);
		return -EPROTO;
	}
	child_store_drop(c, NULL);
	if (!c->env->cfg->supervisor.fd_store) {
		fdstore_clear(&c->pending); /* supervisor.fd_store: false */
		return 0;
	}
	for (size_t i = 0; i < fs->n_names; i++) {
		const char *name = fs->names[i];
		int fd = c->pending.fds[i];
		int r = fdstore_name_valid(name) ? fdstore_check(fd, name) : -EINVAL;
		if (r == 0)
			r = fdstore_add(&c->store, name, fd);
		if (r < 0) {
			char shown[FDSTORE_NAME_MAX];
			printable(shown, sizeof(shown), name);
			fdstore_clear(&c->store);
			protocol_error(c, "FdStore object %zu ('%s'): %s", i, shown, strerror(-r));
			return -EPROTO;
		}
		c->pending.fds[i] = -1; /* the store's now */
	}
	c->pending.n = 0;
	c->store_raw_kernel = 0;
	memset(c->ring_delivered, 0, sizeof(c->ring_delivered)); /* new rings */
	c->n_ring_delivered = 0;
	log_info("%s: keeping %u kernel objects for its next worker", c->reg->name, c->store.n);
	return 0;
}

/* The worker is exiting on a signal tapiod did not send: who sent it (the worker's word, from
 * its siginfo; numbers only, checked for range). */
static void on_signaled(struct child *c, const Tapio__V1__Signaled *s)
{
	int signo = s->has_signo && s->signo > 0 && s->signo < 65 ? s->signo : 0;
	c->cnt.foreign_signals++;
	snprintf(c->foreign_signal, sizeof(c->foreign_signal), "signal %d from pid %u uid %u",
		 signo, s->sender_pid, s->sender_uid);
	log_warn("%s: worker pid %d got %s, not from tapiod: it exits and is restarted",
		 c->reg->name, (int)c->pid, c->foreign_signal);
}

/* Returns 0 to keep reading, -EPROTO when the link was closed. A frame is exactly one body
 * field (the oneof's last-wins rule would otherwise let one body hide another); a batch is
 * walked here, event by event, and every other body is decoded whole. */
static int on_frame(struct child *c, const uint8_t *data, size_t len)
{
	struct pbwire_iter it;
	struct pbwire_field body;
	pbwire_iter_init(&it, data, len);
	if (pbwire_next(&it, &body) <= 0) {
		protocol_error(c, "undecodable frame of %zu bytes", len);
		return -EPROTO;
	}
	if (body.size != len) {
		protocol_error(c, "frame of %zu bytes holds more than one body", len);
		return -EPROTO;
	}
	if (c->pending.n > 0 && body.number != WIRE_FRAME_FD_STORE) {
		/* fds come only with the frame that names them */
		protocol_error(c, "%u fds sent without an FdStore frame", c->pending.n);
		return -EPROTO;
	}
	if (body.number == WIRE_FRAME_BATCH && body.type == PBWIRE_LEN) {
		c->cnt.frames++;
		return on_batch(c, body.value, body.value_len);
	}
	struct pbarena *a = &c->link->arena;
	pbarena_reset(a);
	Tapio__V1__WorkerFrame *f = tapio__v1__worker_frame__unpack(&a->alloc, len, data);
	if (!f) {
		protocol_error(c, "undecodable frame of %zu bytes", len);
		return -EPROTO;
	}
	c->cnt.frames++;
	int r = 0;
	switch (f->body_case) {
	case TAPIO__V1__WORKER_FRAME__BODY_READY:
		r = on_ready(c, f->ready);
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_HEARTBEAT:
		c->last_heartbeat_ns = timeconv_now_mono_ns();
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_STATS:
		r = on_counters(c, f->stats);
		if (r == 0)
			on_stats(c, f->stats);
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_FD_STORE:
		r = on_fd_store(c, f->fd_store);
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_FD_STORE_DROP: {
		char why[REASON_MAX];
		printable(why, sizeof(why),
			  f->fd_store_drop->reason ? f->fd_store_drop->reason : "");
		child_store_drop(c, c->resumed ? why : NULL);
		break;
	}
	case TAPIO__V1__WORKER_FRAME__BODY_FATAL:
		if (f->fatal->has_syscall && f->fatal->syscall >= 0 && f->fatal->syscall < 4096)
			c->violation_syscall = f->fatal->syscall;
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_SIGNALED:
		on_signaled(c, f->signaled);
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_STATUS:
		r = on_status(c, f->status);
		break;
	default:
		protocol_error(c, "frame without a known body");
		r = -EPROTO;
		break;
	}
	pbarena_reset(a);
	return r;
}

/* Keep the fds that came with the data (an FdStore frame's) until that frame is read; more
 * than one store's worth is a protocol error. */
static int take_fds(struct child *c, struct msghdr *mh)
{
	int r = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->pending.n < FDSTORE_MAX)
				c->pending.fds[c->pending.n++] = fd;
			else {
				close(fd);
				r = -E2BIG;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		r = -E2BIG;
	return r;
}

static void read_frames(struct child *c, int max_reads)
{
	for (int i = 0; i < max_reads && c->poll_open; i++) {
		uint8_t *p;
		size_t room;
		frame_reader_space(&c->reader, &p, &room);
		union {
			char buf[CMSG_SPACE(sizeof(int) * FDSTORE_MAX)];
			struct cmsghdr align;
		} u;
		struct iovec iov = {.iov_base = p, .iov_len = room};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = u.buf,
				    .msg_controllen = sizeof(u.buf)};
		ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n > 0 && mh.msg_controllen > 0 && take_fds(c, &mh) < 0) {
			protocol_error(c, "more fds than an fd store holds (%u)", FDSTORE_MAX);
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			link_close(c); /* the exit callback follows */
			break;
		}
		frame_reader_commit(&c->reader, (size_t)n);
		const uint8_t *payload;
		size_t len;
		int r;
		while ((r = frame_reader_next(&c->reader, &payload, &len)) > 0)
			if (on_frame(c, payload, len) < 0)
				return;
		if (r < 0) {
			protocol_error(c, "frame length out of range (0 or over %u bytes)",
				       FRAME_MAX);
			return;
		}
	}
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct child *c = h->data;
	read_frames(c, READS_PER_WAKEUP);
	route_flush(c->link->route);
}

void link_drain(struct child *c)
{
	/* The worker is dead: what it wrote before dying is all that will come. */
	if (!c->link)
		return;
	read_frames(c, 64);
	route_flush(c->link->route);
}

int link_env_init(struct link_env *le, uv_loop_t *loop, struct route *route)
{
	le->loop = loop;
	le->route = route;
	return pbarena_init(&le->arena, DECODE_BLOCK, DECODE_BUDGET);
}

void link_env_release(struct link_env *le)
{
	pbarena_release(&le->arena);
}

int link_open(struct link_env *le, struct child *c, int fd)
{
	c->link = le;
	c->fd = fd;
	c->reader.start = c->reader.len = 0;
	c->reader.error = 0;
	int r = uv_poll_init(le->loop, &c->poll, fd);
	if (r < 0)
		return r;
	c->poll.data = c;
	c->poll_open = true;
	return uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_readable);
}

static void on_poll_closed(uv_handle_t *h)
{
	struct child *c = h->data;
	close(c->fd);
	c->fd = -1;
}

void link_close(struct child *c)
{
	fdstore_clear(&c->pending);
	if (!c->poll_open)
		return;
	c->poll_open = false;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, on_poll_closed);
}
