/* SPDX-License-Identifier: Apache-2.0 */
/* The DNS collector's config section, collectors.dns.
 * Keys, defaults and ranges: dns_def.c. */
#pragma once
#include "config.h"

struct config_dns {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;
	struct config_port_list ports;
	uint32_t payload_max_bytes; /* copied per packet */
	uint32_t timeout_ms;	    /* dns.timeout after this */
	uint32_t table_max;	    /* pending queries kept */
	bool force_fallback;	    /* AF_PACKET instead of eBPF (for tests) */
	bool containers_only;
};
