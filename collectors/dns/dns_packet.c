// SPDX-License-Identifier: Apache-2.0
// dns collector, packet decoding: kernel records and AF_PACKET frames → struct dns_packet.
// Every byte here comes from outside (the network, or a ring buffer): bounds are checked
// before each read.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_packet.h"

int dns_packet_from_record(const void *data, size_t size, struct dns_packet *ret_pkt)
{
	struct dns_pkt_rec r; /* the fixed part only; the payload stays in data */
	if (size < DNS_PKT_FIXED)
		return -EBADMSG;
	memcpy(&r, data, DNS_PKT_FIXED);
	if (r.hdr.size != size || r.hdr.type != DNS_REC_PKT || r.hdr.version != DNS_REC_VERSION ||
	    r.payload_len > DNS_PAYLOAD_MAX || DNS_PKT_FIXED + r.payload_len != size ||
	    (r.dir != DNS_DIR_EGRESS && r.dir != DNS_DIR_INGRESS) ||
	    (r.family != 2 && r.family != 10))
		return -EBADMSG;
	struct dns_packet p = {
		.payload = (const uint8_t *)data + DNS_PKT_FIXED,
		.payload_len = r.payload_len,
		.msg_len = r.msg_len,
		.family = r.family == 10 ? AF_INET6 : AF_INET,
		.transport = r.flags & DNS_PKT_TCP ? DNS_TRANSPORT_TCP : DNS_TRANSPORT_UDP,
		.dir = r.dir,
		.flags = r.flags,
		.sport = r.sport,
		.dport = r.dport,
		.boot_ns = r.boot_ns,
		.cgroup_id = r.cgroup_id,
		.pid = r.pid,
		.tid = r.tid,
	};
	memcpy(p.saddr, r.saddr, 16);
	memcpy(p.daddr, r.daddr, 16);
	memcpy(p.comm, r.comm, DNS_COMM_LEN);
	*ret_pkt = p;
	return 0;
}

int dns_packet_from_frame(const uint8_t *b, size_t len, uint32_t payload_max,
			  struct dns_packet *ret_pkt)
{
	struct dns_packet p = {0};
	size_t l4;
	uint8_t proto;
	if (len < 1)
		return -EBADMSG;
	if ((b[0] >> 4) == 4) {
		size_t ihl = (size_t)(b[0] & 0xf) * 4;
		if (len < 20 || ihl < 20 || len < ihl)
			return -EBADMSG;
		size_t tot = (size_t)b[2] << 8 | b[3];
		if (tot >= ihl && tot < len)
			len = tot; /* link padding */
		proto = b[9];
		memcpy(p.saddr, b + 12, 4);
		memcpy(p.daddr, b + 16, 4);
		p.family = AF_INET;
		l4 = ihl;
	} else if ((b[0] >> 4) == 6) {
		if (len < 40)
			return -EBADMSG;
		size_t pl = (size_t)b[4] << 8 | b[5];
		if (40 + pl < len)
			len = 40 + pl;
		proto = b[6];
		memcpy(p.saddr, b + 8, 16);
		memcpy(p.daddr, b + 24, 16);
		p.family = AF_INET6;
		l4 = 40;
	} else {
		return -EBADMSG;
	}
	size_t off;
	if (proto == 17) {
		if (len < l4 + 8)
			return -EBADMSG;
		off = l4 + 8;
		p.transport = DNS_TRANSPORT_UDP;
	} else if (proto == 6) {
		if (len < l4 + 20)
			return -EBADMSG;
		off = l4 + (size_t)(b[l4 + 12] >> 4) * 4;
		p.flags |= DNS_PKT_TCP;
		p.transport = DNS_TRANSPORT_TCP;
	} else {
		return -EBADMSG;
	}
	p.sport = (uint16_t)(b[l4] << 8 | b[l4 + 1]);
	p.dport = (uint16_t)(b[l4 + 2] << 8 | b[l4 + 3]);
	if (len <= off)
		return 1; /* no payload */
	size_t avail = len - off;
	p.msg_len = (uint32_t)avail;
	if (p.flags & DNS_PKT_TCP) {
		if (avail < 2)
			return 1;
		p.msg_len = (uint32_t)(b[off] << 8 | b[off + 1]);
		p.flags |= DNS_PKT_TCP_PREFIX;
		off += 2;
		avail -= 2;
	}
	size_t n = avail < p.msg_len ? avail : p.msg_len;
	if (n < p.msg_len)
		p.flags |= DNS_PKT_PAYLOAD_CUT;
	if (n > payload_max) {
		n = payload_max;
		p.flags |= DNS_PKT_PAYLOAD_CUT;
	}
	if (n == 0)
		return 1;
	p.payload = b + off;
	p.payload_len = (uint32_t)n;
	*ret_pkt = p;
	return 0;
}

void dns_packet_flow(const struct dns_packet *p, bool response, struct dns_flow *ret_flow)
{
	struct dns_flow f = {.family = p->family, .transport = p->transport};
	memcpy(f.client, response ? p->daddr : p->saddr, 16);
	memcpy(f.server, response ? p->saddr : p->daddr, 16);
	f.client_port = response ? p->dport : p->sport;
	f.server_port = response ? p->sport : p->dport;
	*ret_flow = f;
}

bool dns_packet_at_client(const struct dns_packet *p, bool response)
{
	return (!response && p->dir == DNS_DIR_EGRESS) || (response && p->dir == DNS_DIR_INGRESS);
}
