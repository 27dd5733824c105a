// SPDX-License-Identifier: Apache-2.0
// The dns collector's packet decoder on real packets: frames captured on lo (AF_PACKET
// SOCK_DGRAM, network header first) while dig asked dnsmasq over UDP/IPv4, TCP/IPv4 and
// UDP/IPv6, and kernel records built around them; then every way they can be cut or bent.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "collectors/dns/dns_packet.c"

/* Captured with dnsmasq on 127.0.0.3 and ::1 port 5399, dig +nocookie from 127.0.0.1 / ::1. */
/* 69 bytes */
static const char udp4_query[] =
	"4500004594af00004011e7f47f0000017f00000387ea15170031fe4632b70120000100000000000101610574"
	"6170696f0474657374000001000100002904d0000000000000";
/* 85 bytes */
static const char udp4_response[] =
	"450000555e0940004011de8a7f0000037f000001151787ea0041fe5632b78580000100010000000101610574"
	"6170696f04746573740000010001c00c000100010000000000040a01020300002904d0000000000000";
/* 60 bytes */
static const char tcp4_syn[] =
	"4500003ccfbd400040066cfa7f0000017f00000392651517f29492d000000000a002fc94fe320000020404c4"
	"0402080a86c717e8000000000103030a";
/* 52 bytes */
static const char tcp4_ack[] =
	"45000034cfbe400040066d017f0000017f00000392651517f29492d1f83887e980100040fe2a00000101080a"
	"86c717e82fbe1147";
/* 95 bytes */
static const char tcp4_query[] =
	"4500005fcfbf400040066cd57f0000017f00000392651517f29492d1f83887e980180040fe5500000101080a"
	"86c717e82fbe11470029c50f01200001000000000001016105746170696f0474657374000001000100002904"
	"d0000000000000";
/* 111 bytes */
static const char tcp4_response[] =
	"4500006fbdbd400040067ec77f0000037f00000115179265f83887e9f29492fc80180040fe6500000101080a"
	"2fbe114886c717e80039c50f85800001000100000001016105746170696f04746573740000010001c00c0001"
	"00010000000000040a01020300002904d0000000000000";
/* 90 bytes */
static const char udp6_query[] =
	"6009079b003211400000000000000000000000000000000100000000000000000000000000000001e5331517"
	"00320045675a0120000100000000000102763605746170696f047465737400001c000100002904d000000000"
	"0000";
/* 118 bytes */
static const char udp6_response[] =
	"6006b9a1004e114000000000000000000000000000000001000000000000000000000000000000011517e533"
	"004e0061675a8580000100010000000102763605746170696f047465737400001c0001c00c001c0001000000"
	"000010fd00000000000000000000000000000100002904d0000000000000";

struct frame {
	uint8_t b[256];
	size_t n;
};

static struct frame hex(const char *s)
{
	struct frame f = {.n = strlen(s) / 2};
	cr_assert(f.n <= sizeof(f.b));
	for (size_t i = 0; i < f.n; i++) {
		unsigned v;
		cr_assert(sscanf(s + 2 * i, "%2x", &v) == 1);
		f.b[i] = (uint8_t)v;
	}
	return f;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static const uint8_t v4_client[16] = {127, 0, 0, 1}, v4_server[16] = {127, 0, 0, 3};
static const uint8_t v6_lo[16] = {[15] = 1};

/* The DNS message of a frame starts at `at`; its header says id and QR. */
static void assert_payload(const struct frame *f, const struct dns_packet *p, size_t at,
			   uint32_t len, uint16_t id, bool qr)
{
	cr_assert_eq(p->payload, f->b + at, "payload borrowed from the frame at %zu", at);
	cr_assert_eq(p->payload_len, len);
	cr_assert_eq(be16(p->payload), id);
	cr_assert_eq((p->payload[2] & 0x80) != 0, qr);
}

Test(dns_packet, udp4_query_and_response)
{
	struct frame f = hex(udp4_query);
	struct dns_packet p;
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 0);
	cr_assert_eq(p.family, AF_INET);
	cr_assert_eq(p.transport, DNS_TRANSPORT_UDP);
	cr_assert_eq(p.flags, 0);
	cr_assert_eq(p.dir, 0);
	cr_assert_eq(p.sport, 34794);
	cr_assert_eq(p.dport, 5399);
	cr_assert_arr_eq(p.saddr, v4_client, 16);
	cr_assert_arr_eq(p.daddr, v4_server, 16);
	cr_assert_eq(p.msg_len, 41);
	assert_payload(&f, &p, 28, 41, 0x32b7, false);
	cr_assert_eq(p.boot_ns, 0);
	cr_assert_eq(p.cgroup_id, 0);
	cr_assert_eq(p.pid, 0);

