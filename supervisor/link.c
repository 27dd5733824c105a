// SPDX-License-Identifier: Apache-2.0
// The framed link from one worker: read, split into frames, decode with a memory budget,
// enforce the protocol (READY first, sequence numbers only go up, the decode budget) and hand
// events to the routing step. Nothing a worker sends is trusted: any violation kills that worker
// and is counted.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
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
	free(c->degraded_reason);
	c->degraded_reason = NULL;
	if (r->degraded_reason && r->degraded_reason[0]) {
		char reason[REASON_MAX];
		printable(reason, sizeof(reason), r->degraded_reason);
		c->degraded_reason = strdup(reason);
		child_handle(c, CEV_DEGRADED, NULL);
	} else {
		child_handle(c, CEV_READY, NULL); /* its action runs the audit */
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
	pbwire_iter_init(&it, bytes, len);
	while ((r = pbwire_next(&it, &f)) > 0) {
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
	return 0;
}

static void on_stats(struct child *c, const Tapio__V1__Stats *s)
{
	c->cnt.kernel_drops = s->kernel_drops;
	c->cnt.queue_drops = s->queue_drops;
	c->cnt.decode_errors = s->decode_errors;
	c->cnt.filtered = s->filtered;
	c->cnt.records_read = s->records_read;
	c->cnt.enrich_misses = s->enrich_misses;
	c->cnt.worker_events_sent = s->events_sent;
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
		on_stats(c, f->stats);
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_FATAL:
		if (f->fatal->has_syscall && f->fatal->syscall >= 0 && f->fatal->syscall < 4096)
			c->violation_syscall = f->fatal->syscall;
		break;
	case TAPIO__V1__WORKER_FRAME__BODY_SIGNALED:
		on_signaled(c, f->signaled);
		break;
	default:
		protocol_error(c, "frame without a known body");
		r = -EPROTO;
		break;
	}
	pbarena_reset(a);
	return r;
}

static void read_frames(struct child *c, int max_reads)
{
	for (int i = 0; i < max_reads && c->poll_open; i++) {
		uint8_t *p;
		size_t room;
		frame_reader_space(&c->reader, &p, &room);
		ssize_t n = read(c->fd, p, room);
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
	if (!c->poll_open)
		return;
	c->poll_open = false;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, on_poll_closed);
}
