/* SPDX-License-Identifier: Apache-2.0 */
/* dns collector, user-space path: the DNS wire-format parser (RFC 1035, 3596, 2782, 6891,
 * 3597) and the bounded query/response matching table. Pure functions of their input, no
 * I/O: unit-tested, fuzzed (tests/fuzz/fuzz_dns_parse.c) and benchmarked on their own. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN	  12
#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 3.1: the wire form, length octets included */
#define DNS_LABEL_MAX	  63
#define DNS_NAME_TEXT_MAX 1024 /* presentation form; 4 bytes per escaped octet fit */
#define DNS_DATA_TEXT_MAX 1024 /* rdata presentation, truncated (and flagged) beyond */
#define DNS_MAX_RRS	  32   /* records kept per message; the rest is parsed, counted */
#define DNS_MAX_PTR_HOPS  64   /* compression pointers followed per name */

/* Why a message was rejected. 0 is success; the parser returns the negated value. */
enum dns_err {
	DNS_OK = 0,
	DNS_ERR_SHORT_HEADER = 1, /* fewer than 12 bytes */
	DNS_ERR_TRUNC_QUESTION,	  /* the question section runs past the end */
	DNS_ERR_TRUNC_RR,	  /* a resource record (fixed part or rdata) runs past the end */
	DNS_ERR_BAD_POINTER,	  /* compression pointer not strictly backwards, or too many */
	DNS_ERR_BAD_LABEL,	  /* label type 01/10 (RFC 6891 reserved / extended labels) */
	DNS_ERR_NAME_TOO_LONG,	  /* wire name above 255 octets */
	DNS_ERR_BAD_RDATA,	  /* rdata does not fit its type (A not 4 bytes, ...) */
	DNS_ERR_MAX
};
const char *dns_err_name(int err); /* positive or negative value; "unknown" otherwise */

enum dns_section {
	DNS_SEC_ANSWER = 1,
	DNS_SEC_AUTHORITY = 2,
	DNS_SEC_ADDITIONAL = 3,
};

struct dns_rr {
	char name[DNS_NAME_TEXT_MAX]; /* owner, presentation form without the final dot */
	uint16_t type, rclass;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t section;	      /* enum dns_section */
	bool data_truncated;	      /* data did not fit DNS_DATA_TEXT_MAX */
	char data[DNS_DATA_TEXT_MAX]; /* presentation form of the rdata (see dns_parse) */
};

struct dns_msg {
	uint16_t id;
	uint16_t flags; /* header bits 16..31 as on the wire */
	uint16_t qdcount, ancount, nscount, arcount;
	bool qr, aa, tc, rd, ra, ad, cd;
	uint8_t opcode;
	uint16_t rcode; /* 12 bits when an OPT record extends it */
	/* The first question (the one resolvers send); has_question false when qdcount is 0. */
	bool has_question;
	char qname[DNS_NAME_TEXT_MAX];
	uint16_t qtype, qclass;
	/* EDNS (RFC 6891), from the OPT pseudo-record of the additional section. */
	bool has_edns;
	uint16_t edns_udp_size;
	uint8_t edns_version;
	bool edns_do;
	/* Records of the three sections, in order, at most DNS_MAX_RRS (OPT excluded). */
	struct dns_rr rrs[DNS_MAX_RRS];
	size_t n_rrs;
	size_t rrs_dropped; /* records parsed but not kept (beyond DNS_MAX_RRS) */
	size_t parsed_len;  /* bytes consumed by the sections */
};

/* Parse one DNS message (without the TCP length prefix). Returns 0, or -enum dns_err; on
 * failure *msg holds what was parsed before the error (header, question, first records), so
 * a caller may still use a header and question of a message cut by the capture bound.
 * Names: labels joined by '.', no final dot, the root is "."; '.' and '\\' inside a label and
 * bytes outside 0x21..0x7e are escaped as \DDD (RFC 1035 5.1). Record data: A/AAAA address
 * text; CNAME/PTR/NS/DNAME a name; MX "pref name"; SRV "prio weight port target"; SOA "mname
 * rname serial refresh retry expire minimum"; TXT each string double-quoted, separated by a
 * space; every other type RFC 3597 "\# <len> <hex>". Bytes after the last section are
 * ignored. Never reads outside buf[0..len). */
