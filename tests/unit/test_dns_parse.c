// SPDX-License-Identifier: Apache-2.0
// The DNS wire-format parser and the matching table of the dns collector, on hand-built
// messages: every record type, compression, the rejection reasons, EDNS, expiry.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "collectors/dns/dns_parse.c"

struct pkt {
	uint8_t b[2048];
	size_t n;
};

static void u8(struct pkt *p, uint8_t v)
{
	p->b[p->n++] = v;
}
static void u16(struct pkt *p, uint16_t v)
{
	u8(p, (uint8_t)(v >> 8));
	u8(p, (uint8_t)v);
}
static void u32(struct pkt *p, uint32_t v)
{
	u16(p, (uint16_t)(v >> 16));
	u16(p, (uint16_t)v);
}
static void bytes(struct pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->n, d, n);
	p->n += n;
}
/* "a.b.c" → wire labels with the final zero. */
static void name(struct pkt *p, const char *s)
{
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		u8(p, (uint8_t)l);
		bytes(p, s, l);
		s += l + (dot ? 1 : 0);
	}
	u8(p, 0);
}
static void header(struct pkt *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		   uint16_t ns, uint16_t ar)
{
	p->n = 0;
	u16(p, id);
	u16(p, flags);
	u16(p, qd);
	u16(p, an);
	u16(p, ns);
	u16(p, ar);
}
static void rr_head(struct pkt *p, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	u16(p, type);
	u16(p, 1);
	u32(p, ttl);
	u16(p, rdlen);
}

static struct dns_msg *msg(void)
{
	static struct dns_msg *m;
	if (!m)
		m = malloc(sizeof(*m));
	return m;
}

/* A response to "www.example.com A" with a compressed CNAME and A record. */
static void build_response(struct pkt *p)
{
	header(p, 0xbeef, 0x8580, 1, 2, 0, 0); /* QR AA RD RA, NOERROR */
	name(p, "www.example.com");	       /* at offset 12 */
	u16(p, 1);
	u16(p, 1);
	u16(p, 0xc00c); /* www.example.com */
	rr_head(p, 5, 300, 6);
	u8(p, 3);
	bytes(p, "web", 3);
	u16(p, 0xc010); /* → "example.com" at 16 */
	size_t web = p->n - 6;
	u16(p, (uint16_t)(0xc000 | web)); /* web.example.com */
	rr_head(p, 1, 60, 4);
	bytes(p, "\x0a\x00\x00\x01", 4);
}

Test(dns_parse, response_with_compression)
{
	struct pkt p;
	build_response(&p);
	struct dns_msg *m = msg();
	cr_assert_eq(dns_parse(p.b, p.n, m), 0);
	cr_assert_eq(m->id, 0xbeef);
	cr_assert(m->qr && m->aa && m->rd && m->ra && !m->tc);
	cr_assert_eq(m->rcode, 0);
	cr_assert_str_eq(m->qname, "www.example.com");
	cr_assert_eq(m->qtype, 1);
	cr_assert_eq(m->n_rrs, 2);
	cr_assert_str_eq(m->rrs[0].name, "www.example.com");
	cr_assert_eq(m->rrs[0].type, 5);
	cr_assert_eq(m->rrs[0].ttl, 300);
	cr_assert_str_eq(m->rrs[0].data, "web.example.com");
	cr_assert_str_eq(m->rrs[1].name, "web.example.com");
	cr_assert_str_eq(m->rrs[1].data, "10.0.0.1");
	cr_assert_eq(m->rrs[1].section, DNS_SEC_ANSWER);
	cr_assert_eq(m->parsed_len, p.n);
}

Test(dns_parse, every_prefix_is_rejected_as_truncated)
{
	struct pkt p;
	build_response(&p);
	struct dns_msg *m = msg();
	for (size_t n = 0; n < p.n; n++) {
		int r = dns_parse(p.b, n, m);
		cr_assert(r == -DNS_ERR_SHORT_HEADER || r == -DNS_ERR_TRUNC_QUESTION ||
				  r == -DNS_ERR_TRUNC_RR,
			  "prefix %zu: %s", n, dns_err_name(r));
		if (n < DNS_HEADER_LEN)
			cr_assert_eq(r, -DNS_ERR_SHORT_HEADER);
		else if (n < 12 + 17 + 4)
			cr_assert_eq(r, -DNS_ERR_TRUNC_QUESTION);
		else
			cr_assert_eq(r, -DNS_ERR_TRUNC_RR);
	}
}

