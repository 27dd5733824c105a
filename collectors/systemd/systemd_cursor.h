/* SPDX-License-Identifier: Apache-2.0 */
/* The journal cursor file of the systemd collector: "tapio-journal-cursor 1\n", the cursor,
 * "\n", NUL padding up to SYSTEMD_CURSOR_FILE_SIZE bytes, rewritten whole in place. Pure
 * functions over bytes (the file's content comes from outside: validated, never trusted). */
#pragma once
#include <stddef.h>

#define SYSTEMD_CURSOR_FILE_SIZE 1024
#define SYSTEMD_CURSOR_MAGIC	 "tapio-journal-cursor 1\n"

/* The cursor in a file's `len` bytes, copied into buf (NUL-terminated). A cursor is 1 or more
 * printable ASCII characters without spaces. Returns its length, 0 when the bytes are no
 * cursor file or a damaged one (buf = ""), -ENOSPC when buf is too small. */
int systemd_cursor_parse(const char *data, size_t len, char *buf, size_t size);

/* The file content for `cursor` in out (size >= SYSTEMD_CURSOR_FILE_SIZE; exactly
 * SYSTEMD_CURSOR_FILE_SIZE bytes are written). 0, -EINVAL for a cursor parse would not give
 * back, -ENAMETOOLONG when it does not fit. */
int systemd_cursor_format(const char *cursor, char *out, size_t size);
