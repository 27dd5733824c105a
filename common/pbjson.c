// SPDX-License-Identifier: Apache-2.0
// Generic protobuf-c message → canonical JSON encoder (see pbjson.h). It walks the generated
// descriptors only; no global state, no allocation besides growing the caller's strbuf.
#include "pbjson.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Messages nested deeper than this (the top-level message counts as 1) are rejected with
 * -EINVAL: bounds the recursion whatever the schema (recursive messages) or caller builds. */
#define PBJSON_MAX_DEPTH 32

/* Timestamp range of the JSON mapping: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define TS_MIN_SECONDS (-62135596800LL)
#define TS_MAX_SECONDS 253402300799LL

static int put_message(struct strbuf *sb, const ProtobufCMessage *msg, unsigned depth);

/* Direct writes into the strbuf: room(n) makes n more bytes (plus the NUL) writable under the
 * cap, commit() publishes what was written. Reservations are the exact sizes written, so output
 * that fits the cap exactly never fails. fits() is the inline fast path: strbuf_reserve never
 * grows `alloc` beyond cap + 1, so `alloc` bounds the default cap (max == 0) and an explicit
 * max is checked here. */
static inline bool fits(const struct strbuf *sb, size_t n)
{
	return sb->alloc > sb->len && sb->alloc - sb->len > n &&
	       (!sb->max || (sb->len <= sb->max && n <= sb->max - sb->len));
}

static inline int room(struct strbuf *sb, size_t n)
{
	return fits(sb, n) ? 0 : strbuf_reserve(sb, n);
}

static inline char *tail(struct strbuf *sb)
{
	return sb->data + sb->len;
}

static inline void commit(struct strbuf *sb, char *end)
{
	sb->len = (size_t)(end - sb->data);
	sb->data[sb->len] = '\0';
}

