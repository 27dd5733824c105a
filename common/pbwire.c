// SPDX-License-Identifier: Apache-2.0
// The protobuf wire format one level deep (see pbwire.h).
#include "pbwire.h"

#include <errno.h>

void pbwire_iter_init(struct pbwire_iter *it, const void *data, size_t len)
{
	it->p = data;
	it->end = it->p + len;
}

static int get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *ret)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (unsigned i = 0; i < PBWIRE_VARINT_MAX; i++) {
		if (p >= end)
			return -EBADMSG;
		uint8_t b = *p++;
		if (i == PBWIRE_VARINT_MAX - 1 && b > 1)
			return -EBADMSG; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pp = p;
			*ret = v;
			return 0;
		}
	}
	return -EBADMSG;
}

int pbwire_next(struct pbwire_iter *it, struct pbwire_field *ret)
{
	if (it->p >= it->end)
		return 0;
	const uint8_t *p = it->p;
	uint64_t tag, n;
	if (get_varint(&p, it->end, &tag) < 0 || tag >> 3 == 0 || tag >> 3 > PBWIRE_FIELD_MAX)
		return -EBADMSG;
	struct pbwire_field f = {.number = (uint32_t)(tag >> 3), .type = tag & 7, .start = it->p};
	switch (f.type) {
	case PBWIRE_VARINT:
		f.value = p;
		if (get_varint(&p, it->end, &f.varint) < 0)
			return -EBADMSG;
		f.value_len = (size_t)(p - f.value);
		break;
	case PBWIRE_I64:
	case PBWIRE_I32:
		f.value_len = f.type == PBWIRE_I64 ? 8 : 4;
		if ((size_t)(it->end - p) < f.value_len)
			return -EBADMSG;
		f.value = p;
		p += f.value_len;
		break;
	case PBWIRE_LEN:
		if (get_varint(&p, it->end, &n) < 0 || n > (uint64_t)(it->end - p))
			return -EBADMSG;
		f.value = p;
		f.value_len = (size_t)n;
		p += n;
		break;
	default: /* 3, 4: groups (not in our schemas, not decoded by protobuf-c); 6, 7: none */
		return -EBADMSG;
	}
	f.size = (size_t)(p - it->p);
	it->p = p;
	*ret = f;
	return 1;
}

size_t pbwire_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t pbwire_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Append the tag and length of a length-delimited field with room reserved for its len bytes
 * of value; returns where the value goes, or NULL (-ENOBUFS/-ENOMEM in *ret_err). */
static uint8_t *begin_len_field(struct strbuf *out, uint32_t number, size_t len, int *ret_err)
{
	uint8_t hdr[2 * PBWIRE_VARINT_MAX];
	size_t h = pbwire_put_varint(hdr, (uint64_t)number << 3 | PBWIRE_LEN);
	h += pbwire_put_varint(hdr + h, len);
	*ret_err = strbuf_reserve(out, h + len);
	if (*ret_err < 0)
		return NULL;
	strbuf_append(out, hdr, h);
	return (uint8_t *)out->data + out->len;
}

int pbwire_append_len(struct strbuf *out, uint32_t number, const void *data, size_t len)
{
	int r;
	if (!begin_len_field(out, number, len, &r))
		return r;
	strbuf_append(out, data, len);
	return 0;
}

int pbwire_append_message(struct strbuf *out, uint32_t number, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	int r;
	uint8_t *value = begin_len_field(out, number, len, &r);
	if (!value)
		return r;
	out->len += protobuf_c_message_pack(m, value);
	out->data[out->len] = '\0';
	return 0;
}

int pbwire_copy_without(struct strbuf *out, const void *data, size_t len, uint64_t drop)
{
	size_t mark = out->len;
	struct pbwire_iter it;
	struct pbwire_field f;
	int r;
	pbwire_iter_init(&it, data, len);
	while ((r = pbwire_next(&it, &f)) > 0) {
		if (f.number < 64 && (drop & PBWIRE_BIT(f.number)))
			continue;
		r = strbuf_append(out, f.start, f.size);
		if (r < 0)
			break;
	}
	if (r < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
	return r < 0 ? r : 0;
}
