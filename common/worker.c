// SPDX-License-Identifier: Apache-2.0
// The worker lifecycle (see worker.h). One thread, one epoll loop: collector fds, a signalfd
// for SIGTERM/SIGINT, a 100 ms timerfd for heartbeats, stats and batch flushing, and the
// socket to the supervisor (non-blocking, with a bounded queue: a full queue drops whole
// batches, counts them, and leaves a gap in the sequence numbers the supervisor sees).
#include "worker.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cleanup.h"
#include "exitcodes.h"
#include "fatal_report.h"
#include "frame.h"
#include "log.h"
#include "pbwire.h"
#include "privilege.h"
#include "registry.h"
#include "ringread.h"
#include "sandbox.h"
#include "strbuf.h"

#define TICK_MS		 100
#define CONTROL_SLACK	 (64u << 10) /* heartbeats and stats may exceed the queue cap by this */
#define BATCH_BYTES_MAX	 (FRAME_MAX - 64)
#define DRAIN_TIMEOUT_MS 1000
#define MAX_STR		 64
#define MAX_MARKS	 256
#define STORE_SEND_MS	 2000

struct worker {
	const struct worker_collector *coll;
	void *ctx;
	struct config *cfg; /* owned */
	const struct config_collector_common *common;
	const struct registry_entry *reg;

	int sock;     /* to the supervisor, non-blocking */
	pid_t parent; /* tapiod: the only process whose stop signal is a request */
	int epfd, sigfd, timerfd;
	int flushfd; /* one-shot: armed by the first event of a batch */
	int fds[WORKER_MAX_FDS];
	int nfds;
	struct ring_watch {
		struct ringread rr; /* owned mappings */
		int fd;		    /* the ring map: watched edge-triggered */
		void *map;	    /* owned: ring_consumer, read by the BPF programs */
		size_t map_len;
	} rings[WORKER_MAX_FDS];
	int nrings;
	/* Ring positions to commit once the output queue has sent `end` bytes in total: the
	 * records behind a batch are released to the kernel only when the batch is in the
	 * socket, so a worker killed in between leaves them for its successor. */
	struct commit_mark {
		uint64_t end;
		uint64_t seq; /* the newest event queued before `end` */
		uint64_t pos[WORKER_MAX_FDS];
	} marks[MAX_MARKS];
	unsigned mark_head, mark_n;
	uint64_t out_queued, out_sent; /* bytes ever queued / written */
	uint64_t seq_sent;	       /* worker_sent_seq */
	bool flush_before_current;     /* the record in the callback has no event in this batch */
	bool in_rings;		       /* drain_rings is handing records to the collector */
	bool release_on_read;	       /* worker_release_on_read */
	uint64_t ring_resume[WORKER_MAX_FDS]; /* --ring-resume: delivered by the predecessor */
	int nresume;
	struct fdstore store; /* resumed: the stored objects (owned); fresh: what to hand over */
	Tapio__V1__Counter named[WORKER_MAX_COUNTERS]; /* worker_set_counter */
	size_t nnamed;
	bool resumed;
	int pollfd; /* one-shot: the next ring poll while polling */
	struct io_watch {
		int fd;
		unsigned events;
		worker_io_fn fn;
		void *data;
	} io[WORKER_IO_MAX];
	int nio;
	char *read_paths[WORKER_MAX_FDS + 1]; /* owned, NULL-terminated: registry's + these */
	int nread_paths;
	uint16_t connect_ports[WORKER_MAX_FDS];
	int nconnect_ports;
	bool polling;
	bool want_out;	  /* EPOLLOUT armed on sock */
	const char *step; /* the collector's setup step, for the log */

	Tapio__V1__Ready ready;
	char *hooks[MAX_STR], *missing[MAX_STR];
	char *degraded;
	/* After READY (worker_set_degraded / worker_set_ready): the state wanted and the state
	 * tapiod was last told, a Status frame at most every WIRE_STATUS_MIN_INTERVAL_MS. */
	bool ready_sent;
	bool want_degraded, told_degraded;
	char want_reason[WIRE_STATUS_REASON_MAX], told_reason[WIRE_STATUS_REASON_MAX];
	uint64_t status_next_ns; /* no Status frame before this */
	uint64_t status_sent, status_merged;
	/* worker_set_resume_token: the newest token, whether a batch still has to carry it */
	uint8_t token[WIRE_RESUME_TOKEN_MAX];
	size_t token_len;
	bool token_dirty, uses_token;
	uint8_t resume_token[WIRE_RESUME_TOKEN_MAX]; /* --resume-token: the predecessor's */
	size_t resume_token_len;
	bool has_resume_token;

	struct strbuf batch; /* EventBatch body: repeated field 1 */
	uint32_t batch_events;
	struct strbuf out; /* framed bytes not yet written */
	size_t out_max;

	uint64_t seq;
	uint64_t events_sent, queue_drops;
	struct worker_counters counters;
	struct timeconv tc;
	uint64_t next_heartbeat, next_stats;
};

const struct config *worker_config(const struct worker *w)
{
	return w->cfg;
}

const struct timeconv *worker_timeconv(const struct worker *w)
{
	return &w->tc;
}

struct worker_counters *worker_counters(struct worker *w)
{
	return &w->counters;
}

void worker_release_on_read(struct worker *w)
{
	w->release_on_read = true;
}

const struct fdstore *worker_stored(const struct worker *w)
{
	return w->resumed ? &w->store : NULL;
}

int worker_store_add(struct worker *w, const char *name, int fd)
{
	if (w->resumed)
		return -EALREADY;
	return fdstore_add(&w->store, name, fd);
}

void worker_set_step(struct worker *w, const char *step)
{
	w->step = step;
}

int worker_exit_code(int err)
{
	switch (err) {
	case 0:
		return EXIT_CLEAN;
	case -EINVAL:
	case -EPERM:
	case -EACCES:
		return EXIT_CONFIG;
	case -EOPNOTSUPP:
	case -ENOSYS:
		return EXIT_NO_FEATURE;
	default:
		return EXIT_TRANSIENT;
	}
}

int worker_watch(struct worker *w, int fd)
{
	if (w->nfds >= WORKER_MAX_FDS)
		return -ENOSPC;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fds[w->nfds++] = fd;
	return 0;
}

static struct io_watch *io_find(struct worker *w, int fd)
{
	for (int i = 0; i < w->nio; i++)
		if (w->io[i].fd == fd)
			return &w->io[i];
	return NULL;
}

static uint32_t io_epoll_events(unsigned events)
{
	return (events & WORKER_IO_READ ? EPOLLIN : 0) | (events & WORKER_IO_WRITE ? EPOLLOUT : 0);
}