static inline int put(struct strbuf *sb, const char *s, size_t n)
{
	int r = room(sb, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(tail(sb), s, n);
	commit(sb, tail(sb) + n);
	return 0;
}

static inline int put_char(struct strbuf *sb, char c)
{
	int r = room(sb, 1);

	if (r < 0)
		return r;
	char *w = tail(sb);
	*w++ = c;
	commit(sb, w);
	return 0;
}

/* Decimal digits of v written at the end of buf[20]; returns the first digit. */
static char *fmt_u64(char buf[20], uint64_t v)
{
	char *p = buf + 20;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

/* A JSON number, or a JSON string when quoted (the mapping of 64-bit integers). */
static int put_int(struct strbuf *sb, uint64_t mag, bool neg, bool quoted)
{
	char digits[20];
	char *d = fmt_u64(digits, mag);
	size_t nd = (size_t)(digits + 20 - d);
	int r = room(sb, nd + (quoted ? 2 : 0) + neg);

	if (r < 0)
		return r;
	char *w = tail(sb);
	if (quoted)
		*w++ = '"';
	if (neg)
		*w++ = '-';
	memcpy(w, d, nd);
	w += nd;
	if (quoted)
		*w++ = '"';
	commit(sb, w);
	return 0;
}

static int put_i64(struct strbuf *sb, int64_t v, bool quoted)
{
	if (v < 0)
		return put_int(sb, 0 - (uint64_t)v, true, quoted);
	return put_int(sb, (uint64_t)v, false, quoted);
}

/* Finite values as JSON numbers with `prec` significant digits (%.17g for double, %.9g for
 * float: enough to round-trip); NaN and ±Infinity as the strings of the JSON mapping. printf
 * uses the locale's decimal point, so whatever sits between the integer digits and the
 * fraction/exponent is rewritten to '.' — the output is valid JSON in any locale. */
static int put_float(struct strbuf *sb, double v, int prec)
{
	if (isnan(v))
		return put(sb, "\"NaN\"", 5);
	if (isinf(v))
		return v > 0 ? put(sb, "\"Infinity\"", 10) : put(sb, "\"-Infinity\"", 11);

	char tmp[64];
	int n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;

	size_t len = 0;
	bool in_point = false;
	for (int i = 0; i < n; i++) {
		char c = tmp[i];
		if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e') {
			tmp[len++] = c;
			in_point = false;
		} else if (!in_point) {
			tmp[len++] = '.';
			in_point = true;
		}
	}
	return put(sb, tmp, len);
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 (RFC 4648 §4) with padding, quoted. */
static int put_base64(struct strbuf *sb, const uint8_t *p, size_t n)
{
	if (!p && n)
		return -EINVAL;
	if (n > (SIZE_MAX / 4) * 3 - 3)
		return -ENOBUFS;

	int r = room(sb, (n + 2) / 3 * 4 + 2);
	if (r < 0)
		return r;
	char *w = tail(sb);
	*w++ = '"';
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*w++ = b64_alphabet[x >> 18];
		*w++ = b64_alphabet[(x >> 12) & 63];
		*w++ = b64_alphabet[(x >> 6) & 63];
		*w++ = b64_alphabet[x & 63];
	}
	if (n - i == 1) {
		uint32_t x = (uint32_t)p[i] << 16;
		*w++ = b64_alphabet[x >> 18];
		*w++ = b64_alphabet[(x >> 12) & 63];
		*w++ = '=';
		*w++ = '=';
	} else if (n - i == 2) {
		uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*w++ = b64_alphabet[x >> 18];
		*w++ = b64_alphabet[(x >> 12) & 63];
		*w++ = b64_alphabet[(x >> 6) & 63];
		*w++ = '=';
	}
	*w++ = '"';
	commit(sb, w);
	return 0;
}

/* Byte classes for string escaping: 0 copied as is, 1 escaped, 2 starts a multi-byte UTF-8
 * sequence (or is invalid). */
static const uint8_t str_class[256] = {
	[0x00 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
	[0x80 ... 0xff] = 2,
};

/* Length of the well-formed UTF-8 sequence at p (Unicode 15, table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), or minus the length of its maximal ill-formed subpart
 * (at least 1 byte), which is replaced by one U+FFFD as Unicode recommends. */
static int utf8_seq(const uint8_t *p, size_t avail)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	int need;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c == 0xe0) {
		need = 2;
		lo = 0xa0;
	} else if (c == 0xed) {
		need = 2;
		hi = 0x9f;
	} else if (c >= 0xe1 && c <= 0xef) {
		need = 2;
	} else if (c == 0xf0) {
		need = 3;
		lo = 0x90;
	} else if (c == 0xf4) {
		need = 3;
		hi = 0x8f;
	} else if (c >= 0xf1 && c <= 0xf3) {
		need = 3;
	} else {
		return -1; /* continuation byte, C0, C1 or F5..FF */
	}
	for (int i = 1; i <= need; i++) {
		if ((size_t)i >= avail || p[i] < lo || p[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static int put_escape(struct strbuf *sb, uint8_t c)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = {'\\', 0};

	switch (c) {
	case '"':
		e[1] = '"';
		break;
	case '\\':
		e[1] = '\\';
		break;
	case '\b':
		e[1] = 'b';
		break;
	case '\f':
		e[1] = 'f';
		break;
	case '\n':
		e[1] = 'n';
		break;
	case '\r':
		e[1] = 'r';
		break;
	case '\t':
		e[1] = 't';
		break;
	default:
		e[1] = 'u';
		e[2] = '0';
		e[3] = '0';
		e[4] = hex[c >> 4];
		e[5] = hex[c & 15];
		return put(sb, e, 6);
	}
	return put(sb, e, 2);
}

int pbjson_append_string(struct strbuf *out, const char *s, size_t len)
{
	if (!s) {
		if (len)
			return -EINVAL;
		s = "";
	}

	const uint8_t *p = (const uint8_t *)s, *end = p + len, *run = p;
	while (p < end && str_class[*p] == 0)
		p++;
	if (p == end) {
		/* the common case: printable ASCII only, one exact append */
		int r = room(out, len + 2);
		if (r < 0)
			return r;
		char *w = tail(out);
		*w++ = '"';
		if (len)
			memcpy(w, s, len);
		w += len;
		*w++ = '"';
		commit(out, w);
		return 0;
	}

	/* Runs of bytes that need no change (ASCII and valid UTF-8) are copied in one append. */
	int r = put_char(out, '"');
	while (r == 0 && p < end) {
		uint8_t cls = str_class[*p];
		if (cls == 0) {
			p++;
			continue;
		}
		int n = cls == 2 ? utf8_seq(p, (size_t)(end - p)) : 0;
		if (n > 0) {
			p += n;
			continue;
		}
		if (p > run)
			r = put(out, (const char *)run, (size_t)(p - run));
		if (r < 0)
			break;
		if (cls == 1) {
			r = put_escape(out, *p);
			p++;
		} else {
			r = put(out, "\xef\xbf\xbd", 3);
			p += -n;
		}
		run = p;
	}
	if (r == 0 && p > run)
		r = put(out, (const char *)run, (size_t)(p - run));
	if (r == 0)
		r = put_char(out, '"');
	return r;
}

/* `"name":` with a leading comma unless first. The JSON name is protoc's lowerCamelCase rule
 * (drop each '_', upper-case the next character). Names come from generated descriptors and
 * are identifiers, so they need no escaping. */
static int put_name(struct strbuf *sb, const char *name, bool first)
{
	size_t need = strlen(name) + 3 + !first; /* exact unless the name has underscores */

	if (!fits(sb, need)) {
		for (const char *c = name; *c; c++)
			need -= *c == '_';
		int r = strbuf_reserve(sb, need);
		if (r < 0)
			return r;
	}
	char *w = tail(sb);
	if (!first)
		*w++ = ',';
	*w++ = '"';
	bool upper = false;
	for (const char *c = name; *c; c++) {
		if (*c == '_') {
			upper = true;
			continue;
		}
		*w++ = (char)(upper && *c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
		upper = false;
	}
	*w++ = '"';
	*w++ = ':';
	commit(sb, w);
	return 0;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;

	*ret_y = (int64_t)yoe + era * 400 + (m <= 2);
	*ret_m = m;
	*ret_d = doy - (153 * mp + 2) / 5 + 1;
}

static char *put_2(char *w, unsigned v)
{
	*w++ = (char)('0' + v / 10);
	*w++ = (char)('0' + v % 10);
	return w;
}

/* google.protobuf.Timestamp → "YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z". The fields are
 * found through the descriptor (seconds = int64 #1, nanos = int32 #2), so any generated copy
 * of timestamp.proto works. */
static int put_timestamp(struct strbuf *sb, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	if (d->n_fields != 2)
		return -EINVAL;
	const ProtobufCFieldDescriptor *fs = &d->fields[0], *fn = &d->fields[1];
	if (fs->id != 1 || fs->type != PROTOBUF_C_TYPE_INT64 || fn->id != 2 ||
	    fn->type != PROTOBUF_C_TYPE_INT32)
		return -EINVAL;

	int64_t secs = *(const int64_t *)((const char *)msg + fs->offset);
	int32_t nanos = *(const int32_t *)((const char *)msg + fn->offset);
	if (secs < TS_MIN_SECONDS || secs > TS_MAX_SECONDS || nanos < 0 || nanos > 999999999)
		return -EINVAL;

	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t y;
	unsigned mo, dd;
	civil_from_days(days, &y, &mo, &dd);

	unsigned frac = (unsigned)nanos, digits = 0;
	if (frac) {
		digits = 9;
		if (frac % 1000000 == 0) {
			frac /= 1000000;
			digits = 3;
		} else if (frac % 1000 == 0) {
			frac /= 1000;
			digits = 6;
		}
	}
	size_t len = sizeof("\"YYYY-MM-DDTHH:MM:SSZ\"") - 1 + (digits ? digits + 1 : 0);
	int r = room(sb, len);
	if (r < 0)
		return r;
	char *w = tail(sb);
	*w++ = '"';
	w = put_2(w, (unsigned)(y / 100));
	w = put_2(w, (unsigned)(y % 100));
	*w++ = '-';
	w = put_2(w, mo);
	*w++ = '-';
	w = put_2(w, dd);
	*w++ = 'T';
	w = put_2(w, (unsigned)(sod / 3600));
	*w++ = ':';
	w = put_2(w, (unsigned)(sod / 60 % 60));
	*w++ = ':';
	w = put_2(w, (unsigned)(sod % 60));
	if (digits) {
		*w++ = '.';
		for (unsigned i = digits; i-- > 0;) {
			w[i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		w += digits;
	}
	*w++ = 'Z';
	*w++ = '"';
	commit(sb, w);
	return 0;
}

static int put_enum(struct strbuf *sb, const ProtobufCEnumDescriptor *ed, int value)
{
	if (!ed)
		return -EINVAL;

	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, value);
	if (!ev)
		return put_i64(sb, value, false); /* unknown value: the mapping prints the number */

	size_t n = strlen(ev->name);
	int r = room(sb, n + 2);
	if (r < 0)
		return r;
	char *w = tail(sb);
	*w++ = '"';
	memcpy(w, ev->name, n);
	w += n;
	*w++ = '"';
	commit(sb, w);
	return 0;
}

/* One value of field f stored at `member` (the struct member, or one array element). */
static int put_value(struct strbuf *sb, const ProtobufCFieldDescriptor *f, const void *member,
		     unsigned depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return put_i64(sb, *(const int32_t *)member, false);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return put_int(sb, *(const uint32_t *)member, false, false);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return put_i64(sb, *(const int64_t *)member, true);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return put_int(sb, *(const uint64_t *)member, false, true);
	case PROTOBUF_C_TYPE_FLOAT:
		return put_float(sb, *(const float *)member, 9);
	case PROTOBUF_C_TYPE_DOUBLE:
		return put_float(sb, *(const double *)member, 17);
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)member)
			return put(sb, "true", 4);
		return put(sb, "false", 5);
	case PROTOBUF_C_TYPE_ENUM:
		/* protobuf-c forces every generated enum to int size */
		return put_enum(sb, f->descriptor, *(const int *)member);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)member;
		if (!s)
			return -EINVAL; /* required or repeated element left NULL: a caller bug */
		return pbjson_append_string(sb, s, strlen(s));
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = member;
		return put_base64(sb, b->data, b->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(const ProtobufCMessage *const *)member;
		if (!m)
			return -EINVAL;
		return put_message(sb, m, depth + 1);
	}
	}
	return -EINVAL;
}

static size_t elt_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4; /* 32-bit integers, float, enum */
	}
}

