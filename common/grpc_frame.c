// SPDX-License-Identifier: Apache-2.0
// gRPC message framing and the grpc-status/grpc-message header values: the part of the gRPC
// client that parses bytes from the server (HTTP/2 itself is nghttp2's). Pure; fuzzed.
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>

#include "grpc_client.h"

ssize_t grpc_frame_len(const uint8_t *data, size_t len)
{
	if (len < 5)
		return 0;
	if (data[0] != 0)
		return data[0] == 1 ? -EPROTONOSUPPORT : -EBADMSG;
	uint32_t n = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
		     data[4];
	if (n > GRPC_MSG_MAX)
		return -EMSGSIZE;
	return len - 5 >= n ? (ssize_t)n + 5 : 0;
}

int grpc_decode(const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *desc,
		ProtobufCMessage **ret_msg)
{
	if (!data || len < 5)
		return -EBADMSG;
	ssize_t n = grpc_frame_len(data, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n != len)
		return -EBADMSG; /* truncated, or more than the one message a unary call returns */
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, (size_t)n - 5, data + 5);
	if (!m)
		return -EBADMSG;
	*ret_msg = m;
	return 0;
}

int grpc_parse_status(const char *v, size_t len)
{
	if (len == 0 || len > 2)
		return -1;
	int s = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		s = s * 10 + (v[i] - '0');
	}
	return s <= 16 ? s : -1;
}

void grpc_percent_decode(char *dst, size_t cap, const uint8_t *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		if (s[i] == '%' && i + 2 < len) {
			char hex[3] = {(char)s[i + 1], (char)s[i + 2], 0};
			char *end;
			long v = strtol(hex, &end, 16);
			if (*end == '\0') {
				dst[o++] = (char)v;
				i += 2;
				continue;
			}
		}
		dst[o++] = (char)s[i];
	}
	dst[o] = '\0';
}
