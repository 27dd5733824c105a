// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: text_escape_utf8 (a worker's degraded reason as tapiod logs and shows it)
// turns any bytes, into any room, into NUL-terminated, well-formed UTF-8 without control
// characters, that fits the room, and reads back to the input where nothing was cut.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "textesc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* Well-formed UTF-8 (RFC 3629), no C0 control or DEL. */
static bool utf8_clean(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t b = s[i];
		if (b < 0x80) {
			if (b < 0x20 || b == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t k = (b & 0xe0) == 0xc0	? 2
			   : (b & 0xf0) == 0xe0 ? 3
			   : (b & 0xf8) == 0xf0 ? 4
						: 0;
		if (!k || i + k > n)
			return false;
		uint32_t cp = b & (0x7f >> k);
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k;
	}
	return true;
}

/* Undo the escapes: \xNN → the byte, anything else as it is. */
static size_t unescape(const char *s, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; s[i];) {
		if (s[i] == '\\') {
			CHECK(s[i + 1] == 'x' && s[i + 2] && s[i + 3]);
			out[o++] = (uint8_t)strtoul((char[]){s[i + 2], s[i + 3], 0}, NULL, 16);
			i += 4;
		} else {
			out[o++] = (uint8_t)s[i++];
		}
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	size_t rooms[] = {1, 2, 5, 64, 257, 4 * size + 1};
	char *out = malloc((4 * size + 1 > 257 ? 4 * size + 1 : 257) + 8);
	uint8_t *back = malloc(size + 1);
	CHECK(out && back);
	for (size_t r = 0; r < sizeof(rooms) / sizeof(rooms[0]); r++) {
		size_t room = rooms[r];
		memset(out, 'Z', room + 8);
		text_escape_utf8(out, room, data, size);
		size_t len = strnlen(out, room);
		CHECK(len < room);	 /* terminated inside the room */
		CHECK(out[room] == 'Z'); /* nothing written beyond it */
		CHECK(utf8_clean((const uint8_t *)out, len));
		size_t n = unescape(out, back);
		CHECK(n <= size && memcmp(back, data, n) == 0); /* a prefix of the input */
		if (room == 4 * size + 1)
			CHECK(n == size); /* room for the worst case: nothing cut */
	}
	free(out);
	free(back);
	return 0;
}
