// SPDX-License-Identifier: Apache-2.0
// gRPC message framing of CRI responses and the gRPC status/message header values: the CRI
// names of the shared pure parts (common/grpc_frame.c). Fuzzed.
#include "cri_client.h"
#include "grpc_client.h"

int cri_grpc_decode(const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *desc,
		    ProtobufCMessage **ret_msg)
{
	return grpc_decode(data, len, desc, ret_msg);
}

int cri_grpc_parse_status(const char *v, size_t len)
{
	return grpc_parse_status(v, len);
}

void cri_grpc_percent_decode(char *dst, size_t cap, const uint8_t *s, size_t len)
{
	grpc_percent_decode(dst, cap, s, len);
}