	struct dns_flow fl;
	dns_packet_flow(&p, false, &fl);
	cr_assert_eq(fl.family, AF_INET);
	cr_assert_eq(fl.transport, DNS_TRANSPORT_UDP);
	cr_assert_eq(fl.client_port, 34794);
	cr_assert_eq(fl.server_port, 5399);
	cr_assert_arr_eq(fl.client, v4_client, 16);
	cr_assert_arr_eq(fl.server, v4_server, 16);
	cr_assert_not(dns_packet_at_client(&p, false), "a frame has no direction");

	f = hex(udp4_response);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 0);
	cr_assert_eq(p.sport, 5399);
	cr_assert_eq(p.dport, 34794);
	cr_assert_eq(p.msg_len, 57);
	assert_payload(&f, &p, 28, 57, 0x32b7, true);
	/* The response's flow is the query's: the client is its destination. */
	struct dns_flow rfl;
	dns_packet_flow(&p, true, &rfl);
	cr_assert_eq(memcmp(&rfl, &fl, sizeof(fl)), 0);
}

Test(dns_packet, tcp4_length_prefix)
{
	struct frame f = hex(tcp4_query);
	struct dns_packet p;
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 0);
	cr_assert_eq(p.transport, DNS_TRANSPORT_TCP);
	cr_assert_eq(p.flags, DNS_PKT_TCP | DNS_PKT_TCP_PREFIX);
	cr_assert_eq(p.sport, 37477);
	cr_assert_eq(p.dport, 5399);
	cr_assert_eq(p.msg_len, 41);
	/* 20 bytes IPv4, 32 bytes TCP (timestamps), 2 bytes prefix */
	assert_payload(&f, &p, 54, 41, 0xc50f, false);

	f = hex(tcp4_response);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 0);
	cr_assert_eq(p.msg_len, 57);
	assert_payload(&f, &p, 54, 57, 0xc50f, true);
	struct dns_flow fl;
	dns_packet_flow(&p, true, &fl);
	cr_assert_eq(fl.transport, DNS_TRANSPORT_TCP);
	cr_assert_eq(fl.client_port, 37477);
	cr_assert_eq(fl.server_port, 5399);
	cr_assert_arr_eq(fl.client, v4_client, 16);
}

Test(dns_packet, tcp_segments_without_dns_bytes)
{
	struct dns_packet p = {.sport = 7};
	struct frame f = hex(tcp4_syn);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 1, "SYN: no payload");
	f = hex(tcp4_ack);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 1, "bare ACK");
	cr_assert_eq(p.sport, 7, "*ret_pkt untouched without a payload");
	/* One payload byte: not even the length prefix. */
	f = hex(tcp4_query);
	cr_assert_eq(dns_packet_from_frame(f.b, 53, 512, &p), 1);
	/* A prefix of zero. */
	f.b[52] = f.b[53] = 0;
	cr_assert_eq(dns_packet_from_frame(f.b, 54, 512, &p), 1);
}

Test(dns_packet, udp6_query_and_response)
{
	struct frame f = hex(udp6_query);
	struct dns_packet p;
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 0);
	cr_assert_eq(p.family, AF_INET6);
	cr_assert_eq(p.transport, DNS_TRANSPORT_UDP);
	cr_assert_eq(p.sport, 58675);
	cr_assert_eq(p.dport, 5399);
	cr_assert_arr_eq(p.saddr, v6_lo, 16);
	cr_assert_arr_eq(p.daddr, v6_lo, 16);
	cr_assert_eq(p.msg_len, 42);
	assert_payload(&f, &p, 48, 42, 0x675a, false);

	f = hex(udp6_response);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 0);
	assert_payload(&f, &p, 48, 70, 0x675a, true);
	struct dns_flow fl;
	dns_packet_flow(&p, true, &fl);
	cr_assert_eq(fl.family, AF_INET6);
	cr_assert_eq(fl.client_port, 58675);
}

Test(dns_packet, payload_cut_at_payload_max)
{
	struct frame f = hex(udp4_response);
	struct dns_packet p;
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 20, &p), 0);
	cr_assert_eq(p.flags, DNS_PKT_PAYLOAD_CUT);
	cr_assert_eq(p.msg_len, 57, "the message's length stays what the packet said");
	assert_payload(&f, &p, 28, 20, 0x32b7, true);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 57, &p), 0);
	cr_assert_eq(p.flags, 0, "exactly payload_max is not cut");
}