/* proto3 implicit presence: the zero value is "not set" (protobuf-c's rule, so the JSON shows
 * what the wire carries; -0.0 counts as zero there too). */
static bool is_zero(const ProtobufCFieldDescriptor *f, const void *member)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)member == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)member == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)member == 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)member == 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)member;
		return !s || !*s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)member)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(const void *const *)member == NULL;
	default:
		return *(const uint32_t *)member == 0;
	}
}

/* Whether a non-repeated field is set, by protobuf-c's presence rules for its label. */
static bool is_present(const ProtobufCFieldDescriptor *f, const char *base, const void *member)
{
	bool ptr_type = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;

	switch (f->label) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return true;
	case PROTOBUF_C_LABEL_OPTIONAL:
	case PROTOBUF_C_LABEL_NONE:
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* the case member holds the field number of the member that is set; a set
			 * member is printed even when it holds its zero value */
			if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
				return false;
			return !ptr_type || *(const void *const *)member != NULL;
		}
		if (f->label == PROTOBUF_C_LABEL_NONE)
			return !is_zero(f, member);
		if (ptr_type) {
			/* no has_ flag: NULL, or still pointing at the [default = ...] value */
			const void *p = *(const void *const *)member;
			return p && p != f->default_value;
		}
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
	case PROTOBUF_C_LABEL_REPEATED:
		break;
	}
	return false;
}