int worker_io_watch(struct worker *w, int fd, unsigned events, worker_io_fn fn, void *data)
{
	if (events == 0) {
		worker_io_unwatch(w, fd);
		return 0;
	}
	struct io_watch *iw = io_find(w, fd);
	struct epoll_event ev = {.events = io_epoll_events(events), .data.fd = fd};
	if (iw) {
		if (iw->events != events && epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
	} else {
		if (w->nio >= WORKER_IO_MAX)
			return -ENOSPC;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		iw = &w->io[w->nio++];
	}
	*iw = (struct io_watch){fd, events, fn, data};
	return 0;
}

void worker_io_unwatch(struct worker *w, int fd)
{
	struct io_watch *iw = io_find(w, fd);
	if (!iw)
		return;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
	*iw = w->io[--w->nio];
}

/* Run an fd's callback for the epoll events that came. Errors and hang-ups wake both
 * directions, so that the owner notices them whichever it waits for. */
static int io_call(struct worker *w, const struct io_watch *iw, uint32_t epev)
{
	unsigned ready =
		(epev & EPOLLIN ? WORKER_IO_READ : 0) | (epev & EPOLLOUT ? WORKER_IO_WRITE : 0);
	if (epev & (EPOLLERR | EPOLLHUP))
		ready |= WORKER_IO_READ | WORKER_IO_WRITE;
	return iw->fn(w, iw->fd, ready, iw->data);
}

struct worker_timer {
	struct worker *w;
	int fd;
	worker_timer_fn fn;
	void *data;
};

static int timer_fired(struct worker *w, int fd, unsigned events, void *data)
{
	struct worker_timer *t = data;
	uint64_t exp;
	if (read(fd, &exp, sizeof(exp)) != (ssize_t)sizeof(exp))
		return 0; /* disarmed or re-armed after it became readable */
	return t->fn(w, t->data);
}

int worker_timer_new(struct worker *w, worker_timer_fn fn, void *data,
		     struct worker_timer **ret_timer)
{
	struct worker_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (struct worker_timer){w, -1, fn, data};
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0) {
		int r = -errno;
		free(t);
		return r;
	}
	int r = worker_io_watch(w, t->fd, WORKER_IO_READ, timer_fired, t);
	if (r < 0) {
		close(t->fd);
		free(t);
		return r;
	}
	*ret_timer = t;
	return 0;
}

int worker_timer_arm(struct worker_timer *t, uint64_t delay_ms)
{
	/* it_value 0 would disarm: "now" is the smallest non-zero delay */
	uint64_t ns = delay_ms ? delay_ms * 1000000ull : 1;
	struct itimerspec its = {
		.it_value = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)}};
	if (timerfd_settime(t->fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

void worker_timer_disarm(struct worker_timer *t)
{
	struct itimerspec its = {0};
	timerfd_settime(t->fd, 0, &its, NULL);
}

void worker_timer_free(struct worker_timer *t)
{
	if (!t)
		return;
	worker_io_unwatch(t->w, t->fd);
	close(t->fd);
	free(t);
}

/* The `polling` word of a ring_consumer mapping (bpf/tapio_bpf.h). */
static volatile uint32_t *ring_polling(const struct ring_watch *rw)
{
	return rw->map;
}

int worker_watch_ring(struct worker *w, int ring_fd, ringread_fn fn, void *ctx, void *consumer_map,
		      size_t map_len)
{
	if (w->nrings >= WORKER_MAX_FDS || w->nfds >= WORKER_MAX_FDS) {
		munmap(consumer_map, map_len);
		return -ENOSPC;
	}
	struct ring_watch *rw = &w->rings[w->nrings];
	int r = ringread_open(&rw->rr, ring_fd, fn, ctx);
	if (r < 0) {
		munmap(consumer_map, map_len);
		return r;
	}
	/* Edge-triggered: records read but not yet committed keep the ring readable. */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = ring_fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, ring_fd, &ev) < 0) {
		r = -errno;
		ringread_close(&rw->rr);
		munmap(consumer_map, map_len);
		return r;
	}
	w->fds[w->nfds++] = ring_fd;
	if (w->resumed && w->nrings < w->nresume) {
		/* what the predecessor delivered but had not released when it died */
		uint64_t skipped = ringread_skip_to(&rw->rr, w->ring_resume[w->nrings]);
		if (skipped)
			log_info("ring buffer: skipping %llu bytes the previous worker delivered",
				 (unsigned long long)skipped);
	}
	rw->fd = ring_fd;
	rw->map = consumer_map;
	rw->map_len = map_len;
	w->nrings++;
	*ring_polling(rw) = 0;
	if (rw->rr.backlog_end > rw->rr.read_pos)
		log_info(
			"ring buffer: %llu bytes left unread by the previous worker: draining them "
			"first",
			(unsigned long long)(rw->rr.backlog_end - rw->rr.read_pos));
	return 0;
}

static void add_str(char **arr, size_t *n, const char *s)
{
	if (*n >= MAX_STR)
		return;
	char *d = strdup(s);
	if (d)
		arr[(*n)++] = d;
}

int worker_add_read_path(struct worker *w, const char *path)
{
	if (w->nread_paths >= WORKER_MAX_FDS)
		return -ENOSPC;
	char *d = strdup(path);
	if (!d)
		return -ENOMEM;
	w->read_paths[w->nread_paths++] = d;
	return 0;
}

int worker_allow_connect(struct worker *w, uint16_t port)
{
	if (w->nconnect_ports >= WORKER_MAX_FDS)
		return -ENOSPC;
	w->connect_ports[w->nconnect_ports++] = port;
	return 0;
}

void worker_add_hook(struct worker *w, const char *hook)
{
	add_str(w->hooks, &w->ready.n_hooks_attached, hook);
}

void worker_add_missing(struct worker *w, const char *feature)
{
	add_str(w->missing, &w->ready.n_features_missing, feature);
}

/* Copy reason into dst (size WIRE_STATUS_REASON_MAX), cut at a UTF-8 character boundary. */
static void reason_copy(char *dst, const char *reason)
{
	size_t n = strnlen(reason, WIRE_STATUS_REASON_MAX - 1);
	if (reason[n] != '\0')
		while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--; /* reason[n] continues a character: cut before that character */
	memcpy(dst, reason, n);
	dst[n] = '\0';
}

static void status_send(struct worker *w);

/* The wanted state changed: sent now, or at the end of the interval (merged with the changes
 * that come meanwhile: counted). */
static void status_changed(struct worker *w)
{
	if (timeconv_now_mono_ns() < w->status_next_ns)
		w->status_merged++;
	status_send(w);
}