Test(dns_parse, compression_loops_and_forward_pointers_are_rejected)
{
	struct pkt p;
	struct dns_msg *m = msg();
	/* the question name points at itself */
	header(&p, 1, 0, 1, 0, 0, 0);
	u16(&p, 0xc00c);
	u16(&p, 1);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), -DNS_ERR_BAD_POINTER);
	/* a pointer forward (to the type field after it) */
	header(&p, 1, 0, 1, 0, 0, 0);
	u16(&p, 0xc00e);
	u16(&p, 1);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), -DNS_ERR_BAD_POINTER);
	/* two names pointing at each other: the answer's name → 12, which is a label then a
	 * pointer back into the answer */
	header(&p, 1, 0x8000, 1, 1, 0, 0);
	u8(&p, 1);
	u8(&p, 'a');
	u16(&p, 0xc012); /* → offset 18, after the question: forward, rejected */
	u16(&p, 1);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), -DNS_ERR_BAD_POINTER);
	/* a pointer beyond the message (forward as well) */
	header(&p, 1, 0, 1, 0, 0, 0);
	u16(&p, 0xcfff);
	cr_assert_eq(dns_parse(p.b, p.n, m), -DNS_ERR_BAD_POINTER);
	/* a pointer cut in half at the end */
	header(&p, 1, 0, 1, 0, 0, 0);
	u8(&p, 0xc0);
	cr_assert_eq(dns_parse(p.b, p.n, m), -DNS_ERR_TRUNC_QUESTION);
}

Test(dns_parse, label_types_and_name_length)
{
	struct pkt p;
	struct dns_msg *m = msg();
	header(&p, 1, 0, 1, 0, 0, 0);
	u8(&p, 0x41); /* extended label type 01 */
	u8(&p, 0);
	u16(&p, 1);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), -DNS_ERR_BAD_LABEL);

	/* 5 labels of 63 = 320 octets > 255 */
	header(&p, 1, 0, 1, 0, 0, 0);
	for (int i = 0; i < 5; i++) {
		u8(&p, 63);
		for (int j = 0; j < 63; j++)
			u8(&p, 'x');
	}
	u8(&p, 0);
	u16(&p, 1);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), -DNS_ERR_NAME_TOO_LONG);

	/* exactly 255: 3 × 63 + 1 × 61 labels → 3 × 64 + 62 + 1 = 255 */
	header(&p, 1, 0, 1, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		int l = i < 3 ? 63 : 61;
		u8(&p, (uint8_t)l);
		for (int j = 0; j < l; j++)
			u8(&p, 'y');
	}
	u8(&p, 0);
	u16(&p, 1);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), 0);
	cr_assert_eq(strlen(m->qname), 3 * 64 + 61);
}

Test(dns_parse, root_and_escaped_names)
{
	struct pkt p;
	struct dns_msg *m = msg();
	header(&p, 1, 0, 1, 0, 0, 0);
	u8(&p, 0);
	u16(&p, 2);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), 0);
	cr_assert_str_eq(m->qname, ".");

	header(&p, 1, 0, 1, 0, 0, 0);
	u8(&p, 4);
	bytes(&p, "a.b ", 4);
	u8(&p, 2);
	bytes(&p, "\\\x01", 2);
	u8(&p, 0);
	u16(&p, 1);
	u16(&p, 1);
	cr_assert_eq(dns_parse(p.b, p.n, m), 0);
	cr_assert_str_eq(m->qname, "a\\.b\\032.\\\\\\001");
}

/* One answer of the given type and rdata after a question for "t". */
static int one_rr(uint16_t type, const void *rdata, size_t rdlen, struct dns_msg *m)
{
	struct pkt p;
	header(&p, 7, 0x8180, 1, 1, 0, 0);
	name(&p, "t"); /* offset 12: 01 74 00 */
	u16(&p, type);
	u16(&p, 1);
	u16(&p, 0xc00c);
	rr_head(&p, type, 1, (uint16_t)rdlen);
	bytes(&p, rdata, rdlen);
	return dns_parse(p.b, p.n, m);
}

struct rdata_case {
	uint16_t type;
	const char *rdata;
	size_t len;
	int err;
	const char *text;
};

