// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the spool's record reader and message decoder on arbitrary bytes, as a
// crash may leave them on disk. Every record the reader accepts lies within the input and
// re-encodes to the same bytes; every message decoded re-encodes to its payload.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/spool.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 0;
	while (at < size) {
		struct spool_record rec;
		int n = spool_record_parse(data + at, size - at, &rec);
		CHECK(n >= -EBADMSG);
		if (n <= 0)
			break;
		CHECK((size_t)n == SPOOL_HDR + rec.len && at + (size_t)n <= size);
		CHECK(rec.data == data + at + SPOOL_HDR);
		uint8_t hdr[SPOOL_HDR];
		spool_record_header(hdr, rec.data, rec.len, rec.time_ns);
		CHECK(memcmp(hdr, data + at, SPOOL_HDR) == 0);
		struct spool_msg m;
		if (spool_msg_decode(rec.data, rec.len, &m) == 0) {
			CHECK(m.subject + m.subject_len <= (const char *)rec.data + rec.len);
			CHECK(m.data + m.data_len == rec.data + rec.len);
			uint8_t *out = malloc(rec.len ? rec.len : 1);
			CHECK(out);
			CHECK(spool_msg_encode(&m, out, rec.len) == (int)rec.len);
			CHECK(memcmp(out, rec.data, rec.len) == 0);
			free(out);
		}
		at += (size_t)n;
	}
	struct spool_msg m;
	if (spool_msg_decode(data, size, &m) == 0)
		CHECK(m.data + m.data_len == data + size);
	return 0;
}
