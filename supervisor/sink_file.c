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
#include "supervisor.h"

static int open_file(struct sink_file *f)
{
	f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (f->fd < 0)
		return -errno;
	struct stat st;
	f->size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

int sink_file_open(struct sink_file *f, const struct config *cfg)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->binary = cfg->sink_file.format == CONFIG_SINK_BINARY;
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
		return r;
	}
	f->open = true;
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

int sink_file_event(struct sink_file *f, const void *data, size_t len)
{
	size_t rec = f->binary ? FRAME_HDR + len : len + 1;
	if (!f->open || f->buf.len >= f->max || (f->binary && len > FRAME_MAX)) {
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

void sink_file_flush(struct sink_file *f)
{
	if (!f->open || f->buf.len == 0)
		return;
	write_queue(f);
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
	strbuf_consume(&f->buf, off);
	if (off && f->write_errors) {
		log_info("file sink %s: writing again", f->path);
		f->write_errors = 0;
	}
}

void sink_file_close(struct sink_file *f)
{
	if (!f->open)
		return;
	sink_file_flush(f);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->open = false;
	strbuf_release(&f->buf);
}