int worker_set_degraded(struct worker *w, const char *reason)
{
	if (!reason || !reason[0])
		return -EINVAL;
	if (!w->ready_sent) {
		char cut[WIRE_STATUS_REASON_MAX];
		reason_copy(cut, reason);
		char *d = strdup(cut);
		if (!d)
			return -ENOMEM;
		free(w->degraded);
		w->degraded = d;
		return 0;
	}
	char was[WIRE_STATUS_REASON_MAX];
	bool was_degraded = w->want_degraded;
	memcpy(was, w->want_reason, sizeof(was));
	w->want_degraded = true;
	reason_copy(w->want_reason, reason);
	if (!was_degraded || strcmp(was, w->want_reason) != 0)
		status_changed(w);
	return 0;
}

int worker_set_ready(struct worker *w)
{
	if (!w->ready_sent) {
		free(w->degraded);
		w->degraded = NULL;
		return 0;
	}
	bool was_degraded = w->want_degraded;
	w->want_degraded = false;
	w->want_reason[0] = '\0';
	if (was_degraded)
		status_changed(w);
	return 0;
}

bool worker_is_degraded(const struct worker *w)
{
	return w->ready_sent ? w->want_degraded : w->degraded != NULL;
}

int worker_set_resume_token(struct worker *w, const void *token, size_t len)
{
	if (len == 0 || len > WIRE_RESUME_TOKEN_MAX)
		return -EINVAL;
	memcpy(w->token, token, len);
	w->token_len = len;
	w->token_dirty = true;
	w->uses_token = true;
	if (w->batch_events == 0 && w->flushfd >= 0) {
		/* no event waits to carry it (input that made no event): a batch of its own
		 * within flush_ms */
		long ns = (long)w->common->flush_ms * 1000000L;
		struct itimerspec its = {.it_value = {ns / 1000000000L, ns % 1000000000L}};
		timerfd_settime(w->flushfd, 0, &its, NULL);
	}
	return 0;
}

const uint8_t *worker_resume_token(const struct worker *w, size_t *ret_len)
{
	*ret_len = w->has_resume_token ? w->resume_token_len : 0;
	return w->has_resume_token ? w->resume_token : NULL;
}

/* ---- output queue ------------------------------------------------------------------------ */

static void arm_out(struct worker *w, bool on)
{
	if (w->want_out == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
				 .data.fd = w->sock};
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->sock, &ev) == 0)
		w->want_out = on;
}

/* Release to the kernel the ring records whose events are all in the socket, and tell the
 * collector how far its events went (on_sent). */
static void commit_sent(struct worker *w)
{
	const struct commit_mark *last = NULL;
	while (w->mark_n > 0 && w->marks[w->mark_head].end <= w->out_sent) {
		last = &w->marks[w->mark_head];
		w->mark_head = (w->mark_head + 1) % MAX_MARKS;
		w->mark_n--;
	}
	if (!last)
		return;
	if (last->seq > w->seq_sent) {
		w->seq_sent = last->seq;
		if (w->coll->on_sent)
			w->coll->on_sent(w, w->ctx, w->seq_sent);
	}
	for (int i = 0; i < w->nrings; i++) {
		struct ringread *rr = &w->rings[i].rr;
		uint64_t cur = __atomic_load_n((uint64_t *)rr->cons, __ATOMIC_RELAXED);
		if (last->pos[i] > cur)
			__atomic_store_n((uint64_t *)rr->cons, last->pos[i], __ATOMIC_RELEASE);
	}
}

/* Where ring i has been read up to for the batch being flushed: every record before it has
 * its events in this batch or an earlier one. */
static uint64_t batch_pos(const struct worker *w, int i)
{
	const struct ringread *rr = &w->rings[i].rr;
	return w->flush_before_current && w->in_rings ? rr->rec_pos : rr->read_pos;
}

/* Everything read from the rings so far is behind what the queue holds now: commit it once
 * the queue has been written up to here. */
static void mark_rings(struct worker *w)
{
	if (w->nrings == 0 && !w->coll->on_sent)
		return;
	struct commit_mark *m;
	if (w->mark_n > 0 &&
	    w->marks[(w->mark_head + w->mark_n - 1) % MAX_MARKS].end == w->out_queued) {
		m = &w->marks[(w->mark_head + w->mark_n - 1) % MAX_MARKS];
	} else if (w->mark_n == MAX_MARKS) {
		m = &w->marks[(w->mark_head + w->mark_n - 1) % MAX_MARKS]; /* merge: later */
	} else {
		m = &w->marks[(w->mark_head + w->mark_n) % MAX_MARKS];
		w->mark_n++;
	}
	m->end = w->out_queued;
	m->seq = w->seq;
	for (int i = 0; i < w->nrings; i++)
		m->pos[i] = batch_pos(w, i);
}

/* Write as much of the queue as the socket takes. -EPIPE when the supervisor is gone. */
static int send_pending(struct worker *w)
{
	while (w->out.len > 0) {
		ssize_t n = send(w->sock, w->out.data, w->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				fatal_report_set_fd(-1);
				arm_out(w, true);
				return 0;
			}
			return -errno;
		}
		strbuf_consume(&w->out, (size_t)n);
		w->out_sent += (uint64_t)n;
		commit_sent(w);
	}
	commit_sent(w);
	arm_out(w, false);
	fatal_report_set_fd(w->sock); /* nothing half-sent: a Fatal frame may go out */
	return 0;
}

/* Queue one WorkerFrame whose body is field `field` (length-delimited) with `len` bytes.
 * Events respect the queue cap; control frames may use CONTROL_SLACK beyond it. */
static int queue_frame(struct worker *w, unsigned field, const void *body, size_t len, bool control)
{
	uint8_t hdr[FRAME_HDR + 1 + 10];
	size_t h = FRAME_HDR;
	hdr[h++] = (uint8_t)(field << 3 | 2);
	h += pbwire_put_varint(hdr + h, len);
	size_t total = h - FRAME_HDR + len;
	if (total > FRAME_MAX)
		return -EMSGSIZE;
	frame_put_header(hdr, (uint32_t)total);
	size_t limit = w->out_max + (control ? CONTROL_SLACK : 0);
	if (w->out.len + h + len > limit)
		return -ENOBUFS;
	if (strbuf_append(&w->out, hdr, h) < 0)
		return -ENOMEM;
	if (strbuf_append(&w->out, body, len) < 0) {
		w->out.len -= h;
		return -ENOMEM;
	}
	w->out_queued += h + len;
	return 0;
}