Test(dns_packet, tcp_message_longer_than_the_segment_is_cut)
{
	struct frame f = hex(tcp4_response);
	struct dns_packet p;
	/* Shorten the capture by 7 bytes: the IP length still says more, the prefix says 57. */
	cr_assert_eq(dns_packet_from_frame(f.b, f.n - 7, 512, &p), 0);
	cr_assert_eq(p.flags, DNS_PKT_TCP | DNS_PKT_TCP_PREFIX | DNS_PKT_PAYLOAD_CUT);
	cr_assert_eq(p.msg_len, 57);
	assert_payload(&f, &p, 54, 50, 0xc50f, true);
	/* A prefix shorter than the segment: only the message, the rest is not read. */
	f.b[53] = 10;
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), 0);
	cr_assert_eq(p.flags, DNS_PKT_TCP | DNS_PKT_TCP_PREFIX);
	assert_payload(&f, &p, 54, 10, 0xc50f, true);
}

Test(dns_packet, link_padding_past_the_ip_length_is_ignored)
{
	struct frame f = hex(udp4_query);
	struct dns_packet p;
	memset(f.b + f.n, 0xee, 11);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n + 11, 512, &p), 0);
	assert_payload(&f, &p, 28, 41, 0x32b7, false);
	f = hex(udp6_query);
	memset(f.b + f.n, 0xee, 11);
	cr_assert_eq(dns_packet_from_frame(f.b, f.n + 11, 512, &p), 0);
	assert_payload(&f, &p, 48, 42, 0x675a, false);
}

/* Every prefix of a real frame: too short for the headers is rejected, the header alone
 * carries nothing, any longer prefix yields that many payload bytes from the frame. */
Test(dns_packet, every_prefix_of_a_frame)
{
	static const struct {
		const char *hex;
		size_t headers;
	} frames[] = {{udp4_query, 28},	   {udp4_response, 28}, {udp6_query, 48},
		      {udp6_response, 48}, {tcp4_query, 52},	{tcp4_response, 52}};
	for (size_t k = 0; k < sizeof(frames) / sizeof(frames[0]); k++) {
		struct frame f = hex(frames[k].hex);
		bool tcp = frames[k].headers == 52;
		/* TCP: the fixed 20-byte header is the minimum, options may be cut */
		size_t min = tcp ? 40 : frames[k].headers;
		for (size_t n = 0; n < f.n; n++) {
			struct dns_packet p;
			int r = dns_packet_from_frame(f.b, n, 4096, &p);
			if (n < min) {
				cr_assert_eq(r, -EBADMSG, "frame %zu cut at %zu", k, n);
			} else if (n <= frames[k].headers + (tcp ? 2 : 0)) {
				cr_assert_eq(r, 1, "frame %zu cut at %zu", k, n);
			} else {
				size_t at = frames[k].headers + (tcp ? 2 : 0);
				cr_assert_eq(r, 0, "frame %zu cut at %zu", k, n);
				cr_assert_eq(p.payload, f.b + at);
				cr_assert_eq(p.payload_len, n - at);
				/* UDP has no length of its own here: a cut datagram is a short one.
				 */
				cr_assert_eq((p.flags & DNS_PKT_PAYLOAD_CUT) != 0, tcp);
			}
		}
	}
}

Test(dns_packet, rejects_what_is_not_ip_udp_or_tcp)
{
	struct dns_packet p;
	struct frame f = hex(udp4_query);
	cr_assert_eq(dns_packet_from_frame(f.b, 0, 512, &p), -EBADMSG);
	f.b[0] = 0x55; /* version 5 */
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), -EBADMSG);
	f.b[0] = 0x44; /* IHL 16 bytes */
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), -EBADMSG);
	f = hex(tcp4_ack);
	f.b[0] = 0x4f; /* IHL 60 bytes: longer than the frame */
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), -EBADMSG);
	f = hex(udp4_query);
	f.b[9] = 1; /* ICMP */
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), -EBADMSG);
	f = hex(udp6_query);
	f.b[6] = 58; /* ICMPv6 (or any extension header: not followed) */
	cr_assert_eq(dns_packet_from_frame(f.b, f.n, 512, &p), -EBADMSG);
}

/* A ring buffer record as dns.bpf.c writes it, around a real DNS message. */
static size_t make_record(uint8_t *buf, const struct frame *f, size_t at, size_t len, uint8_t dir)
{
	struct dns_pkt_rec r;
	memset(&r, 0, DNS_PKT_FIXED);
	r.hdr.type = DNS_REC_PKT;
	r.hdr.version = DNS_REC_VERSION;
	r.hdr.size = (uint32_t)(DNS_PKT_FIXED + len);
	r.boot_ns = 123456789;
	r.cgroup_id = 4242;
	r.pid = 100;
	r.tid = 101;
	r.msg_len = (uint32_t)len;
	r.payload_len = (uint16_t)len;
	r.family = 2;
	r.dir = dir;
	r.flags = DNS_PKT_HAS_PID;
	r.sport = 34794;
	r.dport = 5399;
	memcpy(r.saddr, v4_client, 16);
	memcpy(r.daddr, v4_server, 16);
	memcpy(r.comm, "dig", 4);
	memcpy(buf, &r, DNS_PKT_FIXED);
	memcpy(buf + DNS_PKT_FIXED, f->b + at, len);
	return DNS_PKT_FIXED + len;
}

