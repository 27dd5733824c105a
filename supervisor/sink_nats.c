// SPDX-License-Identifier: Apache-2.0
// The NATS JetStream sink. Every event is first appended to the disk spool (spool.c), then
// published from the spool in order with its event id as the JetStream message id, at most
// `window` publishes awaiting their ack; an ack deletes it from the spool. An outage, a full
// window or a crash therefore only delays events: they wait on disk (bounded, counted) and go
// out in order, before newer ones, once the server is back.
//
// A JetStream publish is a core NATS publish with a reply subject, answered on it with a
// PubAck ({"stream":..,"seq":..} or {"error":..}). We publish with core natsConnection_PublishMsg
// to <inbox>.<n>, n the publish's number, and read the answers on one subscription to
// <inbox>.*: the number finds the window entry directly, and nothing of the message stays in
// libnats after the publish. (libnats's js_PublishMsgAsync keeps every message, a hash entry and,
// with MaxWait, a timeout record per publish, parses each ack into a JSON tree, and its
// timeout records outlive the acks: several times the CPU per event, and memory per event
// rate rather than per window.)
//
// Threads: libnats (nats.c) runs its own threads for the socket, acks and reconnects. We do not
// use its libuv adapter: acks and connection callbacks still arrive on libnats's threads with
// it, and the adapter must own the loop's thread for its socket. Instead the callbacks only
// append to a mutex-guarded list and wake the loop with a uv_async; everything else (spool,
// window, publish calls, counters) belongs to the loop's thread.
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sink.h"
#include "spool.h"

#define RETRY_MS	 500 /* after a failed publish, before sending from the spool again */
#define TICK_MS		 250
#define SUBJECT_MAX	 SPOOL_MSG_STR_MAX
#define DEFAULT_URL	 "nats://127.0.0.1:4222"
#define TOKEN_MAX	 4096
#define STREAM_MAX_BYTES (-1)
#define TRIM_IDLE_MS	 2000
/* libnats's buffers: the socket write buffer, and the one publishes go to while it reconnects
 * (allocated at each disconnect; 8 MiB by default). The loop stops publishing when it sees the
 * disconnect, so only the window's publishes of that moment land there; more are refused
 * (NATS_INSUFFICIENT_BUFFER) and wait in the spool. */
#define IO_BUF_BYTES	    (64 << 10)
#define RECONNECT_BUF_BYTES (1 << 20)

/* A publish awaiting its ack; the ring holds consecutive publish numbers from its head on. */
struct inflight {
	uint64_t seq;
	struct spool_pos start, end;
	uint64_t sent_ms; /* uv_now() */
	bool answered, acked;
};

/* What libnats's threads hand to the loop. */
struct answer {
	uint64_t seq;
	bool ok;
};

struct sink_nats {
	struct sink base; /* first */
	uv_loop_t *loop;
	uv_async_t wake; /* libnats threads → loop */
	uv_timer_t tick; /* retries and spool writes when no event comes */
	unsigned open_handles;

	pthread_mutex_t mu;		/* guards the fields down to `quiet` */
	struct answer *answers, *spare; /* window entries each: one answer per publish */
	size_t n_answers;
	bool answers_lost;
	bool connected, closing;
	uint64_t disconnects;
	/* libnats is done with us: its callback thread ran on_closed (after every connection
	 * handler), the answers' dispatcher ran on_acks_done (after the last on_reply). */
	bool nc_closed, acks_done, acks_watched;
	pthread_cond_t quiet;
	bool abandoned; /* libnats did not say so in time: n is never freed */

	natsOptions *opts;
	natsConnection *nc;
	natsSubscription *acks;
	jsCtx *js; /* only to create the stream */
	char inbox[64];
	size_t inbox_len;
	uint64_t next_seq; /* the next publish's number, from 1 */
	char *token;	   /* owned, for natsOptions_SetToken */
	char stream[128], prefix[128], node[64];
	bool binary;
	int64_t ack_timeout_ms;

