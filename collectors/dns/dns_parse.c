// SPDX-License-Identifier: Apache-2.0
// dns collector, user-space path: the DNS wire-format parser and the query/response matching
// table (see dns_parse.h). Input is untrusted packet data: every read is bounds-checked.
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dns_parse.h"

/* ---- names and codes --------------------------------------------------------------------- */

const char *dns_err_name(int err)
{
	static const char *const names[DNS_ERR_MAX] = {
		[DNS_OK] = "ok",
		[DNS_ERR_SHORT_HEADER] = "short_header",
		[DNS_ERR_TRUNC_QUESTION] = "truncated_question",
		[DNS_ERR_TRUNC_RR] = "truncated_record",
		[DNS_ERR_BAD_POINTER] = "bad_compression_pointer",
		[DNS_ERR_BAD_LABEL] = "bad_label_type",
		[DNS_ERR_NAME_TOO_LONG] = "name_too_long",
		[DNS_ERR_BAD_RDATA] = "bad_rdata",
	};
	if (err < 0)
		err = -err;
	return err < DNS_ERR_MAX ? names[err] : "unknown";
}

const char *dns_type_name(uint16_t type, char buf[16])
{
	switch (type) {
	case 1:
		return "A";
	case 2:
		return "NS";
	case 5:
		return "CNAME";
	case 6:
		return "SOA";
	case 12:
		return "PTR";
	case 13:
		return "HINFO";
	case 15:
		return "MX";
	case 16:
		return "TXT";
	case 28:
		return "AAAA";
	case 33:
		return "SRV";
	case 35:
		return "NAPTR";
	case 39:
		return "DNAME";
	case 41:
		return "OPT";
	case 43:
		return "DS";
	case 46:
		return "RRSIG";
	case 47:
		return "NSEC";
	case 48:
		return "DNSKEY";
	case 50:
		return "NSEC3";
	case 64:
		return "SVCB";
	case 65:
		return "HTTPS";
	case 252:
		return "AXFR";
	case 255:
		return "ANY";
	case 257:
		return "CAA";
	}
	snprintf(buf, 16, "TYPE%u", type);
	return buf;
}

const char *dns_rcode_name(uint16_t rcode, char buf[16])
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					    "NXRRSET", "NOTAUTH", "NOTZONE"};
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	if (rcode == 16)
		return "BADVERS";
	if (rcode == 23)
		return "BADCOOKIE";
	snprintf(buf, 16, "RCODE%u", rcode);
	return buf;
}

const char *dns_class_name(uint16_t rclass, char buf[16])
{
	switch (rclass) {
	case 1:
		return "IN";
	case 3:
		return "CH";
	case 4:
		return "HS";
	case 254:
		return "NONE";
	case 255:
		return "ANY";
	}
	snprintf(buf, 16, "CLASS%u", rclass);
	return buf;
}

/* ---- bounded text output ------------------------------------------------------------------ */