static int put_message(struct strbuf *sb, const ProtobufCMessage *msg, unsigned depth)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC || depth >= PBJSON_MAX_DEPTH)
		return -EINVAL;
	if (d->name && d->name[0] == 'g' && strcmp(d->name, "google.protobuf.Timestamp") == 0)
		return put_timestamp(sb, msg);

	const char *base = (const char *)msg;
	bool first = true;
	int r = put_char(sb, '{');
	if (r < 0)
		return r;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *member = base + f->offset;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			if (n == 0)
				continue; /* empty repeated fields are omitted like unset ones */
			const char *arr = *(const char *const *)member;
			if (!arr)
				return -EINVAL;
			size_t sz = elt_size(f->type);
			r = put_name(sb, f->name, first);
			if (r == 0)
				r = put_char(sb, '[');
			for (size_t j = 0; r == 0 && j < n; j++) {
				if (j)
					r = put_char(sb, ',');
				if (r == 0)
					r = put_value(sb, f, arr + j * sz, depth);
			}
			if (r == 0)
				r = put_char(sb, ']');
		} else {
			if (!is_present(f, base, member))
				continue;
			r = put_name(sb, f->name, first);
			if (r == 0)
				r = put_value(sb, f, member, depth);
		}
		if (r < 0)
			return r;
		first = false;
	}
	return put_char(sb, '}');
}

int pbjson_encode(const ProtobufCMessage *msg, struct strbuf *out)
{
	if (!msg || !out)
		return -EINVAL;
	return put_message(out, msg, 0);
}