	struct spool *spool;
	struct inflight *ring; /* window entries, oldest at head */
	size_t window, head, count;
	unsigned unanswered; /* ring entries without their answer */
	bool rewind;	     /* a publish failed: send again from the oldest unacked */
	uint64_t retry_at;   /* uv_now() before which nothing is published */
	bool is_connected;   /* the loop's copy */

	uint8_t *enc; /* one spooled message */
	size_t enc_cap;

	uint64_t written, spool_refused, lost, acked, failed, publish_errors, bad_records;
	uint64_t timeouts;
	uint64_t trim_due; /* uv_now() at which to malloc_trim once the window is idle */
	bool warned_full;
};

static const struct sink_ops nats_ops;

/* ---- libnats's threads --------------------------------------------------------------------- */

static void hand_over(struct sink_nats *n, uint64_t seq, bool ok)
{
	pthread_mutex_lock(&n->mu);
	if (n->closing) {
		pthread_mutex_unlock(&n->mu);
		return;
	}
	/* At most window publishes await their answer, so this rarely fills (late answers to
	 * a window given up); if it does, the loop sends the whole window again. */
	if (n->n_answers == n->window) {
		n->answers_lost = true;
		uv_async_send(&n->wake);
		pthread_mutex_unlock(&n->mu);
		return;
	}
	n->answers[n->n_answers++] = (struct answer){seq, ok};
	uv_async_send(&n->wake);
	pthread_mutex_unlock(&n->mu);
}

/* An answer on <inbox>.<n>: a PubAck has "seq"; an error has "error"; a no-responders status
 * (no stream for the subject) has no data. */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct sink_nats *n = closure;
	const char *subj = natsMsg_GetSubject(msg);
	const char *data = natsMsg_GetData(msg);
	int len = natsMsg_GetDataLength(msg);
	uint64_t seq = 0;
	if (subj && strlen(subj) > n->inbox_len + 1)
		seq = strtoull(subj + n->inbox_len + 1, NULL, 10);
	bool ok = data && len > 0 && memmem(data, (size_t)len, "\"seq\"", 5) &&
		  !memmem(data, (size_t)len, "\"error\"", 7);
	natsMsg_Destroy(msg);
	if (seq)
		hand_over(n, seq, ok);
}

static void on_closed(natsConnection *nc, void *closure)
{
	(void)nc;
	struct sink_nats *n = closure;
	pthread_mutex_lock(&n->mu);
	n->nc_closed = true;
	pthread_cond_broadcast(&n->quiet);
	pthread_mutex_unlock(&n->mu);
}

static void on_acks_done(void *closure)
{
	struct sink_nats *n = closure;
	pthread_mutex_lock(&n->mu);
	n->acks_done = true;
	pthread_cond_broadcast(&n->quiet);
	pthread_mutex_unlock(&n->mu);
}

static void set_connected(struct sink_nats *n, bool up)
{
	pthread_mutex_lock(&n->mu);
	n->connected = up;
	if (!up)
		n->disconnects++;
	if (!n->closing)
		uv_async_send(&n->wake);
	pthread_mutex_unlock(&n->mu);
}