struct text {
	char *buf;
	size_t cap; /* including the NUL */
	size_t len;
	bool truncated;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		n = t->cap - 1 - t->len;
		t->truncated = true;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void putf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct text *t, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(t, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* One octet of a label or character-string in presentation form. */
static void put_octet(struct text *t, uint8_t c, bool in_label)
{
	if (c < 0x21 || c > 0x7e || (in_label && c == '.') || c == '\\' || c == '"') {
		if (c == '.' || c == '\\' || c == '"') {
			char e[2] = {'\\', (char)c};
			put(t, e, 2);
		} else if (!in_label && c == ' ') {
			put(t, " ", 1);
		} else {
			putf(t, "\\%03u", c);
		}
		return;
	}
	char ch = (char)c;
	put(t, &ch, 1);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- names -------------------------------------------------------------------------------- */

/* Read the name at off. The labels before the first pointer must lie below end (the record or
 * rdata bound); pointers must point strictly before the start of the label run that contains
 * them, so every jump goes backwards and no loop is possible; the number of jumps is capped
 * as well. *ret_next: the offset after the name where it appears (after the first pointer). */
static int read_name(const uint8_t *buf, size_t len, size_t off, size_t end, struct text *out,
		     size_t *ret_next)
{
	size_t pos = off, limit = end, run_start = off, next = 0, wire = 0;
	int hops = 0;
	bool jumped = false, first = true;

	for (;;) {
		if (pos >= limit)
			return -DNS_ERR_TRUNC_RR;
		uint8_t c = buf[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= limit)
				return -DNS_ERR_TRUNC_RR;
			size_t target = (size_t)(c & 0x3f) << 8 | buf[pos + 1];
			if (!jumped)
				next = pos + 2;
			if (target >= run_start || ++hops > DNS_MAX_PTR_HOPS)
				return -DNS_ERR_BAD_POINTER;
			jumped = true;
			pos = run_start = target;
			limit = len;
			continue;
		}
		if (c & 0xc0)
			return -DNS_ERR_BAD_LABEL;
		if (c == 0) {
			if (!jumped)
				next = pos + 1;
			break;
		}
		if (pos + 1 + c > limit)
			return -DNS_ERR_TRUNC_RR;
		wire += 1 + (size_t)c;
		if (wire + 1 > DNS_NAME_WIRE_MAX)
			return -DNS_ERR_NAME_TOO_LONG;
		if (!first)
			put(out, ".", 1);
		first = false;
		for (size_t i = 0; i < c; i++)
			put_octet(out, buf[pos + 1 + i], true);
		pos += 1 + (size_t)c;
	}
	if (first)
		put(out, ".", 1);
	*ret_next = next;
	return 0;
}

/* ---- record data ---------------------------------------------------------------------------- */

static int name_in_rdata(const uint8_t *buf, size_t len, size_t *pos, size_t end, struct text *t)
{
	size_t next;
	int r = read_name(buf, len, *pos, end, t, &next);
	if (r == -DNS_ERR_TRUNC_RR)
		return -DNS_ERR_BAD_RDATA;
	if (r < 0)
		return r;
	if (next > end)
		return -DNS_ERR_BAD_RDATA;
	*pos = next;
	return 0;
}

static int format_rdata(const uint8_t *buf, size_t len, size_t pos, size_t end, uint16_t type,
			struct text *t)
{
	size_t n = end - pos;
	int r;

	switch (type) {
	case 1:	   /* A */
	case 28: { /* AAAA */
		char a[INET6_ADDRSTRLEN];
		if (n != (type == 1 ? 4u : 16u))
			return -DNS_ERR_BAD_RDATA;
		inet_ntop(type == 1 ? AF_INET : AF_INET6, buf + pos, a, sizeof(a));
		puts_(t, a);
		return 0;
	}
	case 2:	 /* NS */
	case 5:	 /* CNAME */
	case 12: /* PTR */
	case 39: /* DNAME */
		r = name_in_rdata(buf, len, &pos, end, t);
		return r < 0 ? r : pos == end ? 0 : -DNS_ERR_BAD_RDATA;
	case 15: /* MX */
		if (n < 3)
			return -DNS_ERR_BAD_RDATA;
		putf(t, "%u ", rd16(buf + pos));
		pos += 2;
		r = name_in_rdata(buf, len, &pos, end, t);
		return r < 0 ? r : pos == end ? 0 : -DNS_ERR_BAD_RDATA;
	case 33: /* SRV */
		if (n < 7)
			return -DNS_ERR_BAD_RDATA;
		putf(t, "%u %u %u ", rd16(buf + pos), rd16(buf + pos + 2), rd16(buf + pos + 4));
		pos += 6;
		r = name_in_rdata(buf, len, &pos, end, t);
		return r < 0 ? r : pos == end ? 0 : -DNS_ERR_BAD_RDATA;
	case 6: /* SOA */
		r = name_in_rdata(buf, len, &pos, end, t);
		if (r < 0)
			return r;
		put(t, " ", 1);
		r = name_in_rdata(buf, len, &pos, end, t);
		if (r < 0)
			return r;
		if (end - pos != 20)
			return -DNS_ERR_BAD_RDATA;
		putf(t, " %u %u %u %u %u", rd32(buf + pos), rd32(buf + pos + 4),
		     rd32(buf + pos + 8), rd32(buf + pos + 12), rd32(buf + pos + 16));
		return 0;
	case 16: /* TXT: one or more <character-string> */
		if (n == 0)
			return -DNS_ERR_BAD_RDATA;
		for (bool first = true; pos < end; first = false) {
			size_t sl = buf[pos];
			if (pos + 1 + sl > end)
				return -DNS_ERR_BAD_RDATA;
			put(t, first ? "\"" : " \"", first ? 1 : 2);
			for (size_t i = 0; i < sl; i++)
				put_octet(t, buf[pos + 1 + i], false);
			put(t, "\"", 1);
			pos += 1 + sl;
		}
		return 0;
	default: /* RFC 3597 */
		putf(t, "\\# %zu", n);
		if (n)
			put(t, " ", 1);
		for (size_t i = 0; i < n && !t->truncated; i++)
			putf(t, "%02x", buf[pos + i]);
		return 0;
	}
}

/* ---- the message ------------------------------------------------------------------------------
 */

int dns_parse(const uint8_t *buf, size_t len, struct dns_msg *m)
{
	memset(m, 0, offsetof(struct dns_msg, rrs));
	m->n_rrs = m->rrs_dropped = m->parsed_len = 0;
	if (len < DNS_HEADER_LEN)
		return -DNS_ERR_SHORT_HEADER;
	m->id = rd16(buf);
	m->flags = rd16(buf + 2);
	m->qdcount = rd16(buf + 4);
	m->ancount = rd16(buf + 6);
	m->nscount = rd16(buf + 8);
	m->arcount = rd16(buf + 10);
	m->qr = m->flags >> 15;
	m->opcode = (m->flags >> 11) & 0xf;
	m->aa = (m->flags >> 10) & 1;
	m->tc = (m->flags >> 9) & 1;
	m->rd = (m->flags >> 8) & 1;
	m->ra = (m->flags >> 7) & 1;
	m->ad = (m->flags >> 5) & 1;
	m->cd = (m->flags >> 4) & 1;
	m->rcode = m->flags & 0xf;

	size_t pos = DNS_HEADER_LEN;
	for (unsigned q = 0; q < m->qdcount; q++) {
		char scratch[DNS_NAME_TEXT_MAX];
		struct text t = {q == 0 ? m->qname : scratch, DNS_NAME_TEXT_MAX, 0, false};
		t.buf[0] = '\0';
		size_t next;
		int r = read_name(buf, len, pos, len, &t, &next);
		if (r == -DNS_ERR_TRUNC_RR || (r == 0 && next + 4 > len))
			return -DNS_ERR_TRUNC_QUESTION;
		if (r < 0)
			return r;
		if (q == 0) {
			m->qtype = rd16(buf + next);
			m->qclass = rd16(buf + next + 2);
			m->has_question = true;
		}
		pos = next + 4;
	}

	unsigned total = (unsigned)m->ancount + m->nscount + m->arcount;
	for (unsigned i = 0; i < total; i++) {
		uint8_t section = i < m->ancount			  ? DNS_SEC_ANSWER
				  : i < (unsigned)m->ancount + m->nscount ? DNS_SEC_AUTHORITY
									  : DNS_SEC_ADDITIONAL;
		struct dns_rr tmp_rr;
		struct dns_rr *rr = m->n_rrs < DNS_MAX_RRS ? &m->rrs[m->n_rrs] : &tmp_rr;
		struct text name = {rr->name, sizeof(rr->name), 0, false};
		rr->name[0] = '\0';
		size_t next;
		int r = read_name(buf, len, pos, len, &name, &next);
		if (r < 0)
			return r;
		if (next + 10 > len)
			return -DNS_ERR_TRUNC_RR;
		rr->type = rd16(buf + next);
		rr->rclass = rd16(buf + next + 2);
		rr->ttl = rd32(buf + next + 4);
		rr->rdlen = rd16(buf + next + 8);
		rr->section = section;
		size_t rd = next + 10, end = rd + rr->rdlen;
		if (end > len)
			return -DNS_ERR_TRUNC_RR;
		pos = end;
		if (rr->type == 41) { /* OPT */
			if (section != DNS_SEC_ADDITIONAL || strcmp(rr->name, ".") != 0 ||
			    m->has_edns)
				return -DNS_ERR_BAD_RDATA;
			m->has_edns = true;
			m->edns_udp_size = rr->rclass;
			m->rcode |= (uint16_t)((rr->ttl >> 24) << 4);
			m->edns_version = (uint8_t)(rr->ttl >> 16);
			m->edns_do = (rr->ttl >> 15) & 1;
			continue;
		}
		struct text data = {rr->data, sizeof(rr->data), 0, false};
		rr->data[0] = '\0';
		r = format_rdata(buf, len, rd, end, rr->type, &data);
		if (r < 0)
			return r;
		rr->data_truncated = data.truncated || name.truncated;
		if (rr == &tmp_rr)
			m->rrs_dropped++;
		else
			m->n_rrs++;
	}
	m->parsed_len = pos;
	return 0;
}

/* ---- matching table ------------------------------------------------------------------------- */

struct dns_table {
	struct dns_entry **buckets;
	size_t nbuckets; /* power of two */
	uint32_t max;
	uint64_t timeout_ns;
	struct dns_entry *head, *tail; /* by insertion (= deadline) order; head is oldest */
	struct dns_table_stats st;
};

#define FNV_OFF	  0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV_PRIME;
	return h;
}

static uint64_t qname_hash(const char *q)
{
	uint64_t h = FNV_OFF;
	if (!q)
		return h;
	for (; *q; q++) {
		uint8_t c = (uint8_t)*q;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h = (h ^ c) * FNV_PRIME;
	}
	return h;
}

static size_t bucket_of(const struct dns_table *t, const struct dns_flow *f, uint16_t id)
{
	uint64_t h = FNV_OFF;
	h = fnv(h, &f->family, 1);
	h = fnv(h, &f->transport, 1);
	h = fnv(h, &f->client_port, 2);
	h = fnv(h, &f->server_port, 2);
	h = fnv(h, f->client, 16);
	h = fnv(h, f->server, 16);
	h = fnv(h, &id, 2);
	return (size_t)(h ^ (h >> 29)) & (t->nbuckets - 1);
}

static bool flow_eq(const struct dns_flow *a, const struct dns_flow *b)
{
	return a->family == b->family && a->transport == b->transport &&
	       a->client_port == b->client_port && a->server_port == b->server_port &&
	       memcmp(a->client, b->client, 16) == 0 && memcmp(a->server, b->server, 16) == 0;
}

int dns_table_new(uint32_t max, uint64_t timeout_ns, struct dns_table **ret_table)
{
	struct dns_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nbuckets = 16;
	while (t->nbuckets < max)
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	t->max = max ? max : 1;
	t->timeout_ns = timeout_ns;
	*ret_table = t;
	return 0;
}

static void unlink_entry(struct dns_table *t, struct dns_entry *e)
{
	struct dns_entry **pp = &t->buckets[bucket_of(t, &e->flow, e->id)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	t->st.entries--;
	free(e->qname);
	free(e);
}

void dns_table_free(struct dns_table *t)
{
	if (!t)
		return;
	while (t->head)
		unlink_entry(t, t->head);
	free(t->buckets);
	free(t);
}

static struct dns_entry *find(struct dns_table *t, const struct dns_flow *f, uint16_t id,
			      const char *qname, bool any_name)
{
	uint64_t qh = qname_hash(qname);
	for (struct dns_entry *e = t->buckets[bucket_of(t, f, id)]; e; e = e->hnext)
		if (e->id == id && flow_eq(&e->flow, f) &&
		    (any_name || (e->qname_hash == qh && strcasecmp(e->qname, qname) == 0)))
			return e;
	return NULL;
}

int dns_table_query(struct dns_table *t, const struct dns_flow *flow, uint16_t id,
		    const char *qname, uint16_t qtype, uint16_t qclass, uint64_t now_ns,
		    const struct dns_client *client, struct dns_entry **ret_entry)
{
	if (!qname)
		qname = "";
	struct dns_entry *e = find(t, flow, id, qname, false);
	if (e && !e->answered) {
		t->st.duplicates++;
		if (client && !e->client.pid && client->pid) {
			e->client.pid = client->pid;
			e->client.tid = client->tid;
			memcpy(e->client.comm, client->comm, sizeof(e->client.comm));
		}
		if (client && !e->client.cgroup_id)
			e->client.cgroup_id = client->cgroup_id;
		return 0;
	}
	if (e) /* a new query reusing an answered one's key */
		unlink_entry(t, e);
	if (t->st.entries >= t->max) {
		if (!t->head->answered)
			t->st.evicted++;
		unlink_entry(t, t->head);
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->qname = strdup(qname);
	if (!e->qname) {
		free(e);
		return -ENOMEM;
	}
	e->flow = *flow;
	e->id = id;
	e->qname_hash = qname_hash(qname);
	e->qtype = qtype;
	e->qclass = qclass;
	e->query_ns = now_ns;
	if (client)
		e->client = *client;
	size_t b = bucket_of(t, flow, id);
	e->hnext = t->buckets[b];
	t->buckets[b] = e;
	e->prev = t->tail;
	if (t->tail)
		t->tail->next = e;
	else
		t->head = e;
	t->tail = e;
	t->st.entries++;
	t->st.queries++;
	*ret_entry = e;
	return 1;
}

int dns_table_response(struct dns_table *t, const struct dns_flow *flow, uint16_t id,
		       const char *qname, struct dns_entry **ret_entry)
{
	bool any = !qname || !qname[0];
	struct dns_entry *e = find(t, flow, id, any ? "" : qname, any);
	if (!e) {
		t->st.unmatched++;
		return -ENOENT;
	}
	if (e->answered) {
		t->st.duplicates++;
		return 0;
	}
	e->answered = true;
	t->st.matched++;
	*ret_entry = e;
	return 1;
}

size_t dns_table_expire(struct dns_table *t, uint64_t now_ns,
			void (*on_timeout)(const struct dns_entry *e, void *arg), void *arg)
{
	size_t n = 0;
	while (t->head && t->head->query_ns + t->timeout_ns <= now_ns) {
		struct dns_entry *e = t->head;
		if (!e->answered) {
			n++;
			t->st.timeouts++;
			if (on_timeout)
				on_timeout(e, arg);
		}
		unlink_entry(t, e);
	}
	return n;
}

void dns_table_get_stats(const struct dns_table *t, struct dns_table_stats *ret)
{
	*ret = t->st;
}
