/* SPDX-License-Identifier: Apache-2.0 */
/* The network collector's config section, collectors.network.
 * Keys, defaults and ranges: network_def.c. */
#pragma once
#include "config.h"

/* Direction filter. */
enum config_direction {
	CONFIG_DIRECTION_BOTH = 0,
	CONFIG_DIRECTION_OUTBOUND,
	CONFIG_DIRECTION_INBOUND,
};

struct config_network {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;
	enum config_hooks hooks;
	struct config_port_list ports; /* only flows with one of these ports; [] = all */
	enum config_direction direction;
	bool containers_only;
	bool state_events;		 /* tcp.state for every transition */
	uint32_t retransmit_interval_ms; /* at most one tcp.retransmit per flow per interval
					  * (0 = every one) */
};
