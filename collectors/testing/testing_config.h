/* SPDX-License-Identifier: Apache-2.0 */
/* The test-only collector's config section, collectors.testing (the supervisor's tests).
 * Keys, defaults and ranges: testing_def.c. */
#pragma once
#include "config.h"

/* What it does. */
enum config_testing_mode {
	CONFIG_TESTING_NORMAL = 0,	  /* READY, then one event every tick_ms */
	CONFIG_TESTING_EXIT,		  /* exit with exit_code after after_ms */
	CONFIG_TESTING_HANG,		  /* stop heartbeating after after_ms (spins in place) */
	CONFIG_TESTING_OVERSIZED,	  /* send a frame header above the maximum */
	CONFIG_TESTING_GARBAGE,		  /* send bytes that are no frame */
	CONFIG_TESTING_EARLY_EVENTS,	  /* send an event batch before READY */
	CONFIG_TESTING_FLOOD,		  /* send events as fast as possible, never read */
	CONFIG_TESTING_ALLOC,		  /* allocate alloc_mib MiB after after_ms */
	CONFIG_TESTING_FORBIDDEN_SYSCALL, /* after the sandbox: socket(AF_INET) */
	CONFIG_TESTING_FORBIDDEN_PATH,	  /* after the sandbox: open a file outside its paths */
	CONFIG_TESTING_DEGRADED,	  /* READY with a degraded reason, then ticks */
	CONFIG_TESTING_FORGE,		  /* valid events that set id, collector and node */
	CONFIG_TESTING_MIXED_FRAME,	  /* a frame holding a batch and a heartbeat */
	CONFIG_TESTING_BAD_EVENT,	  /* a batch whose event does not decode */
	CONFIG_TESTING_SEQ_GAP,		  /* events 1-4, then 10-12: a gap of 5 */
	CONFIG_TESTING_SEQ_BACKWARDS,	  /* events 1-4, then 3 again */
	CONFIG_TESTING_FD_STORE_FORGED,	  /* an FdStore naming a BPF map, with /dev/null */
	CONFIG_TESTING_FD_STORE_UNNAMED,  /* fds without an FdStore frame, then READY */
	/* READY; after after_ms its source flaps 1000 times and stays lost (DEGRADED); after
	 * 2 x after_ms it is back (READY) */
	CONFIG_TESTING_FLAP,
	CONFIG_TESTING_STATUS_EARLY, /* a Status frame before READY */
	CONFIG_TESTING_STATUS_FLOOD, /* READY, then Status frames as fast as it can */
	CONFIG_TESTING_STATUS_LONG,  /* READY, then a degraded reason over the bound */
	CONFIG_TESTING_STATUS_BYTES, /* READY, then a reason with bytes that are not UTF-8 */
};

struct config_testing {
	struct config_collector_common common;
	enum config_testing_mode mode;
	uint32_t tick_ms;
	uint32_t exit_code;
	uint32_t after_ms;
	uint32_t alloc_mib;
};
