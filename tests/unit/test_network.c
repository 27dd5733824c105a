// SPDX-License-Identifier: Apache-2.0
// network collector: kernel record validation and the names used in events (no root; the
// real kernel path is tests/integration/test_network.c).
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "collectors/network/network_decode.c"

static struct network_rec good(void)
{
	struct network_rec r;
	memset(&r, 0, sizeof(r));
	r.hdr.type = NETWORK_REC_CONNECT;
	r.hdr.version = NETWORK_REC_VERSION;
	r.hdr.size = sizeof(r);
	r.family = AF_INET;
	r.state = 1;
	r.direction = NETWORK_DIR_OUTBOUND;
	return r;
}

Test(network_decode, accepts_a_valid_record)
{
	struct network_rec r = good();
	cr_assert_eq(network_rec_check(&r, sizeof(r)), 0);
	r.hdr.type = NETWORK_REC_STATE;
	r.old_state = 7;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), 0);
}

Test(network_decode, rejects_wrong_size_version_type)
{
	struct network_rec r = good();
	cr_assert_eq(network_rec_check(&r, sizeof(r) - 1), -EBADMSG);
	cr_assert_eq(network_rec_check(NULL, sizeof(r)), -EBADMSG);
	r.hdr.size = sizeof(r) + 8;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
	r = good();
	r.hdr.version = 2;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
	r = good();
	r.hdr.type = 0;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
	r.hdr.type = NETWORK_REC_TYPE_MAX + 1;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
}

Test(network_decode, rejects_bad_family_direction_state)
{
	struct network_rec r = good();
	r.family = 1;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
	r = good();
	r.direction = 3;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
	r = good();
	r.state = 14;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
	r.state = 0;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
	r.flags = NETWORK_F_NO_SOCK; /* a reset for no socket has no state */
	r.hdr.type = NETWORK_REC_RESET_SENT;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), 0);
	r = good();
	r.hdr.type = NETWORK_REC_STATE;
	r.old_state = 0;
	cr_assert_eq(network_rec_check(&r, sizeof(r)), -EBADMSG);
}

Test(network_decode, names)
{
	cr_assert_str_eq(network_event_type(NETWORK_REC_CONNECT), "tcp.connect");
	cr_assert_str_eq(network_event_type(NETWORK_REC_ACCEPT), "tcp.accept");
	cr_assert_str_eq(network_event_type(NETWORK_REC_CLOSE), "tcp.close");
	cr_assert_str_eq(network_event_type(NETWORK_REC_RESET_SENT), "tcp.reset");
	cr_assert_str_eq(network_event_type(NETWORK_REC_RESET_RECV), "tcp.reset");
	cr_assert_str_eq(network_event_type(NETWORK_REC_RETRANSMIT), "tcp.retransmit");
	cr_assert_str_eq(network_event_type(NETWORK_REC_STATE), "tcp.state");
	cr_assert_null(network_event_type(99));
	cr_assert_str_eq(network_state_name(1), "ESTABLISHED");
	cr_assert_str_eq(network_state_name(5), "FIN_WAIT2");
	cr_assert_str_eq(network_state_name(10), "LISTEN");
	cr_assert_null(network_state_name(0));
	cr_assert_null(network_state_name(200));
	cr_assert_str_eq(network_direction_name(NETWORK_DIR_OUTBOUND), "outbound");
	cr_assert_str_eq(network_direction_name(NETWORK_DIR_INBOUND), "inbound");
	cr_assert_null(network_direction_name(NETWORK_DIR_UNKNOWN));
}

Test(network_decode, formats_addresses_from_network_order)
{
	uint8_t a[16] = {0};
	char buf[NETWORK_ADDR_STRLEN];
	inet_pton(AF_INET, "10.1.2.3", a);
	cr_assert_eq(network_format_addr(AF_INET, a, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "10.1.2.3");
	inet_pton(AF_INET6, "fd00::1:2", a);
	cr_assert_eq(network_format_addr(AF_INET6, a, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "fd00::1:2");
	cr_assert_eq(network_format_addr(3, a, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(network_format_addr(AF_INET, a, buf, 8), -EINVAL);
}
