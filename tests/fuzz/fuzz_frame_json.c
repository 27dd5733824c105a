// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any WorkerFrame that protobuf-c accepts must encode to syntactically valid
// JSON in valid UTF-8 (or be refused with -EINVAL), and a capped buffer must fail cleanly.
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "strbuf.h"
#include "tapio/v1/worker.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                    \
	do {                           \
		if (!(cond))           \
			abort();       \
	} while (0)

/* A strict RFC 8259 checker, written independently of the encoder: no whitespace (the
 * encoder emits none), strings without raw control characters and in well-formed UTF-8. */
struct json {
	const uint8_t *p, *end;
};

static bool json_value(struct json *j, int depth);

static bool json_eat(struct json *j, uint8_t c)
{
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static bool is_digit(const struct json *j)
{
	return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

static bool json_utf8(struct json *j)
{
	uint8_t c = *j->p;
	uint32_t cp;
	int n;

	if (c >= 0xc0 && c < 0xe0) {
		n = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c < 0xf0) {
		n = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c < 0xf8) {
		n = 3;
		cp = c & 0x07;
	} else {
		return false;
	}
	if (j->end - j->p <= n)
		return false;
	for (int i = 1; i <= n; i++) {
		if ((j->p[i] & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (j->p[i] & 0x3f);
	}
	static const uint32_t min[] = { 0, 0x80, 0x800, 0x10000 };
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	j->p += n + 1;
	return true;
}

static bool json_string(struct json *j)
{
	if (!json_eat(j, '"'))
		return false;
	while (j->p < j->end) {
		uint8_t c = *j->p;
		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!json_utf8(j))
				return false;
			continue;
		}
		j->p++;
		if (c != '\\')
			continue;
		if (j->p >= j->end)
			return false;
		c = *j->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, j->p++)
				if (j->p >= j->end || !*j->p ||
				    !strchr("0123456789abcdefABCDEF", *j->p))
					return false;
		} else if (!c || !strchr("\"\\/bfnrt", c)) {
			return false;
		}
	}
	return false;
}

static bool json_number(struct json *j)
{
	json_eat(j, '-');
	if (json_eat(j, '0')) {
		if (is_digit(j))
			return false;
	} else {
		if (!is_digit(j))
			return false;
		while (is_digit(j))
			j->p++;
	}
	if (json_eat(j, '.')) {
		if (!is_digit(j))
			return false;
		while (is_digit(j))
			j->p++;
	}
	if (json_eat(j, 'e') || json_eat(j, 'E')) {
		if (!json_eat(j, '+'))
			json_eat(j, '-');
		if (!is_digit(j))
			return false;
		while (is_digit(j))
			j->p++;
	}
	return true;
}

static bool json_literal(struct json *j, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool json_value(struct json *j, int depth)
{
	if (j->p >= j->end || depth > 128)
		return false;
	switch (*j->p) {
	case '{':
		j->p++;
		if (json_eat(j, '}'))
			return true;
		do {
			if (!json_string(j) || !json_eat(j, ':') || !json_value(j, depth + 1))
				return false;
		} while (json_eat(j, ','));
		return json_eat(j, '}');
	case '[':
		j->p++;
		if (json_eat(j, ']'))
			return true;
		do {
			if (!json_value(j, depth + 1))
				return false;
		} while (json_eat(j, ','));
		return json_eat(j, ']');
	case '"':
		return json_string(j);
	case 't':
		return json_literal(j, "true");
	case 'f':
		return json_literal(j, "false");
	case 'n':
		return json_literal(j, "null");
	default:
		return json_number(j);
	}
}

static bool json_valid(const char *s, size_t len)
{
	struct json j = { (const uint8_t *)s, (const uint8_t *)s + len };
	return json_value(&j, 0) && j.p == j.end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Tapio__V1__WorkerFrame *frame = tapio__v1__worker_frame__unpack(NULL, size, data);
	if (!frame)
		return 0;

	struct strbuf out = STRBUF_INIT;
	int r = pbjson_encode(&frame->base, &out);
	CHECK(r == 0 || r == -EINVAL); /* -EINVAL: e.g. a Timestamp out of range */
	if (r == 0) {
		CHECK(out.len > 0 && out.data);
		CHECK(out.data[0] == '{' && out.data[out.len - 1] == '}');
		CHECK(strlen(out.data) == out.len);
		CHECK(json_valid(out.data, out.len));

		/* the same frame under a smaller cap fails with -ENOBUFS, leaving a prefix */
		struct strbuf small;
		size_t cap = 1 + (size ? data[size - 1] : 0) % out.len;
		strbuf_init(&small, cap);
		int r2 = pbjson_encode(&frame->base, &small);
		CHECK(cap >= out.len ? r2 == 0 : r2 == -ENOBUFS);
		CHECK(small.len <= cap);
		CHECK(small.len == 0 || !memcmp(small.data, out.data, small.len));
		strbuf_release(&small);
	}
	strbuf_release(&out);
	tapio__v1__worker_frame__free_unpacked(frame, NULL);
	return 0;
}