Test(dns_packet, kernel_record_at_any_alignment)
{
	static uint8_t buf[1 + sizeof(struct dns_pkt_rec)];
	struct frame f = hex(udp4_query);
	for (size_t align = 0; align < 2; align++) {
		size_t n = make_record(buf + align, &f, 28, 41, DNS_DIR_EGRESS);
		struct dns_packet p;
		cr_assert_eq(dns_packet_from_record(buf + align, n, &p), 0);
		cr_assert_eq(p.payload, buf + align + DNS_PKT_FIXED);
		cr_assert_eq(p.payload_len, 41);
		cr_assert_eq(p.msg_len, 41);
		cr_assert_eq(be16(p.payload), 0x32b7);
		cr_assert_eq(p.family, AF_INET);
		cr_assert_eq(p.transport, DNS_TRANSPORT_UDP);
		cr_assert_eq(p.dir, DNS_DIR_EGRESS);
		cr_assert_eq(p.flags, DNS_PKT_HAS_PID);
		cr_assert_eq(p.sport, 34794);
		cr_assert_eq(p.dport, 5399);
		cr_assert_arr_eq(p.saddr, v4_client, 16);
		cr_assert_arr_eq(p.daddr, v4_server, 16);
		cr_assert_eq(p.boot_ns, 123456789);
		cr_assert_eq(p.cgroup_id, 4242);
		cr_assert_eq(p.pid, 100);
		cr_assert_eq(p.tid, 101);
		cr_assert_str_eq(p.comm, "dig");
		cr_assert(dns_packet_at_client(&p, false), "a query's egress is the client's");
		cr_assert_not(dns_packet_at_client(&p, true),
			      "a response's egress is the server's");
	}
	struct frame r = hex(udp4_response);
	size_t n = make_record(buf, &r, 28, 57, DNS_DIR_INGRESS);
	struct dns_packet p;
	cr_assert_eq(dns_packet_from_record(buf, n, &p), 0);
	cr_assert(dns_packet_at_client(&p, true), "a response's ingress is the client's");
	cr_assert_not(dns_packet_at_client(&p, false));
}

Test(dns_packet, rejects_inconsistent_records)
{
	static uint8_t buf[sizeof(struct dns_pkt_rec) + 8];
	struct frame f = hex(udp4_query);
	struct dns_packet p;
	size_t n = make_record(buf, &f, 28, 41, DNS_DIR_EGRESS);
	cr_assert_eq(dns_packet_from_record(buf, n, &p), 0);
	cr_assert_eq(dns_packet_from_record(buf, DNS_PKT_FIXED - 1, &p), -EBADMSG, "short");
	cr_assert_eq(dns_packet_from_record(buf, n - 1, &p), -EBADMSG, "size != hdr.size");
	cr_assert_eq(dns_packet_from_record(buf, n + 1, &p), -EBADMSG);

	struct dns_pkt_rec r;
	static const struct {
		const char *what;
		size_t off;
		uint8_t v;
	} bad[] = {
		{"type", offsetof(struct dns_pkt_rec, hdr.type), 2},
		{"version", offsetof(struct dns_pkt_rec, hdr.version), 2},
		{"dir 0", offsetof(struct dns_pkt_rec, dir), 0},
		{"dir 3", offsetof(struct dns_pkt_rec, dir), 3},
		{"family 0", offsetof(struct dns_pkt_rec, family), 0},
		{"family AF_UNIX", offsetof(struct dns_pkt_rec, family), 1},
		{"payload_len", offsetof(struct dns_pkt_rec, payload_len), 40},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = make_record(buf, &f, 28, 41, DNS_DIR_EGRESS);
		buf[bad[i].off] = bad[i].v;
		cr_assert_eq(dns_packet_from_record(buf, n, &p), -EBADMSG, "%s", bad[i].what);
	}
	/* payload_len above the record limit, with a size to match */
	n = make_record(buf, &f, 28, 41, DNS_DIR_EGRESS);
	memcpy(&r, buf, DNS_PKT_FIXED);
	r.payload_len = DNS_PAYLOAD_MAX + 1;
	r.hdr.size = (uint32_t)(DNS_PKT_FIXED + DNS_PAYLOAD_MAX + 1);
	memcpy(buf, &r, DNS_PKT_FIXED);
	cr_assert_eq(dns_packet_from_record(buf, r.hdr.size, &p), -EBADMSG);
}
