// SPDX-License-Identifier: Apache-2.0
// Fuzz the bytes a CRI runtime sends us after HTTP/2 (nghttp2's part): the gRPC message framing
// and the protobuf decode of every response type the collector reads, plus the header values.
#include <stddef.h>
#include <stdint.h>

#include "collectors/cri/cri_api.pb-c.c"
#include "collectors/cri/cri_grpc.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *const descs[] = {
		&runtime__v1__version_response__descriptor,
		&runtime__v1__list_pod_sandbox_response__descriptor,
		&runtime__v1__list_containers_response__descriptor,
		&runtime__v1__container_status_response__descriptor,
	};
	if (size < 1)
		return 0;
	const ProtobufCMessageDescriptor *d = descs[data[0] % 4];
	ProtobufCMessage *m = NULL;
	if (cri_grpc_decode(data + 1, size - 1, d, &m) == 0)
		protobuf_c_message_free_unpacked(m, NULL);
	char msg[64];
	cri_grpc_percent_decode(msg, sizeof(msg), data, size);
	(void)cri_grpc_parse_status((const char *)data, size);
	return 0;
}