/* Create the stream when configured (blocking; on libnats's callback thread, never the loop). */
static void ensure_stream(struct sink_nats *n, natsConnection *nc)
{
	pthread_mutex_lock(&n->mu);
	bool closing = n->closing;
	pthread_mutex_unlock(&n->mu);
	if (closing || !n->stream[0] || !n->js)
		return;
	char subject[sizeof(n->prefix) + 2];
	snprintf(subject, sizeof(subject), "%s.>", n->prefix);
	const char *subjects[] = {subject};
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	sc.Name = n->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	jsErrCode jerr = 0;
	jsStreamInfo *si = NULL;
	natsStatus s = js_AddStream(&si, n->js, &sc, NULL, &jerr);
	if (s == NATS_OK)
		log_info("nats sink: created stream %s for %s", n->stream, subject);
	else if (jerr != JSStreamNameExistErr)
		log_warn("nats sink: cannot create stream %s: %s (%d)", n->stream,
			 natsStatus_GetText(s), (int)jerr);
	jsStreamInfo_Destroy(si);
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct sink_nats *n = closure;
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_info("nats sink: connected to %s", url);
	ensure_stream(n, nc);
	set_connected(n, true);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct sink_nats *n = closure;
	pthread_mutex_lock(&n->mu);
	bool closing = n->closing;
	pthread_mutex_unlock(&n->mu);
	if (!closing)
		log_warn("nats sink: disconnected; events wait in the spool");
	set_connected(n, false);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static struct inflight *ring_at(struct sink_nats *n, size_t i)
{
	return &n->ring[(n->head + i) % n->window];
}

/* Subject token: what NATS gives a meaning ('.', '*', '>', whitespace) or a control byte
 * becomes '_'. Returns the new length, or 0 when it does not fit. */
static size_t put_token(char *dst, size_t at, size_t max, const char *tok)
{
	if (at) {
		if (at >= max)
			return 0;
		dst[at++] = '.';
	}
	const char *t = tok && *tok ? tok : "_";
	for (; *t; t++) {
		if (at >= max)
			return 0;
		unsigned char c = (unsigned char)*t;
		dst[at++] =
			(c <= ' ' || c == '.' || c == '*' || c == '>' || c >= 0x7f) ? '_' : (char)c;
	}
	return at;
}

static int nats_event(struct sink *base, const struct sink_event *e)
{
	struct sink_nats *n = (struct sink_nats *)base;
	char subject[SUBJECT_MAX];
	size_t sl = strlen(n->prefix);
	memcpy(subject, n->prefix, sl);
	sl = put_token(subject, sl, sizeof(subject), n->node);
	if (sl)
		sl = put_token(subject, sl, sizeof(subject), e->collector);
	if (sl)
		sl = put_token(subject, sl, sizeof(subject), e->type);
	struct spool_msg m = {
		.subject = subject,
		.subject_len = sl,
		.id = e->id,
		.id_len = e->id_len,
		.data = n->binary ? e->record : (const uint8_t *)e->json,
		.data_len = n->binary ? e->record_len : e->json_len,
	};
	size_t need = 2 + sl + e->id_len + m.data_len;
	if (n->enc_cap < need) {
		uint8_t *b = realloc(n->enc, need);
		if (!b) {
			n->spool_refused++;
			return -ENOBUFS;
		}
		n->enc = b;
		n->enc_cap = need;
	}
	int len = sl ? spool_msg_encode(&m, n->enc, n->enc_cap) : -EINVAL;
	if (len < 0) {
		n->bad_records++;
		return -ENOBUFS;
	}
	int r = spool_append(n->spool, n->enc, (size_t)len);
	if (r < 0) {
		n->spool_refused++;
		if (!n->warned_full) {
			log_warn("nats sink: spool: %s; events are dropped (counted)",
				 strerror(-r));
			n->warned_full = true;
		}
		return -ENOBUFS;
	}
	n->warned_full = false;
	n->written++;
	return 0;
}

/* Publish from the spool while the window has room. */
static void pump(struct sink_nats *n)
{
	if (!n->is_connected || n->rewind || uv_now(n->loop) < n->retry_at)
		return;
	while (n->count < n->window) {
		struct spool_record rec;
		int r = spool_next(n->spool, &rec);
		if (r <= 0) {
			if (r < 0 && n->publish_errors++ == 0)
				log_error("nats sink: reading the spool: %s", strerror(-r));
			return;
		}
		struct spool_msg m;
		char subject[SUBJECT_MAX + 1], id[SPOOL_MSG_STR_MAX + 1];
		if (spool_msg_decode(rec.data, rec.len, &m) < 0) {
			n->bad_records++;
			if (n->count == 0)
				spool_ack(n->spool, rec.end);
			continue;
		}
		memcpy(subject, m.subject, m.subject_len);
		subject[m.subject_len] = '\0';
		memcpy(id, m.id, m.id_len);
		id[m.id_len] = '\0';
		char reply[sizeof(n->inbox) + 24];
		uint64_t seq = n->next_seq;
		snprintf(reply, sizeof(reply), "%s.%llu", n->inbox, (unsigned long long)seq);
		natsMsg *msg = NULL;
		natsStatus s =
			natsMsg_Create(&msg, subject, reply, (const char *)m.data, (int)m.data_len);
		if (s == NATS_OK && m.id_len)
			s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
		if (s == NATS_OK)
			s = natsConnection_PublishMsg(n->nc, msg);
		natsMsg_Destroy(msg);
		if (s != NATS_OK) {
			spool_rewind(n->spool, rec.start);
			n->retry_at = uv_now(n->loop) + RETRY_MS;
			if (n->publish_errors++ == 0)
				log_warn("nats sink: publish: %s; retrying from the spool",
					 natsStatus_GetText(s));
			return;
		}
		n->next_seq++;
		*ring_at(n, n->count++) = (struct inflight){
			.seq = seq, .start = rec.start, .end = rec.end, .sent_ms = uv_now(n->loop)};
		n->unanswered++;
	}
}

/* After a failure, once every publish of the window has its answer: send again from the
 * oldest unacknowledged event. Those of segments the full spool deleted are lost (counted). */
static void maybe_rewind(struct sink_nats *n)
{
	if (!n->rewind || n->unanswered)
		return;
	bool have = false;
	struct spool_pos from = {0};
	for (size_t i = 0; i < n->count; i++) {
		struct inflight *f = ring_at(n, i);
		if (f->acked)
			continue;
		if (spool_pos_gone(n->spool, f->start)) {
			n->lost++;
			continue;
		}
		if (!have) {
			from = f->start;
			have = true;
		}
	}
	if (have)
		spool_rewind(n->spool, from);
	n->head = n->count = 0;
	n->rewind = false;
	n->retry_at = uv_now(n->loop) + RETRY_MS;
}

/* Answers that will not come (lost, or overdue): treat every unanswered publish of the window
 * as failed; late answers then match no entry (the window is sent again under new numbers). */
static void give_up_window(struct sink_nats *n)
{
	for (size_t i = 0; i < n->count; i++)
		ring_at(n, i)->answered = true;
	n->unanswered = 0;
	n->rewind = true;
}

static void take_answers(struct sink_nats *n)
{
	pthread_mutex_lock(&n->mu);
	struct answer *v = n->answers;
	size_t cnt = n->n_answers;
	n->answers = n->spare;
	n->spare = v;
	n->n_answers = 0;
	bool lost = n->answers_lost, up = n->connected;
	n->answers_lost = false;
	pthread_mutex_unlock(&n->mu);

	if (up != n->is_connected) {
		n->is_connected = up;
		if (up)
			n->publish_errors = 0;
	}
	for (size_t a = 0; a < cnt; a++) {
		/* The ring holds consecutive numbers: the answer's entry is found by its own. */
		if (!n->count || v[a].seq < ring_at(n, 0)->seq)
			continue;
		uint64_t i = v[a].seq - ring_at(n, 0)->seq;
		if (i >= n->count)
			continue;
		struct inflight *f = ring_at(n, (size_t)i);
		if (f->seq != v[a].seq || f->answered)
			continue;
		f->answered = true;
		n->unanswered--;
		if (v[a].ok) {
			f->acked = true;
			n->acked++;
		} else {
			n->failed++;
			n->rewind = true;
		}
	}
	if (lost)
		give_up_window(n);
	/* Acknowledged from the oldest on: the spool may delete them. */
	while (n->count && ring_at(n, 0)->acked) {
		spool_ack(n->spool, ring_at(n, 0)->end);
		n->head = (n->head + 1) % n->window;
		n->count--;
	}
	maybe_rewind(n);
}

static void on_wake(uv_async_t *h)
{
	struct sink_nats *n = h->data;
	take_answers(n);
	pump(n);
}

static void on_tick(uv_timer_t *h)
{
	struct sink_nats *n = h->data;
	spool_flush(n->spool);
	take_answers(n);
	/* A publish without its answer after ack_timeout_ms (lost with a server or a stream
	 * leader, or in an outage): the window is sent again from the spool. */
	for (size_t i = 0; i < n->count; i++) {
		struct inflight *f = ring_at(n, i);
		if (!f->answered && uv_now(n->loop) > f->sent_ms + (uint64_t)n->ack_timeout_ms) {
			if (n->is_connected)
				log_warn("nats sink: no ack in %llu ms; sending again from the "
					 "spool",
					 (unsigned long long)(uv_now(n->loop) - f->sent_ms));
			n->timeouts++;
			give_up_window(n);
			maybe_rewind(n);
			break;
		}
	}
	/* After a burst (a replay, an outage), give the heap's free pages back. */
	if (n->count == 0 && n->trim_due && uv_now(n->loop) >= n->trim_due) {
		malloc_trim(0);
		n->trim_due = 0;
	}
	if (n->count)
		n->trim_due = uv_now(n->loop) + TRIM_IDLE_MS;
	pump(n);
}

static void nats_flush(struct sink *base)
{
	struct sink_nats *n = (struct sink_nats *)base;
	spool_flush(n->spool);
	take_answers(n);
	pump(n);
}

/* Whatever is not acknowledged by the deadline stays in the spool for the next start. */
static void nats_drain(struct sink *base, unsigned timeout_ms)
{
	struct sink_nats *n = (struct sink_nats *)base;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (timeout_ms > 2000)
		timeout_ms = 2000;
	for (;;) {
		spool_flush(n->spool);
		take_answers(n);
		uv_update_time(n->loop);
		pump(n);
		if (!n->is_connected || (n->count == 0 && spool_empty(n->spool)))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		int64_t ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= timeout_ms)
			break;
		usleep(1000);
	}
	spool_flush(n->spool);
}

