/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer with a hard cap. Appends past the cap fail with -ENOBUFS and leave
 * the buffer unchanged up to the last successful append. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *data; /* owned; NUL-terminated after every append when len < cap */
	size_t len;
	size_t alloc;
	size_t max; /* hard cap in bytes, 0 = 64 MiB */
};

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void strbuf_init(struct strbuf *sb, size_t max);
void strbuf_release(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
int strbuf_reserve(struct strbuf *sb, size_t extra);
/* The allocation strbuf_reserve(sb, extra) would leave sb with (sb->alloc when it needs no
 * growth); 0 when extra would pass the cap. For callers that budget memory, not bytes. */
size_t strbuf_alloc_for(const struct strbuf *sb, size_t extra);
int strbuf_append(struct strbuf *sb, const void *data, size_t len);
int strbuf_append_str(struct strbuf *sb, const char *s);
int strbuf_append_char(struct strbuf *sb, char c);
int strbuf_appendf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remove the first n bytes (consumed output). */
void strbuf_consume(struct strbuf *sb, size_t n);
