// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the dns collector's packet decoder: any bytes, read as an AF_PACKET
// frame and as a kernel record, must decode or be rejected; a decoded payload must lie inside
// the input, within payload_max and the message length, and feed the DNS parser safely.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "collectors/dns/dns_packet.c"
#include "collectors/dns/dns_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_msg msg;

static void check(const struct dns_packet *p, const uint8_t *data, size_t size, uint32_t max)
{
	if (p->payload < data || p->payload_len > size ||
	    (size_t)(p->payload - data) > size - p->payload_len)
		abort();
	if (p->family != AF_INET && p->family != AF_INET6)
		abort();
	if (p->transport != DNS_TRANSPORT_UDP && p->transport != DNS_TRANSPORT_TCP)
		abort();
	if ((p->transport == DNS_TRANSPORT_TCP) != !!(p->flags & DNS_PKT_TCP))
		abort();
	if (p->payload_len > max)
		abort();
	struct dns_flow f;
	dns_packet_flow(p, p->payload[0] & 1, &f);
	if (f.family != p->family || f.transport != p->transport)
		abort();
	(void)dns_packet_at_client(p, p->payload[0] & 2);
	int r = dns_parse(p->payload, p->payload_len, &msg);
	if (r > 0 || r <= -DNS_ERR_MAX ||
	    strnlen(msg.qname, DNS_NAME_TEXT_MAX) >= DNS_NAME_TEXT_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_packet p;
	/* The frame path: payload_max from the config range (64..4096), picked by the size. */
	uint32_t max = 64u + (uint32_t)(size * 31 % 4033);
	int r = dns_packet_from_frame(data, size, max, &p);
	if (r < -EBADMSG || (r < 0 && r != -EBADMSG) || r > 1)
		abort();
	if (r == 0) {
		if (p.payload_len == 0)
			abort(); /* no DNS bytes is return value 1 */
		check(&p, data, size, max);
		if (!(p.flags & DNS_PKT_PAYLOAD_CUT) && p.payload_len != p.msg_len)
			abort();
		if ((p.flags & DNS_PKT_PAYLOAD_CUT) && p.payload_len >= p.msg_len)
			abort();
		if (p.dir != 0 || p.boot_ns || p.cgroup_id || p.pid)
			abort();
	}
	/* The record path: the same bytes as a ring buffer record. */
	r = dns_packet_from_record(data, size, &p);
	if (r != 0 && r != -EBADMSG)
		abort();
	if (r == 0) {
		check(&p, data, size, DNS_PAYLOAD_MAX);
		if (p.payload != data + DNS_PKT_FIXED || DNS_PKT_FIXED + p.payload_len != size)
			abort();
	}
	return 0;
}