static void free_nats(struct sink_nats *n)
{
	spool_close(n->spool);
	n->spool = NULL;
	free(n->ring);
	free(n->enc);
	if (n->abandoned)
		return; /* hand_over may still look at answers and mu, on_closed at quiet */
	free(n->answers);
	free(n->spare);
	free(n->token);
	pthread_cond_destroy(&n->quiet);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

/* natsConnection_Close returns before libnats has run the disconnected and closed handlers
 * (its callback thread) and the last on_reply (the subscription's dispatcher); freeing n
 * before then is a use after free (ASan saw on_disconnected lock the freed mutex at exit).
 * Waits for on_closed and on_acks_done; false if they did not come within 5 s. */
static bool wait_libnats_done(struct sink_nats *n)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&n->mu);
	int r = 0;
	while ((!n->nc_closed || (n->acks_watched && !n->acks_done)) && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&n->quiet, &n->mu, &until);
	bool done = n->nc_closed && (!n->acks_watched || n->acks_done);
	pthread_mutex_unlock(&n->mu);
	return done;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct sink_nats *n = h->data;
	if (--n->open_handles == 0)
		free_nats(n);
}

static void nats_stats(const struct sink *base, struct sink_stats *ret);

static void nats_close(struct sink *base)
{
	struct sink_nats *n = (struct sink_nats *)base;
	pthread_mutex_lock(&n->mu);
	n->closing = true;
	pthread_mutex_unlock(&n->mu);
	/* Answers coming now are dropped by hand_over; after wait_libnats_done nothing of libnats
	 * calls us any more. */
	if (n->nc) {
		natsConnection_Close(n->nc);
		if (!wait_libnats_done(n)) {
			log_warn(
				"nats sink: libnats did not finish its callbacks in 5 s; its state "
				"is left allocated");
			n->abandoned = true;
		}
	}
	if (n->abandoned) {
		/* its threads may still use the connection, the subscription and the context */
		n->acks = NULL;
		n->js = NULL;
		n->nc = NULL;
		n->opts = NULL;
	}
	natsSubscription_Destroy(n->acks);
	n->acks = NULL;
	jsCtx_Destroy(n->js);
	n->js = NULL;
	if (n->nc) {
		natsConnection_Destroy(n->nc);
		n->nc = NULL;
	}
	natsOptions_Destroy(n->opts);
	n->opts = NULL;
	n->n_answers = 0;
	spool_flush(n->spool);
	struct sink_stats st;
	nats_stats(&n->base, &st);
	log_info("nats sink: %llu acknowledged, %llu dropped, %llu bytes left in the spool",
		 (unsigned long long)st.acked, (unsigned long long)st.dropped,
		 (unsigned long long)st.spool_bytes);
	uv_close((uv_handle_t *)&n->wake, on_handle_closed);
	uv_close((uv_handle_t *)&n->tick, on_handle_closed);
}

