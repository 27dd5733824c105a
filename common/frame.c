// SPDX-License-Identifier: Apache-2.0
// Length-prefixed framing with a hard maximum (see frame.h).
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAME_SLACK (64u << 10)

int frame_reader_init(struct frame_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->cap = FRAME_HDR + FRAME_MAX + FRAME_SLACK;
	r->buf = malloc(r->cap);
	return r->buf ? 0 : -ENOMEM;
}

void frame_reader_release(struct frame_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	r->buf = NULL;
}

static void compact(struct frame_reader *r)
{
	if (r->start == 0)
		return;
	memmove(r->buf, r->buf + r->start, r->len - r->start);
	r->len -= r->start;
	r->start = 0;
}

void frame_reader_space(struct frame_reader *r, uint8_t **ret_ptr, size_t *ret_len)
{
	if (r->cap - r->len < FRAME_SLACK)
		compact(r);
	*ret_ptr = r->buf + r->len;
	*ret_len = r->cap - r->len;
}

void frame_reader_commit(struct frame_reader *r, size_t n)
{
	r->len += n;
}

int frame_reader_feed(struct frame_reader *r, const void *data, size_t len)
{
	if (r->cap - r->len < len)
		compact(r);
	if (r->cap - r->len < len)
		return -ENOBUFS;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **ret_payload, size_t *ret_len)
{
	if (r->error)
		return r->error;
	size_t avail = r->len - r->start;
	if (avail < FRAME_HDR)
		return 0;
	const uint8_t *p = r->buf + r->start;
	uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (n == 0 || n > FRAME_MAX) {
		r->error = -EMSGSIZE;
		return r->error;
	}
	if (avail < FRAME_HDR + (size_t)n)
		return 0;
	*ret_payload = p + FRAME_HDR;
	*ret_len = n;
	r->start += FRAME_HDR + n;
	if (r->start == r->len)
		r->start = r->len = 0;
	return 1;
}

void frame_put_header(uint8_t hdr[FRAME_HDR], uint32_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

int frame_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