static int queue_message(struct worker *w, unsigned field, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t small[512];
	uint8_t *buf = len <= sizeof(small) ? small : malloc(len);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(m, buf);
	int r = queue_frame(w, field, buf, len, true);
	if (buf != small)
		free(buf);
	return r;
}

static void flush_batch(struct worker *w)
{
	if (w->batch_events == 0 && !w->token_dirty) {
		/* records that made no event (filtered, malformed) are released too */
		mark_rings(w);
		commit_sent(w);
		return;
	}
	/* EventBatch.ring_pos: what tapiod hands the next worker on these rings */
	for (int i = 0; i < w->nrings; i++) {
		uint8_t v[11];
		size_t n = 0;
		v[n++] = WIRE_BATCH_RING_POS << 3; /* varint */
		n += pbwire_put_varint(v + n, batch_pos(w, i));
		strbuf_append(&w->batch, v, n);
	}
	/* EventBatch.resume_token: the collector's input up to here is in this batch or before */
	bool with_token = w->token_dirty;
	if (with_token) {
		uint8_t v[1 + 10];
		size_t n = 0;
		v[n++] = WIRE_BATCH_RESUME_TOKEN << 3 | 2;
		n += pbwire_put_varint(v + n, w->token_len);
		strbuf_append(&w->batch, v, n);
		strbuf_append(&w->batch, w->token, w->token_len);
	}
	int r = queue_frame(w, WIRE_FRAME_BATCH, w->batch.data, w->batch.len, false);
	if (r == 0 && with_token)
		w->token_dirty = false; /* else the next batch carries it */
	if (r < 0) {
		/* counted here, once: the batch's sequence numbers are the last ones given out
		 * and are given again, so tapiod sees no gap for a loss already counted */
		w->queue_drops += w->batch_events;
		w->seq -= w->batch_events;
	} else
		w->events_sent += w->batch_events;
	strbuf_reset(&w->batch);
	w->batch_events = 0;
	mark_rings(w);
	send_pending(w);
}

void worker_flush(struct worker *w)
{
	flush_batch(w);
}

uint64_t worker_sent_seq(const struct worker *w)
{
	return w->seq_sent;
}

bool worker_congested(const struct worker *w)
{
	return w->out.len > w->out_max / 2;
}

int worker_emit(struct worker *w, Tapio__V1__Event *ev)
{
	/* A sequence number is taken only by an event that goes into a batch: one dropped here
	 * is counted as a queue drop and leaves no gap (a loss is counted once, by one hop). */
	ev->has_seq = 1;
	ev->seq = w->seq + 1;
	ev->collector = (char *)w->coll->name;

	if (w->uses_token && w->batch_events >= w->common->batch_max_events) {
		/* a full batch leaves before the next event rather than after the last: the
		 * collector sets the token that covers an event after emitting it */
		flush_batch(w);
		ev->seq = w->seq + 1;
	}
	size_t len = protobuf_c_message_get_packed_size(&ev->base);
	if (len + 11 + 11 * WORKER_MAX_FDS + 16 + WIRE_RESUME_TOKEN_MAX > BATCH_BYTES_MAX) {
		w->queue_drops++;
		return -EMSGSIZE;
	}
	if (w->batch.len + len + 11 + 11 * WORKER_MAX_FDS + 16 + WIRE_RESUME_TOKEN_MAX >
	    BATCH_BYTES_MAX) {
		/* the record being read makes this event: it belongs to the next batch */
		w->flush_before_current = true;
		flush_batch(w); /* a dropped batch gives its numbers back */
		w->flush_before_current = false;
		ev->seq = w->seq + 1;
		len = protobuf_c_message_get_packed_size(&ev->base);
	}
	uint8_t pre[11];
	size_t p = 0;
	pre[p++] = (1 << 3) | 2; /* EventBatch.events */
	p += pbwire_put_varint(pre + p, len);
	if (strbuf_reserve(&w->batch, p + len) < 0) {
		w->queue_drops++;
		return -ENOBUFS;
	}
	w->seq = ev->seq;
	memcpy(w->batch.data + w->batch.len, pre, p);
	protobuf_c_message_pack(&ev->base, (uint8_t *)w->batch.data + w->batch.len + p);
	w->batch.len += p + len;
	if (w->batch_events++ == 0) {
		/* the batch waits flush_ms at most: many events per frame under load, bounded
		 * latency when quiet */
		long ns = (long)w->common->flush_ms * 1000000L;
		struct itimerspec its = {.it_value = {ns / 1000000000L, ns % 1000000000L}};
		timerfd_settime(w->flushfd, 0, &its, NULL);
	}
	if (!w->uses_token && w->batch_events >= w->common->batch_max_events)
		flush_batch(w);
	return 0;
}

/* ---- frames ------------------------------------------------------------------------------ */

static int send_ready(struct worker *w, const struct sandbox_result *sb)
{
	Tapio__V1__PrivilegeReport pr = TAPIO__V1__PRIVILEGE_REPORT__INIT;
	struct privilege_status st;
	if (privilege_status_read(0, &st) == 0)
		privilege_report_fill(&pr, &st);
	pr.landlock = (char *)(sb ? sb->landlock : "off (sandbox disabled)");
	pr.has_dumpable = 1;
	pr.dumpable = sb ? (uint32_t)sb->dumpable : 1;

	w->ready.collector = (char *)w->coll->name;
	w->ready.has_protocol_version = 1;
	w->ready.protocol_version = WIRE_PROTOCOL_VERSION;
	w->ready.hooks_attached = w->hooks;
	w->ready.features_missing = w->missing;
	w->ready.degraded_reason = w->degraded;
	w->ready.privileges = &pr;
	int r = queue_message(w, WIRE_FRAME_READY, &w->ready.base);
	w->ready.privileges = NULL;
	if (r == 0) {
		/* from now on a change is a Status frame */
		w->ready_sent = true;
		w->want_degraded = w->told_degraded = w->degraded != NULL;
		if (w->degraded) {
			reason_copy(w->want_reason, w->degraded);
			memcpy(w->told_reason, w->want_reason, sizeof(w->told_reason));
		}
		w->status_next_ns =
			timeconv_now_mono_ns() + WIRE_STATUS_MIN_INTERVAL_MS * 1000000ull;
	}
	if (r == 0)
		r = send_pending(w);
	return r;
}

/* Tell tapiod the state wanted, if it differs from what it was told: at most one Status frame
 * per WIRE_STATUS_MIN_INTERVAL_MS; a change within the interval waits for the tick (and
 * changes that cancel out meanwhile are never sent), so a flapping source cannot flood tapiod.
 * The events emitted before the change go first. */
