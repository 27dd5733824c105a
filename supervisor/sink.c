// SPDX-License-Identifier: Apache-2.0
// The stdout sink: one JSON object per line (protobuf canonical JSON). A bounded queue sits in
// front of the fd; pipes and sockets are written non-blocking from the loop, files and
// terminals directly. Events that do not fit the queue are dropped and counted.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"
#include "timeconv.h"

static void on_writable(uv_poll_t *h, int status, int events);

int sink_init(struct sink_stdout *s, uv_loop_t *loop, int fd, size_t max_bytes)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->max = max_bytes;
	s->write_at = sink_write_at(max_bytes);
	strbuf_init(&s->buf, max_bytes + (256u << 10)); /* one event always fits */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			int r = uv_poll_init(loop, &s->poll, fd);
			if (r < 0)
				return r;
			s->poll.data = s;
			s->poll_open = true;
			s->nonblocking = true;
		}
	}
	return 0;
}

int sink_line(struct sink_stdout *s, const char *json, size_t len)
{
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
		sink_flush(s);
	return 0;
}

void sink_flush(struct sink_stdout *s)
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
			/* The reader went away (EPIPE) or the disk is full: count and discard. */
			if (s->write_errors++ == 0)
				log_error("stdout sink: %s; discarding output", strerror(errno));
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
	sink_flush(h->data);
}

void sink_drain(struct sink_stdout *s, unsigned timeout_ms)
{
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

void sink_close(struct sink_stdout *s)
{
	if (s->poll_open) {
		uv_poll_stop(&s->poll);
		uv_close((uv_handle_t *)&s->poll, NULL);
		s->poll_open = false;
	}
	strbuf_release(&s->buf);
}