Test(dns_parse, rdata_formats_per_type)
{
	static const struct rdata_case cases[] = {
		{1, "\x7f\x00\x00\x01", 4, 0, "127.0.0.1"},
		{1, "\x7f\x00\x00", 3, -DNS_ERR_BAD_RDATA, NULL},
		{28, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16, 0, "fd00::1"},
		{28, "\xfd\0", 2, -DNS_ERR_BAD_RDATA, NULL},
		{5, "\x01x\xc0\x0c", 4, 0, "x.t"},
		{12,
		 "\x01"
		 "1\x01"
		 "2\x00",
		 5, 0, "1.2"},
		{2, "\x02ns\xc0\x0c", 5, 0, "ns.t"},
		{15, "\x00\x0a\x04mail\xc0\x0c", 9, 0, "10 mail.t"},
		{15, "\x00", 1, -DNS_ERR_BAD_RDATA, NULL},
		{33, "\x00\x05\x00\x07\x01\x85\x04ldap\xc0\x0c", 13, 0, "5 7 389 ldap.t"},
		{16, "\x0bhello world\x03\"x\\", 16, 0, "\"hello world\" \"\\\"x\\\\\""},
		{16,
		 "\x05"
		 "ab",
		 3, -DNS_ERR_BAD_RDATA, NULL},
		{16, "\x00", 1, 0, "\"\""},
		{6,
		 "\x02ns\xc0\x0c\x05"
		 "admin\xc0\x0c"
		 "\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05",
		 33, 0, "ns.t admin.t 1 2 3 4 5"},
		{6, "\x02ns\xc0\x0c\x00\x00\x00\x01", 9, -DNS_ERR_BAD_RDATA, NULL},
		{99, "\xde\xad\xbe\xef", 4, 0, "\\# 4 deadbeef"},
		{99, "", 0, 0, "\\# 0"},
		/* a name in rdata that runs past the rdata end */
		{5, "\x05x", 2, -DNS_ERR_BAD_RDATA, NULL},
		/* CNAME with trailing bytes after the name */
		{5, "\x01x\x00\x00", 4, -DNS_ERR_BAD_RDATA, NULL},
	};
	struct dns_msg *m = msg();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rdata_case *c = &cases[i];
		int r = one_rr(c->type, c->rdata, c->len, m);
		cr_assert_eq(r, c->err, "case %zu (type %u): %s", i, c->type, dns_err_name(r));
		if (c->text) {
			cr_assert_eq(m->n_rrs, 1);
			cr_assert_str_eq(m->rrs[0].data, c->text, "case %zu", i);
			cr_assert_str_eq(m->rrs[0].name, "t");
		}
	}
}

Test(dns_parse, edns_opt_extends_rcode)
{
	struct pkt p;
	struct dns_msg *m = msg();
	header(&p, 9, 0x8000, 1, 0, 0, 1);
	name(&p, "e");
	u16(&p, 1);
	u16(&p, 1);
	u8(&p, 0); /* root */
	u16(&p, 41);
	u16(&p, 1232);	     /* udp size */
	u32(&p, 0x01008000); /* ext rcode 1, version 0, DO */
	u16(&p, 0);
	cr_assert_eq(dns_parse(p.b, p.n, m), 0);
	cr_assert(m->has_edns);
	cr_assert_eq(m->edns_udp_size, 1232);
	cr_assert(m->edns_do);
	cr_assert_eq(m->rcode, 16);
	char buf[16];
	cr_assert_str_eq(dns_rcode_name(m->rcode, buf), "BADVERS");
	cr_assert_eq(m->n_rrs, 0, "OPT is not a record of the answer");
}

Test(dns_parse, many_records_are_counted_beyond_the_bound)
{
	struct pkt p;
	struct dns_msg *m = msg();
	header(&p, 1, 0x8000, 1, 40, 0, 0);
	name(&p, "m");
	u16(&p, 1);
	u16(&p, 1);
	for (int i = 0; i < 40; i++) {
		u16(&p, 0xc00c);
		rr_head(&p, 1, 5, 4);
		u32(&p, 0x0a000000u + (uint32_t)i);
	}
	cr_assert_eq(dns_parse(p.b, p.n, m), 0);
	cr_assert_eq(m->n_rrs, DNS_MAX_RRS);
	cr_assert_eq(m->rrs_dropped, 40 - DNS_MAX_RRS);
	cr_assert_str_eq(m->rrs[31].data, "10.0.0.31");
}

