// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the dns collector's wire-format parser and matching table: any bytes
// must parse or be rejected with a known reason, every output string must be terminated and
// within its bound, and feeding the result to the table must keep it consistent.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "collectors/dns/dns_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_table *table;
static struct dns_msg msg;

static void on_timeout(const struct dns_entry *e, void *arg)
{
	(void)arg;
	if (!e->qname || e->answered)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t now;
	if (!table && dns_table_new(64, 1000, &table) < 0)
		return 0;
	int r = dns_parse(data, size, &msg);
	if (r > 0 || r <= -DNS_ERR_MAX)
		abort();
	if (strlen(msg.qname) >= DNS_NAME_TEXT_MAX || msg.n_rrs > DNS_MAX_RRS)
		abort();
	for (size_t i = 0; i < msg.n_rrs; i++)
		if (strnlen(msg.rrs[i].name, DNS_NAME_TEXT_MAX) >= DNS_NAME_TEXT_MAX ||
		    strnlen(msg.rrs[i].data, DNS_DATA_TEXT_MAX) >= DNS_DATA_TEXT_MAX)
			abort();
	if (r == 0 && msg.parsed_len > size)
		abort();
	if (r < 0)
		return 0;
	struct dns_flow f = {.family = AF_INET,
			     .transport = DNS_TRANSPORT_UDP,
			     .client_port = (uint16_t)(size & 7),
			     .server_port = 53};
	struct dns_entry *e;
	now += 100;
	if (!msg.qr)
		dns_table_query(table, &f, msg.id & 0xf, msg.qname, msg.qtype, msg.qclass, now,
				NULL, &e);
	else
		dns_table_response(table, &f, msg.id & 0xf, msg.has_question ? msg.qname : NULL,
				   &e);
	dns_table_expire(table, now, on_timeout, NULL);
	struct dns_table_stats st;
	dns_table_get_stats(table, &st);
	if (st.entries > 64)
		abort();
	return 0;
}
