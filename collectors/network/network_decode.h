/* SPDX-License-Identifier: Apache-2.0 */
/* network collector: validation and naming of kernel records, free of BPF and I/O so the unit
 * tests and the fuzz target use exactly what the worker uses. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "network.h"

#define NETWORK_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Check a ring-buffer record: header (type, version, size exactly sizeof(struct
 * network_rec)), family, direction and states. 0, or -EBADMSG. */
int network_rec_check(const void *data, size_t size);
/* "tcp.connect", ... for a record type; NULL when unknown. */
const char *network_event_type(uint16_t rec_type);
/* "ESTABLISHED", "SYN_SENT", ... (kernel names without TCP_); NULL when out of range. */
const char *network_state_name(unsigned int state);
/* "outbound", "inbound", or NULL (unknown). */
const char *network_direction_name(unsigned int dir);
/* Text form of an address in network order (AF_INET: the first 4 bytes). 0 or -EINVAL. */
int network_format_addr(uint16_t family, const uint8_t addr[16], char *buf, size_t len);