Test(dns_parse, code_names)
{
	char b[16];
	cr_assert_str_eq(dns_type_name(33, b), "SRV");
	cr_assert_str_eq(dns_type_name(4242, b), "TYPE4242");
	cr_assert_str_eq(dns_rcode_name(3, b), "NXDOMAIN");
	cr_assert_str_eq(dns_rcode_name(5, b), "REFUSED");
	cr_assert_str_eq(dns_rcode_name(2, b), "SERVFAIL");
	cr_assert_str_eq(dns_rcode_name(4000, b), "RCODE4000");
	cr_assert_str_eq(dns_class_name(1, b), "IN");
	cr_assert_str_eq(dns_class_name(7, b), "CLASS7");
	cr_assert_str_eq(dns_err_name(-DNS_ERR_BAD_POINTER), "bad_compression_pointer");
}

/* ---- matching table ---- */

static struct dns_flow flow4(uint16_t cport)
{
	struct dns_flow f = {.family = AF_INET,
			     .transport = DNS_TRANSPORT_UDP,
			     .client_port = cport,
			     .server_port = 53};
	inet_pton(AF_INET, "10.0.0.1", f.client);
	inet_pton(AF_INET, "10.0.0.53", f.server);
	return f;
}

static int timeouts_seen;
static void count_timeout(const struct dns_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	timeouts_seen++;
}

Test(dns_table, query_response_duplicates_and_expiry)
{
	struct dns_table *t;
	cr_assert_eq(dns_table_new(16, 1000, &t), 0);
	struct dns_flow f = flow4(40000);
	struct dns_client c = {.pid = 42, .tid = 43, .cgroup_id = 7, .comm = "dig"};
	struct dns_entry *e;
	cr_assert_eq(dns_table_query(t, &f, 5, "Example.COM", 1, 1, 100, &c, &e), 1);
	cr_assert_eq(e->client.pid, 42);
	/* the ingress copy of the same query */
	cr_assert_eq(dns_table_query(t, &f, 5, "example.com", 1, 1, 101, NULL, &e), 0);
	/* different id, name or port: no match */
	cr_assert_eq(dns_table_response(t, &f, 6, "example.com", &e), -ENOENT);
	cr_assert_eq(dns_table_response(t, &f, 5, "example.org", &e), -ENOENT);
	struct dns_flow g = flow4(40001);
	cr_assert_eq(dns_table_response(t, &g, 5, "example.com", &e), -ENOENT);
	/* the response (0x20 case differences match) */
	cr_assert_eq(dns_table_response(t, &f, 5, "EXAMPLE.com", &e), 1);
	cr_assert_eq(e->client.pid, 42);
	cr_assert_eq(e->query_ns, 100);
	/* its second copy */
	cr_assert_eq(dns_table_response(t, &f, 5, "example.com", &e), 0);
	/* an unanswered one times out; the answered one expires silently */
	cr_assert_eq(dns_table_query(t, &g, 9, "lost.example", 28, 1, 500, &c, &e), 1);
	timeouts_seen = 0;
	cr_assert_eq(dns_table_expire(t, 1099, count_timeout, NULL), 0);
	cr_assert_eq(dns_table_expire(t, 1100, count_timeout, NULL), 0);
	cr_assert_eq(dns_table_expire(t, 1500, count_timeout, NULL), 1);
	cr_assert_eq(timeouts_seen, 1);
	struct dns_table_stats st;
	dns_table_get_stats(t, &st);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.queries, 2);
	cr_assert_eq(st.matched, 1);
	cr_assert_eq(st.unmatched, 3);
	cr_assert_eq(st.duplicates, 2);
	cr_assert_eq(st.timeouts, 1);
	dns_table_free(t);
}

Test(dns_table, bounded_with_eviction_of_the_oldest)
{
	struct dns_table *t;
	cr_assert_eq(dns_table_new(16, 1000000, &t), 0);
	struct dns_entry *e;
	for (uint16_t i = 0; i < 100; i++) {
		struct dns_flow f = flow4((uint16_t)(1000 + i));
		cr_assert_eq(dns_table_query(t, &f, i, "x", 1, 1, i, NULL, &e), 1);
	}
	struct dns_table_stats st;
	dns_table_get_stats(t, &st);
	cr_assert_eq(st.entries, 16);
	cr_assert_eq(st.evicted, 84);
	struct dns_flow old = flow4(1000), young = flow4(1099);
	cr_assert_eq(dns_table_response(t, &old, 0, "x", &e), -ENOENT);
	cr_assert_eq(dns_table_response(t, &young, 99, "x", &e), 1);
	/* a response without a question matches by flow and id */
	struct dns_flow f98 = flow4(1098);
	cr_assert_eq(dns_table_response(t, &f98, 98, NULL, &e), 1);
	dns_table_free(t);
}
