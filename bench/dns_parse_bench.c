// SPDX-License-Identifier: Apache-2.0
// Throughput of the dns collector's user-space path: parse a query, insert it into the
// matching table, parse its response (CNAME + A + EDNS, compressed) and match it, for many
// distinct flows at once; prints packets per second (a query and a response are 2 packets).
// Build: cc -O2 -std=gnu11 -D_GNU_SOURCE -I. -o build/bench/dns_parse_bench bench/dns_parse_bench.c
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "collectors/dns/dns_parse.c"

static size_t put_name(uint8_t *b, const char *s)
{
	size_t n = 0;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		b[n++] = (uint8_t)l;
		memcpy(b + n, s, l);
		n += l;
		s += l + (dot ? 1 : 0);
	}
	b[n++] = 0;
	return n;
}

/* query (qr=0) or response for "<name>" with id; returns the length. */
static size_t build(uint8_t *b, uint16_t id, bool response, const char *name)
{
	size_t n = 0;
	uint8_t hdr[12] = {(uint8_t)(id >> 8),
			   (uint8_t)id,
			   response ? 0x85 : 0x01,
			   response ? 0x80 : 0x20,
			   0,
			   1,
			   0,
			   response ? 2 : 0,
			   0,
			   0,
			   0,
			   1};
	memcpy(b, hdr, 12);
	n = 12;
	n += put_name(b + n, name);
	memcpy(b + n, "\x00\x01\x00\x01", 4);
	n += 4;
	if (response) {
		/* name CNAME www.<name>; www.<name> A 10.1.2.3 */
		static const uint8_t cname[] = {0xc0, 0x0c, 0, 5, 0,   1,   0,	 0,    0,
						60,   0,    6, 3, 'w', 'w', 'w', 0xc0, 0x0c};
		size_t at = n + 12;
		memcpy(b + n, cname, sizeof(cname));
		n += sizeof(cname);
		uint8_t a[] = {(uint8_t)(0xc0 | at >> 8),
			       (uint8_t)at,
			       0,
			       1,
			       0,
			       1,
			       0,
			       0,
			       0,
			       60,
			       0,
			       4,
			       10,
			       1,
			       2,
			       3};
		memcpy(b + n, a, sizeof(a));
		n += sizeof(a);
	}
	static const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
	memcpy(b + n, opt, sizeof(opt));
	return n + sizeof(opt);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	size_t rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	enum { FLOWS = 4096 };
	static uint8_t q[FLOWS][512], r[FLOWS][512];
	static size_t ql[FLOWS], rl[FLOWS];
	for (int i = 0; i < FLOWS; i++) {
		char name[64];
		snprintf(name, sizeof(name), "svc-%d.default.svc.cluster.local", i);
		ql[i] = build(q[i], (uint16_t)i, false, name);
		rl[i] = build(r[i], (uint16_t)i, true, name);
	}
	struct dns_table *t;
	if (dns_table_new(65536, 5000000000ull, &t) < 0)
		return 1;
	struct dns_msg *m = malloc(sizeof(*m));
	if (!m)
		return 1;
	size_t matched = 0, errors = 0;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < rounds; i++) {
		size_t k = i % FLOWS;
		struct dns_flow f = {.family = AF_INET,
				     .transport = DNS_TRANSPORT_UDP,
				     .client_port = (uint16_t)(1024 + (i & 0x7fff)),
				     .server_port = 53};
		memcpy(f.client, "\x0a\x00\x00\x01", 4);
		memcpy(f.server, "\x0a\x00\x00\x0a", 4);
		struct dns_entry *e;
		if (dns_parse(q[k], ql[k], m) < 0) {
			errors++;
			continue;
		}
		uint64_t ts = t0 + i * 1000;
		dns_table_query(t, &f, m->id, m->qname, m->qtype, m->qclass, ts, NULL, &e);
		if (dns_parse(r[k], rl[k], m) < 0 || m->n_rrs != 2) {
			errors++;
			continue;
		}
		if (dns_table_response(t, &f, m->id, m->qname, &e) == 1)
			matched++;
		if ((i & 1023) == 0)
			dns_table_expire(t, ts, NULL, NULL);
	}
	double s = (double)(now_ns() - t0) / 1e9;
	printf("dns_parse_bench: %zu exchanges (%zu packets) in %.3f s: %.0f packets/s "
	       "(parse + match), %zu matched, %zu errors\n",
	       rounds, 2 * rounds, s, 2.0 * (double)rounds / s, matched, errors);
	dns_table_free(t);
	free(m);
	return errors ? 1 : 0;
}
