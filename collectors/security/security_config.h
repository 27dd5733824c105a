/* SPDX-License-Identifier: Apache-2.0 */
/* The security collector's config section, collectors.security.
 * Keys, defaults and ranges: security_def.c. */
#pragma once
#include "config.h"

struct config_security {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;
	enum config_hooks hooks;
	struct config_string_list namespace_exclude_comms; /* runtimes whose unshare/setns are
							    * expected (runc, crun, ...) */
	struct config_string_list capabilities;		   /* names (CAP_SYS_ADMIN, ...) reported by
							    * security.capability; [] = the built-in set */
	uint32_t capability_rate_per_s;			   /* per process (0 = off) */
	bool containers_only;
};
