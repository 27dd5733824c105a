// SPDX-License-Identifier: Apache-2.0
// The stdout sink: one JSON object per line (protobuf canonical JSON). A bounded queue sits in
// front of the fd; pipes and sockets are written non-blocking from the loop, files and
// terminals directly. Events that do not fit the queue are dropped and counted.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sink.h"
#include "strbuf.h"
#include "timeconv.h"

struct sink_stdout {
	struct sink base; /* first */
	int fd;
	bool nonblocking; /* pipe/socket: polled; files/ttys: blocking */
	uv_poll_t poll;
	bool poll_open, poll_active;
	struct strbuf buf; /* JSON lines not yet written */
	size_t max, write_at;
	uint64_t written, dropped, write_errors;
	bool broken; /* EPIPE: no reader will ever come back; events are dropped at once */
};

static void on_writable(uv_poll_t *h, int status, int events);
static void stdout_flush(struct sink *base);
static void flush_queue(struct sink_stdout *s);

/* Queue one JSON line (without its newline); a queue past its write_at is written out at
 * once, so only an fd that does not take it (a full pipe) makes the queue fill up and drop. */
static int stdout_event(struct sink *base, const struct sink_event *e)
{
	struct sink_stdout *s = (struct sink_stdout *)base;
	const char *json = e->json;
	size_t len = e->json_len;
	if (s->broken) {
		s->dropped++;
		return -EPIPE;
	}
	if (s->buf.len >= s->max || strbuf_reserve(&s->buf, len + 1) < 0) {
		s->dropped++;
		return -ENOBUFS;
	}
	strbuf_append(&s->buf, json, len);
	strbuf_append_char(&s->buf, '\n');
	s->written++;
	/* Waiting for the end of the wakeup would let one burst of frames outgrow the queue
	 * even on an fd that never blocks. A polled fd that said EAGAIN is left to its poll. */
	if (s->buf.len >= s->write_at && !s->poll_active)
		flush_queue(s);
	return 0;
}

static void stdout_flush(struct sink *base)
{
	flush_queue((struct sink_stdout *)base);
}

/* Events in queued bytes: one per newline (a line cut by a short write still counts). */
static uint64_t count_lines(const char *p, size_t len)
{
	uint64_t n = 0;
	const char *end = p + len;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		n++;
		p++;
	}
	return n;
}

static void flush_queue(struct sink_stdout *s)
{
	while (s->buf.len > 0) {
		ssize_t n = write(s->fd, s->buf.data, s->buf.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (s->poll_open && !s->poll_active) {
				uv_poll_start(&s->poll, UV_WRITABLE, on_writable);
				s->poll_active = true;
			}
			return;
		}
		if (n < 0) {
			/* The reader went away (EPIPE) or the disk is full: count and discard. The
			 * discarded lines were counted as written when queued: they are drops. */
			if (s->write_errors++ == 0)
				log_error("stdout sink: %s; discarding output", strerror(errno));
			if (errno == EPIPE)
				s->broken = true;
			uint64_t lost = count_lines(s->buf.data, s->buf.len);
			s->written -= lost < s->written ? lost : s->written;
			s->dropped += lost;
			strbuf_reset(&s->buf);
			return;
		}
		strbuf_consume(&s->buf, (size_t)n);
	}
	if (s->poll_active) {
		uv_poll_stop(&s->poll);
		s->poll_active = false;
	}
}

static void on_writable(uv_poll_t *h, int status, int events)
{
	flush_queue(h->data);
}

static void stdout_drain(struct sink *base, unsigned timeout_ms)
{
	struct sink_stdout *s = (struct sink_stdout *)base;
	flush_queue(s);
	uint64_t deadline = timeconv_now_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	if (s->nonblocking) {
		int fl = fcntl(s->fd, F_GETFL);
		if (fl >= 0)
			fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	while (s->buf.len > 0 && timeconv_now_mono_ns() < deadline) {
		ssize_t n = write(s->fd, s->buf.data, s->buf.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		strbuf_consume(&s->buf, (size_t)n);
	}
}

static void on_poll_closed(uv_handle_t *h)
{
	free(h->data);
}

static void stdout_close(struct sink *base)
{
	struct sink_stdout *s = (struct sink_stdout *)base;
	strbuf_release(&s->buf);
	if (!s->poll_open) {
		free(s);
		return;
	}
	uv_poll_stop(&s->poll);
	s->poll_open = false;
	uv_close((uv_handle_t *)&s->poll, on_poll_closed); /* frees s */
}

static void stdout_stats(const struct sink *base, struct sink_stats *ret)
{
	const struct sink_stdout *s = (const struct sink_stdout *)base;
	*ret = (struct sink_stats){.written = s->written,
				   .dropped = s->dropped,
				   .write_errors = s->write_errors,
				   .queued_bytes = s->buf.len};
}

/* A reload may switch the sink on or off and resize its queue. */
static void stdout_reconfigure(struct sink *base, const struct config *cfg)
{
	struct sink_stdout *s = (struct sink_stdout *)base;
	s->max = (size_t)cfg->sink_stdout.queue_max_kib << 10;
	s->base.formats = cfg->sink_stdout.enabled ? SINK_JSON : 0;
}

static const struct sink_ops stdout_ops = {
	.event = stdout_event,
	.flush = stdout_flush,
	.drain = stdout_drain,
	.close = stdout_close,
	.stats = stdout_stats,
	.reconfigure = stdout_reconfigure,
};

/* Always open (a reload may enable it); it takes events while sink_stdout.enabled. */
int sink_stdout_open(const struct sink_env *env, struct sink **ret)
{
	size_t max_bytes = (size_t)env->cfg->sink_stdout.queue_max_kib << 10;
	struct sink_stdout *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &stdout_ops;
	s->base.formats = env->cfg->sink_stdout.enabled ? SINK_JSON : 0;
	s->fd = env->stdout_fd;
	s->max = max_bytes;
	s->write_at = sink_write_at(max_bytes);
	strbuf_init(&s->buf, max_bytes + (256u << 10)); /* one event always fits */
	struct stat st;
	if (fstat(s->fd, &st) < 0) {
		int r = -errno;
		stdout_close(&s->base);
		return r;
	}
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
		int fl = fcntl(s->fd, F_GETFL);
		if (fl >= 0 && fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			int r = uv_poll_init(env->loop, &s->poll, s->fd);
			if (r < 0) {
				stdout_close(&s->base);
				return r;
			}
			s->poll.data = s;
			s->poll_open = true;
			s->nonblocking = true;
		}
	}
	*ret = &s->base;
	return 0;
}
