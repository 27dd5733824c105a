/* SPDX-License-Identifier: Apache-2.0 */
/* Protobuf → JSON following the protobuf canonical JSON mapping, driven by the protobuf-c
 * descriptors (one generic encoder, no per-type printers). */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "strbuf.h"

/* Append the JSON object for `msg` to `out` (no trailing newline). Field names are the
 * lowerCamelCase JSON names; fields not present are omitted (proto2: has_ flag / NULL pointer;
 * proto3 implicit presence: zero values); 64-bit integers are JSON strings; enums are their
 * value names; bytes are base64; google.protobuf.Timestamp is an RFC 3339 string in UTC with
 * 0, 3, 6 or 9 fractional digits; strings are escaped and invalid UTF-8 is replaced by U+FFFD.
 * Returns 0, -ENOBUFS when `out` hits its cap, -EINVAL for a value that cannot be encoded
 * (e.g. Timestamp out of range). On failure `out` may hold a partial object: callers truncate
 * back to their saved length. */
int pbjson_encode(const ProtobufCMessage *msg, struct strbuf *out);

/* Append `s` (len bytes, not necessarily NUL-terminated) as a JSON string literal with quotes,
 * escaping and U+FFFD for invalid UTF-8. */
int pbjson_append_string(struct strbuf *out, const char *s, size_t len);
