// SPDX-License-Identifier: Apache-2.0
// The shared gRPC client's framing of a stream: where one length-prefixed message ends, as the
// etcd watch reads them one by one from a buffer that may hold half a message or several.
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "grpc_client.h"

Test(grpc_frame, lengths)
{
	const uint8_t two[] = {0, 0, 0, 0, 2, 0xa, 0x0, 0, 0, 0, 0, 0};
	cr_assert_eq(grpc_frame_len(two, 0), 0);
	cr_assert_eq(grpc_frame_len(two, 4), 0, "header incomplete");
	cr_assert_eq(grpc_frame_len(two, 6), 0, "body incomplete");
	cr_assert_eq(grpc_frame_len(two, 7), 7);
	cr_assert_eq(grpc_frame_len(two, sizeof(two)), 7, "only the first message");
	cr_assert_eq(grpc_frame_len(two + 7, 5), 5, "an empty message is 5 bytes");
}

Test(grpc_frame, rejects)
{
	const uint8_t compressed[] = {1, 0, 0, 0, 0};
	const uint8_t bad_flag[] = {2, 0, 0, 0, 0};
	const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(grpc_frame_len(compressed, 5), -EPROTONOSUPPORT);
	cr_assert_eq(grpc_frame_len(bad_flag, 5), -EBADMSG);
	cr_assert_eq(grpc_frame_len(huge, 5), -EMSGSIZE);
}
