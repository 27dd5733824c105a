// SPDX-License-Identifier: Apache-2.0
// Untrusted text (a worker's degraded reason) made safe to log and show: see textesc.h.
#include "textesc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void text_escape_utf8(char *dst, size_t len, const uint8_t *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < len;) {
		uint8_t b = src[i];
		size_t k = b < 0x80		? 1
			   : (b & 0xe0) == 0xc0 ? 2
			   : (b & 0xf0) == 0xe0 ? 3
			   : (b & 0xf8) == 0xf0 ? 4
						: 0;
		bool ok = k > 0 && i + k <= n;
		for (size_t j = 1; ok && j < k; j++)
			ok = (src[i + j] & 0xc0) == 0x80;
		if (ok && k == 2)
			ok = b >= 0xc2; /* overlong */
		if (ok && k == 3) {
			uint32_t cp = (uint32_t)(b & 0x0f) << 12 |
				      (uint32_t)(src[i + 1] & 0x3f) << 6 | (src[i + 2] & 0x3f);
			ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
		}
		if (ok && k == 4) {
			uint32_t cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)(src[i + 1] & 0x3f)
									   << 12;
			ok = cp >= 0x10000 && cp <= 0x10ffff;
		}
		if (ok && k == 1 && (b < 0x20 || b == 0x7f || b == '\\'))
			ok = false;
		if (ok) {
			if (o + k >= len)
				break;
			memcpy(dst + o, src + i, k);
			o += k;
			i += k;
			continue;
		}
		if (o + 4 >= len)
			break;
		o += (size_t)snprintf(dst + o, len - o, "\\x%02x", b);
		i++;
	}
	dst[o] = '\0';
}
