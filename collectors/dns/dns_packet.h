/* SPDX-License-Identifier: Apache-2.0 */
/* dns collector, packet decoding: a kernel record or an AF_PACKET frame (IPv4/IPv6, UDP/TCP
 * and the TCP length prefix) → the DNS bytes and who sent them to whom, before dns_parse.
 * Pure functions of their input, no I/O: unit-tested and fuzzed (tests/fuzz/fuzz_dns_packet.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "dns_parse.h"

/* One DNS packet, decoded. payload borrows from the input buffer. */
struct dns_packet {
	const uint8_t *payload; /* borrowed: payload_len bytes of the DNS message (no prefix) */
	uint32_t payload_len;	/* > 0; < msg_len when DNS_PKT_PAYLOAD_CUT */
	uint32_t msg_len;	/* the message's length: UDP payload, or the TCP prefix value */
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t transport;	/* enum dns_transport */
	uint8_t dir;		/* enum dns_pkt_dir; 0 (unknown) for a frame */
	uint8_t flags;		/* enum dns_pkt_flags */
	uint16_t sport, dport;	/* host order */
	uint8_t saddr[16], daddr[16]; /* IPv4 in the first 4 bytes, the rest 0 */
	/* Known from a kernel record only; 0 from a frame (the caller stamps boot_ns). */
	uint64_t boot_ns;
	uint64_t cgroup_id;
	uint32_t pid, tid; /* with DNS_PKT_HAS_PID */
	char comm[DNS_COMM_LEN];
};

/* A record of the dns ring buffer (struct dns_pkt_rec with its payload, size bytes, any
 * alignment). 0 and *ret_pkt, or -EBADMSG when the record is inconsistent (size, type,
 * version, payload length, direction, family). */
int dns_packet_from_record(const void *data, size_t size, struct dns_packet *ret_pkt);

/* An AF_PACKET SOCK_DGRAM frame (the IPv4 or IPv6 header first) carrying UDP or TCP. The
 * payload is cut at payload_max bytes (DNS_PKT_PAYLOAD_CUT). 0 and *ret_pkt; 1 when the packet
 * is well formed but carries no DNS bytes (a bare TCP segment, a zero length); -EBADMSG when it
 * is too short for its headers or neither IP nor UDP/TCP. Link padding past the IP length is
 * ignored. */
int dns_packet_from_frame(const uint8_t *buf, size_t len, uint32_t payload_max,
			  struct dns_packet *ret_pkt);

/* The flow as seen from the client, once dns_parse has said whether the message is a response
 * (then the client is the destination). */
void dns_packet_flow(const struct dns_packet *p, bool response, struct dns_flow *ret_flow);

/* Whether the packet was seen at the client's socket: a query's egress, a response's
 * ingress. Always false for a frame (direction unknown). */
bool dns_packet_at_client(const struct dns_packet *p, bool response);