static void status_send(struct worker *w)
{
	if (!w->ready_sent)
		return;
	if (w->want_degraded == w->told_degraded &&
	    (!w->want_degraded || strcmp(w->want_reason, w->told_reason) == 0))
		return;
	uint64_t now = timeconv_now_mono_ns();
	if (now < w->status_next_ns)
		return; /* on_tick sends it once the interval is over */
	if (!w->in_rings)
		flush_batch(w); /* (inside a ring callback the batch keeps its own rules) */
	Tapio__V1__Status st = TAPIO__V1__STATUS__INIT;
	st.has_degraded = 1;
	st.degraded = w->want_degraded;
	st.reason = w->want_degraded ? w->want_reason : NULL;
	if (queue_message(w, WIRE_FRAME_STATUS, &st.base) < 0)
		return; /* the queue is full: retried at the next tick */
	w->told_degraded = w->want_degraded;
	memcpy(w->told_reason, w->want_reason, sizeof(w->told_reason));
	w->status_next_ns = now + WIRE_STATUS_MIN_INTERVAL_MS * 1000000ull;
	w->status_sent++;
	if (w->want_degraded)
		log_warn("degraded: %s", w->want_reason);
	else
		log_info("ready again");
	send_pending(w);
}

static void send_heartbeat(struct worker *w, uint64_t now)
{
	Tapio__V1__Heartbeat hb = TAPIO__V1__HEARTBEAT__INIT;
	hb.has_mono_ns = 1;
	hb.mono_ns = now;
	queue_message(w, WIRE_FRAME_HEARTBEAT, &hb.base);
}

void worker_set_counter(struct worker *w, const char *name, uint64_t value)
{
	size_t i = 0;
	while (i < w->nnamed && strcmp(w->named[i].name, name) != 0)
		i++;
	if (i == WORKER_MAX_COUNTERS)
		return;
	if (i == w->nnamed) {
		w->named[i] = (Tapio__V1__Counter)TAPIO__V1__COUNTER__INIT;
		w->named[i].name = (char *)name;
		w->named[i].has_value = 1;
		w->nnamed++;
	}
	w->named[i].value = value;
}

static void send_stats(struct worker *w)
{
	Tapio__V1__Stats st = TAPIO__V1__STATS__INIT;
	Tapio__V1__Counter *cp[WORKER_MAX_COUNTERS];
	if (w->coll->fill_stats)
		w->coll->fill_stats(w, w->ctx, &st);
	st.has_events_sent = st.has_queue_drops = st.has_decode_errors = 1;
	st.has_filtered = st.has_records_read = st.has_enrich_misses = st.has_kernel_drops = 1;
	st.events_sent = w->events_sent;
	st.queue_drops = w->queue_drops;
	st.decode_errors = w->counters.decode_errors;
	st.filtered = w->counters.filtered;
	st.records_read = w->counters.records_read;
	st.enrich_misses = w->counters.enrich_misses;
	if (w->resumed) {
		st.has_resumed = st.has_backlog_records = st.has_kernel_drops_at_start = 1;
		st.resumed = 1;
		for (int i = 0; i < w->nrings; i++)
			st.backlog_records += w->rings[i].rr.backlog_records;
		st.kernel_drops_at_start = w->counters.kernel_drops_at_start;
	}
	if (w->status_merged)
		worker_set_counter(w, "status_changes_merged", w->status_merged);
	for (size_t i = 0; i < w->nnamed; i++)
		cp[i] = &w->named[i];
	st.counters = cp;
	st.n_counters = w->nnamed;
	queue_message(w, WIRE_FRAME_STATS, &st.base);
}

/* The FdStore frame with its fds attached (SCM_RIGHTS on its first byte). Sent before READY,
 * when nothing else is queued: written here, waiting for the socket if it must. */
