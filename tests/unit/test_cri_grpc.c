// SPDX-License-Identifier: Apache-2.0
// cri collector: gRPC response framing and the status/message header values (no runtime).
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "collectors/cri/cri_api.pb-c.c"
#include "collectors/cri/cri_grpc.c"

static size_t frame(uint8_t *out, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	out[0] = 0;
	out[1] = (uint8_t)(n >> 24);
	out[2] = (uint8_t)(n >> 16);
	out[3] = (uint8_t)(n >> 8);
	out[4] = (uint8_t)n;
	protobuf_c_message_pack(m, out + 5);
	return n + 5;
}

Test(cri_grpc, decodes_one_framed_message)
{
	Runtime__V1__VersionResponse v = RUNTIME__V1__VERSION_RESPONSE__INIT;
	v.runtime_name = "containerd";
	v.runtime_api_version = "v1";
	uint8_t buf[256];
	size_t n = frame(buf, &v.base);
	ProtobufCMessage *m = NULL;
	cr_assert_eq(cri_grpc_decode(buf, n, &runtime__v1__version_response__descriptor, &m), 0);
	Runtime__V1__VersionResponse *d = (Runtime__V1__VersionResponse *)m;
	cr_assert_str_eq(d->runtime_name, "containerd");
	cr_assert_str_eq(d->runtime_api_version, "v1");
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(cri_grpc, empty_message_is_five_bytes)
{
	const uint8_t buf[5] = {0, 0, 0, 0, 0};
	ProtobufCMessage *m = NULL;
	cr_assert_eq(
		cri_grpc_decode(buf, 5, &runtime__v1__list_containers_response__descriptor, &m), 0);
	cr_assert_eq(((Runtime__V1__ListContainersResponse *)m)->n_containers, 0);
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(cri_grpc, rejects_bad_frames)
{
	ProtobufCMessage *m = NULL;
	const ProtobufCMessageDescriptor *d = &runtime__v1__version_response__descriptor;
	const uint8_t short_hdr[4] = {0, 0, 0, 0};
	cr_assert_eq(cri_grpc_decode(short_hdr, 4, d, &m), -EBADMSG);
	const uint8_t compressed[5] = {1, 0, 0, 0, 0};
	cr_assert_eq(cri_grpc_decode(compressed, 5, d, &m), -EPROTONOSUPPORT);
	const uint8_t bad_flag[5] = {7, 0, 0, 0, 0};
	cr_assert_eq(cri_grpc_decode(bad_flag, 5, d, &m), -EBADMSG);
	const uint8_t truncated[7] = {0, 0, 0, 0, 9, 0x0a, 0x01};
	cr_assert_eq(cri_grpc_decode(truncated, 7, d, &m), -EBADMSG);
	const uint8_t huge[5] = {0, 0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(cri_grpc_decode(huge, 5, d, &m), -EMSGSIZE);
	const uint8_t two[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* two messages: not unary */
	cr_assert_eq(cri_grpc_decode(two, 10, d, &m), -EBADMSG);
	const uint8_t garbage[8] = {0, 0, 0, 0, 3, 0x0a, 0x05, 'a'}; /* string longer than data */
	cr_assert_eq(cri_grpc_decode(garbage, 8, d, &m), -EBADMSG);
	cr_assert_eq(cri_grpc_decode(NULL, 0, d, &m), -EBADMSG);
}

Test(cri_grpc, status_values)
{
	cr_assert_eq(cri_grpc_parse_status("0", 1), 0);
	cr_assert_eq(cri_grpc_parse_status("12", 2), 12);
	cr_assert_eq(cri_grpc_parse_status("16", 2), 16);
	cr_assert_eq(cri_grpc_parse_status("17", 2), -1);
	cr_assert_eq(cri_grpc_parse_status("", 0), -1);
	cr_assert_eq(cri_grpc_parse_status("1x", 2), -1);
	cr_assert_eq(cri_grpc_parse_status("100", 3), -1);
}

Test(cri_grpc, message_percent_decoding)
{
	char out[32];
	const char *in = "not%20found%3A x%2";
	cri_grpc_percent_decode(out, sizeof(out), (const uint8_t *)in, strlen(in));
	cr_assert_str_eq(out, "not found: x%2");
	char tiny[4];
	cri_grpc_percent_decode(tiny, sizeof(tiny), (const uint8_t *)"abcdef", 6);
	cr_assert_str_eq(tiny, "abc");
}
