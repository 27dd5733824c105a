// SPDX-License-Identifier: Apache-2.0
// The file sink: JSON lines or binary records (4-byte big-endian length + tapio.v1.Event)
// appended to a file, rotated above max_mib into path.1 .. path.<keep>. Writes happen on the
// loop once per batch; a bounded queue absorbs a slow disk, and what does not fit is dropped
// and counted. A failing write is counted and logged once per failure streak.
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "sink.h"
#include "strbuf.h"

struct sink_file {
	struct sink base; /* first */
	int fd;
	bool binary;
	char path[1024];
	uint64_t size, max_size;
	unsigned keep;
	struct strbuf buf; /* bytes not yet written */
	size_t head_left;  /* buf starts with this many bytes of a record partly written */
	size_t max, write_at;
	uint64_t written, dropped, write_errors, rotations;
};

static const struct sink_ops file_ops;
static size_t record_len(const struct sink_file *f, size_t p);

static int open_file(struct sink_file *f)
{
	f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (f->fd < 0)
		return -errno;
	struct stat st;
	f->size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

int sink_file_open(const struct sink_env *env, struct sink **ret)
{
	const struct config *cfg = env->cfg;
	if (!cfg->sink_file.enabled)
		return 0;
	struct sink_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->base.ops = &file_ops;
	f->fd = -1;
	f->binary = cfg->sink_file.format == CONFIG_SINK_BINARY;
	f->base.formats = f->binary ? SINK_RECORD : SINK_JSON;
	f->max_size = (uint64_t)cfg->sink_file.max_mib << 20;
	f->keep = cfg->sink_file.keep;
	f->max = (size_t)cfg->sink_file.queue_max_kib << 10;
	f->write_at = sink_write_at(f->max);
	strbuf_init(&f->buf, f->max + FRAME_MAX);
	snprintf(f->path, sizeof(f->path), "%s", cfg->sink_file.path);
	char dir[sizeof(f->path)];
	snprintf(dir, sizeof(dir), "%s", f->path);
	mkdir(dirname(dir), 0750);
	int r = open_file(f);
	if (r < 0) {
		log_error("file sink %s: %s", f->path, strerror(-r));
		strbuf_release(&f->buf);
		free(f);
		return r;
	}
	*ret = &f->base;
	log_info("file sink %s (%s, rotate at %u MiB, keep %u)", f->path,
		 f->binary ? "binary" : "json", cfg->sink_file.max_mib, f->keep);
	return 0;
}

static void rotate(struct sink_file *f)
{
	char from[sizeof(f->path) + 16], to[sizeof(f->path) + 16];
	close(f->fd);
	f->fd = -1;
	if (f->keep == 0) {
		unlink(f->path);
	} else {
		for (unsigned i = f->keep; i > 1; i--) {
			snprintf(from, sizeof(from), "%s.%u", f->path, i - 1);
			snprintf(to, sizeof(to), "%s.%u", f->path, i);
			rename(from, to);
		}
		snprintf(to, sizeof(to), "%s.1", f->path);
		rename(f->path, to);
	}
	f->rotations++;
	if (open_file(f) < 0 && f->write_errors++ == 0)
		log_error("file sink %s: reopen after rotation: %s", f->path, strerror(errno));
}

static void write_queue(struct sink_file *f);

/* Rotate before a record that would take the file past max_size, so every file ends on a
 * record boundary and stays within its size (but for one record larger than it). */
static void rotate_before(struct sink_file *f, size_t add)
{
	if (f->size + f->buf.len + add <= f->max_size || f->size + f->buf.len == 0)
		return;
	write_queue(f);
	if (f->buf.len == 0)
		rotate(f);
}

/* Queue one stamped event: its encoded tapio.v1.Event (binary; the sink adds the length) or
 * its JSON line without the newline. */
static int file_event(struct sink *base, const struct sink_event *e)
{
	struct sink_file *f = (struct sink_file *)base;
	const void *data = f->binary ? (const void *)e->record : (const void *)e->json;
	size_t len = f->binary ? e->record_len : e->json_len;
	size_t rec = f->binary ? FRAME_HDR + len : len + 1;
	if (f->buf.len >= f->max || (f->binary && len > FRAME_MAX)) {
		f->dropped++;
		return -ENOBUFS;
	}
	rotate_before(f, rec);
	if (strbuf_reserve(&f->buf, rec) < 0) {
		f->dropped++;
		return -ENOBUFS;
	}
	if (f->binary) {
		uint8_t hdr[FRAME_HDR];
		frame_put_header(hdr, (uint32_t)len);
		strbuf_append(&f->buf, hdr, sizeof(hdr));
		strbuf_append(&f->buf, data, len);
	} else {
		strbuf_append(&f->buf, data, len);
		strbuf_append_char(&f->buf, '\n');
	}
	f->written++;
	if (f->buf.len >= f->write_at)
		write_queue(f);
	return 0;
}

static void file_flush(struct sink *base)
{
	struct sink_file *f = (struct sink_file *)base;
	if (f->buf.len == 0)
		return;
	write_queue(f);
}

/* The file is written blocking anyway: draining is flushing. What the file does not take now
 * is lost: counted (as dropped, no longer as written) and logged, record by record. */
static void file_drain(struct sink *base, unsigned timeout_ms)
{
	struct sink_file *f = (struct sink_file *)base;
	file_flush(base);
	if (f->buf.len == 0)
		return;
	uint64_t lost = f->head_left ? 1 : 0;
	for (size_t p = f->head_left; p < f->buf.len; p += record_len(f, p))
		lost++;
	f->dropped += lost;
	f->written = f->written >= lost ? f->written - lost : 0;
	log_error("file sink %s: %llu events could not be written at shutdown", f->path,
		  (unsigned long long)lost);
	strbuf_reset(&f->buf);
	f->head_left = 0;
}

/* The length of the record that starts at buf[p] (whole records are queued). */
static size_t record_len(const struct sink_file *f, size_t p)
{
	const uint8_t *d = (const uint8_t *)f->buf.data + p;
	if (f->binary)
		return FRAME_HDR +
		       ((size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3]);
	const uint8_t *nl = memchr(d, '\n', f->buf.len - p);
	return nl ? (size_t)(nl - d) + 1 : f->buf.len - p;
}

/* After `off` bytes of the queue were written: where the first unwritten record starts. */
static void note_written(struct sink_file *f, size_t off)
{
	if (off == f->buf.len) {
		f->head_left = 0;
		return;
	}
	size_t p = f->head_left;
	while (p < off)
		p += record_len(f, p);
	f->head_left = p - off;
}

static void write_queue(struct sink_file *f)
{
	/* Without a file the queue keeps the data until its cap drops new events. */
	if (f->fd < 0 && open_file(f) < 0)
		return;
	size_t off = 0;
	while (off < f->buf.len) {
		ssize_t n = write(f->fd, f->buf.data + off, f->buf.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (f->write_errors++ == 0)
				log_error("file sink %s: %s; keeping up to %zu KiB queued", f->path,
					  strerror(errno), f->max >> 10);
			break;
		}
		off += (size_t)n;
		f->size += (uint64_t)n;
	}
	note_written(f, off);
	strbuf_consume(&f->buf, off);
	if (off && f->write_errors) {
		log_info("file sink %s: writing again", f->path);
		f->write_errors = 0;
	}
}

static void file_close(struct sink *base)
{
	struct sink_file *f = (struct sink_file *)base;
	file_flush(base);
	if (f->fd >= 0)
		close(f->fd);
	strbuf_release(&f->buf);
	free(f);
}

static void file_stats(const struct sink *base, struct sink_stats *ret)
{
	const struct sink_file *f = (const struct sink_file *)base;
	*ret = (struct sink_stats){.written = f->written,
				   .dropped = f->dropped,
				   .write_errors = f->write_errors,
				   .rotations = f->rotations,
				   .queued_bytes = f->buf.len};
}

static const struct sink_ops file_ops = {
	.event = file_event,
	.flush = file_flush,
	.drain = file_drain,
	.close = file_close,
	.stats = file_stats,
};