static int send_store(struct worker *w)
{
	Tapio__V1__FdStore fs = TAPIO__V1__FD_STORE__INIT;
	char *names[FDSTORE_MAX];
	for (unsigned i = 0; i < w->store.n; i++)
		names[i] = w->store.names[i];
	fs.names = names;
	fs.n_names = w->store.n;
	int r = queue_message(w, WIRE_FRAME_FD_STORE, &fs.base);
	if (r < 0)
		return r;
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDSTORE_MAX)];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	size_t fdlen = sizeof(int) * w->store.n;
	struct iovec iov = {.iov_base = w->out.data, .iov_len = w->out.len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE(fdlen)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(fdlen);
	memcpy(CMSG_DATA(cm), w->store.fds, fdlen);
	uint64_t deadline = timeconv_now_mono_ns() + STORE_SEND_MS * 1000000ull;
	ssize_t n;
	while ((n = sendmsg(w->sock, &mh, MSG_NOSIGNAL)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (timeconv_now_mono_ns() > deadline)
			return -ETIMEDOUT;
		struct epoll_event ev;
		epoll_wait(w->epfd, &ev, 1, 10);
	}
	strbuf_consume(&w->out, (size_t)n);
	w->out_sent += (uint64_t)n;
	log_debug("handed %u kernel objects to tapiod", w->store.n);
	return send_pending(w); /* the rest, if the socket took only part */
}

static void send_store_drop(struct worker *w, const char *why)
{
	Tapio__V1__FdStoreDrop d = TAPIO__V1__FD_STORE_DROP__INIT;
	d.reason = (char *)why;
	if (queue_message(w, WIRE_FRAME_FD_STORE_DROP, &d.base) == 0)
		send_pending(w);
}

/* ---- setup ------------------------------------------------------------------------------- */

/* --stored NAME=FD: an object of the fd store, inherited from tapiod. Checked like any
 * input: the name, the fd and the kind of object behind it. */
static int parse_stored(struct worker *w, const char *arg)
{
	const char *eq = strrchr(arg, '=');
	char name[FDSTORE_NAME_MAX];
	if (!eq || (size_t)(eq - arg) >= sizeof(name)) {
		log_error("--stored: not NAME=FD: %.64s", arg);
		return -EINVAL;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	char *end;
	errno = 0;
	long v = strtol(eq + 1, &end, 10);
	if (errno || *end || v < 3 || v > 65535) {
		log_error("--stored %s: not a file descriptor", name);
		return -EINVAL;
	}
	int r = fdstore_check((int)v, name);
	if (r == 0) {
		fcntl((int)v, F_SETFD, FD_CLOEXEC);
		r = fdstore_add(&w->store, name, (int)v);
	}
	if (r < 0) {
		log_error("--stored %s=%ld: %s", name, v, strerror(-r));
		return r;
	}
	w->store.owned = true;
	w->resumed = true;
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_token(struct worker *w, const char *hex)
{
	size_t n = strnlen(hex, 2 * WIRE_RESUME_TOKEN_MAX + 1);
	if (n == 0 || n % 2 || n > 2 * WIRE_RESUME_TOKEN_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		w->resume_token[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	w->resume_token_len = n / 2;
	w->has_resume_token = true;
	return 0;
}

static int parse_args(struct worker *w, int argc, char **argv)
{
	static const struct option opts[] = {
		{"fd", required_argument, NULL, 'f'},
		{"config-fd", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"stored", required_argument, NULL, 's'},
		{"ring-resume", required_argument, NULL, 'r'},
		{"resume-token", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	int cfd = -1, opt;
	w->sock = -1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		long v;
		switch (opt) {
		case 'f':
		case 'c':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 3 || v > 65535) {
				log_error("--%s: not a file descriptor: %s",
					  opt == 'f' ? "fd" : "config-fd", optarg);
				return -EINVAL;
			}
			if (opt == 'f')
				w->sock = (int)v;
			else
				cfd = (int)v;
			break;
		case 'l': {
			enum log_level lv;
			if (log_level_parse(optarg, &lv) < 0) {
				log_error("--log-level: unknown level %s", optarg);
				return -EINVAL;
			}
			log_set_level(lv);
			break;
		}
		case 's':
			if (parse_stored(w, optarg) < 0)
				return -EINVAL;
			break;
		case 'r': {
			char *rend;
			errno = 0;
			unsigned long long pos = strtoull(optarg, &rend, 10);
			if (errno || *rend || w->nresume >= WORKER_MAX_FDS) {
				log_error("--ring-resume: not a ring position: %.32s", optarg);
				return -EINVAL;
			}
			w->ring_resume[w->nresume++] = pos;
			break;
		}
		case 't':
			/* the predecessor's resume token, hex: checked like any input */
			if (parse_token(w, optarg) < 0) {
				log_error("--resume-token: not 1..%u bytes of hex",
					  WIRE_RESUME_TOKEN_MAX);
				return -EINVAL;
			}
			break;
		default:
			return -EINVAL;
		}
	}
	if (w->sock < 0 || cfd < 0) {
		log_error("usage: %s --fd N --config-fd N [--log-level L] (started by tapiod)",
			  argv[0]);
		return -EINVAL;
	}
	char *err = NULL;
	int r = config_load_fd(cfd, "<config from tapiod>", &w->cfg, &err);
	close(cfd);
	if (r < 0) {
		log_error("config: %s", err ? err : strerror(-r));
		free(err);
		return r;
	}
	enum log_level lv;
	if (log_get_level() == LOG_LEVEL_INFO && log_level_parse(w->cfg->log_level, &lv) == 0)
		log_set_level(lv);
	w->common = config_collector(w->cfg, w->coll->name);
	w->reg = registry_find(w->coll->name);
	if (!w->common || !w->reg) {
		log_error("collector %s is not in the registry", w->coll->name);
		return -EINVAL;
	}
	return 0;
}

/* The signals whose default action ends the process and that another process may send: all
 * go to the signalfd, so that the worker learns who sent one (and tells tapiod) before it
 * drains and exits. The fault signals (SEGV, BUS, ILL, FPE, TRAP, SYS) and SIGABRT (abort(),
 * tapiod's watchdog) keep their default action; SIGKILL and SIGSTOP cannot be caught. */
static const int stop_signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,	 SIGVTALRM,
				   SIGPROF, SIGIO,  SIGPWR,  SIGXCPU, SIGXFSZ, SIGSTKFLT};

static int init_loop(struct worker *w)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&set, stop_signals[i]);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaddset(&set, s);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	w->flushfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	w->pollfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (w->epfd < 0 || w->sigfd < 0 || w->timerfd < 0 || w->flushfd < 0 || w->pollfd < 0)
		return -errno;
	struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L},
				 .it_value = {0, TICK_MS * 1000000L}};
	if (timerfd_settime(w->timerfd, 0, &its, NULL) < 0)
		return -errno;
	fcntl(w->sock, F_SETFD, FD_CLOEXEC);
	int fl = fcntl(w->sock, F_GETFL);
	if (fl < 0 || fcntl(w->sock, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->sigfd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->sigfd, &ev) < 0)
		return -errno;
	ev.data.fd = w->timerfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timerfd, &ev) < 0)
		return -errno;
	ev.data.fd = w->flushfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->flushfd, &ev) < 0)
		return -errno;
	ev.data.fd = w->pollfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->pollfd, &ev) < 0)
		return -errno;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.fd = w->sock;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->sock, &ev) < 0)
		return -errno;
	return 0;
}

static int apply_sandbox(struct worker *w, struct sandbox_result *ret)
{
	uint32_t uid, gid;
	int r = config_worker_ids(w->cfg, w->coll->name, &uid, &gid);
	if (r < 0)
		return r;
	/* the registry's paths, then the collector's own */
	const char *paths[2 * WORKER_MAX_FDS + 1];
	size_t n = 0;
	for (size_t i = 0; w->reg->read_paths && w->reg->read_paths[i] && n < WORKER_MAX_FDS; i++)
		paths[n++] = w->reg->read_paths[i];
	for (int i = 0; i < w->nread_paths; i++)
		paths[n++] = w->read_paths[i];
	paths[n] = NULL;
	struct sandbox_spec spec = {
		.uid = uid,
		.gid = gid,
		.parent = w->parent,
		.read_paths = paths,
		.connect_ports = w->connect_ports,
		.n_connect_ports = (size_t)w->nconnect_ports,
		.extra_syscalls = w->reg->extra_syscalls,
		.allow_bpf_map_read = w->reg->bpf_map_read,
		.landlock = true,
	};
	return sandbox_apply(&spec, ret);
}

/* ---- loop -------------------------------------------------------------------------------- */

static void set_polling(struct worker *w, bool on)
{
	for (int i = 0; i < w->nrings; i++)
		*ring_polling(&w->rings[i]) = on;
	w->polling = on;
	long ns = on ? (long)w->common->flush_ms * 1000000L : 0;
	struct itimerspec its = {.it_value = {ns / 1000000000L, ns % 1000000000L}};
	timerfd_settime(w->pollfd, 0, &its, NULL);
}

static bool is_ring(const struct worker *w, int fd)
{
	for (int i = 0; i < w->nrings; i++)
		if (w->rings[i].fd == fd)
			return true;
	return false;
}

/* The exit code for a collector's error while running, logged once. */
static int fail_running(struct worker *w, const char *what, int err)
{
	int code = worker_exit_code(err);
	log_error("%s failed: %s (exit %d)", what, strerror(-err), code);
	return code;
}

