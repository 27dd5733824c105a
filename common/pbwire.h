/* SPDX-License-Identifier: Apache-2.0 */
/* The protobuf wire format one level deep, without decoding: walk the fields of an encoded
 * message, copy a message minus some fields, append length-delimited fields. For hot paths
 * that pass bytes through (a batch of events, an event restamped for the binary sink); the
 * full decode stays with protobuf-c. Every function here is bounds-checked and pure (no
 * allocation but the strbuf's, no errno), so it is async-signal-safe where no strbuf is used. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "strbuf.h"

enum pbwire_type {
	PBWIRE_VARINT = 0,
	PBWIRE_I64 = 1,
	PBWIRE_LEN = 2,
	PBWIRE_I32 = 5,
};

#define PBWIRE_VARINT_MAX 10
#define PBWIRE_FIELD_MAX  536870911u /* 2^29 - 1 */

/* One field as it stands in the bytes (all pointers borrowed from the message). */
struct pbwire_field {
	uint32_t number;
	enum pbwire_type type;
	const uint8_t *start; /* first byte of the tag */
	size_t size;	      /* tag, length prefix and value */
	const uint8_t *value; /* PBWIRE_LEN: the payload; else the encoded scalar */
	size_t value_len;
	uint64_t varint; /* PBWIRE_VARINT: the value */
};

struct pbwire_iter {
	const uint8_t *p, *end;
};

void pbwire_iter_init(struct pbwire_iter *it, const void *data, size_t len);
/* 1 and the next field, 0 at the end, -EBADMSG for bytes that are no protobuf message
 * (truncated, a varint over 10 bytes, field number 0, groups or reserved wire types). */
int pbwire_next(struct pbwire_iter *it, struct pbwire_field *ret_field);

size_t pbwire_put_varint(uint8_t *p, uint64_t v); /* p needs PBWIRE_VARINT_MAX bytes */
size_t pbwire_varint_size(uint64_t v);

/* Append tag + length + bytes of a length-delimited field. 0 or -ENOBUFS/-ENOMEM. */
int pbwire_append_len(struct strbuf *out, uint32_t number, const void *data, size_t len);
/* Append a message field: tag + length + the message packed by protobuf-c. */
int pbwire_append_message(struct strbuf *out, uint32_t number, const ProtobufCMessage *m);
/* Append every field of the message in data except those whose number is in drop (a bitmask
 * of field numbers 1..63). 0, -EBADMSG (data is malformed; out unchanged) or -ENOBUFS/-ENOMEM. */
int pbwire_copy_without(struct strbuf *out, const void *data, size_t len, uint64_t drop);

#define PBWIRE_BIT(n) (1ull << (n))