int dns_parse(const uint8_t *buf, size_t len, struct dns_msg *msg);

/* Presentation names of numeric codes ("A", "NXDOMAIN", "IN"); unknown values are written
 * as "TYPE<n>", "RCODE<n>", "CLASS<n>" into buf, which is returned. */
const char *dns_type_name(uint16_t type, char buf[16]);
const char *dns_rcode_name(uint16_t rcode, char buf[16]);
const char *dns_class_name(uint16_t rclass, char buf[16]);

/* ---- matching -------------------------------------------------------------------------- */

enum dns_transport {
	DNS_TRANSPORT_UDP = 1,
	DNS_TRANSPORT_TCP = 2,
};

/* The flow of a query as seen from its client. Addresses: IPv4 in the first 4 bytes. */
struct dns_flow {
	uint8_t family;			   /* AF_INET or AF_INET6 */
	uint8_t transport;		   /* enum dns_transport */
	uint16_t client_port, server_port; /* host order */
	uint8_t client[16], server[16];
};

/* The querying process, when known (eBPF egress in process context). */
struct dns_client {
	uint32_t pid, tid;  /* 0 = unknown */
	uint64_t cgroup_id; /* 0 = unknown */
	char comm[16];
};

struct dns_entry {
	/* key */
	struct dns_flow flow;
	uint16_t id;
	uint64_t qname_hash; /* of the lowercased presentation name */
	/* value */
	char *qname; /* owned */
	uint16_t qtype, qclass;
	uint64_t query_ns; /* boot-time ns of the first copy of the query */
	struct dns_client client;
	bool answered; /* kept as a tombstone until its deadline: later copies
			* of the same response are duplicates */
	/* internal */
	struct dns_entry *hnext, *prev, *next;
};

struct dns_table_stats {
	uint64_t queries, duplicates, matched, unmatched, timeouts, evicted;
	uint64_t entries; /* now */
};

struct dns_table;

/* max: entries kept (pending and answered tombstones), timeout_ns: a pending query expires
 * this long after it was seen. -ENOMEM or 0. */
int dns_table_new(uint32_t max, uint64_t timeout_ns, struct dns_table **ret_table);
void dns_table_free(struct dns_table *t);

/* A query was seen. Returns 1 and *ret_entry (borrowed, valid until the next call) for a new
 * query; 0 when it duplicates a pending one (another copy of the same packet, or a
 * retransmission: same flow, id and name); the duplicate's client fills in what the first copy
 * lacked. When the table is full the oldest entry is evicted (counted). -ENOMEM. */
int dns_table_query(struct dns_table *t, const struct dns_flow *flow, uint16_t id,
		    const char *qname, uint16_t qtype, uint16_t qclass, uint64_t now_ns,
		    const struct dns_client *client, struct dns_entry **ret_entry);

/* A response was seen. Returns 1 with the matching pending entry (now marked answered;
 * borrowed, valid until the next call), 0 when it repeats an already answered query (a second
 * copy: to be dropped), -ENOENT when no query is known (unmatched, counted). qname NULL or ""
 * matches any name (a response without a question). */
int dns_table_response(struct dns_table *t, const struct dns_flow *flow, uint16_t id,
		       const char *qname, struct dns_entry **ret_entry);

/* Remove entries whose deadline is at or before now_ns; for each pending (unanswered) one call
 * on_timeout first (it may not touch the table). Returns the number of timeouts. */
size_t dns_table_expire(struct dns_table *t, uint64_t now_ns,
			void (*on_timeout)(const struct dns_entry *e, void *arg), void *arg);

void dns_table_get_stats(const struct dns_table *t, struct dns_table_stats *ret);