/* Drain every ring (the sample callbacks emit and count records_read); the number of records
 * read, or -errno when libbpf reports a failure. */
static int64_t drain_rings(struct worker *w)
{
	uint64_t before = w->counters.records_read;
	w->in_rings = true;
	for (int i = 0; i < w->nrings; i++) {
		/* Records read stay in the ring until their batch is in the socket: under a burst,
		 * send (and release) every eighth of the ring, so that the ring keeps its room. */
		struct ringread *rr = &w->rings[i].rr;
		if (w->release_on_read) {
			rr->commit_each = true; /* the room comes back record by record */
			ringread_consume(rr, UINT64_MAX);
			continue;
		}
		uint64_t chunk = rr->size / 8;
		while (ringread_consume(rr, chunk) > 0 &&
		       rr->read_pos - __atomic_load_n((uint64_t *)rr->cons, __ATOMIC_RELAXED) >=
			       chunk)
			flush_batch(w);
	}
	w->in_rings = false;
	return (int64_t)(w->counters.records_read - before);
}

/* Drain the rings and choose: records came → poll (timer re-armed); none while polling →
 * sleep, after one more drain for records committed without a wakeup while the kernel still
 * saw the flag set. Returns an exit code, or -1 to go on. */
static int ring_round(struct worker *w)
{
	int64_t n = drain_rings(w);
	if (n == 0 && w->polling) {
		set_polling(w, false);
		n = drain_rings(w);
	}
	if (n < 0)
		return fail_running(w, "draining the ring buffer", (int)n);
	if (n > 0)
		set_polling(w, true);
	return -1;
}

static int poll_round(struct worker *w)
{
	uint64_t exp;
	while (read(w->pollfd, &exp, sizeof(exp)) > 0)
		;
	int r = ring_round(w);
	flush_batch(w);
	return r;
}

static int on_tick(struct worker *w)
{
	uint64_t exp;
	while (read(w->timerfd, &exp, sizeof(exp)) > 0)
		;
	uint64_t now = timeconv_now_mono_ns();
	/* asleep: the one record that may have raced the switch to sleep (see ring_round) */
	int r = w->polling ? -1 : ring_round(w);
	if (r >= 0)
		return r;
	flush_batch(w);
	status_send(w); /* a change that waited for the interval */
	if (now >= w->next_heartbeat) {
		send_heartbeat(w, now);
		w->next_heartbeat = now + (uint64_t)w->common->heartbeat_interval_ms * 1000000ull;
	}
	if (now >= w->next_stats) {
		timeconv_update(&w->tc);
		send_stats(w);
		w->next_stats = now + (uint64_t)w->common->stats_interval_ms * 1000000ull;
	}
	send_pending(w);
	return -1;
}

/* A stop tapiod did not ask for: say who sent it, ahead of the last batch. */
static void report_signal(struct worker *w, const struct signalfd_siginfo *si)
{
	Tapio__V1__Signaled m = TAPIO__V1__SIGNALED__INIT;
	m.has_signo = m.has_sender_pid = m.has_sender_uid = m.has_code = 1;
	m.signo = (int32_t)si->ssi_signo;
	m.sender_pid = si->ssi_pid;
	m.sender_uid = si->ssi_uid;
	m.code = si->ssi_code;
	log_warn("signal %u from pid %u uid %u (code %d), not from tapiod (pid %d): exiting",
		 si->ssi_signo, si->ssi_pid, si->ssi_uid, si->ssi_code, (int)w->parent);
	queue_message(w, WIRE_FRAME_SIGNALED, &m.base);
	send_pending(w);
}

/* Returns an exit code when the loop should end, -1 to keep going. */
static int dispatch(struct worker *w, const struct epoll_event *ev)
{
	int fd = ev->data.fd;
	if (fd == w->sigfd) {
		struct signalfd_siginfo si;
		if (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			/* only tapiod's SIGTERM is a request; a terminal's ^C (the kernel's SIGINT
			 * to the foreground group) reaches tapiod too, which stops everything */
			bool requested = si.ssi_signo == SIGTERM && si.ssi_code == SI_USER &&
					 (pid_t)si.ssi_pid == w->parent;
			bool tty = si.ssi_code == SI_KERNEL &&
				   (si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT);
			if (!requested && !tty)
				report_signal(w, &si);
			log_debug("signal %u from pid %u: draining", si.ssi_signo, si.ssi_pid);
			return EXIT_CLEAN;
		}
		return -1;
	}
	if (fd == w->timerfd)
		return on_tick(w);
	if (fd == w->pollfd)
		return poll_round(w);
	if (fd == w->flushfd) {
		uint64_t exp;
		while (read(w->flushfd, &exp, sizeof(exp)) > 0)
			;
		flush_batch(w);
		return -1;
	}
	if (fd == w->sock) {
		if (ev->events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
			log_warn("supervisor closed the socket: exiting");
			return EXIT_TRANSIENT;
		}
		if (ev->events & EPOLLOUT && send_pending(w) < 0) {
			log_warn("socket to supervisor failed: exiting");
			return EXIT_TRANSIENT;
		}
		return -1;
	}
	struct io_watch *iw = io_find(w, fd);
	if (iw) {
		int r = io_call(w, iw, ev->events);
		assert(r <= 0);
		if (r < 0)
			return fail_running(w, "an fd callback", r);
		return -1;
	}
	if (is_ring(w, fd)) {
		/* woken by a record: drain, and poll from now on, while they come */
		int64_t n = drain_rings(w);
		if (n < 0)
			return fail_running(w, "draining the ring buffer", (int)n);
		if (!w->polling)
			set_polling(w, true);
		return -1;
	}
	if (!w->coll)
		return -1; /* a bare loop: an fd unwatched while its event was pending */
	int r = w->coll->on_readable ? w->coll->on_readable(w, w->ctx, fd) : 0;
	assert(r <= 0);
	if (r < 0)
		return fail_running(w, "reading events", r);
	return -1; /* the batch goes out when full, when flushfd fires or after a poll round */
}

static void drain(struct worker *w)
{
	drain_rings(w); /* what the kernel handed over before the stop; nothing new after */
	flush_batch(w);
	send_stats(w);
	uint64_t deadline = timeconv_now_mono_ns() + DRAIN_TIMEOUT_MS * 1000000ull;
	while (w->out.len > 0 && timeconv_now_mono_ns() < deadline) {
		if (send_pending(w) < 0)
			break;
		if (w->out.len == 0)
			break;
		struct epoll_event ev;
		epoll_wait(w->epfd, &ev, 1, 50);
	}
}