static void nats_stats(const struct sink *base, struct sink_stats *ret)
{
	const struct sink_nats *n = (const struct sink_nats *)base;
	struct spool_stats st;
	spool_stats(n->spool, &st);
	*ret = (struct sink_stats){
		.written = n->written,
		.dropped = n->spool_refused + n->bad_records + st.dropped + n->lost,
		.write_errors = n->failed,
		.spool_bytes = st.bytes,
		.spool_oldest_ns = st.oldest_ns,
		.acked = n->acked,
		.spooled = true,
		.failing = !n->is_connected,
	};
}

/* ---- opening ------------------------------------------------------------------------------- */

static int read_token(const char *path, char **ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *buf = calloc(1, TOKEN_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t got = read(fd, buf, TOKEN_MAX);
	close(fd);
	if (got <= 0) {
		free(buf);
		return got < 0 ? -errno : -EINVAL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	*ret = buf;
	return 0;
}

static bool valid_prefix(const char *p)
{
	if (!*p || *p == '.' || p[strlen(p) - 1] == '.' || strstr(p, ".."))
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '*' || *p == '>' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

#define NATS_TRY(what, call)                                                                       \
	do {                                                                                       \
		natsStatus s_ = (call);                                                            \
		if (s_ != NATS_OK) {                                                               \
			log_error("nats sink: %s: %s", what, natsStatus_GetText(s_));              \
			return -EINVAL;                                                            \
		}                                                                                  \
	} while (0)

static int setup_options(struct sink_nats *n, const struct config *cfg)
{
	const typeof(cfg->sink_nats) *c = &cfg->sink_nats;
	NATS_TRY("options", natsOptions_Create(&n->opts));
	const char *def = DEFAULT_URL;
	const char **urls = c->servers.n ? (const char **)c->servers.items : &def;
	int nurls = c->servers.n ? (int)c->servers.n : 1;
	NATS_TRY("servers", natsOptions_SetServers(n->opts, urls, nurls));
	char name[128];
	snprintf(name, sizeof(name), "tapiod %s", n->node);
	NATS_TRY("name", natsOptions_SetName(n->opts, name));
	NATS_TRY("reconnect", natsOptions_SetMaxReconnect(n->opts, -1));
	NATS_TRY("reconnect wait", natsOptions_SetReconnectWait(n->opts, c->reconnect_wait_ms));
	NATS_TRY("io buffer", natsOptions_SetIOBufSize(n->opts, IO_BUF_BYTES));
	NATS_TRY("reconnect buffer", natsOptions_SetReconnectBufSize(n->opts, RECONNECT_BUF_BYTES));
	NATS_TRY("retry on failed connect",
		 natsOptions_SetRetryOnFailedConnect(n->opts, true, on_connected, n));
	NATS_TRY("callbacks", natsOptions_SetDisconnectedCB(n->opts, on_disconnected, n));
	NATS_TRY("callbacks", natsOptions_SetReconnectedCB(n->opts, on_connected, n));
	NATS_TRY("callbacks", natsOptions_SetClosedCB(n->opts, on_closed, n));
	if (*c->credentials_file)
		NATS_TRY("credentials_file", natsOptions_SetUserCredentialsFromFiles(
						     n->opts, c->credentials_file, NULL));
	if (*c->nkey || *c->nkey_seed_file)
		NATS_TRY("nkey", natsOptions_SetNKeyFromSeed(n->opts, c->nkey, c->nkey_seed_file));
	if (*c->token_file) {
		int r = read_token(c->token_file, &n->token);
		if (r < 0) {
			log_error("nats sink: token_file %s: %s", c->token_file, strerror(-r));
			return r;
		}
		NATS_TRY("token", natsOptions_SetToken(n->opts, n->token));
	}
	bool tls = c->tls || *c->tls_ca_file || *c->tls_cert_file;
	if (tls) {
		NATS_TRY("tls", natsOptions_SetSecure(n->opts, true));
		if (*c->tls_ca_file)
			NATS_TRY("tls.ca_file",
				 natsOptions_LoadCATrustedCertificates(n->opts, c->tls_ca_file));
		if (*c->tls_cert_file)
			NATS_TRY("tls.cert_file",
				 natsOptions_LoadCertificatesChain(n->opts, c->tls_cert_file,
								   c->tls_key_file));
	}
	return 0;
}

static int connect_js(struct sink_nats *n)
{
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = n->ack_timeout_ms;
	/* With RetryOnFailedConnect, an unreachable server is not an error: the connection comes
	 * up in the background (on_connected). */
	natsStatus s = natsConnection_Connect(&n->nc, n->opts);
	if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
		log_error("nats sink: connect: %s", natsStatus_GetText(s));
		return -EINVAL;
	}
	/* The answers' subscription; libnats sends it again after every reconnect. Its queue is
	 * bounded by the window (and late answers), so libnats's limits are lifted. */
	natsInbox *inbox = NULL;
	s = natsInbox_Create(&inbox);
	if (s == NATS_OK) {
		snprintf(n->inbox, sizeof(n->inbox), "%s", (const char *)inbox);
		n->inbox_len = strlen(n->inbox);
		char wild[sizeof(n->inbox) + 2];
		snprintf(wild, sizeof(wild), "%s.*", n->inbox);
		s = natsConnection_Subscribe(&n->acks, n->nc, wild, on_reply, n);
	}
	natsInbox_Destroy(inbox);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(n->acks, -1, -1);
	if (s == NATS_OK) {
		s = natsSubscription_SetOnCompleteCB(n->acks, on_acks_done, n);
		n->acks_watched = s == NATS_OK;
	}
	if (s != NATS_OK) {
		log_error("nats sink: subscribing to the acks: %s", natsStatus_GetText(s));
		return -EINVAL;
	}
	s = natsConnection_JetStream(&n->js, n->nc, &jo);
	if (s != NATS_OK) {
		log_error("nats sink: JetStream: %s", natsStatus_GetText(s));
		return -EINVAL;
	}
	if (natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED) {
		/* Connected before the callbacks could see js: do their work now. */
		ensure_stream(n, n->nc);
		set_connected(n, true);
	}
	return 0;
}

int sink_nats_open(const struct sink_env *env, struct sink **ret)
{
	const struct config *cfg = env->cfg;
	const typeof(cfg->sink_nats) *c = &cfg->sink_nats;
	if (!c->enabled)
		return 0;
	if (!valid_prefix(c->subject_prefix) || strlen(c->subject_prefix) > 100) {
		log_error("nats sink: subject_prefix \"%s\": tokens separated by single dots, "
			  "without * > or spaces, at most 100 bytes",
			  c->subject_prefix);
		return -EINVAL;
	}
	if ((uint64_t)c->spool_segment_mib * 2 > c->spool_max_mib) {
		log_error("nats sink: spool.segment_mib must be at most half of spool.max_mib");
		return -EINVAL;
	}
	struct sink_nats *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->quiet, &ca);
	pthread_condattr_destroy(&ca);
	n->base.ops = &nats_ops;
	n->loop = env->loop;
	n->binary = c->format == CONFIG_SINK_BINARY;
	n->base.formats = n->binary ? SINK_RECORD : SINK_JSON;
	n->window = c->window;
	n->next_seq = 1;
	n->ack_timeout_ms = c->ack_timeout_ms;
	snprintf(n->prefix, sizeof(n->prefix), "%s", c->subject_prefix);
	snprintf(n->stream, sizeof(n->stream), "%s", c->stream);
	/* The node token, sanitized once. */
	char node[sizeof(n->node)];
	size_t nl = put_token(node, 0, sizeof(node) - 1, cfg->node_name);
	node[nl] = '\0';
	snprintf(n->node, sizeof(n->node), "%s", nl ? node : "_");
	n->ring = calloc(n->window, sizeof(*n->ring));
	n->answers = calloc(n->window, sizeof(*n->answers));
	n->spare = calloc(n->window, sizeof(*n->spare));

	struct spool_options so = {
		.dir = c->spool_dir,
		.max_bytes = (uint64_t)c->spool_max_mib << 20,
		.segment_bytes = (uint64_t)c->spool_segment_mib << 20,
		.fsync = c->spool_fsync == CONFIG_FSYNC_ALWAYS	  ? SPOOL_FSYNC_ALWAYS
			 : c->spool_fsync == CONFIG_FSYNC_SEGMENT ? SPOOL_FSYNC_SEGMENT
								  : SPOOL_FSYNC_NEVER,
		.when_full = c->spool_when_full == CONFIG_SPOOL_REFUSE_NEW ? SPOOL_REFUSE_NEW
									   : SPOOL_DROP_OLDEST,
	};
	int r = n->ring && n->answers && n->spare ? spool_open(&so, &n->spool) : -ENOMEM;
	if (r < 0) {
		log_error("nats sink: spool %s: %s", c->spool_dir, strerror(-r));
		free_nats(n);
		return r;
	}
	struct spool_stats st;
	spool_stats(n->spool, &st);
	if (st.bytes || st.torn)
		log_info("nats sink: spool %s holds %llu bytes from before%s", c->spool_dir,
			 (unsigned long long)st.bytes, st.torn ? " (a torn tail was cut off)" : "");

	uv_async_init(env->loop, &n->wake, on_wake);
	uv_timer_init(env->loop, &n->tick);
	n->wake.data = n->tick.data = n;
	n->open_handles = 2;
	uv_timer_start(&n->tick, on_tick, TICK_MS, TICK_MS);
	uv_unref((uv_handle_t *)&n->tick);
	uv_unref((uv_handle_t *)&n->wake);

	/* libnats's threads (socket reader, flusher, ack delivery, timers) would each get a
	 * malloc arena of their own, whose freed pages stay resident; before they start, the
	 * process is limited to one (tcache keeps the fast path lock-free). */
	mallopt(M_ARENA_MAX, 1);
	r = setup_options(n, cfg);
	if (r == 0)
		r = connect_js(n);
	if (r < 0) {
		nats_close(&n->base);
		return r;
	}
	*ret = &n->base;
	log_info("nats sink: %s, subjects %s.%s.<collector>.<type>, window %u, spool %s (%u MiB)",
		 n->binary ? "binary" : "json", n->prefix, n->node, c->window, c->spool_dir,
		 c->spool_max_mib);
	return 0;
}

static const struct sink_ops nats_ops = {
	.event = nats_event,
	.flush = nats_flush,
	.drain = nats_drain,
	.close = nats_close,
	.stats = nats_stats,
};
