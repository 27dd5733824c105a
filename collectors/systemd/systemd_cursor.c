// SPDX-License-Identifier: Apache-2.0
// The journal cursor file's format (see systemd_cursor.h).
#include "systemd_cursor.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool cursor_char(char c)
{
	return c > ' ' && c < 0x7f;
}

int systemd_cursor_parse(const char *data, size_t len, char *buf, size_t size)
{
	if (size > 0)
		buf[0] = '\0';
	size_t m = strlen(SYSTEMD_CURSOR_MAGIC);
	if (!data || len < m + 2 || memcmp(data, SYSTEMD_CURSOR_MAGIC, m) != 0)
		return 0;
	size_t n = 0;
	while (m + n < len && cursor_char(data[m + n]))
		n++;
	if (n == 0 || m + n >= len || data[m + n] != '\n')
		return 0;
	if (n + 1 > size)
		return -ENOSPC;
	memcpy(buf, data + m, n);
	buf[n] = '\0';
	return (int)n;
}

int systemd_cursor_format(const char *cursor, char *out, size_t size)
{
	size_t m = strlen(SYSTEMD_CURSOR_MAGIC), n = strlen(cursor);
	if (size < SYSTEMD_CURSOR_FILE_SIZE)
		return -ENOSPC;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!cursor_char(cursor[i]))
			return -EINVAL;
	if (m + n + 1 > SYSTEMD_CURSOR_FILE_SIZE)
		return -ENAMETOOLONG;
	memset(out, 0, SYSTEMD_CURSOR_FILE_SIZE);
	memcpy(out, SYSTEMD_CURSOR_MAGIC, m);
	memcpy(out + m, cursor, n);
	out[m + n] = '\n';
	return 0;
}