static int run_loop(struct worker *w)
{
	struct epoll_event evs[16];
	for (;;) {
		int n = epoll_wait(w->epfd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return EXIT_TRANSIENT;
		}
		for (int i = 0; i < n; i++) {
			int r = dispatch(w, &evs[i]);
			if (r >= 0)
				return r;
		}
	}
}

int worker_loop_new(struct worker **ret_w)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->sock = w->sigfd = w->timerfd = w->flushfd = w->pollfd = -1;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		int r = -errno;
		free(w);
		return r;
	}
	*ret_w = w;
	return 0;
}

int worker_loop_run_once(struct worker *w, int timeout_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(w->epfd, evs, 16, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct io_watch *iw = io_find(w, evs[i].data.fd);
		if (!iw)
			continue;
		int r = io_call(w, iw, evs[i].events);
		if (r < 0)
			return r;
	}
	return n;
}

void worker_loop_free(struct worker *w)
{
	if (!w)
		return;
	close(w->epfd);
	free(w);
}

/* The declared setup capabilities this process was not granted (a container or unit without
 * them), as "CAP_NET_ADMIN, CAP_NET_RAW" into buf; "" when it has them all. A setup step that
 * needs one only sees EPERM, so a failed setup names them. */
DEFINE_POINTER_CLEANUP(cap_t, cap_free)

static void missing_caps(uint64_t declared, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	_cleanup_(cap_freep) cap_t caps = cap_get_proc();
	if (!caps)
		return;
	for (cap_value_t v = 0; v < 64 && o + 1 < len; v++) {
		cap_flag_value_t set = CAP_CLEAR;
		if (!(declared & (1ull << v)) ||
		    (cap_get_flag(caps, v, CAP_PERMITTED, &set) == 0 && set == CAP_SET))
			continue;
		char *name = cap_to_name(v);
		o += (size_t)snprintf(buf + o, len - o, "%s", o ? ", " : "");
		for (char *p = name; p && *p && o + 1 < len; p++)
			buf[o++] = (char)toupper((unsigned char)*p);
		buf[o < len ? o : len - 1] = '\0';
		cap_free(name);
	}
}

int worker_main(int argc, char **argv, const struct worker_collector *c, void *ctx)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return EXIT_TRANSIENT;
	char ident[48];
	snprintf(ident, sizeof(ident), "tapio-%s", c->name);
	log_init(ident, LOG_LEVEL_INFO);
	w->coll = c;
	w->ctx = ctx;
	/* tapiod exec'd us: when it dies, so do we (the uid switch clears this: the sandbox
	 * re-arms it). If it died already, getppid() is someone else's. */
	w->parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != w->parent) {
		free(w);
		return EXIT_TRANSIENT;
	}
	/* First of all: keep only the capabilities this collector's setup declared. */
	const struct registry_entry *reg = registry_find(c->name);
	if (reg && geteuid() == 0) {
		int r = sandbox_limit_caps(registry_setup_caps(reg), registry_setup_caps(reg));
		if (r < 0) {
			log_error("cannot limit capabilities to the declared set: %s",
				  strerror(-r));
			free(w);
			return EXIT_CONFIG;
		}
	}
	w->epfd = w->sigfd = w->timerfd = w->flushfd = w->pollfd = -1;
	w->ready = (Tapio__V1__Ready)TAPIO__V1__READY__INIT;
	strbuf_init(&w->batch, FRAME_MAX);
	int code = EXIT_CONFIG;
	bool setup_done = false;

	if (parse_args(w, argc, argv) < 0)
		goto out;
	w->out_max = (size_t)w->common->queue_max_kib << 10;
	strbuf_init(&w->out, w->out_max + CONTROL_SLACK + FRAME_MAX);
	timeconv_update(&w->tc);
	code = EXIT_TRANSIENT;
	if (init_loop(w) < 0) {
		log_error("event loop setup: %s", strerror(errno));
		goto out;
	}
	setup_done = true;
	int r = c->setup(w, ctx);
	assert(r <= 0); /* 0 or -errno: an exit code here would read as success */
	if (r < 0) {
		code = worker_exit_code(r);
		if (w->resumed)
			send_store_drop(w, w->step ? w->step : "setup");
		char missing[256] = "";
		if ((r == -EPERM || r == -EACCES) && reg)
			missing_caps(registry_setup_caps(reg), missing, sizeof(missing));
		log_error("setup failed%s%s%s: %s (exit %d)%s%s", w->step ? " at '" : "",
			  w->step ? w->step : "", w->step ? "'" : "", strerror(-r), code,
			  *missing ? "; capabilities declared but not granted: " : "", missing);
		goto out;
	}
	/* Loading BPF parses the kernel's BTF (megabytes) and frees it: give that back. */
	malloc_trim(0);
	if (!w->resumed && w->store.n > 0 && send_store(w) < 0) {
		log_error("cannot hand the kernel objects to tapiod: supervisor gone");
		goto out;
	}

	struct sandbox_result sb = {0};
	bool sandboxed = w->common->sandbox;
	if (sandboxed) {
		r = apply_sandbox(w, &sb);
		if (r < 0) {
			log_error(
				"sandbox: %s (set collectors.%s.sandbox: false to run without it)",
				strerror(-r), c->name);
			code = EXIT_CONFIG;
			goto out;
		}
	}
	if (send_ready(w, sandboxed ? &sb : NULL) < 0) {
		log_error("cannot send READY: supervisor gone");
		goto out;
	}
	uint64_t now = timeconv_now_mono_ns();
	w->next_heartbeat = now + (uint64_t)w->common->heartbeat_interval_ms * 1000000ull;
	/* a first stats frame at the first tick: a worker that dies young (or one that just
	 * read its predecessor's backlog) has its counters counted too */
	w->next_stats = now;
	code = run_loop(w);
	if (code == EXIT_CLEAN)
		drain(w);
out:
	for (int i = 0; i < w->nrings; i++)
		ringread_close(&w->rings[i].rr); /* before teardown destroys the maps */
	if (setup_done && c->teardown)
		c->teardown(w, ctx);
	for (size_t i = 0; i < w->ready.n_hooks_attached; i++)
		free(w->hooks[i]);
	for (size_t i = 0; i < w->ready.n_features_missing; i++)
		free(w->missing[i]);
	free(w->degraded);
	for (int i = 0; i < w->nread_paths; i++)
		free(w->read_paths[i]);
	for (int i = 0; i < w->nrings; i++)
		munmap(w->rings[i].map, w->rings[i].map_len);
	strbuf_release(&w->batch);
	strbuf_release(&w->out);
	fdstore_clear(&w->store);
	config_free(w->cfg);
	free(w);
	return code;
}
