// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the systemd collector's cursor file (collectors/systemd/
// systemd_cursor.c): any bytes parse or are refused; a cursor parsed formats back to a file
// that parses to the same cursor.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/systemd/systemd_cursor.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	char cur[SYSTEMD_CURSOR_FILE_SIZE], file[SYSTEMD_CURSOR_FILE_SIZE];
	char back[SYSTEMD_CURSOR_FILE_SIZE];
	int r = systemd_cursor_parse(p, size, cur, sizeof(cur));
	if (r < 0 || (size_t)r != strlen(cur))
		abort();
	if (r > 0) {
		if (systemd_cursor_format(cur, file, sizeof(file)) != 0)
			abort();
		if (systemd_cursor_parse(file, sizeof(file), back, sizeof(back)) != r ||
		    strcmp(back, cur) != 0)
			abort();
	}
	free(p);
	return 0;
}
