// SPDX-License-Identifier: Apache-2.0
// Growable byte buffer with a hard cap (see strbuf.h).
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRBUF_DEFAULT_MAX ((size_t)64 << 20)

void strbuf_init(struct strbuf *sb, size_t max)
{
	sb->data = NULL;
	sb->len = 0;
	sb->alloc = 0;
	sb->max = max;
}

void strbuf_release(struct strbuf *sb)
{
	if (!sb)
		return;
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->alloc = 0;
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

size_t strbuf_alloc_for(const struct strbuf *sb, size_t extra)
{
	size_t max = sb->max ? sb->max : STRBUF_DEFAULT_MAX;
	if (extra > max || sb->len > max - extra)
		return 0;
	size_t need = sb->len + extra + 1;
	if (need <= sb->alloc)
		return sb->alloc;
	size_t n = sb->alloc ? sb->alloc : 256;
	while (n < need)
		n *= 2;
	return n > max + 1 ? max + 1 : n;
}

int strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t n = strbuf_alloc_for(sb, extra);
	if (n == 0)
		return -ENOBUFS;
	if (n == sb->alloc)
		return 0;
	char *p = realloc(sb->data, n);
	if (!p)
		return -ENOMEM;
	sb->data = p;
	sb->alloc = n;
	return 0;
}

int strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
	int r = strbuf_reserve(sb, len);
	if (r < 0)
		return r;
	if (len)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
	return 0;
}

int strbuf_append_str(struct strbuf *sb, const char *s)
{
	return strbuf_append(sb, s, strlen(s));
}

int strbuf_append_char(struct strbuf *sb, char c)
{
	return strbuf_append(sb, &c, 1);
}

int strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return strbuf_append(sb, small, (size_t)n);
	int r = strbuf_reserve(sb, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

void strbuf_consume(struct strbuf *sb, size_t n)
{
	if (n >= sb->len) {
		strbuf_reset(sb);
		return;
	}
	memmove(sb->data, sb->data + n, sb->len - n);
	sb->len -= n;
	sb->data[sb->len] = '\0';
}
